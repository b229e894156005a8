#include "lifetime.hpp"

#include <algorithm>

#include "timeline.hpp"

namespace vecaccel::detail {

bool ReleaseQueue::passed(std::uint64_t value) const noexcept {
  return value <= drained_.load(std::memory_order_acquire) || timeline_->passed(value);
}

void ReleaseQueue::drained(std::uint64_t value) noexcept {
  std::uint64_t seen = drained_.load(std::memory_order_relaxed);
  while (value > seen && !drained_.compare_exchange_weak(seen, value)) {
  }
  release_all();
}

void ReleaseQueue::defer(std::uint64_t value, std::shared_ptr<void> object) {
  std::lock_guard lock(mutex_);
  entries_.push_back({value, std::move(object)});
}

void ReleaseQueue::defer_destroy(std::uint64_t value, void* object, void (*destroy)(void*)) {
  std::lock_guard lock(mutex_);
  entries_.push_back({value, nullptr, object, destroy});
}

void ReleaseQueue::release(std::vector<Entry>& entries) noexcept {
  for (Entry& entry : entries) {
    if (entry.raw != nullptr) entry.destroy(entry.raw);
  }
  entries.clear();
}

void ReleaseQueue::collect() noexcept {
  std::vector<Entry> done;
  {
    std::lock_guard lock(mutex_);
    if (entries_.empty()) return;
    // This runs on every commit: the value a waiter last saw usually frees something, and
    // reading the counter from the driver is left to when it does not.
    const std::uint64_t drained = drained_.load(std::memory_order_acquire);
    const auto done_by = [&](std::uint64_t reached) {
      return std::partition(entries_.begin(), entries_.end(),
                            [&](const Entry& e) { return e.value > reached; });
    };
    auto ready = done_by(std::max(drained, timeline_->cached_value()));
    if (ready == entries_.end()) ready = done_by(std::max(drained, timeline_->poll()));
    if (ready == entries_.end()) return;
    done.swap(spare_);
    try {
      done.assign(std::make_move_iterator(ready), std::make_move_iterator(entries_.end()));
    } catch (...) {
      return;  // no memory for the list: the next collect releases them
    }
    entries_.erase(ready, entries_.end());
  }
  release(done);
  std::lock_guard lock(mutex_);
  if (spare_.capacity() < done.capacity()) spare_.swap(done);
}

void ReleaseQueue::release_all() noexcept {
  std::vector<Entry> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(entries_);
  }
  release(all);
}

void TimelinePoint::wait() const noexcept {
  if (!queue) return;
  try {
    queue->timeline()->wait(value, std::nullopt);
  } catch (...) {
    // Lost: nothing will pass any more.
  }
}

void LastUses::record(const std::shared_ptr<ReleaseQueue>& queue, std::uint64_t value) {
  std::lock_guard lock(mutex_);
  for (auto& [weak, last] : uses_) {
    if (weak.lock() == queue) {
      last = std::max(last, value);
      return;
    }
  }
  std::erase_if(uses_, [](const auto& use) { return use.first.expired(); });
  uses_.emplace_back(queue, value);
}

std::optional<TimelinePoint> LastUses::pending() const noexcept {
  std::lock_guard lock(mutex_);
  for (const auto& [weak, last] : uses_) {
    TimelinePoint point{weak.lock(), last};
    if (!point.passed()) return point;
  }
  return std::nullopt;
}

void LastUses::clear() noexcept {
  std::lock_guard lock(mutex_);
  uses_.clear();
}

}  // namespace vecaccel::detail
