// search(): plan the base over the devices, run each device's share at once, merge exactly.

#include "vecaccel/search.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "ops/base_upload.hpp"
#include "ops/certificate.hpp"
#include "ops/exact_merge.hpp"
#include "ops/knn_engine.hpp"
#include "ops/knn_plan.hpp"
#include "ops/row_filter.hpp"
#include "ops/streamed_search.hpp"
#include "search/device_threads.hpp"
#include "search/filtered_search.hpp"
#include "search/held_share.hpp"
#include "search/range_search.hpp"
#include "search/search_base.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/flat_index.hpp"

namespace vecaccel {
namespace detail {
namespace {

using Clock = std::chrono::steady_clock;

/// The devices' progress, summed per phase and passed on one call at a time.
class ProgressSink {
 public:
  ProgressSink(const SearchOptions& options, std::size_t devices, std::size_t rows,
               std::size_t queries)
      : callback_(options.progress), rows_(rows), queries_(queries), done_(devices, 0) {}

  /// Device `device` has done `done` of its share in `phase` (the phase's first call from a
  /// device restarts its count).
  void report(SearchPhase phase, std::size_t device, std::size_t done) {
    const std::lock_guard lock(mutex_);
    if (phase != phase_) {
      std::fill(done_.begin(), done_.end(), 0);
      phase_ = phase;
    }
    done_[device] = done;
    if (phase == SearchPhase::streaming) ++passes_;
    if (!callback_) return;
    // Queries: every device searches all of them, so the slowest device says how far it is.
    const std::size_t total = phase == SearchPhase::searching
                                  ? *std::min_element(done_.begin(), done_.end())
                                  : std::accumulate(done_.begin(), done_.end(), std::size_t{0});
    callback_({phase, total, phase == SearchPhase::searching ? queries_ : rows_});
  }

  std::size_t passes() const { return passes_; }

 private:
  std::function<void(const SearchProgress&)> callback_;
  std::size_t rows_;
  std::size_t queries_;
  std::mutex mutex_;
  SearchPhase phase_ = SearchPhase::uploading;
  std::vector<std::size_t> done_;
  std::size_t passes_ = 0;
};

/// The budget each device plans with: the caller's, else the device's.
std::vector<std::uint64_t> budgets_of(std::span<Context* const> devices,
                                      const SearchOptions& options) {
  std::vector<std::uint64_t> budgets;
  budgets.reserve(devices.size());
  for (std::size_t i = 0; i < devices.size(); ++i) {
    if (devices[i] == nullptr) {
      throw Error(Errc::invalid_argument, "search: device " + std::to_string(i) + " of " +
                                              std::to_string(devices.size()) + " is null");
    }
    budgets.push_back(options.memory_budget.value_or(memory_budget(*devices[i])));
  }
  return budgets;
}

void check_request(std::span<Context* const> devices, const SearchBase& base,
                   MatrixView<const float> queries, std::size_t k) {
  if (devices.empty() && base.index() == nullptr) {
    throw Error(Errc::invalid_argument, "search: the list of devices is empty");
  }
  if (base.dim() > FlatIndex::max_dim) {
    const std::string what =
        base.file() != nullptr ? base.file()->path().string() : std::string("base");
    throw Error(Errc::invalid_argument, what + ": dimension " + std::to_string(base.dim()) +
                                            " above the " + std::to_string(FlatIndex::max_dim) +
                                            " a search supports");
  }
  check_same_dim(queries.dim(), base.dim(), "search: queries", "the base");
  check_k(k, "search");
}

}  // namespace

void search_index_metric(const FlatIndex& index, Metric metric) {
  if (metric != index.metric()) {
    throw Error(Errc::invalid_argument,
                "search: a FlatIndex of metric " + std::string(to_string(index.metric())) +
                    " searched for metric " + std::string(to_string(metric)));
  }
}

namespace {

/// Everything a run of the devices' shares reads; parts come out labelled by base rows.
struct ShareRun {
  std::span<Context* const> devices;
  const SearchBase& base;
  const SearchPlan& plan;
  MatrixView<const float> queries;
  std::size_t k;
  Metric metric;
  const SearchOptions& options;
  ProgressSink& progress;

