#include "buffer_pool_impl.hpp"

#include <algorithm>
#include <bit>
#include <string>
#include <utility>

#include "access.hpp"
#include "buffer_impl.hpp"
#include "device_impl.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/residency_manager.hpp"

namespace vecaccel::detail {
namespace {

std::uint64_t round_up(std::uint64_t value, std::uint64_t multiple) noexcept {
  return (value + multiple - 1) / multiple * multiple;
}

/// The largest bucket a device can bind whole as one storage buffer.
std::uint64_t largest_bucket_for(const Capabilities& caps) noexcept {
  std::uint64_t limit = BufferPoolImpl::max_bucket;
  if (caps.max_storage_buffer_range != 0) limit = std::min(limit, caps.max_storage_buffer_range);
  if (caps.max_buffer_size != 0) limit = std::min(limit, caps.max_buffer_size);
  return limit < BufferPoolImpl::min_bucket ? 0 : std::bit_floor(limit);
}

/// Half the device-local memory; half the largest heap where no heap is device-local.
std::uint64_t default_cap(const Capabilities& caps) noexcept {
  if (caps.device_local_memory != 0) return caps.device_local_memory / 2;
  std::uint64_t largest = 0;
  for (const auto& heap : caps.memory_heaps) {
    largest = std::max(largest, heap.size);
  }
  return largest / 2;
}

std::string bytes_text(std::uint64_t bytes) {
  return std::to_string(bytes) + " bytes";
}

}  // namespace

// ---- SlabAllocator ---------------------------------------------------------------------------

void SlabAllocator::ChunkReturn::operator()(BufferImpl* chunk) const noexcept {
  // The range goes back to the slab only once the GPU is done with it.
  release_when_idle(chunk, [slab = slab, index = index](BufferImpl* idle) {
    // Free the chunk's BufferImpl before its range can be handed out again.
    std::default_delete<BufferImpl>{}(idle);
    std::lock_guard lock(slab->mutex);
    slab->free.push_back(index);
  });
}

Buffer SlabAllocator::make_chunk(const std::shared_ptr<Slab>& slab,
                                 std::shared_ptr<BufferImpl> memory, std::uint32_t index) const {
  std::unique_ptr<BufferImpl> owned;
  try {
    owned = std::make_unique<BufferImpl>(std::move(memory), std::uint64_t{index} * stride_, bucket_,
                                         "pooled " + std::to_string(bucket_));
  } catch (...) {
    std::lock_guard lock(slab->mutex);
    slab->free.push_back(index);
    throw;
  }
  // On failure the shared_ptr constructor calls the deleter, which also returns the index.
  return Buffer(std::shared_ptr<BufferImpl>(owned.release(), ChunkReturn{slab, index}));
}

Buffer SlabAllocator::carve(const BufferFactory& factory) {
  std::lock_guard lock(mutex_);
  for (auto it = slabs_.begin(); it != slabs_.end();) {
    Slab& slab = **it;
    std::unique_lock slab_lock(slab.mutex);
    auto memory = slab.memory.lock();
    if (!memory) {  // every chunk is gone and the memory with them
      slab_lock.unlock();
      it = slabs_.erase(it);
      continue;
    }
    if (!slab.free.empty()) {
      const std::uint32_t index = slab.free.back();
      slab.free.pop_back();
      slab_lock.unlock();
      return make_chunk(*it, std::move(memory), index);
    }
    ++it;
  }
  auto memory = detail::Access::impl(factory.make_buffer(
      BufferDescriptor{.size = slab_size,
                       .storage = StorageMode::shared,
                       .label = "pool slab of " + std::to_string(bucket_) + "-byte buffers"}));
  auto slab = std::make_shared<Slab>();
  slab->memory = memory;
  const auto chunks = static_cast<std::uint32_t>(slab_size / stride_);
  slab->free.reserve(chunks);  // returning a chunk (in a noexcept deleter) never allocates
  for (std::uint32_t i = chunks; i > 1; --i) {
    slab->free.push_back(i - 1);
  }
  slabs_.push_back(slab);
  return make_chunk(slab, std::move(memory), 0);
}

// ---- BufferPoolImpl --------------------------------------------------------------------------

std::uint64_t BufferPoolImpl::bucket_size(std::uint64_t size) noexcept {
  if (size > max_bucket) return size;
  return std::max(min_bucket, std::bit_ceil(size));
}

BufferPoolImpl::BufferPoolImpl(BufferFactory factory, ResidencyManager* residency,
                               const BufferPoolDescriptor& descriptor)
    : factory_(std::move(factory)),
      residency_(residency),
      max_per_bucket_(descriptor.max_buffers_per_size) {
  if (!detail::Access::impl(factory_))
    throw Error(Errc::invalid_argument, "buffer pool: empty buffer factory");
  const Capabilities& caps = detail::Access::impl(factory_)->capabilities();
  max_bytes_ = descriptor.max_bytes != 0 ? descriptor.max_bytes : default_cap(caps);
  largest_bucket_ = largest_bucket_for(caps);
  if (residency_ != nullptr) residency_capacity_ = residency_->residency_set().capacity();
  const std::uint64_t alignment =
      std::max<std::uint64_t>(chunk_alignment, caps.min_storage_buffer_offset_alignment);
  for (std::uint64_t bucket = min_bucket; bucket <= std::min(max_slab_bucket, largest_bucket_);
       bucket *= 2) {
    slabs_.push_back(std::make_unique<SlabAllocator>(bucket, round_up(bucket, alignment)));
  }
  stats_.max_bytes = max_bytes_;
}

BufferPoolImpl::~BufferPoolImpl() = default;

std::size_t BufferPoolImpl::index_of(std::uint64_t bucket) const noexcept {
  if (bucket > largest_bucket_) return exact;
  return static_cast<std::size_t>(std::countr_zero(bucket) - std::countr_zero(min_bucket));
}

std::uint64_t BufferPoolImpl::bytes_of(std::size_t index, const Buffer& buffer) const noexcept {
  return index == exact ? buffer.size() : min_bucket << index;
}

std::uint64_t BufferPoolImpl::device_bucket(std::uint64_t size) const noexcept {
  const std::uint64_t bucket = bucket_size(size);
  return bucket > largest_bucket_ ? size : bucket;
}

void BufferPoolImpl::unregister(const Buffer& buffer) noexcept {
  if (residency_ == nullptr) return;
  try {
    residency_->unregister_buffer(buffer);
  } catch (...) {
    // Only an empty handle throws here, and pooled buffers never are.
  }
}

void BufferPoolImpl::free_cached_locked(std::size_t index, Buffer buffer, Doomed& doomed) {
  unregister(buffer);
  stats_.bytes_cached -= bytes_of(index, buffer);
  --stats_.buffers_cached;
  ++stats_.evictions;
  doomed.push_back(std::move(buffer));
}

void BufferPoolImpl::reclaim_locked(std::size_t index, Doomed& doomed) {
  auto& pending = buckets_[index].pending;
  auto& cached = buckets_[index].cached;
  std::size_t kept = 0;  // pending[0, kept) are still busy, oldest first
  for (std::size_t i = 0; i < pending.size(); ++i) {
    // Never throws; on a lost device, buffers not seen idle stay pending until the pool goes.
    if (!pending[i].is_idle()) {
      std::swap(pending[kept++], pending[i]);
      continue;
    }
    const std::uint64_t bytes = bytes_of(index, pending[i]);
    stats_.bytes_in_use -= bytes;
    --stats_.buffers_in_use;
    if (index != exact && cached.size() < max_per_bucket_) {
      stats_.bytes_cached += bytes;
      ++stats_.buffers_cached;
      cached.push_back(std::move(pending[i]));
    } else {
      // Exact-size buffers are not cached; over the bucket limit counts as an eviction.
      if (index != exact) ++stats_.evictions;
      unregister(pending[i]);
      doomed.push_back(std::move(pending[i]));
    }
  }
  pending.resize(kept);
}

void BufferPoolImpl::reclaim_all_locked(Doomed& doomed) {
  for (std::size_t i = 0; i < buckets_.size(); ++i)
    reclaim_locked(i, doomed);
}

bool BufferPoolImpl::take_cached_locked(std::size_t index, Buffer& out, Doomed& doomed) {
  if (index == exact) return false;
  Bucket& bucket = buckets_[index];
  if (bucket.cached.empty()) reclaim_locked(index, doomed);
  if (bucket.cached.empty()) return false;
  out = std::move(bucket.cached.back());
  bucket.cached.pop_back();
  const std::uint64_t bytes = min_bucket << index;
  stats_.bytes_cached -= bytes;
  --stats_.buffers_cached;
  stats_.bytes_in_use += bytes;
  ++stats_.buffers_in_use;
  ++stats_.hits;
  return true;
}

std::uint64_t BufferPoolImpl::free_all_cached_locked(Doomed& doomed) {
  std::uint64_t freed = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    auto& cached = buckets_[i].cached;
    for (auto& buffer : cached) {
      freed += bytes_of(i, buffer);
      free_cached_locked(i, std::move(buffer), doomed);
    }
    cached.clear();
  }
  return freed;
}

