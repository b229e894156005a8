#include "vecaccel/argument_table.hpp"

#include <string>

#include "vecaccel/error.hpp"

namespace vecaccel {
namespace {

void check_index(std::uint32_t index) {
  if (index >= ArgumentTable::max_bindings) {
    throw Error(Errc::invalid_argument,
                "argument table index " + std::to_string(index) + " is out of range: at most " +
                    std::to_string(ArgumentTable::max_bindings) + " bindings");
  }
}

}  // namespace

ArgumentTable& ArgumentTable::set_buffer(std::uint32_t index, const Buffer& buffer,
                                         std::uint64_t offset, std::uint64_t range) {
  check_index(index);
  if (!buffer.valid()) {
    throw Error(Errc::invalid_argument,
                "argument table binding " + std::to_string(index) + ": empty buffer handle");
  }
  if (offset >= buffer.size()) {
    throw Error(Errc::invalid_argument, "argument table binding " + std::to_string(index) +
                                            ": offset " + std::to_string(offset) +
                                            " is outside the buffer of " +
                                            std::to_string(buffer.size()) + " bytes");
  }
  bindings_[index] = Binding{buffer, offset, range};
  addresses_[index].reset();
  return *this;
}

ArgumentTable& ArgumentTable::set_address(std::uint32_t index, std::uint64_t gpu_address) {
  check_index(index);
  addresses_[index] = gpu_address;
  bindings_[index].reset();
  return *this;
}

void ArgumentTable::clear(std::uint32_t index) {
  check_index(index);
  bindings_[index].reset();
  addresses_[index].reset();
}

const std::optional<ArgumentTable::Binding>& ArgumentTable::binding(std::uint32_t index) const {
  check_index(index);
  return bindings_[index];
}

std::optional<std::uint64_t> ArgumentTable::address(std::uint32_t index) const {
  check_index(index);
  return addresses_[index];
}

}  // namespace vecaccel
