#pragma once
// The search planner: the library's one way to search a base exactly on one or several devices.
//
// search() takes a base (rows in host memory, a mapped vector file or a range of its rows, or a
// FlatIndex), queries, k, a metric and the devices to run on (Contexts: one, several, or the
// same device twice). It gives each device a contiguous share of the base's rows and decides,
// from the base's size and each device's memory budget, whether every device holds its share
// (uploaded once, then searched a batch of queries at a time) or streams it through in passes
// (plan_search: a pure function of sizes and budgets). It runs the devices at once, a thread
// each, and merges their top k exactly (merge_exact). Whatever the plan, the result equals a
// float64 brute force over the whole base, summed in element order without fused multiply-adds,
// ties by the smaller label (docs/exactness.md): labels are base rows (file rows for a range).
//
// Thread safety: plan_search, exact_values and merge_exact are pure; search() may run
// concurrently with other work on the same contexts (each Context is thread-safe). Lifetime: the
// base, the queries and the contexts must outlive the call; nothing is kept after it. Errors are
// vecaccel::Error: invalid_argument for shapes (no devices, dimension mismatch, k = 0 or above
// ops::max_k, a range leaving the file), bad rows (naming the base row), and a memory budget
// smaller than one row (naming both sizes); cancelled and timeout as SearchOptions says; device
// errors as the contexts report them. When several devices fail, the error is that of the
// lowest device in the list that did not merely stop because another failed.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "vecaccel/context.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/id_filter.hpp"
#include "vecaccel/matrix_view.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel {

class FlatIndex;
class MappedVectors;

// ---- planning (pure)

/// How the devices of a plan get their rows.
enum class BaseHandling {
  held,      ///< each device uploads its share once and searches it whole
  streamed,  ///< each device streams its share through in passes within its budget
};

/// What plan_search decides from.
struct PlanInput {
  std::size_t rows = 0;  ///< base rows to search
  std::size_t dim = 0;
  ElementType type = ElementType::float32;
  /// Whether the rows can be streamed through a device (host memory or a mapped file can);
  /// false for rows a FlatIndex already holds, or ones a caller insists on holding.
  bool streamable = true;
  /// The device memory each device may use, in bytes: one entry per device (a device listed
  /// twice has two entries, each its own budget).
  std::vector<std::uint64_t> budgets;
};

/// One device's share of the base.
struct PlannedShare {
  std::size_t device = 0;     ///< position in the list of devices
  std::size_t first_row = 0;  ///< of the base
  std::size_t rows = 0;
  std::uint64_t memory_budget = 0;  ///< bytes the share was planned within
  std::size_t rows_per_pass = 0;    ///< streamed: rows a pass holds; held: `rows`
  /// Whether the share, held whole, fits its budget. Streamed shares fit by construction; a
  /// held one that does not is what a non-streamable base over its budget plans to.
  bool fits = true;
};

struct SearchPlan {
  BaseHandling handling = BaseHandling::held;
  /// Contiguous shares in device order, within one row of each other in size. Devices beyond
  /// the base's rows get none (a base of 0 rows: one empty share on the first device).
  std::vector<PlannedShare> shares;

  /// Base passes the plan runs, summed over the shares; 0 when held.
  std::size_t passes() const noexcept;
  /// One line for reports, e.g. "streamed on 2 devices, 11 passes of up to 292 rows (budget
  /// 65536 bytes)" or "held on 1 device".
  std::string description() const;
};

/// Splits the rows over the budgets' devices (rows·i/n up to rows·(i+1)/n) and decides: held
/// when every share fits its device's budget whole (its rows and norms within three quarters
/// of it, a quarter being the engine's working memory) or the base is not streamable; else
/// every share streamed, two passes in flight within its budget. invalid_argument when there
/// are no budgets, dim is 0, or a share that must be streamed has a budget below one row
/// (naming both sizes).
SearchPlan plan_search(const PlanInput& input);

// ---- running

/// Device memory a search on `context` may plan with: VECACCEL_MEMORY_BUDGET (<bytes>[K|M|G])
/// when set, else the device-local memory left (VK_EXT_memory_budget) or the device-local heaps'
/// size. invalid_argument naming the variable when it is malformed.
std::uint64_t memory_budget(Context& context);

/// The rows of a search: a non-owning view (the caller keeps them alive during the search).
class SearchBase {
 public:
  /// Rows in host memory: float32, or uint8/int8 (one byte per element on the GPU, widened
  /// there; exact like float rows).
  SearchBase(MatrixView<const float> rows) noexcept;
  SearchBase(MatrixView<const std::uint8_t> rows) noexcept;
  SearchBase(MatrixView<const std::int8_t> rows) noexcept;
  /// Every row of a mapped file, or rows [first_row, first_row + rows) of it (labels stay file
  /// rows; invalid_argument naming the file when the range leaves it).
  SearchBase(const MappedVectors& file) noexcept;
  SearchBase(const MappedVectors& file, std::size_t first_row, std::size_t rows);
  /// The rows a FlatIndex holds, searched on its own context (its labels, its metric).
  SearchBase(const FlatIndex& index) noexcept;

  std::size_t rows() const noexcept { return rows_; }
  std::size_t dim() const noexcept { return dim_; }
  ElementType element_type() const noexcept { return type_; }
  /// The label of the first row searched (a file range's first row; else 0).
  std::size_t first_row() const noexcept { return first_row_; }
  /// The parts set, by which constructor was used; the others are null or empty.
  const MappedVectors* file() const noexcept { return file_; }
  const FlatIndex* index() const noexcept { return index_; }
  /// Host rows back to back (the first constructors).
  std::span<const std::byte> bytes() const noexcept { return bytes_; }

