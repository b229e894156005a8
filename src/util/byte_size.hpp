#pragma once
// Byte sizes as people write them: "<bytes>[K|M|G]", binary multiples.

#include <cstdint>
#include <string_view>

namespace vecaccel::detail {

/// Parses "<bytes>[K|M|G]" (binary multiples, >= 1); invalid_argument naming `what` and the
/// text otherwise.
std::uint64_t parse_byte_size(std::string_view text, std::string_view what);

}  // namespace vecaccel::detail
