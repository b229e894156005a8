#pragma once
// CommandQueue (MTL4CommandQueue): submits command buffers made by the device, in batches,
// and tracks their completion on its own timeline.
//
// Thread-safe: many threads may commit at once; submissions are serialised inside. At most
// max_command_buffer_count submissions are in flight; a further commit blocks until one
// completes (respecting the caller's WaitOptions). Destroying a queue waits for its work.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "vecaccel/shared_event.hpp"
#include "vecaccel/stop.hpp"

namespace vecaccel {

class CommandBuffer;
class ResidencySet;

struct CommandQueueDescriptor {
  std::string label;
  /// Submissions in flight at most; >= 1. Each thread waiting on its own operation holds one.
  std::uint32_t max_command_buffer_count = 3;
};

namespace detail {
struct Access;
class QueueImpl;
}  // namespace detail

class CommandQueue {
 public:
  CommandQueue(CommandQueue&&) noexcept;
  CommandQueue& operator=(CommandQueue&&) noexcept;
  ~CommandQueue();

  /// Attaches a set: its committed buffers satisfy residency validation for every command
  /// buffer committed here. The set must outlive its attachment.
  void add_residency_set(ResidencySet& set);
  void remove_residency_set(ResidencySet& set);

  /// Submits the ended buffers in one batch, in order, and returns the timeline value that
  /// marks their completion. Throws invalid_argument for a buffer that is not ended or was
  /// committed already, residency_violation for a buffer used but in no attached set,
  /// timeout/cancelled when back-pressure outlasts the options.
  std::uint64_t commit(std::span<CommandBuffer* const> buffers, const WaitOptions& options = {});
  std::uint64_t commit(CommandBuffer& buffer, const WaitOptions& options = {});

  /// GPU-side: event reaches value once all work committed before this call completed.
  void signal_event(SharedEvent& event, std::uint64_t value);
  /// GPU-side: work committed after this call starts only once event reached value.
  /// Queues share hardware queues when the device has fewer than queues made (lavapipe has
  /// one): there, commit the signal before work that waits for it, or the wait blocks its
  /// hardware queue forever.
  void wait_event(SharedEvent& event, std::uint64_t value);

  /// The queue's completion timeline; each commit signals the next value. Read-only.
  const SharedEvent& completion_event() const noexcept;
  /// Last value handed out by commit()/signal_event().
  std::uint64_t last_submitted_value() const noexcept;
  /// Blocks until everything committed so far has completed.
  void wait_idle(const WaitOptions& options = {}) const;

  const std::string& label() const noexcept;
  std::uint32_t max_command_buffer_count() const noexcept;

  explicit CommandQueue(std::shared_ptr<detail::QueueImpl> impl) noexcept;

 private:
  friend struct detail::Access;  // the library reaches the implementation, clients do not
  const std::shared_ptr<detail::QueueImpl>& impl() const noexcept { return impl_; }
  std::shared_ptr<detail::QueueImpl> impl_;
};

}  // namespace vecaccel
