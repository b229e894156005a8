#pragma once
// vecaccel::mpi — the optional MPI component: one exact search over the ranks of a communicator,
// each rank searching its share of the base on its own device with the planner (search.hpp),
// rank 0 merging the ranks' top k with the library's one exact merge (merge_exact).
//
// Built where MPI is found (VECACCEL_WITH_MPI); link the CMake target vecaccel::mpi
// (find_package(vecaccel COMPONENTS mpi)). The caller owns MPI: it initialises MPI before the
// first call and finalises it after the last, and owns the communicator.
//
// Collectives. Every function taking a communicator is collective: every rank of `comm` calls
// it, in the same order, with the arguments its contract names as equal on every rank. The
// collectives run on `comm` itself (not a duplicate): no other operation may use `comm` while
// one runs. MPI is called only from the calling thread (MPI_THREAD_FUNNELED suffices when that
// thread initialised MPI); the devices' own threads never call MPI.
//
// Errors. A rank that fails does not leave the others waiting: every rank reaches every
// collective, and after each step the ranks agree on the first failure (on_all_ranks). The
// lowest failing rank rethrows its own exception; every other rank throws RankFailed naming
// that rank and its message. An MPI call that fails (under MPI_ERRORS_RETURN; MPI's default
// handler aborts the job) throws Error(Errc::io_error) naming the call. Thread safety: the
// functions keep no state between calls; concurrent calls need distinct communicators.

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "vecaccel/context.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/matrix_view.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"
#include "vecaccel/search.hpp"

namespace vecaccel::mpi {

/// Another rank failed first. what() is "<code>: rank <r> failed: <its what()>"; code() is the
/// failing rank's Errc where it threw a vecaccel::Error, else io_error.
class RankFailed : public Error {
 public:
  RankFailed(int rank, int status, Errc code, const std::string& what);
  /// The lowest failing rank of the communicator.
  int rank() const noexcept { return rank_; }
  /// The status that rank's failure was agreed as (FailureStatus; 1 by default).
  int status() const noexcept { return status_; }

 private:
  int rank_;
  int status_;
};

/// Maps a failing rank's exception to the nonzero status the other ranks learn
/// (RankFailed::status), e.g. a program's exit status. Called on the failing rank, in the
/// calling thread; empty: 1.
using FailureStatus = std::function<int(const std::exception_ptr&)>;

/// Runs `step` on this rank, then agrees with every rank of `comm` (collective): returns when
/// every rank's step returned; else the lowest failing rank rethrows its exception and the
/// others throw RankFailed. `step` may itself call collectives on `comm` only where every rank
/// reaches them (before anything that can fail on one rank alone).
void on_all_ranks(MPI_Comm comm, const std::function<void()>& step,
                  const FailureStatus& status = {});

/// This rank's position among the ranks of `comm` on its host (MPI_COMM_TYPE_SHARED): the
/// device of the host it should take, modulo the host's devices. Collective.
int local_rank(MPI_Comm comm);

/// A contiguous range of base rows.
struct RowRange {
  std::size_t first = 0;
  std::size_t rows = 0;
};

/// Rank `rank`'s share of `rows` base rows over `ranks` ranks: rows·rank/ranks up to
/// rows·(rank+1)/ranks (pure). invalid_argument unless 0 <= rank < ranks.
RowRange share_of(std::size_t rows, int rank, int ranks);

/// Every rank's share of the base, as every rank learns it.
struct Layout {
  std::vector<std::size_t> rows;  ///< each rank's rows, in rank order
  std::size_t dim = 0;

  std::size_t total_rows() const noexcept;
  /// The global label of rank `rank`'s first row: the rows of the ranks below it.
  std::size_t first_row(int rank) const noexcept;
};

/// Gathers every rank's share size (collective). invalid_argument, on every rank alike, when
/// the ranks' dimensions differ (naming rank 0's and the first other one's).
Layout layout(MPI_Comm comm, std::size_t rows, std::size_t dim);

/// What one rank's search did, as every rank learns it.
struct RankReport {
  RowRange rows;  ///< its share, in global labels
  BaseHandling handling = BaseHandling::held;
  std::size_t passes = 0;  ///< base passes its plan ran (0 when held)
  /// The smallest memory budget a streamed share was planned within; 0 when held.
  std::uint64_t streamed_budget = 0;
  std::chrono::nanoseconds upload_time{0};  ///< SearchResult::upload_time
  std::chrono::nanoseconds search_time{0};  ///< SearchResult::search_time
};

struct Result {
  /// Rank 0: the exact k nearest rows of the whole base for each query, labelled globally
  /// (rank r's row i is Layout::first_row(r) + i, whatever the share's own labels). Other
  /// ranks: empty (rows = k = 0).
  KnnResult knn;
  SearchPlan plan;                ///< this rank's own plan for its share
  std::vector<RankReport> ranks;  ///< every rank's, in rank order, on every rank
  /// Rank 0: gathering the ranks' parts and merging them; 0 elsewhere.
  std::chrono::nanoseconds merge_time{0};
};

/// The exact search of a base split over the ranks of `comm` (collective). Each rank passes its
/// own share of the base (any SearchBase: host rows, a mapped file or a range of it, e.g. the
/// rows share_of gives it, or a FlatIndex filled by add()), searched on `context` with
/// vecaccel::search and `options` (held or streamed by that rank's budget); the shares in rank
/// order are the whole base. options.filter is applied to each share as vecaccel::search labels
/// it (a mapped file range by file rows, host rows from 0), not to global labels: a rank
/// filtering by global labels passes a filter of its own ids shifted by its share's start.
/// `queries`, `k` and `metric` must be equal on every rank. Rank 0 gathers every rank's top k with
/// their float64 values (exact_values) and merges them (merge_exact): the result equals one search
/// of the whole base, bit for bit. Errors, agreed on every rank as on_all_ranks does (`status`
/// classifies this rank's): those of vecaccel::search; invalid_argument when the ranks' dimensions,
/// query counts, k or metric differ (naming rank 0's and the first other one's). Lifetime: the
/// share, queries and context are used during the call only.
Result search(MPI_Comm comm, Context& context, const SearchBase& share,
              MatrixView<const float> queries, std::size_t k, Metric metric,
              const SearchOptions& options = {}, const FailureStatus& status = {});

}  // namespace vecaccel::mpi
