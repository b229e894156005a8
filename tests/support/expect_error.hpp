#pragma once
// Checking what a vecaccel::Error says: its code, and that its message names what failed.

#include <gtest/gtest.h>

#include <string>

#include "vecaccel/error.hpp"

namespace vecaccel::testing {

/// Runs f, expects it to throw an Error of `code` and returns it (a test failure otherwise).
template <class F>
Error expect_error(Errc code, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e;
  }
  ADD_FAILURE() << "expected " << to_string(code) << ", nothing was thrown";
  return Error(code, "not thrown");
}

/// what() of the Error `call` throws, expecting `code`; "" and a test failure when it throws
/// none.
template <class F>
std::string error_of(F&& call, Errc code) {
  try {
    call();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no " << to_string(code) << " error";
  return {};
}

inline bool mentions(const Error& e, const std::string& text) {
  return std::string(e.what()).find(text) != std::string::npos;
}

}  // namespace vecaccel::testing
