#pragma once
// ResidencyManager: owns a context's residency set and tracks why each buffer is in it.
//
// Registrations are batched: register/unregister stage changes that commit() applies in one
// set commit (a context commits pending changes itself before each submission). Modes set
// memory priority where the device supports it (hot 1.0, persistent 0.75, ephemeral 0.5).
// Does not retain buffers beyond their registration. Thread-safe.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "vecaccel/buffer.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/residency_set.hpp"

namespace vecaccel {

enum class ResidencyMode { persistent, ephemeral, hot };

struct ResidencyModeStatistics {
  std::size_t buffers = 0;
  std::uint64_t bytes = 0;
};

struct ResidencyStatistics {
  ResidencyModeStatistics persistent, ephemeral, hot;
  std::size_t total_buffers = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t commits = 0;
  std::optional<std::chrono::system_clock::time_point> last_commit;
  /// From VK_EXT_memory_budget, summed over device-local heaps, where present.
  std::optional<std::uint64_t> device_budget_bytes;
  std::optional<std::uint64_t> device_usage_bytes;
};

namespace detail {
class ResidencyManagerImpl;
}

class ResidencyManager {
 public:
  ResidencyManager(const Device& device, const ResidencySetDescriptor& descriptor);
  ResidencyManager(ResidencyManager&&) noexcept;
  ResidencyManager& operator=(ResidencyManager&&) noexcept;
  ~ResidencyManager();

  ResidencySet& residency_set() noexcept;
  /// Registering a registered buffer changes its mode.
  void register_buffer(const Buffer& buffer, ResidencyMode mode);
  void unregister_buffer(const Buffer& buffer);
  /// Applies pending registrations (residency_set_full when over capacity).
  void commit();
  /// Registered and committed.
  bool contains(const Buffer& buffer) const;
  bool has_pending_changes() const;
  /// Unregisters (and commits) every buffer of that mode; returns the bytes they hold.
  std::uint64_t evict(ResidencyMode mode);
  std::uint64_t evict_ephemeral() { return evict(ResidencyMode::ephemeral); }
  ResidencyStatistics statistics() const;
  void clear();
  /// Called when a commit would overflow the set, outside the manager's lock, before the
  /// commit is tried once more: an owner of registrations it can give up drops them there (a
  /// Context's buffer pool, its idle cached buffers). Without one, or when the retry overflows
  /// too, commit throws residency_set_full and leaves the staged changes as they were.
  void set_overflow_handler(std::function<void()> handler);

 private:
  std::unique_ptr<detail::ResidencyManagerImpl> impl_;
};

}  // namespace vecaccel
