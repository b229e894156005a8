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
#include "ops/streamed_search.hpp"
#include "search/device_threads.hpp"
#include "search/held_share.hpp"
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

/// One device's share, labelled by base rows.
KnnResult run_share(Context& context, const SearchBase& base, const SearchPlan& plan,
                    std::size_t device, MatrixView<const float> queries, std::size_t k,
                    Metric metric, const SearchOptions& options, const std::stop_token& stop,
                    ProgressSink& progress, Clock::duration& upload_time) {
  const PlannedShare& share = plan.shares[device];
  const std::size_t label = base.first_row() + share.first_row;
  if (plan.handling == BaseHandling::streamed) {
    return streamed_knn(
        context, row_source(base), queries.data(), k, metric,
        {.timeout = options.timeout,
         .stop = stop,
         .progress = [&](std::size_t done,
                         std::size_t) { progress.report(SearchPhase::streaming, device, done); },
         .memory_budget = share.memory_budget,
         .first_row = label,
         .row_count = share.rows});
  }
  const Deadline deadline = Deadline::after(options.timeout, stop);
  const auto start = Clock::now();
  FlatIndex index(context, base.dim(), metric, base.element_type());
  KnnResult result;
  try {
    upload_rows(index, base, share.first_row, share.rows, deadline,
                [&](std::size_t done) { progress.report(SearchPhase::uploading, device, done); });
    upload_time = Clock::now() - start;
    result = search_in_batches(
        index, queries, k, std::max<std::size_t>(options.query_batch, 1), deadline,
        [&](std::size_t done) { progress.report(SearchPhase::searching, device, done); });
  } catch (...) {
    // A stopped or timed-out search leaves GPU work running that reads the index's buffers.
    drain(context);
    throw;
  }
  for (std::int64_t& l : result.labels) {
    if (l >= 0) l += static_cast<std::int64_t>(label);
  }
  return result;
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
  if (metric != index.metric()) {
    throw Error(Errc::invalid_argument,
                "search: a FlatIndex of metric " + std::string(to_string(index.metric())) +
                    " searched for metric " + std::string(to_string(metric)));
  }
  const auto start = Clock::now();
  ProgressSink progress(options, 1, index.size(), queries.rows());
  SearchResult out;
  out.plan.shares.push_back({.rows = index.size(), .rows_per_pass = index.size()});
  out.knn = search_in_batches(
      index, queries, k, std::max<std::size_t>(options.query_batch, 1),
      Deadline::after(options.timeout, options.stop),
      [&](std::size_t done) { progress.report(SearchPhase::searching, 0, done); });
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
  const auto start = detail::Clock::now();
  SearchResult out;
  out.plan = plan_search({.rows = base.rows(),
                          .dim = base.dim(),
                          .type = base.element_type(),
                          .streamable = true,
                          .budgets = detail::budgets_of(devices, options)});
  const std::size_t count = out.plan.shares.size();
  detail::ProgressSink progress(options, count, base.rows(), queries.rows());
  std::vector<KnnResult> parts(count);
  std::vector<detail::Clock::duration> uploads(count, detail::Clock::duration::zero());
  detail::run_per_device(count, options.stop, [&](std::size_t i, std::stop_token stop) {
    parts[i] = detail::run_share(*devices[i], base, out.plan, i, queries, k, metric, options, stop,
                                 progress, uploads[i]);
  });
  out.knn = detail::merged(parts, base, queries, metric);  // second-pass counts: the sums
  out.passes = progress.passes();
  out.upload_time = *std::max_element(uploads.begin(), uploads.end());
  out.search_time = detail::Clock::now() - start - out.upload_time;
  return out;
}

SearchResult search(Context& context, const SearchBase& base, MatrixView<const float> queries,
                    std::size_t k, Metric metric, const SearchOptions& options) {
  Context* const devices[] = {&context};
  return search(devices, base, queries, k, metric, options);
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