void BufferPoolImpl::make_room_locked(std::uint64_t needed, std::uint64_t size, Doomed& doomed) {
  const auto over_bytes = [&] {
    return stats_.bytes_in_use + stats_.bytes_cached + needed > max_bytes_;
  };
  // The pool's registrations share the residency set with the caller's: keep them within
  // its capacity by giving up cached buffers before the set overflows at the next commit.
  const auto over_count = [&] {
    return residency_capacity_ != 0 &&
           stats_.buffers_in_use + stats_.buffers_cached + 1 > residency_capacity_;
  };
  if (!over_bytes() && !over_count()) return;
  reclaim_all_locked(doomed);
  const auto pressure = [&] {
    return Error(
        Errc::memory_pressure,
        "buffer pool: a request of " + bytes_text(size) + " (" + bytes_text(needed) +
            " allocated) would raise the pool to " +
            bytes_text(stats_.bytes_in_use + stats_.bytes_cached + needed) + ", over its cap of " +
            bytes_text(max_bytes_) + "; " + bytes_text(stats_.bytes_in_use) + " in " +
            std::to_string(stats_.buffers_in_use) +
            " buffers are leased or still in use by the GPU, " + bytes_text(stats_.bytes_cached) +
            " cached; release tokens or raise max_buffer_pool_memory");
  };
  // Evicting cannot help when the leased buffers alone leave no room: keep the cache.
  if (stats_.bytes_in_use + needed > max_bytes_) throw pressure();
  // Largest buckets first: the fewest evictions for the bytes needed.
  for (std::size_t i = buckets_.size(); i-- > 0 && (over_bytes() || over_count());) {
    auto& cached = buckets_[i].cached;
    while (!cached.empty() && (over_bytes() || over_count())) {
      free_cached_locked(i, std::move(cached.front()), doomed);  // oldest first
      cached.erase(cached.begin());
    }
  }
}

