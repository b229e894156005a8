#include "streamed_search.hpp"

#include <algorithm>
#include <cmath>
#include <future>
#include <optional>
#include <string>

#include "exact_merge.hpp"
#include "knn_plan.hpp"
#include "row_filter.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/flat_index.hpp"

namespace vecaccel::detail {
namespace {

// Integers below this are exact in float32: a float32 value under it is its float64 value.
constexpr double kExactFloatIntegers = 16777216.0;  // 2^24

}  // namespace

bool small_integers(std::span<const float> values) {
  return std::all_of(values.begin(), values.end(),
                     [](float v) { return std::fabs(v) < 65536.0f && std::trunc(v) == v; });
}

TopKMerger::TopKMerger(std::span<const float> queries, std::size_t dim, std::size_t k,
                       Metric metric, bool integer_values, RowFetcher fetch)
    : queries_(queries),
      dim_(dim),
      k_(k),
      metric_(metric),
      integer_values_(integer_values && metric != Metric::cosine),
      fetch_(std::move(fetch)) {}

void TopKMerger::add(const KnnResult& part, std::int64_t label_offset) {
  KnnResult shifted = part;
  for (std::int64_t& label : shifted.labels) {
    if (label >= 0) label += label_offset;
  }
  if (first_) {
    result_ = std::move(shifted);
    first_ = false;
    return;
  }
  const KnnResult parts[2] = {std::move(result_), std::move(shifted)};
  // The float64 values of the slots the merge asks for: the float32 value itself where it is
  // exact (integer data below 2^24), else the row's direct-form value.
  const std::vector<std::vector<std::size_t>> needed = slots_needing_exact(parts, metric_);
  std::vector<double> exact[2];
  for (std::size_t p = 0; p < 2; ++p) {
    exact[p].resize(parts[p].labels.size());
    for (const std::size_t slot : needed[p]) {
      const float value = parts[p].distances[slot];
      if (integer_values_ && std::fabs(value) < kExactFloatIntegers) {
        exact[p][slot] = value;
        continue;
      }
      const std::vector<float> row = fetch_(parts[p].labels[slot]);
      exact[p][slot] = direct_distance(queries_.subspan(slot / k_ * dim_, dim_), row, metric_);
    }
  }
  result_ = merge_exact(parts, exact, metric_);
}

namespace {

/// Per row on the device: float32 values and a norm, plus the bytes of a compact row.
std::uint64_t device_row_bytes(std::size_t dim, ElementType type) {
  return dim * sizeof(float) + sizeof(float) + (type == ElementType::float32 ? 0 : dim);
}

}  // namespace

bool rows_fit_held(std::uint64_t budget, std::size_t dim, ElementType type, std::size_t rows) {
  return std::uint64_t{rows} * device_row_bytes(dim, type) <= budget / 4 * 3;
}

std::size_t stream_rows_per_pass(std::uint64_t budget, std::size_t dim, ElementType type,
                                 std::size_t rows) {
  if (rows_fit_held(budget, dim, type, rows)) return std::max<std::size_t>(rows, 1);
  const std::uint64_t row_bytes = device_row_bytes(dim, type);
  const std::uint64_t per_pass = budget / 8 * 3 / row_bytes;
  if (per_pass == 0) {
    throw Error(Errc::invalid_argument,
                "a memory budget of " + std::to_string(budget) +
                    " bytes (VECACCEL_MEMORY_BUDGET or StreamOptions::memory_budget) is smaller "
                    "than one row: a row of dimension " +
                    std::to_string(dim) + " takes " + std::to_string(row_bytes) +
                    " bytes on the device, " + std::to_string(8 * ((row_bytes + 2) / 3)) +
                    " bytes of budget with two passes in flight and working memory");
  }
  return static_cast<std::size_t>(per_pass);
}

namespace {

/// The device memory of one pass and what fills it.
struct PassSlot {
  PassSlot(Context& context, std::size_t dim, Metric metric, std::size_t chunk_rows,
           std::uint64_t slice_bytes)
      : uploader(context, dim, metric, chunk_rows, slice_bytes) {}
  BaseUploader uploader;
  std::vector<BaseChunk> chunks;
  std::vector<CompactChunk> compact;
  std::size_t first = 0;
  std::size_t used = 0;  // chunks holding this pass's rows
};

/// Loads rows [first, first + count) of source into the slot's chunks (widening compact rows
/// on the GPU), then lets the mapping drop those pages: they are on the GPU now.
void fill(Context& context, KnnEngine& engine, PassSlot& slot, const RowSource& source,
          std::size_t first, std::size_t count) {
  const std::size_t per_chunk = engine.chunk_rows();
  const bool compact = source.type != ElementType::float32;
  slot.first = first;
  slot.used = 0;
  for (std::size_t done = 0; done < count; done += per_chunk, ++slot.used) {
    const std::size_t n = std::min(per_chunk, count - done);
    if (slot.chunks.size() == slot.used) {
      slot.chunks.push_back(engine.make_chunk(std::min(per_chunk, count)));
      if (compact) {
        slot.compact.push_back(slot.uploader.make_compact_chunk(std::min(per_chunk, count)));
        slot.uploader.keep_integer_rows(slot.chunks.back());
      }
    }
    BaseChunk& chunk = slot.chunks[slot.used];
    chunk.rows = 0;
    chunk.max_norm = 0.0;
    if (!compact) {
      slot.uploader.append(chunk, source, first + done, n, first + done);
      continue;
    }
    CompactChunk& bytes = slot.compact[slot.used];
    bytes.rows = 0;
    bytes.max_norm = 0.0;
    slot.uploader.append(bytes, source, first + done, n);
    context.execute_and_wait(
        [&](CommandBuffer&, ComputeEncoder& e) {
          slot.uploader.encode_widen(e, bytes, source.type, chunk);
        },
        without_time_limit());
    attach_widened(chunk, bytes, source.type);
  }
  if (source.mapped != nullptr) source.mapped->release(first, count);
}

}  // namespace

KnnResult streamed_knn(Context& context, const RowSource& source, std::span<const float> queries,
                       std::size_t k, Metric metric, const ops::StreamOptions& options) {
  const std::size_t dim = source.dim;
  if (dim == 0) throw Error(Errc::invalid_argument, "kNN: dimension must be at least 1");
  if (dim > FlatIndex::max_dim) {  // as a FlatIndex holding the base would refuse it
    const std::string what = source.mapped != nullptr ? source.mapped->path().string() : "base";
    throw Error(Errc::invalid_argument, what + ": dimension " + std::to_string(dim) +
                                            " above the " + std::to_string(FlatIndex::max_dim) +
                                            " a search supports");
  }
  if (queries.size() % dim != 0) {
    throw Error(Errc::invalid_argument, "queries hold " + std::to_string(queries.size()) +
                                            " floats, not a multiple of the base's dimension " +
                                            std::to_string(dim));
  }
  check_k(k, "streamed kNN search");
  const std::size_t source_rows = source.rows();
  const std::size_t begin = options.first_row;
  if (begin > source_rows || options.row_count.value_or(0) > source_rows - begin) {
    const std::string what = source.mapped != nullptr ? source.mapped->path().string() : "base";
    throw Error(Errc::invalid_argument, what + ": rows " + std::to_string(begin) + " to " +
                                            std::to_string(begin + options.row_count.value_or(0)) +
                                            " asked of its " + std::to_string(source_rows) +
                                            " rows");
  }
  const std::size_t end = options.row_count ? begin + *options.row_count : source_rows;
  const std::size_t total = end - begin;
  KnnEngine engine(context, dim, metric);
  if (total == 0) return engine.search(queries, {}, k, {.stop = options.stop});
  std::optional<RowFilter> allowed;  // over the searched rows, from `begin`
  if (options.filter) {
    allowed = RowFilter::of_positions(*options.filter, total, static_cast<std::int64_t>(begin));
  }
  const std::uint64_t budget = options.memory_budget.value_or(device_memory_budget(context));
  const std::size_t per_pass = stream_rows_per_pass(budget, dim, source.type, total);
  const Deadline deadline = Deadline::after(options.timeout, options.stop);
  const bool integers = source.type != ElementType::float32 && small_integers(queries);
  TopKMerger merger(queries, dim, k, metric, integers, [&](std::int64_t label) {
    return source.row(static_cast<std::size_t>(label));
  });

  // Staging is host-visible memory, on CPU drivers and integrated GPUs the budget's own: the
  // two slots' rings (three slices each) take a sixteenth of it at most, 64 MiB per slice.
  const std::uint64_t slice_bytes =
      std::clamp<std::uint64_t>(budget / 96, 1, BaseUploader::default_slice_bytes);
  PassSlot slots[2] = {{context, dim, metric, engine.chunk_rows(), slice_bytes},
                       {context, dim, metric, engine.chunk_rows(), slice_bytes}};
  const auto count_of = [&](std::size_t first) { return std::min(per_pass, end - first); };
  const auto load = [&](std::size_t pass, std::size_t first) {
    return std::async(std::launch::async, [&, pass, first] {
      fill(context, engine, slots[pass % 2], source, first, count_of(first));
    });
  };
  // Declared after the slots: an error unwinds through its destructor, which waits for the
  // upload still writing into a slot before the slots go.
  std::future<void> next = load(0, begin);
  for (std::size_t pass = 0, first = begin; first < end; ++pass, first += per_pass) {
    deadline.check_stop(std::to_string(first - begin) + " of " + std::to_string(total) +
                        " base rows");
    next.get();
    if (first + per_pass < end) next = load(pass + 1, first + per_pass);
    const PassSlot& slot = slots[pass % 2];
    std::optional<RowFilter> pass_allowed;
    if (allowed) pass_allowed = allowed->slice(first - begin, count_of(first));
    const KnnResult part =
        engine.search(queries, std::span(slot.chunks).first(slot.used), k,
                      deadline.execute_options(), pass_allowed ? &*pass_allowed : nullptr);
    merger.add(part, static_cast<std::int64_t>(first));
    if (options.progress) options.progress(first - begin + count_of(first), total);
  }
  return merger.take();
}

}  // namespace vecaccel::detail
