#pragma once
// Membership of a ResidencySet: committed state (what validation checks) plus staged changes.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "vecaccel/residency_set.hpp"

namespace vecaccel::detail {

class BufferImpl;
class DeviceImpl;

class ResidencySetImpl {
 public:
  ResidencySetImpl(std::shared_ptr<DeviceImpl> device, ResidencySetDescriptor descriptor);

  void add(const std::shared_ptr<BufferImpl>& buffer);
  void remove(const std::shared_ptr<BufferImpl>& buffer);
  void commit();
  /// Committed membership by buffer id; the hot path of residency validation.
  bool contains(std::uint64_t buffer_id) const;
  std::size_t count() const;
  std::uint64_t bytes() const;
  bool has_pending_changes() const;
  std::size_t capacity() const noexcept { return descriptor_.capacity; }
  const std::string& label() const noexcept { return descriptor_.label; }
  /// Priority given to committed buffers (and to buffers committed later).
  void set_priority(float priority);

 private:
  struct Member {
    std::weak_ptr<BufferImpl> buffer;
    std::uint64_t size;
  };
  std::shared_ptr<DeviceImpl> device_;
  ResidencySetDescriptor descriptor_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::uint64_t, Member> committed_;
  std::unordered_map<std::uint64_t, Member> staged_adds_;
  std::unordered_map<std::uint64_t, std::uint64_t> staged_removes_;  // id -> size
  std::uint64_t committed_bytes_ = 0;
  float priority_ = -1;  // negative: never requested
  // Whether anything is staged, readable without the lock: every operation of a context asks
  // (twice), and shared locks of many threads on one set contend for its cache line.
  std::atomic<bool> staged_{false};  // written under mutex_
  void note_staged() noexcept {
    staged_.store(!staged_adds_.empty() || !staged_removes_.empty(), std::memory_order_release);
  }
};

}  // namespace vecaccel::detail