Buffer BufferPoolImpl::allocate_once(std::size_t index, std::uint64_t bytes) {
  if (index < slabs_.size()) return slabs_[index]->carve(factory_);
  return factory_.make_buffer(BufferDescriptor{
      .size = bytes,
      .storage = StorageMode::shared,
      .label = (index == exact ? "pooled exact " : "pooled ") + std::to_string(bytes)});
}

Buffer BufferPoolImpl::allocate(std::size_t index, std::uint64_t bytes) {
  try {
    return allocate_once(index, bytes);
  } catch (const Error& e) {
    if (e.code() != Errc::out_of_device_memory) throw;
  }
  // The driver ran out before the cap did: give back what the cache holds and retry once.
  Doomed doomed;
  {
    std::lock_guard lock(mutex_);
    reclaim_all_locked(doomed);
    free_all_cached_locked(doomed);
  }
  doomed.clear();
  return allocate_once(index, bytes);
}

void BufferPoolImpl::ensure_registered(const Buffer& buffer) {
  // Someone may have evicted ephemeral buffers: put this one back so its user never sees a
  // residency violation (the context commits before submitting).
  if (residency_ != nullptr && !residency_->contains(buffer)) {
    residency_->register_buffer(buffer, ResidencyMode::ephemeral);
  }
}

BufferToken BufferPoolImpl::acquire(std::uint64_t size) {
  if (size == 0) throw Error(Errc::invalid_argument, "buffer pool: acquire of 0 bytes");
  const std::uint64_t bucket = device_bucket(size);
  const std::size_t index = index_of(bucket);
  const std::uint64_t device_max = detail::Access::impl(factory_)->capabilities().max_buffer_size;
  if (bucket > device_max) {
    // Checked before the cap so an impossible request neither evicts nor reports pressure.
    throw Error(Errc::buffer_too_large, "buffer pool: a request of " + bytes_text(size) +
                                            " exceeds the device's maximum buffer size of " +
                                            bytes_text(device_max));
  }
  Doomed doomed;
  Buffer buffer;
  bool hit = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_)
      throw Error(Errc::invalid_argument, "buffer pool: acquire after the pool was destroyed");
    hit = take_cached_locked(index, buffer, doomed);
    if (!hit) {
      make_room_locked(bucket, size, doomed);
      // Reserve before allocating unlocked, so concurrent misses respect the cap together.
      stats_.bytes_in_use += bucket;
      ++stats_.buffers_in_use;
      stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.bytes_in_use + stats_.bytes_cached);
    }
  }
  doomed.clear();
  if (!hit) {
    try {
      buffer = allocate(index, bucket);
    } catch (...) {
      std::lock_guard lock(mutex_);
      stats_.bytes_in_use -= bucket;
      --stats_.buffers_in_use;
      throw;
    }
    std::lock_guard lock(mutex_);
    ++stats_.misses;
  }
  BufferToken token(shared_from_this(), std::move(buffer), size);
  ensure_registered(token.buffer());
  return token;
}

