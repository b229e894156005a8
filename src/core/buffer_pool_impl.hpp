#pragma once
// The implementation of BufferPool: size buckets, deferred reuse, sub-allocation.
//
// Buckets are powers of two from 256 B to the largest bucket, which is 256 MiB or, where the
// device's max_storage_buffer_range or max_buffer_size is smaller, the largest power of two
// within both: a bucket never rounds a request up past what the device can bind as one
// storage buffer. Larger requests get exact-size allocations that are freed, not cached, once
// returned and idle. Buckets up to 64 KiB are carved from 4 MiB slabs so that many small
// buffers cost few driver allocations (maxMemoryAllocationCount can be as low as 4096).
//
// A returned buffer first sits in its bucket's pending list; it moves to the cache only once
// every submission that used it has completed, checked lazily (on an acquire that finds the
// cache empty, on a miss, and in statistics/reset) so the hit path never queries the driver.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "vecaccel/buffer.hpp"
#include "vecaccel/buffer_pool.hpp"

namespace vecaccel {
class ResidencyManager;
}

namespace vecaccel::detail {

class BufferImpl;

/// Hands out fixed-size sub-ranges of 4 MiB slabs for one small bucket. A chunk goes back to
/// its slab when its BufferImpl is destroyed (not when the pool lets go of it, since a caller
/// may still hold a handle), and a slab's memory is freed when its last chunk is gone.
class SlabAllocator {
 public:
  static constexpr std::uint64_t slab_size = std::uint64_t{4} << 20;

  /// stride: the distance between chunks, bucket rounded up to the offset alignment.
  SlabAllocator(std::uint64_t bucket, std::uint64_t stride) noexcept
      : bucket_(bucket), stride_(stride) {}

  Buffer carve(const BufferFactory& factory);

 private:
  struct Slab {
    std::mutex mutex;
    std::weak_ptr<BufferImpl> memory;
    std::vector<std::uint32_t> free;  // chunk indices, lowest on top
  };
  struct ChunkReturn {
    std::shared_ptr<Slab> slab;
    std::uint32_t index;
    void operator()(BufferImpl* chunk) const noexcept;
  };
  Buffer make_chunk(const std::shared_ptr<Slab>& slab, std::shared_ptr<BufferImpl> memory,
                    std::uint32_t index) const;

  std::uint64_t bucket_;
  std::uint64_t stride_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Slab>> slabs_;
};

class BufferPoolImpl : public std::enable_shared_from_this<BufferPoolImpl> {
 public:
  static constexpr std::uint64_t min_bucket = 256;
  static constexpr std::uint64_t max_bucket = std::uint64_t{256} << 20;
  static constexpr std::uint64_t max_slab_bucket = std::uint64_t{64} << 10;
  static constexpr std::size_t bucket_count = 21;  // 2^8 .. 2^28
  /// Sub-allocated offsets are multiples of this (and of the device's storage alignment).
  static constexpr std::uint64_t chunk_alignment = 256;

  /// Device-independent: the power of two at or above size (256 at least), or size itself
  /// above max_bucket.
  static std::uint64_t bucket_size(std::uint64_t size) noexcept;

  BufferPoolImpl(BufferFactory factory, ResidencyManager* residency,
                 const BufferPoolDescriptor& descriptor);
  ~BufferPoolImpl();
  BufferPoolImpl(const BufferPoolImpl&) = delete;
  BufferPoolImpl& operator=(const BufferPoolImpl&) = delete;

  BufferToken acquire(std::uint64_t size);
  /// A token's buffer comes back (leased -> pending).
  void give_back(Buffer buffer) noexcept;
  std::uint64_t reset();
  BufferPoolStatistics statistics();
  /// The BufferPool is going: free the cache, forget the residency manager (it may go next);
  /// buffers returned later are dropped.
  void close() noexcept;

 private:
  static constexpr std::size_t exact = bucket_count;  // index of the exact-size "bucket"

  struct Bucket {
    std::vector<Buffer> cached;   // idle; most recently returned last
    std::vector<Buffer> pending;  // returned, maybe still in use by the GPU
  };
  using Doomed = std::vector<Buffer>;  // freed once the pool lock is released

  std::size_t index_of(std::uint64_t bucket) const noexcept;
  std::uint64_t bytes_of(std::size_t index, const Buffer& buffer) const noexcept;
  /// The bucket a request gets on this device; exact size above largest_bucket_.
  std::uint64_t device_bucket(std::uint64_t size) const noexcept;

  // All *_locked functions require mutex_.
  bool take_cached_locked(std::size_t index, Buffer& out, Doomed& doomed);
  void reclaim_locked(std::size_t index, Doomed& doomed);
  void reclaim_all_locked(Doomed& doomed);
  void free_cached_locked(std::size_t index, Buffer buffer, Doomed& doomed);
  std::uint64_t free_all_cached_locked(Doomed& doomed);
  void make_room_locked(std::uint64_t needed, std::uint64_t size, Doomed& doomed);
  void unregister(const Buffer& buffer) noexcept;

  Buffer allocate(std::size_t index, std::uint64_t bytes);
  Buffer allocate_once(std::size_t index, std::uint64_t bytes);
  void ensure_registered(const Buffer& buffer);

  BufferFactory factory_;
  ResidencyManager* residency_;
  std::uint64_t max_bytes_;
  std::size_t max_per_bucket_;
  std::uint64_t largest_bucket_;
  std::size_t residency_capacity_ = 0;                 // 0: no residency manager
  std::vector<std::unique_ptr<SlabAllocator>> slabs_;  // one per bucket up to max_slab_bucket

  std::mutex mutex_;
  bool closed_ = false;
  std::array<Bucket, bucket_count + 1> buckets_;
  BufferPoolStatistics stats_;
};

}  // namespace vecaccel::detail
