#include "command_list.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "pipeline_impl.hpp"
#include "vecaccel/argument_table.hpp"

namespace vecaccel::detail {
namespace {

using S2 = vk::PipelineStageFlagBits2;

template <class Handle>
std::uint64_t word(Handle handle) noexcept {
  return std::bit_cast<std::uint64_t>(static_cast<typename Handle::CType>(handle));
}
template <class Handle>
Handle handle(std::uint64_t word) noexcept {
  return Handle(std::bit_cast<typename Handle::CType>(word));
}

std::uint64_t word(vk::PipelineStageFlags2 flags) noexcept {
  return static_cast<VkPipelineStageFlags2>(flags);
}
std::uint64_t word(vk::AccessFlags2 flags) noexcept {
  return static_cast<VkAccessFlags2>(flags);
}
vk::PipelineStageFlags2 stages(std::uint64_t word) noexcept {
  return vk::PipelineStageFlags2(word);
}
vk::AccessFlags2 accesses(std::uint64_t word) noexcept {
  return vk::AccessFlags2(word);
}

/// Words per buffer barrier: stages and accesses on both sides, buffer, id, offset, size.
constexpr std::uint32_t barrier_words = 8;
/// Words per descriptor: binding, buffer, id, offset, range.
constexpr std::uint32_t descriptor_words = 5;

}  // namespace

void CommandList::clear() noexcept {
  commands_.clear();
  words_.clear();
  pipelines_.clear();
  timestamps_ = false;
}

void CommandList::bind_pipeline(std::shared_ptr<PipelineImpl> pipeline) {
  const std::uint64_t pipeline_handle = word(pipeline->pipeline());
  pipelines_.push_back(std::move(pipeline));
  append({.kind = Kind::bind_pipeline, .a = pipeline_handle});
}

void CommandList::push_descriptors(vk::PipelineLayout layout,
                                   std::span<const Descriptor> descriptors) {
  const std::uint32_t first = words_end();
  for (const Descriptor& d : descriptors) {
    words_.insert(words_.end(), {d.binding, word(d.buffer), d.buffer_id, d.offset, d.range});
  }
  append({.kind = Kind::push_descriptors,
          .first = first,
          .count = static_cast<std::uint32_t>(descriptors.size()),
          .a = word(layout)});
}

void CommandList::push_constants(vk::PipelineLayout layout, std::span<const std::byte> bytes) {
  const std::uint32_t first = words_end();
  words_.resize(words_.size() + (bytes.size() + 7) / 8, 0);
  std::memcpy(words_.data() + first, bytes.data(), bytes.size());
  append({.kind = Kind::push_constants,
          .first = first,
          .count = static_cast<std::uint32_t>(bytes.size()),
          .a = word(layout)});
}

void CommandList::dispatch(std::uint32_t x, std::uint32_t y, std::uint32_t z) {
  append({.kind = Kind::dispatch, .a = x, .b = y, .c = z});
}

void CommandList::memory_barrier(const vk::MemoryBarrier2& barrier) {
  append({.kind = Kind::memory_barrier,
          .a = word(barrier.srcStageMask),
          .b = word(barrier.srcAccessMask),
          .c = word(barrier.dstStageMask),
          .d = word(barrier.dstAccessMask)});
}

void CommandList::buffer_barriers(std::span<const vk::BufferMemoryBarrier2> barriers,
                                  std::span<const std::uint64_t> ids) {
  const std::uint32_t first = words_end();
  for (std::size_t i = 0; i < barriers.size(); ++i) {
    const vk::BufferMemoryBarrier2& b = barriers[i];
    words_.insert(words_.end(), {word(b.srcStageMask), word(b.srcAccessMask), word(b.dstStageMask),
                                 word(b.dstAccessMask), word(b.buffer), ids[i], b.offset, b.size});
  }
  append({.kind = Kind::buffer_barriers,
          .first = first,
          .count = static_cast<std::uint32_t>(barriers.size())});
}

void CommandList::copy(vk::Buffer source, std::uint64_t source_id, vk::Buffer destination,
                       std::uint64_t destination_id, const vk::BufferCopy& region) {
  const std::uint32_t first = words_end();
  words_.insert(words_.end(), {source_id, destination_id, region.size});
  append({.kind = Kind::copy,
          .first = first,
          .count = 3,
          .a = word(source),
          .b = word(destination),
          .c = region.srcOffset,
          .d = region.dstOffset});
}

void CommandList::fill(vk::Buffer buffer, std::uint64_t buffer_id, std::uint64_t offset,
                       std::uint64_t size, std::uint32_t pattern) {
  const std::uint32_t first = words_end();
  words_.push_back(pattern);
  append({.kind = Kind::fill,
          .first = first,
          .count = 1,
          .a = word(buffer),
          .b = buffer_id,
          .c = offset,
          .d = size});
}

void CommandList::timestamp(bool end) {
  timestamps_ = true;
  append({.kind = end ? Kind::end_timestamp : Kind::begin_timestamp});
}

std::uint32_t CommandList::work_count() const noexcept {
  return static_cast<std::uint32_t>(std::ranges::count_if(commands_, [](const Command& c) {
    return c.kind == Kind::dispatch || c.kind == Kind::copy || c.kind == Kind::fill;
  }));
}

std::vector<std::string> CommandList::work_names() const {
  std::vector<std::string> names;
  std::size_t bound = 0;  // pipelines_ holds one entry per bind, in order
  std::string pipeline;
  for (const Command& c : commands_) {
    if (c.kind == Kind::bind_pipeline) pipeline = pipelines_[bound++]->name();
    if (c.kind == Kind::dispatch) names.push_back(pipeline);
    if (c.kind == Kind::copy) names.emplace_back("copy");
    if (c.kind == Kind::fill) names.emplace_back("fill");
  }
  return names;
}

void CommandList::play(const vk::raii::CommandBuffer& cb, const QuerySlot& slot,
                       vk::QueryPool work_timestamps) const {
  std::uint32_t work = 0;
  if (work_timestamps) {
    cb.resetQueryPool(work_timestamps, 0, work_count() + 1);
    cb.writeTimestamp2(S2::eAllCommands, work_timestamps, work++);
  }
  for (const Command& c : commands_) {
    // Commands without variable operands have first == 0, inside or at the end of words_.
    const std::uint64_t* w = words_.data() + c.first;
    switch (c.kind) {
      case Kind::bind_pipeline:
        cb.bindPipeline(vk::PipelineBindPoint::eCompute, handle<vk::Pipeline>(c.a));
        break;
      case Kind::push_descriptors: {
        std::array<vk::DescriptorBufferInfo, ArgumentTable::max_bindings> infos{};
        std::array<vk::WriteDescriptorSet, ArgumentTable::max_bindings> writes{};
        for (std::uint32_t i = 0; i < c.count; ++i, w += descriptor_words) {
          infos[i] = vk::DescriptorBufferInfo{
              .buffer = handle<vk::Buffer>(w[1]), .offset = w[3], .range = w[4]};
          writes[i] = vk::WriteDescriptorSet{.dstBinding = static_cast<std::uint32_t>(w[0]),
                                             .descriptorCount = 1,
                                             .descriptorType = vk::DescriptorType::eStorageBuffer,
                                             .pBufferInfo = &infos[i]};
        }
        cb.pushDescriptorSetKHR(
            vk::PipelineBindPoint::eCompute, handle<vk::PipelineLayout>(c.a), 0,
            vk::ArrayProxy<const vk::WriteDescriptorSet>(c.count, writes.data()));
        break;
      }
      case Kind::push_constants:
        cb.pushConstants<std::byte>(handle<vk::PipelineLayout>(c.a),
                                    vk::ShaderStageFlagBits::eCompute, 0,
                                    std::span(reinterpret_cast<const std::byte*>(w), c.count));
        break;
      case Kind::dispatch:
        cb.dispatch(static_cast<std::uint32_t>(c.a), static_cast<std::uint32_t>(c.b),
                    static_cast<std::uint32_t>(c.c));
        break;
      case Kind::memory_barrier: {
        const vk::MemoryBarrier2 barrier{.srcStageMask = stages(c.a),
                                         .srcAccessMask = accesses(c.b),
                                         .dstStageMask = stages(c.c),
                                         .dstAccessMask = accesses(c.d)};
        cb.pipelineBarrier2(
            vk::DependencyInfo{.memoryBarrierCount = 1, .pMemoryBarriers = &barrier});
        break;
      }
      case Kind::buffer_barriers: {
        std::vector<vk::BufferMemoryBarrier2> barriers(c.count);
        for (std::uint32_t i = 0; i < c.count; ++i, w += barrier_words) {
          barriers[i] = vk::BufferMemoryBarrier2{.srcStageMask = stages(w[0]),
                                                 .srcAccessMask = accesses(w[1]),
                                                 .dstStageMask = stages(w[2]),
                                                 .dstAccessMask = accesses(w[3]),
                                                 .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                                 .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                                 .buffer = handle<vk::Buffer>(w[4]),
                                                 .offset = w[6],
                                                 .size = w[7]};
        }
        cb.pipelineBarrier2(vk::DependencyInfo{.bufferMemoryBarrierCount = c.count,
                                               .pBufferMemoryBarriers = barriers.data()});
        break;
      }
      case Kind::copy:
        cb.copyBuffer(handle<vk::Buffer>(c.a), handle<vk::Buffer>(c.b),
                      vk::BufferCopy{.srcOffset = c.c, .dstOffset = c.d, .size = w[2]});
        break;
      case Kind::fill:
        cb.fillBuffer(handle<vk::Buffer>(c.a), c.c, c.d, static_cast<std::uint32_t>(w[0]));
        break;
      case Kind::begin_timestamp:
        cb.resetQueryPool(slot.pool, slot.first, 2);
        cb.writeTimestamp2(S2::eTopOfPipe, slot.pool, slot.first);
        break;
      case Kind::end_timestamp:
        cb.writeTimestamp2(S2::eBottomOfPipe, slot.pool, slot.first + 1);
        break;
    }
    const bool timed = c.kind == Kind::dispatch || c.kind == Kind::copy || c.kind == Kind::fill;
    if (work_timestamps && timed) cb.writeTimestamp2(S2::eAllCommands, work_timestamps, work++);
  }
}

bool CommandList::operator==(const CommandList& other) const noexcept {
  return commands_ == other.commands_ && words_ == other.words_ && pipelines_ == other.pipelines_;
}

}  // namespace vecaccel::detail
