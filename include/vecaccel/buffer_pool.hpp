#pragma once
// BufferPool: reuses GPU buffers by size bucket, with residency and in-flight awareness.
//
// Requests round up to a power-of-two bucket (256 bytes at least); above the largest bucket
// they get an exact allocation. A released buffer is reused only after every submission that
// used it has completed. Cached buffers stay registered (ephemeral) in the residency manager
// and leave it when freed. The pool never hands out a buffer smaller than asked: over
// max_bytes it frees cached buffers first, then throws memory_pressure; over the device's
// limits it throws buffer_too_large. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "vecaccel/buffer.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel {

class ResidencyManager;

namespace detail {
class BufferPoolImpl;
}

/// A move-only lease of a pooled buffer; returns it to the pool when destroyed or released.
/// Not thread-safe (one owner); the pool it came from must outlive it.
class BufferToken {
 public:
  BufferToken() = default;
  BufferToken(BufferToken&&) noexcept;
  BufferToken& operator=(BufferToken&&) noexcept;
  BufferToken(const BufferToken&) = delete;
  BufferToken& operator=(const BufferToken&) = delete;
  ~BufferToken();

  const Buffer& buffer() const noexcept { return buffer_; }
  /// Bytes asked for (the buffer may be larger).
  std::uint64_t size() const noexcept { return size_; }
  bool valid() const noexcept { return buffer_.valid(); }

  /// Copies values into the buffer at a byte offset; invalid_argument when out of range.
  template <class T>
  void write(std::span<const T> values, std::uint64_t byte_offset = 0) {
    write_bytes(std::as_bytes(values), byte_offset);
  }
  /// Reads count values from a byte offset (all of size() when count is 0).
  template <class T>
  std::vector<T> read(std::size_t count = 0, std::uint64_t byte_offset = 0) const {
    if (count == 0 && byte_offset <= size_) {
      count = static_cast<std::size_t>((size_ - byte_offset) / sizeof(T));
    }
    std::vector<T> out(count);
    read_bytes(std::as_writable_bytes(std::span(out)), byte_offset);
    return out;
  }
  void write_bytes(std::span<const std::byte> bytes, std::uint64_t byte_offset = 0);
  void read_bytes(std::span<std::byte> out, std::uint64_t byte_offset = 0) const;

  /// Returns the buffer to the pool now; the token becomes empty.
  void release();

  BufferToken(std::shared_ptr<detail::BufferPoolImpl> pool, Buffer buffer, std::uint64_t size);

 private:
  std::shared_ptr<detail::BufferPoolImpl> pool_;
  Buffer buffer_;
  std::uint64_t size_ = 0;
};

struct BufferPoolStatistics {
  std::uint64_t hits = 0;          ///< acquires served from the cache
  std::uint64_t misses = 0;        ///< acquires that allocated
  std::uint64_t evictions = 0;     ///< cached buffers freed (cap, bucket limit, reset, trim)
  std::uint64_t bytes_in_use = 0;  ///< leased, including released-but-in-flight
  std::uint64_t bytes_cached = 0;  ///< idle in the cache
  std::uint64_t peak_bytes = 0;    ///< highest bytes_in_use + bytes_cached
  std::size_t buffers_in_use = 0;
  std::size_t buffers_cached = 0;
  std::uint64_t max_bytes = 0;  ///< the cap
};

struct BufferPoolDescriptor {
  std::uint64_t max_bytes = 0;  ///< 0: half the device-local memory
  std::size_t max_buffers_per_size = 10;
};

class BufferPool {
 public:
  /// residency may be null (no registration).
  BufferPool(BufferFactory factory, ResidencyManager* residency,
             const BufferPoolDescriptor& descriptor);
  BufferPool(BufferPool&&) noexcept;
  BufferPool& operator=(BufferPool&&) noexcept;
  ~BufferPool();

  BufferToken acquire(std::uint64_t size);
  template <class T>
  BufferToken acquire_for(std::span<const T> values) {
    BufferToken token = acquire(std::max<std::uint64_t>(values.size_bytes(), 1));
    token.write(values);
    return token;
  }
  /// Frees every cached buffer (leased ones are freed when returned). Returns bytes freed.
  std::uint64_t reset();
  BufferPoolStatistics statistics() const;
  /// The bucket size a request of `size` bytes gets.
  static std::uint64_t bucket_size(std::uint64_t size) noexcept;

 private:
  std::shared_ptr<detail::BufferPoolImpl> impl_;
};

}  // namespace vecaccel
