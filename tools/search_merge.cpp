#include "search_merge.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <numeric>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "cli_support.hpp"
#include "ops/base_upload.hpp"
#include "ops/exact_merge.hpp"
#include "ops/streamed_search.hpp"
#include "progress.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"
#include "vecaccel/sharded_index.hpp"

namespace vecaccel::cli {

PartResults part_results(std::vector<float> distances, std::vector<std::int64_t> labels,
                         const Base& base, std::int64_t file_offset, const Matrix<float>& queries,
                         std::size_t k, Metric metric) {
  PartResults out{.distances = std::move(distances),
                  .labels = std::move(labels),
                  .exact = std::vector<double>(queries.rows * k, 0.0)};
  for (std::size_t slot = 0; slot < out.labels.size(); ++slot) {
    const std::int64_t label = out.labels[slot];
    if (label < 0) continue;
    out.exact[slot] = detail::direct_distance(
        queries.row(slot / k), base.row(static_cast<std::size_t>(label + file_offset)), metric);
  }
  return out;
}

void merge_parts(const PartResults& gathered, std::size_t ranks, std::size_t queries, std::size_t k,
                 Metric metric, Matrix<std::int32_t>& ids, Matrix<float>& distances) {
  const std::size_t slots = queries * k;
  std::vector<KnnResult> parts(ranks);
  std::vector<std::vector<double>> exact(ranks);
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto from = static_cast<std::ptrdiff_t>(r * slots);
    const auto to = static_cast<std::ptrdiff_t>((r + 1) * slots);
    parts[r] = {.rows = queries,
                .k = k,
                .distances = {gathered.distances.begin() + from, gathered.distances.begin() + to},
                .labels = {gathered.labels.begin() + from, gathered.labels.begin() + to}};
    exact[r] = {gathered.exact.begin() + from, gathered.exact.begin() + to};
  }
  const KnnResult merged = detail::merge_exact(parts, exact, metric);
  ids = {.rows = queries, .dim = k, .values = std::vector<std::int32_t>(slots)};
  distances = {.rows = queries, .dim = k, .values = merged.distances};
  for (std::size_t i = 0; i < slots; ++i)
    ids.values[i] = static_cast<std::int32_t>(merged.labels[i]);  // checked to fit int32
}

std::vector<StreamedShard> shards_to_stream(ShardedIndex& index, const MappedVectors& base) {
  std::vector<StreamedShard> shards;
  const std::size_t count = index.shard_count();
  shards.reserve(count);
  bool stream = false;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t first = base.rows() * i / count;
    const std::size_t rows = base.rows() * (i + 1) / count - first;
    Context& context = index.shard_context(i);
    const std::uint64_t budget = detail::device_memory_budget(context);
    stream = stream ||
             detail::stream_rows_per_pass(budget, base.dim(), base.element_type(), rows) < rows;
    shards.push_back({&context, first, rows, budget});
  }
  if (!stream) shards.clear();
  return shards;
}

void search_streamed_shards(std::vector<StreamedShard>& shards, const Base& base,
                            const Matrix<float>& queries, const SearchOptions& options,
                            const std::stop_token& stop, SearchRun& run, Matrix<std::int32_t>& ids,
                            Matrix<float>& distances) {
  const Metric metric = parse_metric(options.metric);
  Progress progress("searching base", base.rows(), Progress::Unit::items,
                    progress_wanted(options.quiet), "rows");
  std::mutex mutex;
  std::vector<std::size_t> done(shards.size(), 0);
  std::vector<std::exception_ptr> errors(shards.size());
  // A failing share stops the shares after it only: one before it may still find an earlier
  // bad row, and the error reported is the lowest share's, the one a single device reports.
  std::vector<std::stop_source> halts(shards.size());
  const std::stop_callback forward(stop, [&] {
    for (std::stop_source& halt : halts)
      halt.request_stop();
  });
  std::vector<KnnResult> results(shards.size());
  {
    std::vector<std::jthread> threads;
    threads.reserve(shards.size());
    for (std::size_t i = 0; i < shards.size(); ++i) {
      threads.emplace_back([&, i] {
        const auto passed = [&, i](std::size_t rows, std::size_t) {
          const std::lock_guard lock(mutex);
          ++run.passes;
          done[i] = rows;
          progress.update(std::accumulate(done.begin(), done.end(), std::size_t{0}));
        };
        try {
          results[i] = ops::knn(*shards[i].context, queries.values, *base.mapped, options.k, metric,
                                {.timeout = std::chrono::nanoseconds::max(),
                                 .stop = halts[i].get_token(),
                                 .progress = passed,
                                 .memory_budget = shards[i].budget,
                                 .first_row = shards[i].first,
                                 .row_count = shards[i].rows});
        } catch (...) {
          errors[i] = std::current_exception();
          for (std::size_t later = i + 1; later < halts.size(); ++later)
            halts[later].request_stop();
        }
      });
    }
  }
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  progress.finish();
  PartResults gathered;
  for (KnnResult& result : results) {
    const PartResults part = part_results(std::move(result.distances), std::move(result.labels),
                                          base, 0, queries, options.k, metric);
    gathered.distances.insert(gathered.distances.end(), part.distances.begin(),
                              part.distances.end());
    gathered.labels.insert(gathered.labels.end(), part.labels.begin(), part.labels.end());
    gathered.exact.insert(gathered.exact.end(), part.exact.begin(), part.exact.end());
  }
  merge_parts(gathered, shards.size(), queries.rows, options.k, metric, ids, distances);
}

}  // namespace vecaccel::cli
