// ResidencyManager: a residency set plus the reason (mode) each buffer is in it.
//
// The registry answers for registrations as made (committed or still staged); the set answers
// for committed membership, which is what validation checks. Statistics therefore describe
// registrations, and contains() needs both. Buffers are held weakly: a registered buffer that
// is destroyed simply stops counting and leaves the set at the next commit.

#include "vecaccel/residency_manager.hpp"

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "access.hpp"
#include "buffer_impl.hpp"
#include "device_impl.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

float priority_of(ResidencyMode mode) noexcept {
  switch (mode) {
    case ResidencyMode::hot:
      return 1.0f;
    case ResidencyMode::persistent:
      return 0.75f;
    case ResidencyMode::ephemeral:
      return 0.5f;
  }
  return 0.5f;
}

ResidencyModeStatistics& slot_of(ResidencyStatistics& stats, ResidencyMode mode) noexcept {
  switch (mode) {
    case ResidencyMode::hot:
      return stats.hot;
    case ResidencyMode::persistent:
      return stats.persistent;
    case ResidencyMode::ephemeral:
      break;
  }
  return stats.ephemeral;
}

struct DeviceMemoryBudget {
  std::uint64_t budget = 0;
  std::uint64_t usage = 0;
};

/// Budget and usage of the device-local heaps (VK_EXT_memory_budget).
DeviceMemoryBudget query_budget(const DeviceImpl& device) {
  const auto chain = device.physical()
                         .getMemoryProperties2<vk::PhysicalDeviceMemoryProperties2,
                                               vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
  const auto& properties = chain.get<vk::PhysicalDeviceMemoryProperties2>().memoryProperties;
  const auto& budget = chain.get<vk::PhysicalDeviceMemoryBudgetPropertiesEXT>();
  DeviceMemoryBudget out;
  for (std::uint32_t i = 0; i < properties.memoryHeapCount; ++i) {
    if (!(properties.memoryHeaps[i].flags & vk::MemoryHeapFlagBits::eDeviceLocal)) continue;
    out.budget += budget.heapBudget[i];
    out.usage += budget.heapUsage[i];
  }
  return out;
}

}  // namespace

class ResidencyManagerImpl {
 public:
  ResidencyManagerImpl(const Device& device, const ResidencySetDescriptor& descriptor)
      : device_(device), set_(device.make_residency_set(descriptor)) {}

  ResidencySet& set() noexcept { return set_; }

  void register_buffer(const Buffer& buffer, ResidencyMode mode) {
    require_valid(buffer, "register_buffer");
    std::lock_guard lock(mutex_);
    set_.add_allocation(buffer);  // throws for a foreign buffer before anything changes
    auto& entry = registry_[buffer.id()];
    entry = Entry{detail::Access::impl(buffer), buffer.size(), mode};
    detail::Access::impl(buffer)->set_priority(priority_of(mode));
  }

  void unregister_buffer(const Buffer& buffer) {
    require_valid(buffer, "unregister_buffer");
    std::lock_guard lock(mutex_);
    if (registry_.erase(buffer.id()) == 0) return;
    set_.remove_allocation(buffer);
  }

  void commit() {
    std::unique_lock lock(mutex_);
    try {
      commit_locked();
      return;
    } catch (const Error& e) {
      if (e.code() != Errc::residency_set_full || !overflow_) throw;
    }
    // Outside the lock: the handler unregisters buffers through this manager.
    const std::function<void()> handler = overflow_;
    lock.unlock();
    handler();
    lock.lock();
    commit_locked();
  }

  void set_overflow_handler(std::function<void()> handler) {
    std::lock_guard lock(mutex_);
    overflow_ = std::move(handler);
  }

  bool contains(const Buffer& buffer) const {
    if (!buffer.valid()) return false;
    std::lock_guard lock(mutex_);
    return registry_.contains(buffer.id()) && set_.contains(buffer);
  }

  bool has_pending_changes() const { return set_.has_pending_changes(); }

