#pragma once
// What a timeout message says: which limit fired, in seconds, and how to change it.

#include <chrono>
#include <optional>
#include <string>

#include "vecaccel/error.hpp"

namespace vecaccel::detail {

/// An error's message without the "<code>: " that what() starts with.
std::string message_of(const Error& error);

/// "2.5 s", "30 s", "0.001 s".
std::string seconds_text(std::chrono::nanoseconds limit);

/// The limit an execute()/execute_and_wait() of a context ran under: the caller's
/// ExecuteOptions::timeout, else the context's default_timeout, named with how to change it.
std::string execute_limit_text(const std::optional<std::chrono::nanoseconds>& given,
                               std::chrono::nanoseconds default_timeout);

}  // namespace vecaccel::detail
