#include "row_filter.hpp"

#include <algorithm>
#include <bit>

#include "vecaccel/argument_table.hpp"

namespace vecaccel::detail {
namespace {

constexpr std::uint32_t threads = 256;

std::uint32_t dispatch_groups(const Device& device, std::uint64_t work) {
  const std::uint64_t wanted = (work + threads - 1) / threads;
  return static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(wanted, 1, device.capabilities().max_workgroup_count[0]));
}

}  // namespace

RowFilter RowFilter::of_ids(const IdFilter& filter, std::size_t rows,
                            const std::function<std::int64_t(std::size_t)>& id_of) {
  RowFilter out(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    if (filter.allows(id_of(r))) out.allow(r);
  }
  return out;
}

RowFilter RowFilter::of_positions(const IdFilter& filter, std::size_t rows, std::int64_t first_id) {
  if (!filter.is_allow_list()) {
    return of_ids(filter, rows,
                  [first_id](std::size_t r) { return first_id + static_cast<std::int64_t>(r); });
  }
  RowFilter out(rows);
  const auto ids = filter.allowed_ids();
  const auto end = first_id + static_cast<std::int64_t>(rows);
  for (auto it = std::lower_bound(ids.begin(), ids.end(), first_id); it != ids.end() && *it < end;
       ++it)
    out.allow(static_cast<std::size_t>(*it - first_id));
  return out;
}

RowFilter RowFilter::slice(std::size_t first, std::size_t count) const {
  RowFilter out(count);
  for (std::size_t r = 0; r < count; ++r) {
    if (allows(first + r)) out.allow(r);
  }
  return out;
}

std::vector<std::size_t> RowFilter::allowed_rows() const {
  std::vector<std::size_t> out;
  out.reserve(allowed_);
  for (std::size_t w = 0; w < words_.size(); ++w) {
    for (std::uint32_t bits = words_[w]; bits != 0; bits &= bits - 1)
      out.push_back(w * 32 + static_cast<std::size_t>(std::countr_zero(bits)));
  }
  return out;
}

bool gather_allowed_rows(const RowFilter& filter) {
  // The gathered copy costs what its rows cost to read once; a search reads every row at least
  // once, so up to half the rows it still wins (and the copy stays within half the base).
  return filter.allowed() * 2 <= filter.rows();
}

void encode_mask_rows(Device& device, ComputeEncoder& encoder, const MaskArgs& a) {
  if (a.rows == 0 || a.cols == 0) return;
  const bool label_mode = a.labels.valid();
  struct {
    std::uint32_t rows, cols, stride, label_offset, has_labels, largest;
  } constants{a.rows, a.cols, a.stride, a.label_offset, label_mode ? 1u : 0u, a.largest ? 1u : 0u};
  encoder.set_pipeline(
      device.shaders().pipeline({.name = "mask_rows", .workgroup_size = {threads, 1, 1}}));
  encoder.set_argument_table(ArgumentTable()
                                 .set_buffer(0, a.values)
                                 .set_buffer(1, label_mode ? a.labels : a.values)
                                 .set_buffer(2, a.allowed));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(dispatch_groups(device, std::uint64_t{a.rows} * a.cols));
}

void encode_gather_rows(Device& device, ComputeEncoder& encoder, const Buffer& source,
                        const Buffer& target, const Buffer& source_rows, std::uint32_t count,
                        std::uint32_t width, std::uint32_t target_row) {
  if (count == 0) return;
  struct {
    std::uint32_t count, width, target_row;
  } constants{count, width, target_row};
  encoder.set_pipeline(
      device.shaders().pipeline({.name = "gather_rows", .workgroup_size = {threads, 1, 1}}));
  encoder.set_argument_table(
      ArgumentTable().set_buffer(0, source).set_buffer(1, target).set_buffer(2, source_rows));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(dispatch_groups(device, std::uint64_t{count} * width));
}

}  // namespace vecaccel::detail