  std::uint64_t evict(ResidencyMode mode) {
    std::lock_guard lock(mutex_);
    std::uint64_t bytes = 0;
    std::erase_if(registry_, [&](const auto& item) {
      const Entry& entry = item.second;
      if (entry.mode != mode) return false;
      if (const auto buffer = entry.buffer.lock()) {
        set_.remove_allocation(Buffer(buffer));
        bytes += entry.size;
      }
      return true;
    });
    commit_locked();
    return bytes;
  }

  ResidencyStatistics statistics() const {
    ResidencyStatistics stats;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, entry] : registry_) {
        if (entry.buffer.expired()) continue;  // its memory is gone: nothing is resident
        auto& slot = slot_of(stats, entry.mode);
        ++slot.buffers;
        slot.bytes += entry.size;
      }
      stats.commits = commits_;
      stats.last_commit = last_commit_;
    }
    stats.total_buffers = stats.persistent.buffers + stats.ephemeral.buffers + stats.hot.buffers;
    stats.total_bytes = stats.persistent.bytes + stats.ephemeral.bytes + stats.hot.bytes;
    if (device_.capabilities().memory_budget) {
      const DeviceMemoryBudget budget = query_budget(*detail::Access::impl(device_));
      stats.device_budget_bytes = budget.budget;
      stats.device_usage_bytes = budget.usage;
    }
    return stats;
  }

  void clear() {
    std::lock_guard lock(mutex_);
    for (const auto& [id, entry] : registry_) {
      if (const auto buffer = entry.buffer.lock()) set_.remove_allocation(Buffer(buffer));
    }
    registry_.clear();
    commit_locked();
  }

 private:
  struct Entry {
    std::weak_ptr<BufferImpl> buffer;
    std::uint64_t size = 0;
    ResidencyMode mode = ResidencyMode::ephemeral;
  };

  static void require_valid(const Buffer& buffer, std::string_view what) {
    if (!buffer.valid()) {
      throw Error(Errc::invalid_argument, std::string(what) + ": empty buffer handle");
    }
  }

  /// Commits count only when they change the set, so a context may commit before every
  /// submission without inflating the figure.
  void commit_locked() {
    std::erase_if(registry_, [](const auto& item) { return item.second.buffer.expired(); });
    if (!set_.has_pending_changes()) return;
    set_.commit();  // residency_set_full leaves set and registry as they were
    ++commits_;
    last_commit_ = std::chrono::system_clock::now();
  }

  Device device_;
  ResidencySet set_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, Entry> registry_;
  std::uint64_t commits_ = 0;
  std::optional<std::chrono::system_clock::time_point> last_commit_;
  std::function<void()> overflow_;
};

}  // namespace vecaccel::detail

namespace vecaccel {

ResidencyManager::ResidencyManager(const Device& device, const ResidencySetDescriptor& descriptor)
    : impl_(std::make_unique<detail::ResidencyManagerImpl>(device, descriptor)) {}
ResidencyManager::ResidencyManager(ResidencyManager&&) noexcept = default;
ResidencyManager& ResidencyManager::operator=(ResidencyManager&&) noexcept = default;
ResidencyManager::~ResidencyManager() = default;

ResidencySet& ResidencyManager::residency_set() noexcept {
  return impl_->set();
}
void ResidencyManager::register_buffer(const Buffer& buffer, ResidencyMode mode) {
  impl_->register_buffer(buffer, mode);
}
void ResidencyManager::unregister_buffer(const Buffer& buffer) {
  impl_->unregister_buffer(buffer);
}
void ResidencyManager::commit() {
  impl_->commit();
}
bool ResidencyManager::contains(const Buffer& buffer) const {
  return impl_->contains(buffer);
}
bool ResidencyManager::has_pending_changes() const {
  return impl_->has_pending_changes();
}
std::uint64_t ResidencyManager::evict(ResidencyMode mode) {
  return impl_->evict(mode);
}
ResidencyStatistics ResidencyManager::statistics() const {
  return impl_->statistics();
}
void ResidencyManager::set_overflow_handler(std::function<void()> handler) {
  impl_->set_overflow_handler(std::move(handler));
}
void ResidencyManager::clear() {
  impl_->clear();
}

}  // namespace vecaccel
