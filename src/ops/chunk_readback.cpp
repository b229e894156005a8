#include "chunk_readback.hpp"

#include <algorithm>
#include <cstring>

#include "ops/time_limit.hpp"
#include "vecaccel/buffer_pool.hpp"

namespace vecaccel::detail {
namespace {

std::size_t rows_per_slice(std::uint64_t row_bytes) {
  return static_cast<std::size_t>(std::max<std::uint64_t>(1, read_back_slice_bytes / row_bytes));
}

}  // namespace

std::vector<std::byte> read_back_rows(Context& context, std::span<const Buffer> chunks,
                                      std::size_t chunk_rows, std::uint64_t row_bytes,
                                      std::span<const std::size_t> rows) {
  std::vector<std::byte> out(rows.size() * row_bytes);
  if (rows.empty()) return out;
  const std::size_t slice_rows = rows_per_slice(row_bytes);
  BufferToken staging = context.get_buffer(std::min(rows.size(), slice_rows) * row_bytes);
  for (std::size_t first = 0; first < rows.size(); first += slice_rows) {
    const std::size_t n = std::min(slice_rows, rows.size() - first);
    context.execute_and_wait(
        [&](CommandBuffer&, ComputeEncoder& encoder) {
          for (std::size_t i = 0; i < n; ++i) {
            const std::size_t row = rows[first + i];
            encoder.copy_buffer(chunks[row / chunk_rows], (row % chunk_rows) * row_bytes,
                                staging.buffer(), i * row_bytes, row_bytes);
          }
          // The copies' writes must be visible to the host before it reads the mapped memory.
          encoder.barrier({staging.buffer()}, Stage::blit, Stage::host);
        },
        without_time_limit());
    staging.read_bytes(std::span(out).subspan(first * row_bytes, n * row_bytes));
  }
  return out;
}

void read_back_slices(Context& context, const Buffer& buffer, std::size_t rows,
                      std::uint64_t row_bytes,
                      const std::function<void(std::span<const std::byte>)>& sink) {
  if (rows == 0) return;
  const std::size_t slice_rows = rows_per_slice(row_bytes);
  BufferToken staging = context.get_buffer(std::min(rows, slice_rows) * row_bytes);
  std::vector<std::byte> host;
  for (std::size_t row = 0; row < rows; row += slice_rows) {
    const std::size_t n = std::min(slice_rows, rows - row);
    context.execute_and_wait(
        [&](CommandBuffer&, ComputeEncoder& encoder) {
          encoder.copy_buffer(buffer, row * row_bytes, staging.buffer(), 0, n * row_bytes);
          encoder.barrier({staging.buffer()}, Stage::blit, Stage::host);
        },
        without_time_limit());
    host.resize(n * row_bytes);
    staging.read_bytes(host);
    sink(host);
  }
}

std::vector<float> widen_on_host(ElementType type, std::span<const std::byte> bytes) {
  if (type == ElementType::float32) {
    std::vector<float> out(bytes.size() / sizeof(float));
    // No rows (reconstruct of none): both pointers may be null, which memcpy may not take.
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
  }
  std::vector<float> out(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[i] = type == ElementType::uint8 ? static_cast<float>(static_cast<std::uint8_t>(bytes[i]))
                                        : static_cast<float>(static_cast<std::int8_t>(bytes[i]));
  }
  return out;
}

}  // namespace vecaccel::detail
