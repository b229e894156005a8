// vecaccel::mpi under `mpirun -np 2` (ctest starts it so; tests/CMakeLists.txt): a client of the
// public headers and the vecaccel::mpi target alone. Every rank runs every case, so that the
// ranks meet in the same collectives whatever a check finds; a rank prints each failed check
// and exits 1 (and so does mpirun).
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "support/reference.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/diagnostics.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/mpi.hpp"
#include "vecaccel/search.hpp"

namespace {

namespace vt = vecaccel::testing;
using vecaccel::Metric;

int failures = 0;

void expect(bool holds, const std::string& what) {
  if (holds) return;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "FAILED on rank %d: %s\n", rank, what.c_str());
  ++failures;
}

/// Small integers: many exact ties, which must fall by label as in the float64 reference.
std::vector<float> small_integers(std::size_t count, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> value(-3, 3);
  std::vector<float> out(count);
  for (float& x : out)
    x = static_cast<float>(value(random));
  return out;
}

struct Ranks {
  int rank = 0;
  int size = 1;
};

/// Rank `ranks.rank`'s share of `base` (share_of), searched over the ranks.
vecaccel::mpi::Result search_shares(vecaccel::Context& context, const Ranks& ranks,
                                    const std::vector<float>& base,
                                    const std::vector<float>& queries, std::size_t dim,
                                    std::size_t k, Metric metric,
                                    const vecaccel::SearchOptions& options = {}) {
  const vecaccel::mpi::RowRange share =
      vecaccel::mpi::share_of(base.size() / dim, ranks.rank, ranks.size);
  const vecaccel::MatrixView<const float> rows(
      std::span<const float>(base).subspan(share.first * dim, share.rows * dim), share.rows, dim);
  return vecaccel::mpi::search(
      MPI_COMM_WORLD, context, vecaccel::SearchBase(rows),
      vecaccel::MatrixView<const float>(queries, queries.size() / dim, dim), k, metric, options);
}

/// The merged result on rank 0 equals the float64 reference over the whole base (ties by
/// label); the other ranks get an empty result; every rank learns every rank's share.
void check_result(const vecaccel::mpi::Result& result, const Ranks& ranks,
                  const std::vector<float>& base, const std::vector<float>& queries,
                  std::size_t dim, std::size_t k, Metric metric, const std::string& name) {
  if (ranks.rank == 0) {
    const std::string difference = vt::check_knn(result.knn, queries, base, dim, k, metric);
    expect(difference.empty(), name + ": " + difference);
  } else {
    expect(result.knn.rows == 0 && result.knn.labels.empty(), name + ": a result off rank 0");
  }
  expect(result.ranks.size() == static_cast<std::size_t>(ranks.size), name + ": rank reports");
  std::size_t next = 0;
  for (const vecaccel::mpi::RankReport& report : result.ranks) {
    expect(report.rows.first == next, name + ": shares in rank order");
    next += report.rows.rows;
  }
  expect(next == base.size() / dim, name + ": the shares make the base");
}

void merged_result_equals_the_reference(vecaccel::Context& context, const Ranks& ranks) {
  constexpr std::size_t dim = 6;
  const std::vector<float> base = small_integers(403 * dim, 1);
  const std::vector<float> queries = small_integers(9 * dim, 2);
  for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine, Metric::l1}) {
    const std::string name = "exact " + std::string(to_string(metric));
    check_result(search_shares(context, ranks, base, queries, dim, 12, metric), ranks, base,
                 queries, dim, 12, metric, name);
  }
}

void streamed_shares_equal_the_reference(vecaccel::Context& context, const Ranks& ranks) {
  constexpr std::size_t dim = 6;
  const std::vector<float> base = small_integers(403 * dim, 3);
  const std::vector<float> queries = small_integers(5 * dim, 4);
  const vecaccel::mpi::Result result =
      search_shares(context, ranks, base, queries, dim, 7, Metric::l2, {.memory_budget = 2048});
  check_result(result, ranks, base, queries, dim, 7, Metric::l2, "streamed");
  for (const vecaccel::mpi::RankReport& report : result.ranks) {
    expect(report.handling == vecaccel::BaseHandling::streamed && report.passes > 1 &&
               report.streamed_budget == 2048,
           "streamed: every rank streamed within its budget");
  }
}

