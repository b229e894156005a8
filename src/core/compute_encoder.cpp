#include "vecaccel/compute_encoder.hpp"

#include "command_buffer_impl.hpp"

namespace vecaccel {

void ComputeEncoder::set_pipeline(const ComputePipeline& pipeline) {
  owner_->set_pipeline(pipeline);
}
void ComputeEncoder::set_argument_table(const ArgumentTable& table) {
  owner_->set_argument_table(table);
}
void ComputeEncoder::set_constant_bytes(std::span<const std::byte> bytes) {
  owner_->set_constant_bytes(bytes);
}
void ComputeEncoder::dispatch_threadgroups(std::uint32_t x, std::uint32_t y, std::uint32_t z) {
  owner_->dispatch(x, y, z);
}
void ComputeEncoder::dispatch_threads(std::uint32_t x, std::uint32_t y, std::uint32_t z) {
  owner_->dispatch_threads(x, y, z);
}
void ComputeEncoder::barrier(std::initializer_list<Buffer> resources, Stage after, Stage before) {
  owner_->barrier(std::span<const Buffer>(resources.begin(), resources.size()), after, before);
}
void ComputeEncoder::barrier(std::span<const Buffer> resources, Stage after, Stage before) {
  owner_->barrier(resources, after, before);
}
void ComputeEncoder::barrier(Stage after, Stage before) {
  owner_->barrier(after, before);
}
void ComputeEncoder::copy_buffer(const Buffer& source, std::uint64_t source_offset,
                                 const Buffer& destination, std::uint64_t destination_offset,
                                 std::uint64_t size) {
  owner_->copy(source, source_offset, destination, destination_offset, size);
}
void ComputeEncoder::fill_buffer(const Buffer& buffer, std::uint64_t offset, std::uint64_t size,
                                 std::uint32_t pattern) {
  owner_->fill(buffer, offset, size, pattern);
}
void ComputeEncoder::end_encoding() {
  owner_->end_encoding();
}
bool ComputeEncoder::is_encoding() const noexcept {
  return owner_->encoding();
}

}  // namespace vecaccel
