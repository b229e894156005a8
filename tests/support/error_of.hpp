#pragma once
// The message of the vecaccel::Error a call throws, its code checked.

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "vecaccel/error.hpp"

namespace vecaccel::testing {

/// what() of the Error `call` throws, expecting `code`; "" and a test failure when it throws none.
inline std::string error_of(const std::function<void()>& call, Errc code) {
  try {
    call();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no " << to_string(code) << " error";
  return {};
}

}  // namespace vecaccel::testing
