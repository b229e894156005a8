#pragma once
// The implementation of CommandBuffer and the state of its ComputeEncoder.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "command_list.hpp"
#include "vecaccel/argument_table.hpp"
#include "vecaccel/compute_encoder.hpp"
#include "vk.hpp"

namespace vecaccel::detail {

class AllocatorImpl;
class BufferImpl;
class DeviceImpl;
class DispatchProfile;
class PipelineImpl;
class QueueImpl;
class ReleaseQueue;
class ResidencySetImpl;

class CommandBufferImpl {
 public:
  enum class State { initial, recording, ended, committed };

  explicit CommandBufferImpl(std::shared_ptr<DeviceImpl> device);
  /// Drops pending buffer uses of an uncommitted recording.
  ~CommandBufferImpl();
  CommandBufferImpl(const CommandBufferImpl&) = delete;
  CommandBufferImpl& operator=(const CommandBufferImpl&) = delete;

  void begin(const std::shared_ptr<AllocatorImpl>& allocator);
  void use_residency_set(std::shared_ptr<ResidencySetImpl> set);
  void set_residency_validation(bool enabled) noexcept { validate_residency_ = enabled; }
  /// Implicit (legacy) model: keep every used buffer alive until the submission completes.
  void set_retain_buffers(bool retain) noexcept { retain_buffers_ = retain; }
  /// The queue this will be committed to, when known: residency is then fully checked while
  /// encoding instead of partly at commit. The queue must outlive the recording.
  void set_target_queue(const QueueImpl* queue) noexcept { target_queue_ = queue; }
  /// Drops every residency set but `keep`: a recycled command buffer (Context) starts each
  /// operation with its owner's set alone, so sets an operation attached for itself (the kNN
  /// engine's scratch) are neither kept alive nor searched by later operations.
  void keep_only_residency_set(const std::shared_ptr<ResidencySetImpl>& keep);
  /// For a context's operations, whose allocator is this command buffer's alone and which
  /// begin() again only once their last submission completed: the Vulkan command buffer keeps
  /// its recording, and end() submits it again when the new recording is equal (the same
  /// commands on the same buffers and pipelines) instead of resetting the pool and recording
  /// anew. Otherwise (the default) each begin() takes a new command buffer from the allocator.
  void set_reuse_recording(bool reuse) noexcept { reuse_ = reuse; }
  /// Timestamps after every dispatch, copy and fill of each recording (dispatch_profile.hpp;
  /// a Context sets it from VECACCEL_PROFILE_DISPATCHES on devices with timestamps).
  void set_profile_dispatches(bool profile) noexcept { profile_dispatches_ = profile; }
  /// Vulkan recordings made (end() of a recording that ran no command, or that reused the last
  /// one, makes none).
  std::uint64_t vulkan_recordings() const noexcept { return vulkan_recordings_; }
  ComputeEncoder& make_encoder();
  void end();

  // Encoder operations (ComputeEncoder forwards here).
  void set_pipeline(const ComputePipeline& pipeline);
  void set_argument_table(const ArgumentTable& table);
  void set_constant_bytes(std::span<const std::byte> bytes);
  void dispatch(std::uint32_t x, std::uint32_t y, std::uint32_t z);
  void dispatch_threads(std::uint32_t x, std::uint32_t y, std::uint32_t z);
  void barrier(std::span<const Buffer> resources, Stage after, Stage before);
  void barrier(Stage after, Stage before);
  void copy(const Buffer& source, std::uint64_t source_offset, const Buffer& destination,
            std::uint64_t destination_offset, std::uint64_t size);
  void fill(const Buffer& buffer, std::uint64_t offset, std::uint64_t size, std::uint32_t pattern);
  void end_encoding();
  bool encoding() const noexcept { return encoding_; }

  /// Profiling: timestamps at the start and end of the recorded work.
  void write_begin_timestamp();
  void write_end_timestamp();
  /// GPU nanoseconds between the two timestamps; only once the submission completed.
  std::optional<std::uint64_t> read_elapsed_ns() const;
  /// With VECACCEL_PROFILE_DISPATCHES, once the submission completed: its work's GPU times to
  /// stderr (dispatch_profile.hpp). Nothing otherwise.
  void report_dispatch_profile() const;

