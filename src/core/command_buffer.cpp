#include "command_buffer_impl.hpp"

#include <algorithm>
#include <string>

#include "access.hpp"
#include "allocator_impl.hpp"
#include "buffer_impl.hpp"
#include "device_impl.hpp"
#include "dispatch_profile.hpp"
#include "lifetime.hpp"
#include "pipeline_impl.hpp"
#include "queue_impl.hpp"
#include "residency_set_impl.hpp"
#include "timeline.hpp"
#include "vecaccel/command_allocator.hpp"
#include "vecaccel/command_buffer.hpp"
#include "vecaccel/residency_set.hpp"

namespace vecaccel::detail {
namespace {

using S2 = vk::PipelineStageFlagBits2;
using A2 = vk::AccessFlagBits2;

std::string_view state_name(CommandBufferImpl::State s) {
  switch (s) {
    case CommandBufferImpl::State::initial:
      return "not begun";
    case CommandBufferImpl::State::recording:
      return "recording";
    case CommandBufferImpl::State::ended:
      return "ended";
    case CommandBufferImpl::State::committed:
      return "committed";
  }
  return "unknown";
}

vk::PipelineStageFlags2 stages_of(Stage s) {
  vk::PipelineStageFlags2 out;
  if (has_stage(s, Stage::dispatch)) out |= S2::eComputeShader;
  if (has_stage(s, Stage::blit)) out |= S2::eCopy | S2::eClear;
  if (has_stage(s, Stage::host)) out |= S2::eHost;
  return out;
}

/// What `after` stages may have written: only writes need making available.
vk::AccessFlags2 writes_of(Stage s) {
  vk::AccessFlags2 out;
  if (has_stage(s, Stage::dispatch)) out |= A2::eShaderStorageWrite;
  if (has_stage(s, Stage::blit)) out |= A2::eTransferWrite;
  if (has_stage(s, Stage::host)) out |= A2::eHostWrite;
  return out;
}

vk::AccessFlags2 accesses_of(Stage s) {
  vk::AccessFlags2 out;
  if (has_stage(s, Stage::dispatch)) out |= A2::eShaderStorageRead | A2::eShaderStorageWrite;
  if (has_stage(s, Stage::blit)) out |= A2::eTransferRead | A2::eTransferWrite;
  if (has_stage(s, Stage::host)) out |= A2::eHostRead | A2::eHostWrite;
  return out;
}

void check_stages(Stage after, Stage before) {
  if (after == Stage::none || before == Stage::none) {
    throw Error(Errc::invalid_argument, "a barrier needs stages on both sides");
  }
}

}  // namespace

CommandBufferImpl::CommandBufferImpl(std::shared_ptr<DeviceImpl> device)
    : device_(std::move(device)) {}

CommandBufferImpl::~CommandBufferImpl() {
  if (allocator_recording_) allocator_->end_recording();
  release_uses();
}

void CommandBufferImpl::release_uses() noexcept {
  for (const auto& buffer : used_)
    buffer->end_pending_use();
  used_.clear();
  used_ids_.clear();
  unresolved_.clear();
}

void CommandBufferImpl::require_recording(std::string_view what) const {
  if (state_ != State::recording) {
    throw Error(Errc::invalid_argument, std::string(what) +
                                            " needs a recording command buffer; it is " +
                                            std::string(state_name(state_)));
  }
}

void CommandBufferImpl::require_encoding(std::string_view what) const {
  require_recording(what);
  if (!encoding_) {
    throw Error(Errc::invalid_argument,
                std::string(what) + " needs an open encoder (make_compute_encoder)");
  }
}

void CommandBufferImpl::begin(const std::shared_ptr<AllocatorImpl>& allocator) {
  if (state_ == State::recording) {
    throw Error(Errc::invalid_argument, "begin() on a command buffer that is already recording");
  }
  if (&allocator->device() != device_.get()) {
    throw Error(Errc::invalid_argument, "the allocator belongs to another device");
  }
  release_uses();  // an ended but never committed recording is abandoned
  // Reusing recordings, end() decides whether to record at all.
  if (!reuse_) begin_new(*allocator);
  allocator_ = allocator;
  list_.clear();
  state_ = State::recording;
  commands_ = 0;
  committed_value_ = 0;
  pipeline_.reset();
  bindings_.fill(std::nullopt);
  bindings_dirty_ = pipeline_dirty_ = false;
  profiled_ = false;
}

void CommandBufferImpl::begin_new(AllocatorImpl& allocator) {
  allocator.begin_recording();
  try {
    const auto [handle, slot] = allocator.take();
    vk::raii::CommandBuffer* const recording = handle;  // clang 14 cannot capture bindings
    device_->call("beginning a command buffer", [&] {
      recording->begin(
          vk::CommandBufferBeginInfo{.flags = vk::CommandBufferUsageFlagBits::eOneTimeSubmit});
    });
    handle_ = handle;
    slot_ = slot;
  } catch (...) {
    allocator.end_recording();
    throw;
  }
  allocator_recording_ = true;
}

void CommandBufferImpl::use_residency_set(std::shared_ptr<ResidencySetImpl> set) {
  if (std::find(sets_.begin(), sets_.end(), set) == sets_.end()) sets_.push_back(std::move(set));
}

void CommandBufferImpl::keep_only_residency_set(const std::shared_ptr<ResidencySetImpl>& keep) {
  sets_.assign(1, keep);
}

ComputeEncoder& CommandBufferImpl::make_encoder() {
  require_recording("make_compute_encoder");
  if (encoding_)
    throw Error(Errc::invalid_argument, "an encoder is already open; end_encoding() it first");
  if (!encoder_) encoder_.emplace(*this);
  encoding_ = true;
  return *encoder_;
}

void CommandBufferImpl::end_encoding() {
  require_encoding("end_encoding");
  encoding_ = false;
}

void CommandBufferImpl::end() {
  require_recording("end");
  if (encoding_)
    throw Error(Errc::invalid_argument, "end() with an open encoder; end_encoding() first");
  // Results are read through mapped memory once the timeline says done: make every write
  // of this command buffer visible to the host (nothing to do when nothing was recorded).
  if (commands_ > 0) end_with_host_barrier();
  if (reuse_) {
    end_reusing();
  } else {
    record_list();
  }
  if (allocator_recording_) {
    allocator_->end_recording();
    allocator_recording_ = false;
  }
  list_.clear();
  state_ = State::ended;
  // Encoding is over: drop the encoder's references, so that a command buffer kept for reuse
  // (Context recycles them) does not keep its last buffers and pipeline alive.
  pipeline_.reset();
  bindings_.fill(std::nullopt);
}

void CommandBufferImpl::end_with_host_barrier() {
  list_.memory_barrier({.srcStageMask = S2::eComputeShader | S2::eCopy | S2::eClear,
                        .srcAccessMask = A2::eShaderStorageWrite | A2::eTransferWrite,
                        .dstStageMask = S2::eHost,
                        .dstAccessMask = A2::eHostRead});
}

CommandList::QuerySlot CommandBufferImpl::query_slot() const {
  CommandList::QuerySlot slot{};
  slot.pool = allocator_->query_pool_for(slot_, slot.first);
  return slot;
}

void CommandBufferImpl::record_list() {
  const CommandList::QuerySlot slot =
      list_.writes_timestamps() ? query_slot() : CommandList::QuerySlot{};
  dispatch_profile_.reset();
  if (profile_dispatches_ && list_.work_count() > 0) {
    dispatch_profile_ = std::make_shared<DispatchProfile>(*device_, list_);
  }
  list_.play(*handle_, slot, dispatch_profile_ ? dispatch_profile_->pool() : vk::QueryPool{});
  device_->call("ending a command buffer", [&] { handle_->end(); });
  ++vulkan_recordings_;
}

void CommandBufferImpl::end_reusing() {
  // Nothing to run: the queue submits no command buffer, and the recording held stays.
  if (commands_ == 0) return;
  if (holds_recording_ && recorded_allocator_ == allocator_.get() &&
      recorded_generation_ == allocator_->generation() && list_ == recorded_) {
    return;  // handle_ and slot_ still name that recording
  }
  holds_recording_ = false;
  allocator_->reset();  // throws while work recorded from it is in flight
  const auto [handle, slot] = allocator_->take();
  handle_ = handle;
  slot_ = slot;
  device_->call("beginning a command buffer",
                [&] { handle_->begin(vk::CommandBufferBeginInfo{}); });
  record_list();
  std::swap(recorded_, list_);
  holds_recording_ = true;
  recorded_allocator_ = allocator_.get();
  recorded_generation_ = allocator_->generation();
}

void CommandBufferImpl::use(const Buffer& buffer, std::string_view how) {
  if (!buffer.valid()) {
    throw Error(Errc::invalid_argument, std::string(how) + ": empty buffer handle");
  }
  const auto& impl = detail::Access::impl(buffer);
  if (&impl->device() != device_.get()) {
    throw Error(Errc::invalid_argument,
                std::string(how) + ": " + impl->describe() + " belongs to another device");
  }
  if (!first_use(impl->id())) return;
  impl->begin_pending_use();
  used_.push_back(impl);
  if (!validate_residency_) return;
  const auto in_set = [&](const auto& set) { return set->contains(impl->id()); };
  if (std::any_of(sets_.begin(), sets_.end(), in_set)) return;
  if (target_queue_ != nullptr) {
    if (target_queue_->residency_sets_contain(impl->id())) return;
    throw Error(Errc::residency_violation,
                std::string(how) + " uses " + impl->describe() +
                    ", which is in no committed residency set of the command buffer or its queue");
  }
  unresolved_.push_back(impl);  // the queue's sets decide at commit
}

bool CommandBufferImpl::first_use(std::uint64_t id) {
  // A hash set only for many buffers: an operation binds a few, and a node per insert cost
  // an allocation per buffer and operation.
  constexpr std::size_t linear_limit = 16;
  if (!used_ids_.empty()) return used_ids_.insert(id).second;
  const auto same = [&](const auto& buffer) { return buffer->id() == id; };
  if (std::any_of(used_.begin(), used_.end(), same)) return false;
  if (used_.size() >= linear_limit) {
    for (const auto& buffer : used_)
      used_ids_.insert(buffer->id());
    used_ids_.insert(id);
  }
  return true;
}

void CommandBufferImpl::set_pipeline(const ComputePipeline& pipeline) {
  require_encoding("set_pipeline");
  if (!pipeline.valid()) throw Error(Errc::invalid_argument, "set_pipeline: empty pipeline");
  if (pipeline_ != detail::Access::impl(pipeline)) {
    pipeline_ = detail::Access::impl(pipeline);
    pipeline_dirty_ = true;
  }
}

void CommandBufferImpl::set_argument_table(const ArgumentTable& table) {
  require_encoding("set_argument_table");
  const std::uint64_t alignment = device_->capabilities().min_storage_buffer_offset_alignment;
  const std::uint64_t max_range = device_->capabilities().max_storage_buffer_range;
  for (std::uint32_t i = 0; i < ArgumentTable::max_bindings; ++i) {
    std::optional<Bound> bound;
    if (const auto address = table.address(i)) {
      auto [impl, offset] = device_->resolve_address(*address);
      bound = Bound{std::move(impl), offset, 0};
    } else if (const auto& binding = table.binding(i)) {
      bound = Bound{detail::Access::impl(binding->buffer), binding->offset, binding->range};
    }
    if (bound) {
      use(Buffer(bound->buffer), "argument table binding");
      // Built only on the error paths below: binding is the hot path of every dispatch.
      const auto how = [i] { return "argument table binding " + std::to_string(i); };
      const std::uint64_t available = bound->buffer->size() - bound->offset;
      if (bound->range == 0) bound->range = available;
      if (bound->range > available) {
        throw Error(Errc::invalid_argument, how() + ": range " + std::to_string(bound->range) +
                                                " at offset " + std::to_string(bound->offset) +
                                                " overruns " + bound->buffer->describe());
      }
      if (bound->range > max_range) {
        throw Error(Errc::invalid_argument,
                    how() + ": range of " + std::to_string(bound->range) +
                        " bytes exceeds the device's storage buffer range of " +
                        std::to_string(max_range) + " bytes; bind a sub-range");
      }
      if ((bound->buffer->offset() + bound->offset) % alignment != 0) {
        throw Error(Errc::invalid_argument, how() + ": offset " + std::to_string(bound->offset) +
                                                " is not a multiple of the device's storage "
                                                "buffer alignment " +
                                                std::to_string(alignment));
      }
    }
    bindings_[i] = std::move(bound);
  }
  bindings_dirty_ = true;
}

void CommandBufferImpl::set_constant_bytes(std::span<const std::byte> bytes) {
  require_encoding("set_constants");
  if (!pipeline_) throw Error(Errc::invalid_argument, "set_constants before set_pipeline");
  pipeline_->check_constant_size(bytes.size());
  list_.push_constants(pipeline_->layout(), bytes);
}

void CommandBufferImpl::flush_bindings() {
  if (pipeline_dirty_) list_.bind_pipeline(pipeline_);
  if (!bindings_dirty_ && !pipeline_dirty_) return;
  std::array<CommandList::Descriptor, ArgumentTable::max_bindings> descriptors{};
  std::uint32_t count = 0;
  const std::uint32_t mask = pipeline_->binding_mask();
  for (std::uint32_t i = 0; i < ArgumentTable::max_bindings; ++i) {
    if (!(mask & (1u << i))) {
      if (bindings_[i]) pipeline_->check_binding_declared(i);
      continue;
    }
    if (!bindings_[i]) {
      throw Error(Errc::invalid_argument, "shader '" + pipeline_->name() + "' reads binding " +
                                              std::to_string(i) +
                                              ", which the argument table does not set");
    }
    const Bound& b = *bindings_[i];
    descriptors[count++] = {.binding = i,
                            .buffer = b.buffer->handle(),
                            .buffer_id = b.buffer->id(),
                            .offset = b.buffer->offset() + b.offset,
                            .range = b.range};
  }
  if (count > 0) {
    list_.push_descriptors(pipeline_->layout(), std::span(descriptors.data(), count));
  }
  bindings_dirty_ = pipeline_dirty_ = false;
}

void CommandBufferImpl::dispatch(std::uint32_t x, std::uint32_t y, std::uint32_t z) {
  require_encoding("dispatch");
  if (!pipeline_) throw Error(Errc::invalid_argument, "dispatch before set_pipeline");
  const auto& limit = device_->capabilities().max_workgroup_count;
  const std::uint32_t counts[3] = {x, y, z};
  for (int i = 0; i < 3; ++i) {
    if (counts[i] > limit[i]) {
      throw Error(Errc::invalid_argument, "dispatch of " + std::to_string(counts[i]) +
                                              " workgroups in dimension " + std::to_string(i) +
                                              " exceeds the device's limit of " +
                                              std::to_string(limit[i]));
    }
  }
  flush_bindings();
  if (x == 0 || y == 0 || z == 0) return;  // nothing to run, and Vulkan allows it
  list_.dispatch(x, y, z);
  ++commands_;
}

void CommandBufferImpl::dispatch_threads(std::uint32_t x, std::uint32_t y, std::uint32_t z) {
  require_encoding("dispatch_threads");
  if (!pipeline_) throw Error(Errc::invalid_argument, "dispatch_threads before set_pipeline");
  const auto size = pipeline_->workgroup_size();
  const auto groups = [](std::uint32_t n, std::uint32_t g) { return n / g + (n % g != 0); };
  dispatch(groups(x, size[0]), groups(y, size[1]), groups(z, size[2]));
}

void CommandBufferImpl::barrier(std::span<const Buffer> resources, Stage after, Stage before) {
  require_encoding("barrier");
  check_stages(after, before);
  std::vector<vk::BufferMemoryBarrier2> barriers;
  std::vector<std::uint64_t> ids;
  barriers.reserve(resources.size());
  ids.reserve(resources.size());
  for (const Buffer& buffer : resources) {
    use(buffer, "barrier");
    const auto& impl = detail::Access::impl(buffer);
    ids.push_back(impl->id());
    barriers.push_back(vk::BufferMemoryBarrier2{.srcStageMask = stages_of(after),
                                                .srcAccessMask = writes_of(after),
                                                .dstStageMask = stages_of(before),
                                                .dstAccessMask = accesses_of(before),
                                                .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                                .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                                .buffer = impl->handle(),
                                                .offset = impl->offset(),
                                                .size = impl->size()});
  }
  if (barriers.empty()) return;
  list_.buffer_barriers(barriers, ids);
}

void CommandBufferImpl::barrier(Stage after, Stage before) {
  require_encoding("barrier");
  check_stages(after, before);
  list_.memory_barrier({.srcStageMask = stages_of(after),
                        .srcAccessMask = writes_of(after),
                        .dstStageMask = stages_of(before),
                        .dstAccessMask = accesses_of(before)});
}

void CommandBufferImpl::copy(const Buffer& source, std::uint64_t source_offset,
                             const Buffer& destination, std::uint64_t destination_offset,
                             std::uint64_t size) {
  require_encoding("copy_buffer");
  use(source, "copy_buffer source");
  use(destination, "copy_buffer destination");
  const auto& src = detail::Access::impl(source);
  const auto& dst = detail::Access::impl(destination);
  const auto check = [&](const BufferImpl& b, std::uint64_t offset, std::string_view side) {
    if (offset > b.size() || size > b.size() - offset) {
      throw Error(Errc::invalid_argument, "copy_buffer " + std::string(side) + ": " +
                                              std::to_string(size) + " bytes at offset " +
                                              std::to_string(offset) + " overrun " + b.describe());
    }
  };
  check(*src, source_offset, "source");
  check(*dst, destination_offset, "destination");
  if (size == 0) return;
  const std::uint64_t s = src->offset() + source_offset;
  const std::uint64_t d = dst->offset() + destination_offset;
  if (src->handle() == dst->handle() && s < d + size && d < s + size) {
    throw Error(Errc::invalid_argument, "copy_buffer: source and destination ranges overlap");
  }
  ++commands_;
  list_.copy(src->handle(), src->id(), dst->handle(), dst->id(),
             vk::BufferCopy{.srcOffset = s, .dstOffset = d, .size = size});
}

void CommandBufferImpl::fill(const Buffer& buffer, std::uint64_t offset, std::uint64_t size,
                             std::uint32_t pattern) {
  require_encoding("fill_buffer");
  use(buffer, "fill_buffer");
  const auto& impl = detail::Access::impl(buffer);
  if (offset % 4 != 0 || size % 4 != 0) {
    throw Error(Errc::invalid_argument, "fill_buffer: offset " + std::to_string(offset) +
                                            " and size " + std::to_string(size) +
                                            " must be multiples of 4");
  }
  if (offset > impl->size() || size > impl->size() - offset) {
    throw Error(Errc::invalid_argument, "fill_buffer: " + std::to_string(size) +
                                            " bytes at offset " + std::to_string(offset) +
                                            " overrun " + impl->describe());
  }
  if (size == 0) return;
  list_.fill(impl->handle(), impl->id(), impl->offset() + offset, size, pattern);
  ++commands_;
}

void CommandBufferImpl::write_begin_timestamp() {
  require_recording("profiling");
  list_.timestamp(false);
  ++commands_;
  profiled_ = true;
}

void CommandBufferImpl::write_end_timestamp() {
  require_recording("profiling");
  list_.timestamp(true);
}

std::optional<std::uint64_t> CommandBufferImpl::read_elapsed_ns() const {
  if (!profiled_ || state_ != State::committed) return std::nullopt;
  std::uint32_t first = 0;
  const vk::QueryPool pool = allocator_->query_pool_for(slot_, first);
  std::array<std::uint64_t, 2> ticks{};
  const auto result =
      static_cast<vk::Result>(device_->device().getDispatcher()->vkGetQueryPoolResults(
          *device_->device(), pool, first, 2, sizeof(ticks), ticks.data(), sizeof(std::uint64_t),
          VK_QUERY_RESULT_64_BIT));
  if (result != vk::Result::eSuccess || ticks[1] < ticks[0]) return std::nullopt;
  return static_cast<std::uint64_t>(static_cast<double>(ticks[1] - ticks[0]) *
                                    device_->capabilities().timestamp_period_ns);
}

void CommandBufferImpl::report_dispatch_profile() const {
  if (dispatch_profile_ && state_ == State::committed) dispatch_profile_->report(label);
}

void CommandBufferImpl::mark_committed(const std::shared_ptr<ReleaseQueue>& queue,
                                       std::uint64_t value) {
  allocator_->record_submission(queue, value);
  queue->defer(value, allocator_);
  if (dispatch_profile_) queue->defer(value, dispatch_profile_);
  for (const auto& buffer : used_) {
    buffer->record_use(queue, value);
    if (retain_buffers_) queue->defer(value, buffer);
  }
  release_uses();
  state_ = State::committed;
  committed_value_ = value;
}

}  // namespace vecaccel::detail

namespace vecaccel {

CommandBuffer::CommandBuffer(std::unique_ptr<detail::CommandBufferImpl> impl) noexcept
    : impl_(std::move(impl)) {}
CommandBuffer::CommandBuffer(CommandBuffer&&) noexcept = default;
CommandBuffer& CommandBuffer::operator=(CommandBuffer&&) noexcept = default;
CommandBuffer::~CommandBuffer() = default;

void CommandBuffer::begin(CommandAllocator& allocator) {
  impl_->begin(detail::Access::impl(allocator));
}
void CommandBuffer::use_residency_set(ResidencySet& set) {
  impl_->use_residency_set(detail::Access::impl(set));
}
void CommandBuffer::set_residency_validation(bool enabled) noexcept {
  impl_->set_residency_validation(enabled);
}
ComputeEncoder& CommandBuffer::make_compute_encoder() {
  return impl_->make_encoder();
}
void CommandBuffer::end() {
  impl_->end();
}
void CommandBuffer::set_label(std::string label) {
  impl_->label = std::move(label);
}
const std::string& CommandBuffer::label() const noexcept {
  return impl_->label;
}
std::uint64_t CommandBuffer::committed_value() const noexcept {
  return impl_->committed_value();
}

}  // namespace vecaccel
