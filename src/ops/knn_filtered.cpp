// Filtered kNN of few allowed rows: the engine copies them on the GPU into chunks of their own
// and searches those alone, so the cost follows the allowed rows, not the base.

#include <algorithm>
#include <bit>
#include <utility>

#include "kernels.hpp"
#include "knn_engine.hpp"
#include "row_filter.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

/// The most device memory a KnnEngine keeps in spare gathered chunks (like its search
/// scratch, not counted in FlatIndex::device_bytes): the rows of a 1% filter over 50 million
/// rows of d = 128.
constexpr std::uint64_t gather_spare_bytes = std::uint64_t{256} << 20;

}  // namespace

KnnResult KnnEngine::search_gathered(std::span<const float> queries,
                                     std::span<const BaseChunk> chunks, std::size_t k,
                                     const ExecuteOptions& options, const RowFilter& filter) const {
  const Deadline deadline = Deadline::after(options.timeout, options.stop);
  const std::vector<std::size_t> rows = filter.allowed_rows();
  std::vector<BaseChunk> gathered = gather(chunks, rows, deadline);
  KnnResult result = search(queries, gathered, k, deadline.execute_options());
  keep_gather_chunks(std::move(gathered));
  // Gathered rows keep their order, so ties by gathered row are ties by row.
  for (std::int64_t& label : result.labels) {
    if (label >= 0) label = static_cast<std::int64_t>(rows[static_cast<std::size_t>(label)]);
  }
  return result;
}

std::vector<BaseChunk> KnnEngine::gather(std::span<const BaseChunk> chunks,
                                         std::span<const std::size_t> rows,
                                         const Deadline& deadline) const {
  std::vector<std::size_t> chunk_first;  // global row of each chunk's first row
  double max_norm = 0.0;
  for (std::size_t c = 0, first = 0; c < chunks.size(); first += chunks[c].rows, ++c) {
    chunk_first.push_back(first);
    max_norm = std::max(max_norm, chunks[c].max_norm);
  }
  Device device = context_.device();
  const auto dim = static_cast<std::uint32_t>(dim_);
  std::vector<BaseChunk> out;
  for (std::size_t begin = 0; begin < rows.size(); begin += chunk_rows_) {
    const std::size_t count = std::min(chunk_rows_, rows.size() - begin);
    BaseChunk target = take_gather_chunk(count);
    // Each source chunk's rows of this target, as indices within that chunk.
    std::vector<BufferToken> lists;
    struct Run {
      std::size_t chunk, first, count;  // source chunk; target rows [first, first + count)
    };
    std::vector<Run> runs;
    for (std::size_t i = begin; i < begin + count;) {
      const auto c = static_cast<std::size_t>(
          std::upper_bound(chunk_first.begin(), chunk_first.end(), rows[i]) - chunk_first.begin() -
          1);
      const std::size_t end = chunk_first[c] + chunks[c].rows;
      std::vector<std::uint32_t> local;
      const std::size_t run_first = i - begin;
      for (; i < begin + count && rows[i] < end; ++i)
        local.push_back(static_cast<std::uint32_t>(rows[i] - chunk_first[c]));
      BufferToken list = context_.get_buffer(local.size() * sizeof(std::uint32_t));
      list.write(std::span<const std::uint32_t>(local));
      lists.push_back(std::move(list));
      runs.push_back({c, run_first, local.size()});
    }
    Submission<void> done = context_.execute(
        [&](CommandBuffer&, ComputeEncoder& e) {
          for (std::size_t r = 0; r < runs.size(); ++r) {
            const BaseChunk& source = chunks[runs[r].chunk];
            const auto n = static_cast<std::uint32_t>(runs[r].count);
            const auto at = static_cast<std::uint32_t>(runs[r].first);
            encode_gather_rows(device, e, source.vectors, target.vectors, lists[r].buffer(), n, dim,
                               at);
            encode_gather_rows(device, e, source.norms, target.norms, lists[r].buffer(), n, 1, at);
          }
        },
        deadline.execute_options());
    try {
      deadline.wait(done, "gathering " + std::to_string(count) + " allowed rows");
    } catch (...) {
      // The copy may still run: the rows it reads and writes outlive it.
      std::vector<BaseChunk> used(chunks.begin(), chunks.end());
      used.push_back(target);
      retire(nullptr, std::move(done), used);
      throw;
    }
    target.rows = count;
    target.max_norm = max_norm;  // an upper bound of the gathered rows' norms
    out.push_back(std::move(target));
  }
  return out;
}

BaseChunk KnnEngine::take_gather_chunk(std::size_t rows) const {
  {
    const std::lock_guard lock(scratch_mutex_);
    const auto fits = std::find_if(gather_spares_.begin(), gather_spares_.end(),
                                   [&](const BaseChunk& c) { return c.capacity >= rows; });
    if (fits != gather_spares_.end()) {
      BaseChunk chunk = std::move(*fits);
      gather_spares_.erase(fits);
      return chunk;
    }
  }
  return make_chunk(std::bit_ceil(rows));
}

void KnnEngine::keep_gather_chunks(std::vector<BaseChunk> chunks) const {
  const auto bytes = [](const BaseChunk& c) { return c.vectors.size() + c.norms.size(); };
  const std::lock_guard lock(scratch_mutex_);
  std::uint64_t held = 0;
  for (const BaseChunk& spare : gather_spares_)
    held += bytes(spare);
  for (BaseChunk& chunk : chunks) {
    // A search that returned has no work left on them; checked all the same.
    if (!chunk.vectors.is_idle() || !chunk.norms.is_idle()) continue;
    if (held + bytes(chunk) > gather_spare_bytes) continue;
    held += bytes(chunk);
    gather_spares_.push_back(std::move(chunk));
  }
}

}  // namespace vecaccel::detail