  // Queue side.
  State state() const noexcept { return state_; }
  vk::CommandBuffer handle() const noexcept { return **handle_; }
  const std::shared_ptr<AllocatorImpl>& allocator() const noexcept { return allocator_; }
  /// Buffers whose residency the command buffer's own sets did not satisfy.
  const std::vector<std::shared_ptr<BufferImpl>>& unresolved() const noexcept {
    return unresolved_;
  }
  bool validates_residency() const noexcept { return validate_residency_; }
  /// Nothing but barriers was recorded: the queue need not submit it at all.
  bool records_no_work() const noexcept { return commands_ == 0; }
  /// Called by the queue once submitted with value: records every use and hands the queue's
  /// release list what must stay alive until completion (the allocator; in the legacy model
  /// every buffer used).
  void mark_committed(const std::shared_ptr<ReleaseQueue>& queue, std::uint64_t value);
  std::uint64_t committed_value() const noexcept { return committed_value_; }
  DeviceImpl& device() const noexcept { return *device_; }

  std::string label;

 private:
  void require_recording(std::string_view what) const;
  void require_encoding(std::string_view what) const;
  /// Residency check and completion tracking for every buffer a command touches.
  void use(const Buffer& buffer, std::string_view how);
  /// Whether this recording has not used the buffer with this id yet (then it has now).
  bool first_use(std::uint64_t id);
  void flush_bindings();
  /// Takes a new command buffer from allocator and begins it (the default mode).
  void begin_new(AllocatorImpl& allocator);
  void release_uses() noexcept;
  void end_with_host_barrier();
  /// Plays list_ into handle_ (begun) and ends it.
  void record_list();
  /// end() with set_reuse_recording: reuses the held recording or makes a new one.
  void end_reusing();
  CommandList::QuerySlot query_slot() const;

  std::shared_ptr<DeviceImpl> device_;
  State state_ = State::initial;
  std::shared_ptr<AllocatorImpl> allocator_;
  vk::raii::CommandBuffer* handle_ = nullptr;  // owned by allocator_
  std::uint32_t slot_ = 0;
  bool allocator_recording_ = false;  // begin_recording() called, end_recording() due
  CommandList list_;                  // this recording, played into Vulkan by end()
  // With reuse_: what handle_ holds, valid while the allocator's pool was not reset since.
  bool reuse_ = false;
  bool holds_recording_ = false;
  CommandList recorded_;
  const AllocatorImpl* recorded_allocator_ = nullptr;
  std::uint64_t recorded_generation_ = 0;
  std::uint64_t vulkan_recordings_ = 0;
  std::optional<ComputeEncoder> encoder_;
  bool encoding_ = false;
  bool validate_residency_ = true;
  bool retain_buffers_ = false;
  bool profiled_ = false;
  // The last recording's per-command timestamps; each submission's queue keeps it alive too.
  bool profile_dispatches_ = false;
  std::shared_ptr<DispatchProfile> dispatch_profile_;
  const QueueImpl* target_queue_ = nullptr;
  std::uint64_t committed_value_ = 0;
  std::uint32_t commands_ = 0;  // dispatches, copies, fills, timestamps since begin()

  std::vector<std::shared_ptr<ResidencySetImpl>> sets_;
  std::vector<std::shared_ptr<BufferImpl>> used_;
  std::unordered_set<std::uint64_t> used_ids_;  // filled only beyond a few buffers
  std::vector<std::shared_ptr<BufferImpl>> unresolved_;

  // Encoder state.
  std::shared_ptr<PipelineImpl> pipeline_;
  struct Bound {
    std::shared_ptr<BufferImpl> buffer;
    std::uint64_t offset;
    std::uint64_t range;
  };
  std::array<std::optional<Bound>, ArgumentTable::max_bindings> bindings_{};
  bool bindings_dirty_ = false;
  bool pipeline_dirty_ = false;
};

}  // namespace vecaccel::detail