void shares_smaller_than_k_are_padded_and_merged(vecaccel::Context& context, const Ranks& ranks) {
  constexpr std::size_t dim = 3;
  const std::vector<float> base = small_integers(9 * dim, 5);
  const std::vector<float> queries = small_integers(4 * dim, 6);
  check_result(search_shares(context, ranks, base, queries, dim, 7, Metric::l2), ranks, base,
               queries, dim, 7, Metric::l2, "small shares");
}

/// A budget below one row fails on rank 1 alone: rank 1 gets its own error, rank 0 RankFailed
/// naming rank 1, its status and its message; the ranks then search together again.
void a_failure_on_one_rank_is_reported_on_every_rank(vecaccel::Context& context,
                                                     const Ranks& ranks) {
  constexpr std::size_t dim = 4;
  const std::vector<float> base = small_integers(40 * dim, 7);
  const std::vector<float> queries = small_integers(3 * dim, 8);
  vecaccel::SearchOptions options;
  if (ranks.rank == 1) options.memory_budget = 8;
  std::string seen = "nothing thrown";
  try {
    search_shares(context, ranks, base, queries, dim, 5, Metric::l2, options);
  } catch (const vecaccel::mpi::RankFailed& e) {
    seen = "RankFailed rank " + std::to_string(e.rank()) + " status " + std::to_string(e.status()) +
           ": " + e.what();
    expect(e.rank() == 1 && e.status() == 1 && e.code() == vecaccel::Errc::invalid_argument &&
               std::string(e.what()).find("rank 1 failed: ") != std::string::npos &&
               std::string(e.what()).find("8 bytes") != std::string::npos,
           "failure: rank 0 learns rank 1's: " + seen);
  } catch (const vecaccel::Error& e) {
    seen = e.what();
    expect(e.code() == vecaccel::Errc::invalid_argument, "failure: rank 1's own error: " + seen);
  }
  expect(seen != "nothing thrown", "failure: every rank throws");
  check_result(search_shares(context, ranks, base, queries, dim, 5, Metric::l2), ranks, base,
               queries, dim, 5, Metric::l2, "after a failure");
}

/// Ranks that disagree on k fail alike: rank 0 with its own error, rank 1 with rank 0's.
void ranks_asking_for_different_searches_are_refused(vecaccel::Context& context,
                                                     const Ranks& ranks) {
  constexpr std::size_t dim = 4;
  const std::vector<float> base = small_integers(40 * dim, 9);
  const std::vector<float> queries = small_integers(3 * dim, 10);
  std::string seen = "nothing thrown";
  try {
    search_shares(context, ranks, base, queries, dim, ranks.rank == 0 ? 5 : 6, Metric::l2);
  } catch (const vecaccel::Error& e) {
    seen = e.what();
  }
  const bool rank_failed = seen.find("rank 0 failed: ") != std::string::npos;
  expect(seen.find("the ranks' searches differ: rank 0 has 3 queries of dimension 4, k 5, "
                   "metric l2, rank 1 3 queries of dimension 4, k 6, metric l2") !=
                 std::string::npos &&
             rank_failed == (ranks.rank != 0),
         "different k: " + seen);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  Ranks ranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &ranks.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks.size);
  {
    vecaccel::Context context;
    expect(ranks.size == 2, "run under mpirun -np 2");
    merged_result_equals_the_reference(context, ranks);
    streamed_shares_equal_the_reference(context, ranks);
    shares_smaller_than_k_are_padded_and_merged(context, ranks);
    a_failure_on_one_rank_is_reported_on_every_rank(context, ranks);
    ranks_asking_for_different_searches_are_refused(context, ranks);
  }
  const char* validation = std::getenv("VECACCEL_VALIDATION");
  if (validation != nullptr && std::string(validation) == "1")
    expect(vecaccel::validation_enabled(), "VECACCEL_VALIDATION=1 but the layer is not active");
  expect(vecaccel::validation_message_count() == 0, "validation messages");
  MPI_Finalize();
  if (failures == 0 && ranks.rank == 0) std::printf("test_mpi_search: all cases passed\n");
  return failures == 0 ? 0 : 1;
}
