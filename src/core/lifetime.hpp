#pragma once
// The one lifetime model of the core: a point on a queue's timeline, and per queue one
// deferred-release list (the shape of Dawn's fenced deleter, by submission serial).
//
// commit() hands the queue's ReleaseQueue everything a submission must outlive (its command
// allocator, the legacy model's buffers, a context's per-operation record, kNN scratch); the
// list lets go of each entry once the timeline has passed its value. Buffers are clients too:
// the last handle to a buffer that the GPU may still use does not free it but defers it to the
// queue that runs that work (release_when_idle), so memory is never freed under the GPU,
// whatever order callers drop handles in, on error paths included.
//
// On a lost device nothing passes any more: entries stay until the queue drains (a wait that a
// lost device ends at once), then everything is released.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace vecaccel::detail {

class Timeline;

class ReleaseQueue {
 public:
  explicit ReleaseQueue(std::shared_ptr<Timeline> timeline) noexcept
      : timeline_(std::move(timeline)) {}
  /// Releases everything left (the owner drained first).
  ~ReleaseQueue() { release_all(); }
  ReleaseQueue(const ReleaseQueue&) = delete;
  ReleaseQueue& operator=(const ReleaseQueue&) = delete;

  const std::shared_ptr<Timeline>& timeline() const noexcept { return timeline_; }
  /// Whether the timeline has passed value (never throws; false on a lost device).
  bool passed(std::uint64_t value) const noexcept;

  /// Keeps object alive until the timeline passes value. Throws only std::bad_alloc.
  void defer(std::uint64_t value, std::shared_ptr<void> object);
  /// Calls destroy(object) once the timeline passes value. If this throws (std::bad_alloc),
  /// the caller still owns object.
  void defer_destroy(std::uint64_t value, void* object, void (*destroy)(void*));
  /// Releases the entries whose value the timeline passed, outside the lock (a release may
  /// defer again, to this or another queue).
  void collect() noexcept;
  /// The queue drained (its hardware queue is idle, or the device is lost): every value up to
  /// `value` counts as passed from now on. Then releases every entry.
  void drained(std::uint64_t value) noexcept;
  void release_all() noexcept;

 private:
  struct Entry {
    std::uint64_t value;
    std::shared_ptr<void> object;
    void* raw = nullptr;
    void (*destroy)(void*) = nullptr;
  };
  static void release(std::vector<Entry>& entries) noexcept;

  std::shared_ptr<Timeline> timeline_;
  std::atomic<std::uint64_t> drained_{0};
  std::mutex mutex_;
  std::vector<Entry> entries_;
  // collect()'s list, kept with its capacity: collecting runs on every commit, and a new list
  // each time was a heap allocation per operation.
  std::vector<Entry> spare_;
};

/// "Done once this queue's timeline passes value."
struct TimelinePoint {
  std::shared_ptr<ReleaseQueue> queue;
  std::uint64_t value = 0;
  bool passed() const noexcept { return !queue || queue->passed(value); }
  /// Blocks until passed, or the device is lost. Never throws.
  void wait() const noexcept;
};

/// The last submission that used an object, per queue it was committed to (a buffer may be
/// used from several). The object is idle once every point passed; a queue that is gone
/// counts as passed (it drained before it went). Thread-safe.
class LastUses {
 public:
  void record(const std::shared_ptr<ReleaseQueue>& queue, std::uint64_t value);
  /// Never throws: on a lost device, uses not seen complete stay pending.
  bool passed() const noexcept { return !pending().has_value(); }
  /// The first use not yet passed, if any.
  std::optional<TimelinePoint> pending() const noexcept;
  void clear() noexcept;

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::weak_ptr<ReleaseQueue>, std::uint64_t>> uses_;
};

}  // namespace vecaccel::detail
