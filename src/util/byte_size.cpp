#include "vecaccel/settings.hpp"

#include <cctype>
#include <limits>
#include <string>

#include "vecaccel/error.hpp"

namespace vecaccel {

std::uint64_t parse_byte_size(std::string_view text, std::string_view what) {
  const auto bad = [&]() -> Error {
    return Error(Errc::invalid_argument, std::string(what) + " = '" + std::string(text) +
                                             "': need <bytes>[K|M|G] (binary multiples), >= 1");
  };
  std::size_t i = 0;
  std::uint64_t value = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) throw bad();
    value = value * 10 + digit;
  }
  if (i == 0) throw bad();
  int shift = 0;
  if (i < text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[i]))) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      default:
        throw bad();
    }
    ++i;
  }
  if (i != text.size() || value == 0 ||
      value > (std::numeric_limits<std::uint64_t>::max() >> shift))
    throw bad();
  return value << shift;
}

}  // namespace vecaccel
