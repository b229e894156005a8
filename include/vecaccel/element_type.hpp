#pragma once
// ElementType: how a base vector's elements are stored. uint8 and int8 bases (BIGANN-style
// .bvecs/.u8bin/.i8bin sets) stay one byte per element on the GPU; their values are exact in
// float32, so searches over them are as exact as over float32 bases.

#include <cstddef>
#include <string_view>

namespace vecaccel {

enum class ElementType { float32, uint8, int8 };

std::string_view to_string(ElementType type) noexcept;
/// Bytes per element: 4, 1, 1.
std::size_t element_size(ElementType type) noexcept;

}  // namespace vecaccel
