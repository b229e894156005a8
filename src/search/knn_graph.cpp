// knn_graph(): the base searched against itself for k + 1 neighbours, each row's own label
// dropped by position.

#include "vecaccel/knn_graph.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/certificate.hpp"
#include "ops/knn_plan.hpp"
#include "ops/knn_result.hpp"
#include "ops/row_staging.hpp"
#include "search/search_base.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel {
namespace detail {
namespace {

/// Widened query rows a block holds at most (bytes): big enough that a held base is uploaded
/// once for any base up to 64 Mi floats, small enough to stay a fraction of host memory.
constexpr std::size_t widened_block_bytes = std::size_t{256} << 20U;

/// Rows [first, first + count) of the base (numbered as it labels them) as float32 queries: in
/// place where they are float32 rows back to back, else widened into `scratch`.
MatrixView<const float> query_rows(const RowSource& source, std::size_t first, std::size_t count,
                                   std::vector<float>& scratch) {
  const std::size_t dim = source.dim;
  if (source.type == ElementType::float32) {
    const std::span<const std::byte> bytes = source.view(first, count);
    if (!bytes.empty() || count == 0) {
      return {std::span(reinterpret_cast<const float*>(bytes.data()), count * dim), count, dim};
    }
  }
  std::vector<std::byte> packed(count * source.row_bytes());
  source.copy(first, count, packed.data());
  scratch.resize(count * dim);
  const auto widen = [&]<class T>(const T*) {
    for (std::size_t i = 0; i < scratch.size(); ++i) {
      T value;
      std::memcpy(&value, packed.data() + i * sizeof(T), sizeof(T));
      scratch[i] = static_cast<float>(value);
    }
  };
  switch (source.type) {
    case ElementType::float32:
      widen(static_cast<const float*>(nullptr));
      break;
    case ElementType::uint8:
      widen(static_cast<const std::uint8_t*>(nullptr));
      break;
    case ElementType::int8:
      widen(static_cast<const std::int8_t*>(nullptr));
      break;
  }
  return {std::span<const float>(scratch), count, dim};
}

/// `result` widened to `k` columns with label -1 and the metric's worst distance (as search
/// pads); itself when it already is.
KnnResult padded(KnnResult&& result, std::size_t k, Metric metric) {
  if (result.k == k) return std::move(result);
  return widened(result, k, metric);
}

/// The rows are the queries too: a row that is not finite, or whose norm would overflow the
/// screen, is named as the base row it is (search() would name its place among the queries).
void check_rows(MatrixView<const float> rows, Metric metric, std::size_t first_label) {
  for (std::size_t r = 0; r < rows.rows(); ++r) {
    double squared = 0.0;
    for (const float v : rows.row(r))
      squared += static_cast<double>(v) * static_cast<double>(v);
    // Only a NaN or an infinity makes a float row's float64 sum non-finite: name it as such.
    if (!std::isfinite(squared)) check_finite(rows.row(r), rows.dim(), "base", first_label + r);
    check_squared_norm(std::sqrt(squared), metric, "base", first_label + r);
  }
}

void check_graph(const SearchBase& base, std::size_t k) {
  if (base.index() != nullptr) {
    throw Error(Errc::invalid_argument,
                "knn_graph: a FlatIndex base is not supported (its labels need not be its rows); "
                "pass its rows or file");
  }
  // The rows' width sizes the blocks of queries.
  if (base.dim() == 0)
    throw Error(Errc::invalid_argument, "knn_graph: dimension must be at least 1");
  if (k == 0 || k >= max_search_k) {
    throw Error(Errc::invalid_argument, "knn_graph: k = " + std::to_string(k) + " is outside 1.." +
                                            std::to_string(max_search_k - 1));
  }
}

}  // namespace
}  // namespace detail

KnnResult drop_self(const KnnResult& self, std::size_t k, std::size_t first_label) {
  if (self.k != k + 1) {
    throw Error(Errc::invalid_argument, "drop_self: a search of " + std::to_string(self.k) +
                                            " neighbours for a graph of k = " + std::to_string(k) +
                                            " (it needs k + 1)");
  }
  KnnResult out{.rows = self.rows,
                .k = k,
                .distances = std::vector<float>(self.rows * k),
                .labels = std::vector<std::int64_t>(self.rows * k),
                .second_pass_queries = self.second_pass_queries,
                .direct_pass_queries = self.direct_pass_queries};
  for (std::size_t r = 0; r < self.rows; ++r) {
    const auto own = static_cast<std::int64_t>(first_label + r);
    std::size_t kept = 0;
    for (std::size_t j = 0; j < self.k && kept < k; ++j) {
      const std::size_t from = r * self.k + j;
      if (self.labels[from] == own) continue;
      out.labels[r * k + kept] = self.labels[from];
      out.distances[r * k + kept] = self.distances[from];
      ++kept;
    }
  }
  return out;
}

SearchResult knn_graph(std::span<Context* const> devices, const SearchBase& base, std::size_t k,
                       Metric metric, const SearchOptions& options) {
  detail::check_graph(base, k);
  const std::size_t rows = base.rows();
  SearchResult out;
  out.knn = {.rows = rows, .k = k};
  if (rows == 0) return out;
  // Past the base's rows a search only pads: search for what there is and pad here.
  const std::size_t searched_k = std::min(k + 1, rows);
  const detail::RowSource source = detail::row_source(base);
  const std::size_t block =
      std::max<std::size_t>(detail::widened_block_bytes / (base.dim() * sizeof(float)), 1);
  std::vector<float> scratch;
  for (std::size_t first = 0; first < rows; first += block) {
    const std::size_t count = std::min(block, rows - first);
    const MatrixView<const float> queries =
        detail::query_rows(source, base.first_row() + first, count, scratch);
    detail::check_rows(queries, metric, base.first_row() + first);
    SearchResult part = search(devices, base, queries, searched_k, metric, options);
    KnnResult graph =
        drop_self(detail::padded(std::move(part.knn), k + 1, metric), k, base.first_row() + first);
    if (count == rows) {
      out.knn = std::move(graph);
    } else {
      out.knn.labels.insert(out.knn.labels.end(), graph.labels.begin(), graph.labels.end());
      out.knn.distances.insert(out.knn.distances.end(), graph.distances.begin(),
                               graph.distances.end());
      out.knn.second_pass_queries += graph.second_pass_queries;
      out.knn.direct_pass_queries += graph.direct_pass_queries;
    }
    out.plan = std::move(part.plan);
    out.passes += part.passes;
    out.upload_time += part.upload_time;
    out.search_time += part.search_time;
  }
  return out;
}

SearchResult knn_graph(Context& context, const SearchBase& base, std::size_t k, Metric metric,
                       const SearchOptions& options) {
  Context* const devices[] = {&context};
  return knn_graph(devices, base, k, metric, options);
}

}  // namespace vecaccel
