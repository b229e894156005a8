#pragma once
// What a command buffer records, kept on the CPU until end(): the encoder appends here (after
// its checks) and end() plays the list into a Vulkan command buffer. That lets a context skip
// the Vulkan recording altogether when an operation records exactly what its command buffer
// already holds (issue 10, item 6: resetting the pool and recording again was the Context's
// cost against a pre-recorded raw submission).
//
// Two lists are equal only when they make the same Vulkan commands on the same objects: every
// buffer is named by its id (unique for the process) beside its handle, and a list keeps the
// pipelines it binds alive. A handle value alone is not enough, since a destroyed object's
// handle may come back for a new one, and a recording that names a destroyed object must not
// be submitted again.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vk.hpp"

namespace vecaccel::detail {

class PipelineImpl;

class CommandList {
 public:
  /// One storage-buffer binding of a push-descriptor update.
  struct Descriptor {
    std::uint32_t binding;
    vk::Buffer buffer;
    std::uint64_t buffer_id;
    std::uint64_t offset;
    std::uint64_t range;
  };
  /// Where the two profiling timestamps go, resolved when the list is played.
  struct QuerySlot {
    vk::QueryPool pool;
    std::uint32_t first;
  };

  /// Keeps the vectors' capacity: a recording reuses it.
  void clear() noexcept;
  bool empty() const noexcept { return commands_.empty(); }
  bool writes_timestamps() const noexcept { return timestamps_; }

  void bind_pipeline(std::shared_ptr<PipelineImpl> pipeline);
  void push_descriptors(vk::PipelineLayout layout, std::span<const Descriptor> descriptors);
  /// bytes: a multiple of 4, at most ShaderLibraryImpl::push_constant_bytes.
  void push_constants(vk::PipelineLayout layout, std::span<const std::byte> bytes);
  void dispatch(std::uint32_t x, std::uint32_t y, std::uint32_t z);
  void memory_barrier(const vk::MemoryBarrier2& barrier);
  /// ids[i]: the id of barriers[i]'s buffer.
  void buffer_barriers(std::span<const vk::BufferMemoryBarrier2> barriers,
                       std::span<const std::uint64_t> ids);
  void copy(vk::Buffer source, std::uint64_t source_id, vk::Buffer destination,
            std::uint64_t destination_id, const vk::BufferCopy& region);
  void fill(vk::Buffer buffer, std::uint64_t buffer_id, std::uint64_t offset, std::uint64_t size,
            std::uint32_t pattern);
  /// Resets the slot's two queries and writes the first (begin) or writes the second (end).
  void timestamp(bool end);

  /// Dispatches, copies and fills recorded.
  std::uint32_t work_count() const noexcept;
  /// What each of them runs, in order: its pipeline's name, "copy" or "fill".
  std::vector<std::string> work_names() const;

  /// Records the list into cb, which is recording. slot: where timestamps go (needed only
  /// when writes_timestamps()). work_timestamps, when given, holds work_count() + 1 queries: the
  /// first is written before any work, query i + 1 once work i and all before it completed.
  void play(const vk::raii::CommandBuffer& cb, const QuerySlot& slot,
            vk::QueryPool work_timestamps = {}) const;

  bool operator==(const CommandList& other) const noexcept;

 private:
  enum class Kind : std::uint8_t {
    bind_pipeline,
    push_descriptors,
    push_constants,
    dispatch,
    memory_barrier,
    buffer_barriers,
    copy,
    fill,
    begin_timestamp,
    end_timestamp,
  };
  /// Fixed operands inline; variable ones in words_[first, first + count).
  struct Command {
    Kind kind;
    std::uint32_t first = 0;
    std::uint32_t count = 0;
    std::uint64_t a = 0, b = 0, c = 0, d = 0;
    bool operator==(const Command&) const = default;
  };

  void append(Command command) { commands_.push_back(command); }
  std::uint32_t words_end() const noexcept { return static_cast<std::uint32_t>(words_.size()); }

  std::vector<Command> commands_;
  std::vector<std::uint64_t> words_;
  std::vector<std::shared_ptr<PipelineImpl>> pipelines_;
  bool timestamps_ = false;
};

}  // namespace vecaccel::detail