  std::size_t first_label(std::size_t device) const {
    return base.first_row() + plan.shares[device].first_row;
  }
};

/// Labels [first, first + rows) of `filter` as labels from 0.
IdFilter share_filter(const IdFilter& filter, std::size_t first, std::size_t rows) {
  const RowFilter allowed = RowFilter::of_positions(filter, rows, static_cast<std::int64_t>(first));
  std::vector<std::uint64_t> words((rows + 63) / 64, 0);
  for (const std::size_t r : allowed.allowed_rows())
    words[r / 64] |= std::uint64_t{1} << (r % 64);
  return IdFilter::bitset(words, rows);
}

std::vector<KnnResult> run_streamed(const ShareRun& run) {
  std::vector<KnnResult> parts(run.plan.shares.size());
  run_per_device(parts.size(), run.options.stop, [&](std::size_t i, std::stop_token stop) {
    parts[i] =
        streamed_knn(*run.devices[i], row_source(run.base), run.queries.data(), run.k, run.metric,
                     {.timeout = run.options.timeout,
                      .stop = std::move(stop),
                      .progress =
                          [&run, i](std::size_t done, std::size_t) {
                            run.progress.report(SearchPhase::streaming, i, done);
                          },
                      .memory_budget = run.plan.shares[i].memory_budget,
                      .first_row = run.first_label(i),
                      .row_count = run.plan.shares[i].rows,
                      .filter = run.options.filter});
  });
  return parts;
}

/// Every device uploads its share, then every device searches it: one phase after the other,
/// as one index is filled before it is searched. `upload_time`: the first phase's.
std::vector<KnnResult> run_held(const ShareRun& run, Clock::duration& upload_time) {
  const std::size_t count = run.plan.shares.size();
  const Deadline deadline = Deadline::after(run.options.timeout, {});
  const auto within = [&](std::stop_token stop) {
    return Deadline{.at = deadline.at, .limit = deadline.limit, .stop = std::move(stop)};
  };
  std::vector<std::optional<FlatIndex>> indexes(count);
  std::vector<KnnResult> parts(count);
  // A share's index labels its rows from 0: its filter is the caller's moved there.
  std::vector<std::optional<IdFilter>> filters(count);
  if (run.options.filter) {
    for (std::size_t i = 0; i < count; ++i)
      filters[i] = share_filter(*run.options.filter, run.first_label(i), run.plan.shares[i].rows);
  }
  try {
    const auto start = Clock::now();
    run_per_device(count, run.options.stop, [&](std::size_t i, std::stop_token stop) {
      const PlannedShare& share = run.plan.shares[i];
      FlatIndex& index =
          indexes[i].emplace(*run.devices[i], run.base.dim(), run.metric, run.base.element_type());
      upload_rows(
          index, run.base, share.first_row, share.rows, within(std::move(stop)),
          [&run, i](std::size_t done) { run.progress.report(SearchPhase::uploading, i, done); });
    });
    upload_time = Clock::now() - start;
    run_per_device(count, run.options.stop, [&](std::size_t i, std::stop_token stop) {
      parts[i] = search_in_batches(
          *indexes[i], run.queries, run.k, std::max<std::size_t>(run.options.query_batch, 1),
          within(std::move(stop)),
          [&run, i](std::size_t done) { run.progress.report(SearchPhase::searching, i, done); },
          filters[i] ? &*filters[i] : nullptr);
      for (std::int64_t& label : parts[i].labels) {
        if (label >= 0) label += static_cast<std::int64_t>(run.first_label(i));
      }
    });
  } catch (...) {
    // A stopped or timed-out search leaves GPU work running that reads the indexes' buffers.
    for (Context* device : run.devices.first(count))
      drain(*device);
    throw;
  }
  return parts;
}

KnnResult merged(std::vector<KnnResult>& parts, const SearchBase& base,
                 MatrixView<const float> queries, Metric metric) {
  if (parts.size() == 1) return std::move(parts[0]);
  return merge_exact_reading_rows(parts, queries.data(), base.dim(), metric,
                                  [&](std::size_t, std::span<const std::int64_t> labels) {
                                    std::vector<float> rows;
                                    rows.reserve(labels.size() * base.dim());
                                    for (const std::int64_t l : labels) {
                                      const std::vector<float> row =
                                          base.row(static_cast<std::size_t>(l));
                                      rows.insert(rows.end(), row.begin(), row.end());
                                    }
                                    return rows;
                                  });
}

SearchResult search_index(const FlatIndex& index, MatrixView<const float> queries, std::size_t k,
                          Metric metric, const SearchOptions& options) {
  search_index_metric(index, metric);
  const auto start = Clock::now();
  ProgressSink progress(options, 1, index.size(), queries.rows());
  SearchResult out;
  out.plan.shares.push_back({.rows = index.size(), .rows_per_pass = index.size()});
  out.knn = search_in_batches(
      index, queries, k, std::max<std::size_t>(options.query_batch, 1),
      Deadline::after(options.timeout, options.stop),
      [&](std::size_t done) { progress.report(SearchPhase::searching, 0, done); },
      options.filter ? &*options.filter : nullptr);
  out.search_time = Clock::now() - start;
  return out;
}

}  // namespace
}  // namespace detail

void check_queries(MatrixView<const float> queries, Metric metric, std::string_view what) {
  for (std::size_t r = 0; r < queries.rows(); ++r) {
    double squared = 0.0;
    for (const float v : queries.row(r))
      squared += static_cast<double>(v) * static_cast<double>(v);
    detail::check_squared_norm(std::sqrt(squared), metric, what, r);
  }
}

std::uint64_t memory_budget(Context& context) {
  return detail::device_memory_budget(context);
}

SearchResult search(std::span<Context* const> devices, const SearchBase& base,
                    MatrixView<const float> queries, std::size_t k, Metric metric,
                    const SearchOptions& options) {
  detail::check_request(devices, base, queries, k);
  check_queries(queries, metric);
  if (base.index() != nullptr)
    return detail::search_index(*base.index(), queries, k, metric, options);
  if (options.filter) {
    if (auto gathered = detail::search_gathered(devices, base, queries, k, metric, options))
      return std::move(*gathered);
  }
  const auto start = detail::Clock::now();
  SearchResult out;
  out.plan = plan_search({.rows = base.rows(),
                          .dim = base.dim(),
                          .type = base.element_type(),
                          .streamable = true,
                          .budgets = detail::budgets_of(devices, options)});
  const std::size_t count = out.plan.shares.size();
  detail::ProgressSink progress(options, count, base.rows(), queries.rows());
  const detail::ShareRun run{devices, base, out.plan, queries, k, metric, options, progress};
  detail::Clock::duration upload_time{0};
  std::vector<KnnResult> parts = out.plan.handling == BaseHandling::streamed
                                     ? detail::run_streamed(run)
                                     : detail::run_held(run, upload_time);
  out.knn = detail::merged(parts, base, queries, metric);  // second-pass counts: the sums
  out.passes = progress.passes();
  out.upload_time = upload_time;
  out.search_time = detail::Clock::now() - start - upload_time;
  return out;
}

SearchResult search(Context& context, const SearchBase& base, MatrixView<const float> queries,
                    std::size_t k, Metric metric, const SearchOptions& options) {
  Context* const devices[] = {&context};
  return search(devices, base, queries, k, metric, options);
}

RangeResult range_search(std::span<Context* const> devices, const SearchBase& base,
                         MatrixView<const float> queries, double radius, Metric metric,
                         const SearchOptions& options, std::size_t max_results) {
  if (const FlatIndex* index = base.index()) {
    const ExecuteOptions run{.timeout = options.timeout, .stop = options.stop};
    detail::search_index_metric(*index, metric);
    return options.filter ? index->range_search(queries, radius, *options.filter, max_results, run)
                          : index->range_search(queries, radius, max_results, run);
  }
  detail::check_request(devices, base, queries, 1);
  check_queries(queries, metric);
  const detail::RangeSource source{
      .queries = queries.rows(),
      .rows = base.rows(),
      .knn =
          [&](std::span<const std::size_t> picked, std::size_t k) {
            std::vector<float> some;
            for (const std::size_t q : picked)
              some.insert(some.end(), queries.row(q).begin(), queries.row(q).end());
            const MatrixView<const float> subset(std::span<const float>(some), picked.size(),
                                                 queries.dim());
            return search(devices, base, subset, k, metric, options).knn;
          },
      .exact =
          [&](std::size_t q, std::int64_t label) {
            return detail::direct_distance(queries.row(q),
                                           base.row(static_cast<std::size_t>(label)), metric);
          }};
  return detail::range_by_knn(source, radius, metric, max_results);
}

RangeResult range_search(Context& context, const SearchBase& base, MatrixView<const float> queries,
                         double radius, Metric metric, const SearchOptions& options,
                         std::size_t max_results) {
  Context* const devices[] = {&context};
  return range_search(devices, base, queries, radius, metric, options, max_results);
}

std::vector<double> exact_values(const KnnResult& part, MatrixView<const float> queries,
                                 const SearchBase& base, Metric metric, std::int64_t label_offset) {
  std::vector<double> out(part.labels.size(), 0.0);
  for (std::size_t slot = 0; slot < part.labels.size(); ++slot) {
    const std::int64_t label = part.labels[slot];
    if (label < 0) continue;
    out[slot] =
        detail::direct_distance(queries.row(slot / part.k),
                                base.row(static_cast<std::size_t>(label + label_offset)), metric);
  }
  return out;
}

KnnResult merge_exact(std::span<const KnnResult> parts, std::span<const std::vector<double>> exact,
                      Metric metric) {
  return detail::merge_exact(parts, exact, metric);
}

}  // namespace vecaccel
