#include "timeout_text.hpp"

#include <cstdio>
#include <string_view>

namespace vecaccel::detail {

std::string message_of(const Error& error) {
  const std::string_view what = error.what();
  const std::size_t prefix = to_string(error.code()).size() + 2;
  return std::string(what.size() >= prefix ? what.substr(prefix) : what);
}

std::string seconds_text(std::chrono::nanoseconds limit) {
  char text[64];
  std::snprintf(text, sizeof text, "%.9g s", std::chrono::duration<double>(limit).count());
  return text;
}

std::string execute_limit_text(const std::optional<std::chrono::nanoseconds>& given,
                               std::chrono::nanoseconds default_timeout) {
  if (given) return "the ExecuteOptions::timeout of " + seconds_text(*given) + " given";
  return "the context's default_timeout of " + seconds_text(default_timeout) +
         " (ContextConfiguration::default_timeout; pass ExecuteOptions::timeout to change it for "
         "one call)";
}

}  // namespace vecaccel::detail
