#include "vecaccel/element_type.hpp"

namespace vecaccel {

std::string_view to_string(ElementType type) noexcept {
  switch (type) {
    case ElementType::float32:
      return "float32";
    case ElementType::uint8:
      return "uint8";
    case ElementType::int8:
      return "int8";
  }
  return "unknown";
}

std::size_t element_size(ElementType type) noexcept {
  return type == ElementType::float32 ? 4 : 1;
}

}  // namespace vecaccel