  /// Row `label` (a base row: a file row for a range; a FlatIndex's row, read back from its
  /// GPU, which equals its label where it was filled by add()) widened to float, exactly;
  /// invalid_argument when it is not a row of the base.
  std::vector<float> row(std::size_t label) const;

 private:
  std::span<const std::byte> bytes_;
  const MappedVectors* file_ = nullptr;
  const FlatIndex* index_ = nullptr;
  std::size_t first_row_ = 0;
  std::size_t rows_ = 0;
  std::size_t dim_ = 0;
  ElementType type_ = ElementType::float32;
};

/// Where a search is, for progress reports.
enum class SearchPhase {
  uploading,  ///< held shares' rows going to their devices (done/total: base rows)
  searching,  ///< held shares searched a batch of queries at a time (done/total: queries)
  streaming,  ///< streamed shares' passes (done/total: base rows, summed over devices)
};

struct SearchProgress {
  SearchPhase phase = SearchPhase::uploading;
  std::size_t done = 0;
  std::size_t total = 0;
};

struct SearchOptions {
  /// Bounds each device's search (Errc::timeout naming the limit); none when unset (the
  /// contexts' default_timeout does not apply to searches).
  std::optional<std::chrono::nanoseconds> timeout;
  /// Checked between uploads, batches and passes and while waiting; Errc::cancelled.
  std::stop_token stop;
  /// Device memory each device may use, in bytes; by default memory_budget(context).
  std::optional<std::uint64_t> memory_budget;
  /// Queries per search call of a held share (bounds its working memory and a stop's latency).
  std::size_t query_batch = 4096;
  /// Called as the search advances, from the devices' threads one call at a time; may be
  /// empty. An exception it throws ends the search with that exception.
  std::function<void(const SearchProgress&)> progress;
  /// Only the rows whose labels it allows may be returned (IdFilter's contract: exact over
  /// them, padded with -1 when fewer than k). Few allowed rows of host or file rows are
  /// gathered on the host and searched alone; more are masked on each device.
  std::optional<IdFilter> filter;
};

struct SearchResult {
  KnnResult knn;  ///< second_pass_queries and direct_pass_queries sum the devices'
  SearchPlan plan;
  std::size_t passes = 0;  ///< base passes run, summed over the devices (0 when held)
  /// Held: the longest device's upload (wall time); 0 when streamed or a FlatIndex.
  std::chrono::nanoseconds upload_time{0};
  /// The rest of the call: searching (streamed: uploads included) and the merge.
  std::chrono::nanoseconds search_time{0};
};

/// Checks queries as a search does, before any work: invalid_argument "<what> row <r> has
/// squared norm ..." for the first l2 or inner-product query whose squared norm could overflow
/// the float32 screen (above 2^124; cosine rows are scaled first and never are). NaN and Inf are
/// the caller's to check (a file reader names their column).
void check_queries(MatrixView<const float> queries, Metric metric, std::string_view what = "query");

/// The exact k nearest base rows of each query, the base planned over `devices` (plan_search),
/// each share run on its device at once, the top k merged exactly. A FlatIndex base is
/// searched on its own context (devices may then be empty) and must have `metric`.
/// Besides the errors above: invalid_argument when devices is empty (other bases), a device is
/// null, or queries.dim() != base.dim() (naming both).
SearchResult search(std::span<Context* const> devices, const SearchBase& base,
                    MatrixView<const float> queries, std::size_t k, Metric metric,
                    const SearchOptions& options = {});
/// On one context.
SearchResult search(Context& context, const SearchBase& base, MatrixView<const float> queries,
                    std::size_t k, Metric metric, const SearchOptions& options = {});

/// Every row of the base within `radius` of each query (RangeResult's rules), exact, planned
/// and run as search() (held, streamed, several devices; options.filter too). More than
/// max_results results in all: invalid_argument naming the count (vecaccel has no out_of_range
/// code), nothing returned.
RangeResult range_search(std::span<Context* const> devices, const SearchBase& base,
                         MatrixView<const float> queries, double radius, Metric metric,
                         const SearchOptions& options = {},
                         std::size_t max_results = default_max_range_results);
RangeResult range_search(Context& context, const SearchBase& base, MatrixView<const float> queries,
                         double radius, Metric metric, const SearchOptions& options = {},
                         std::size_t max_results = default_max_range_results);

// ---- merging parts searched elsewhere (other processes)

/// The float64 value of each of `part`'s candidates (the value the merge ranks by; 0 for
/// padding), from the row label + `label_offset` of `base` (a part labelled by global rows over
/// a file that numbers them from its own first row passes that row minus the global one).
std::vector<double> exact_values(const KnnResult& part, MatrixView<const float> queries,
                                 const SearchBase& base, Metric metric,
                                 std::int64_t label_offset = 0);

/// The exact top k over parts searched on disjoint rows with the same labels' numbering (each
/// exact for its rows, as search() returns them): `exact[p]` holds part p's float64 values
/// (exact_values). Equal to one search over all their rows, bit for bit. invalid_argument when
/// the parts' shapes differ or their distances are out of the metric's order.
KnnResult merge_exact(std::span<const KnnResult> parts, std::span<const std::vector<double>> exact,
                      Metric metric);

}  // namespace vecaccel