void BufferPoolImpl::give_back(Buffer buffer) noexcept {
  const std::size_t index = index_of(buffer.size());
  std::unique_lock lock(mutex_);
  if (closed_) {
    lock.unlock();
    return;  // freed here: nobody acquires from a destroyed pool
  }
  buckets_[index].pending.push_back(std::move(buffer));
}

std::uint64_t BufferPoolImpl::reset() {
  Doomed doomed;
  std::uint64_t freed = 0;
  {
    std::lock_guard lock(mutex_);
    reclaim_all_locked(doomed);
    freed = free_all_cached_locked(doomed);
  }
  return freed;
}

BufferPoolStatistics BufferPoolImpl::statistics() {
  Doomed doomed;
  std::lock_guard lock(mutex_);
  reclaim_all_locked(doomed);
  return stats_;
}

void BufferPoolImpl::close() noexcept {
  Doomed doomed;
  std::lock_guard lock(mutex_);
  reclaim_all_locked(doomed);
  free_all_cached_locked(doomed);
  // Buffers still pending may be in use by the GPU: they stay here until the last token (and
  // with it this object) is gone, by which time their context has waited for its queue.
  for (auto& bucket : buckets_) {
    for (const auto& buffer : bucket.pending)
      unregister(buffer);
  }
  residency_ = nullptr;
  closed_ = true;
}

}  // namespace vecaccel::detail

namespace vecaccel {

// ---- BufferToken -----------------------------------------------------------------------------

BufferToken::BufferToken(std::shared_ptr<detail::BufferPoolImpl> pool, Buffer buffer,
                         std::uint64_t size)
    : pool_(std::move(pool)), buffer_(std::move(buffer)), size_(size) {}

BufferToken::BufferToken(BufferToken&& other) noexcept
    : pool_(std::move(other.pool_)),
      buffer_(std::move(other.buffer_)),
      size_(std::exchange(other.size_, 0)) {}

BufferToken& BufferToken::operator=(BufferToken&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    buffer_ = std::move(other.buffer_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

BufferToken::~BufferToken() {
  release();
}

void BufferToken::release() {
  auto pool = std::move(pool_);
  Buffer buffer = std::move(buffer_);
  size_ = 0;
  if (pool && buffer.valid()) pool->give_back(std::move(buffer));
}

namespace {

std::span<std::byte> checked_range(const Buffer& buffer, std::uint64_t token_size,
                                   std::uint64_t offset, std::size_t count, std::string_view what) {
  if (!buffer.valid()) {
    throw Error(Errc::invalid_argument, std::string(what) + " on an empty buffer token");
  }
  if (offset > token_size || count > token_size - offset) {
    throw Error(Errc::invalid_argument, std::string(what) + " of " + std::to_string(count) +
                                            " bytes at offset " + std::to_string(offset) +
                                            " overruns the token's " + std::to_string(token_size) +
                                            " bytes");
  }
  const auto mapped = buffer.mapped();
  if (mapped.empty()) {
    throw Error(Errc::unsupported, std::string(what) + ": " +
                                       detail::Access::impl(buffer)->describe() +
                                       " is not host-visible; copy through a shared buffer");
  }
  return mapped.subspan(offset, count);
}

}  // namespace

void BufferToken::write_bytes(std::span<const std::byte> bytes, std::uint64_t byte_offset) {
  const auto target = checked_range(buffer_, size_, byte_offset, bytes.size(), "write");
  std::copy(bytes.begin(), bytes.end(), target.begin());
}

void BufferToken::read_bytes(std::span<std::byte> out, std::uint64_t byte_offset) const {
  const auto source = checked_range(buffer_, size_, byte_offset, out.size(), "read");
  std::copy(source.begin(), source.end(), out.begin());
}

// ---- BufferPool ------------------------------------------------------------------------------

BufferPool::BufferPool(BufferFactory factory, ResidencyManager* residency,
                       const BufferPoolDescriptor& descriptor)
    : impl_(std::make_shared<detail::BufferPoolImpl>(std::move(factory), residency, descriptor)) {}

BufferPool::BufferPool(BufferPool&&) noexcept = default;

BufferPool& BufferPool::operator=(BufferPool&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

BufferPool::~BufferPool() {
  if (impl_) impl_->close();
}

BufferToken BufferPool::acquire(std::uint64_t size) {
  return impl_->acquire(size);
}
std::uint64_t BufferPool::reset() {
  return impl_->reset();
}
BufferPoolStatistics BufferPool::statistics() const {
  return impl_->statistics();
}
std::uint64_t BufferPool::bucket_size(std::uint64_t size) noexcept {
  return detail::BufferPoolImpl::bucket_size(size);
}

}  // namespace vecaccel
