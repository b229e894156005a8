// One exact search over the ranks of a communicator: each rank's share by the planner, the
// ranks' top k gathered on rank 0 and merged by the library's one exact merge.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "collectives.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/mpi.hpp"

namespace vecaccel::mpi {
namespace {

using Clock = std::chrono::steady_clock;

/// invalid_argument, on every rank alike, when a rank's `values` differ from rank 0's.
void check_same_request(MPI_Comm comm, std::size_t queries, std::size_t dim, std::size_t k,
                        Metric metric) {
  const std::array<std::uint64_t, 4> mine = {queries, dim, k, static_cast<std::uint64_t>(metric)};
  const std::vector<std::uint64_t> all = detail::all_gather(comm, mine);
  const auto text = [&](std::ptrdiff_t r) {
    const std::uint64_t* v = all.data() + r * static_cast<std::ptrdiff_t>(mine.size());
    return std::to_string(v[0]) + " queries of dimension " + std::to_string(v[1]) + ", k " +
           std::to_string(v[2]) + ", metric " + std::string(to_string(static_cast<Metric>(v[3])));
  };
  const auto n = static_cast<std::ptrdiff_t>(mine.size());
  for (std::ptrdiff_t r = 1; r < static_cast<std::ptrdiff_t>(all.size()) / n; ++r) {
    if (!std::equal(all.begin() + r * n, all.begin() + (r + 1) * n, all.begin())) {
      throw Error(Errc::invalid_argument, "the ranks' searches differ: rank 0 has " + text(0) +
                                              ", rank " + std::to_string(r) + " " + text(r));
    }
  }
}

/// Labels of `share`'s rows become global labels, its first row's being `first_row`.
void relabel(KnnResult& knn, const SearchBase& share, std::size_t first_row) {
  const auto shift =
      static_cast<std::int64_t>(first_row) - static_cast<std::int64_t>(share.first_row());
  for (std::int64_t& label : knn.labels) {
    if (label >= 0) label += shift;
  }
}

std::uint64_t streamed_budget(const SearchPlan& plan) {
  std::uint64_t out = 0;
  if (plan.handling != BaseHandling::streamed) return out;
  for (const PlannedShare& share : plan.shares)
    out = out == 0 ? share.memory_budget : std::min(out, share.memory_budget);
  return out;
}

std::vector<RankReport> reports(MPI_Comm comm, const Layout& layout, const SearchResult& local) {
  const std::array<std::uint64_t, 5> mine = {static_cast<std::uint64_t>(local.plan.handling),
                                             local.passes, streamed_budget(local.plan),
                                             static_cast<std::uint64_t>(local.upload_time.count()),
                                             static_cast<std::uint64_t>(local.search_time.count())};
  const std::vector<std::uint64_t> all = detail::all_gather(comm, mine);
  std::vector<RankReport> out(layout.rows.size());
  for (std::size_t r = 0; r < out.size(); ++r) {
    const std::uint64_t* v = all.data() + r * mine.size();
    out[r] = {.rows = {layout.first_row(static_cast<int>(r)), layout.rows[r]},
              .handling = static_cast<BaseHandling>(v[0]),
              .passes = v[1],
              .streamed_budget = v[2],
              .upload_time = std::chrono::nanoseconds(v[3]),
              .search_time = std::chrono::nanoseconds(v[4])};
  }
  return out;
}

/// Every rank's part, gathered back to back on rank 0, merged exactly.
KnnResult merge_gathered(std::span<const float> distances, std::span<const std::int64_t> labels,
                         std::span<const double> exact, std::size_t ranks, std::size_t queries,
                         std::size_t k, Metric metric) {
  const std::size_t slots = queries * k;
  std::vector<KnnResult> parts(ranks);
  std::vector<std::vector<double>> values(ranks);
  for (std::size_t r = 0; r < ranks; ++r) {
    const std::size_t from = r * slots;
    const auto d = distances.subspan(from, slots);
    const auto l = labels.subspan(from, slots);
    const auto e = exact.subspan(from, slots);
    parts[r] = {
        .rows = queries, .k = k, .distances = {d.begin(), d.end()}, .labels = {l.begin(), l.end()}};
    values[r] = {e.begin(), e.end()};
  }
  return merge_exact(parts, values, metric);
}

}  // namespace

RowRange share_of(std::size_t rows, int rank, int ranks) {
  if (rank < 0 || rank >= ranks) {
    throw Error(Errc::invalid_argument, "share_of: rank " + std::to_string(rank) +
                                            " is not one of " + std::to_string(ranks) + " ranks");
  }
  const auto r = static_cast<std::size_t>(rank);
  const auto n = static_cast<std::size_t>(ranks);
  // rows·r/n without overflow for any size_t row count.
  const auto bound = [&](std::size_t i) { return rows / n * i + rows % n * i / n; };
  return {bound(r), bound(r + 1) - bound(r)};
}

std::size_t Layout::total_rows() const noexcept {
  return std::accumulate(rows.begin(), rows.end(), std::size_t{0});
}

std::size_t Layout::first_row(int rank) const noexcept {
  return std::accumulate(rows.begin(), rows.begin() + rank, std::size_t{0});
}

Layout layout(MPI_Comm comm, std::size_t rows, std::size_t dim) {
  const std::array<std::uint64_t, 2> mine = {rows, dim};
  const std::vector<std::uint64_t> all = detail::all_gather(comm, mine);
  Layout out{.rows = {}, .dim = all[1]};
  for (std::size_t r = 0; r < all.size() / 2; ++r) {
    out.rows.push_back(all[2 * r]);
    if (all[2 * r + 1] == out.dim) continue;
    throw Error(Errc::invalid_argument,
                "dimension mismatch between the ranks' bases: rank 0's has dimension " +
                    std::to_string(out.dim) + ", rank " + std::to_string(r) + "'s " +
                    std::to_string(all[2 * r + 1]));
  }
  return out;
}

Result search(MPI_Comm comm, Context& context, const SearchBase& share,
              MatrixView<const float> queries, std::size_t k, Metric metric,
              const SearchOptions& options, const FailureStatus& status) {
  const int me = detail::rank(comm);
  Layout ranks;
  SearchResult local;
  std::vector<double> exact;
  on_all_ranks(
      comm,
      [&] {
        ranks = layout(comm, share.rows(), share.dim());
        check_same_request(comm, queries.rows(), queries.dim(), k, metric);
        local = vecaccel::search(context, share, queries, k, metric, options);
        exact = exact_values(local.knn, queries, share, metric);
        relabel(local.knn, share, ranks.first_row(me));
      },
      status);
  Result out{.knn = {}, .plan = local.plan, .ranks = reports(comm, ranks, local)};
  const auto start = Clock::now();
  const std::vector<float> distances =
      detail::gather(comm, std::span<const float>(local.knn.distances));
  const std::vector<std::int64_t> labels =
      detail::gather(comm, std::span<const std::int64_t>(local.knn.labels));
  const std::vector<double> values = detail::gather(comm, std::span<const double>(exact));
  on_all_ranks(
      comm,
      [&] {
        if (me != 0) return;
        out.knn =
            merge_gathered(distances, labels, values, ranks.rows.size(), queries.rows(), k, metric);
        out.merge_time = Clock::now() - start;
      },
      status);
  return out;
}

}  // namespace vecaccel::mpi
