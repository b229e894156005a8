// Host and encode forms of the vector-search primitives.
#include <algorithm>
#include <limits>
#include <string>
#include <type_traits>

#include "kernels.hpp"
#include "knn_engine.hpp"
#include "row_staging.hpp"
#include "select_rows.hpp"
#include "streamed_search.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::ops {
namespace {

std::size_t rows_of(std::span<const float> values, std::size_t dim, std::string_view what) {
  if (dim == 0) throw Error(Errc::invalid_argument, "dimension must be at least 1");
  if (values.size() % dim != 0) {
    throw Error(Errc::invalid_argument,
                std::string(what) + " hold " + std::to_string(values.size()) +
                    " floats, not a multiple of the dimension " + std::to_string(dim));
  }
  return values.size() / dim;
}

/// Base vectors on the GPU in engine chunks.
std::vector<detail::BaseChunk> upload_base(const detail::KnnEngine& engine,
                                           std::span<const float> base, std::size_t dim) {
  std::vector<detail::BaseChunk> chunks;
  const std::size_t n = base.size() / dim;
  for (std::size_t r0 = 0; r0 < n; r0 += engine.chunk_rows()) {
    const std::size_t rows = std::min(engine.chunk_rows(), n - r0);
    chunks.push_back(engine.make_chunk(rows));
    engine.append(chunks.back(), base.subspan(r0 * dim, rows * dim));
  }
  return chunks;
}

std::uint32_t u32(std::size_t v, std::string_view what) {
  if (v > std::numeric_limits<std::uint32_t>::max()) {
    throw Error(Errc::invalid_argument,
                std::string(what) + " of " + std::to_string(v) + " exceeds 2^32-1");
  }
  return static_cast<std::uint32_t>(v);
}

void check_range(const Buffer& buffer, std::uint64_t offset, std::uint64_t bytes,
                 std::string_view what) {
  if (!buffer.valid() || offset > buffer.size() || bytes > buffer.size() - offset) {
    throw Error(Errc::invalid_argument, std::string(what) + ": needs " + std::to_string(bytes) +
                                            " bytes at offset " + std::to_string(offset) +
                                            ", the buffer holds " + std::to_string(buffer.size()));
  }
  if (offset % sizeof(float) != 0) {
    throw Error(Errc::invalid_argument, std::string(what) + ": offset " + std::to_string(offset) +
                                            " is not a multiple of 4");
  }
}

}  // namespace

KnnResult knn(Context& context, std::span<const float> queries, std::span<const float> base,
              std::size_t dim, std::size_t k, Metric metric, const ExecuteOptions& options) {
  rows_of(queries, dim, "queries");
  rows_of(base, dim, "base vectors");
  detail::KnnEngine engine(context, dim, metric);
  engine.check_base(base, 0);
  const auto chunks = upload_base(engine, base, dim);
  return engine.search(queries, chunks, k, options);
}

KnnResult knn(Context& context, MatrixView<const float> queries, MatrixView<const float> base,
              std::size_t k, Metric metric, const ExecuteOptions& options) {
  detail::check_same_dim(queries.dim(), base.dim(), "queries", "the base");
  return knn(context, queries.data(), base.data(), base.dim(), k, metric, options);
}

KnnResult knn(Context& context, std::span<const float> queries, std::span<const float> base,
              std::size_t dim, std::size_t k, Metric metric, const IdFilter& filter,
              const ExecuteOptions& options) {
  rows_of(queries, dim, "queries");
  const std::size_t rows = rows_of(base, dim, "base vectors");
  detail::KnnEngine engine(context, dim, metric);
  engine.check_base(base, 0);
  const auto chunks = upload_base(engine, base, dim);
  const auto allowed = detail::RowFilter::of_positions(filter, rows, 0);
  return engine.search(queries, chunks, k, options, &allowed);
}

KnnResult knn(Context& context, MatrixView<const float> queries, MatrixView<const float> base,
              std::size_t k, Metric metric, const IdFilter& filter, const ExecuteOptions& options) {
  detail::check_same_dim(queries.dim(), base.dim(), "queries", "the base");
  return knn(context, queries.data(), base.data(), base.dim(), k, metric, filter, options);
}

namespace {

template <class T>
KnnResult compact_knn(Context& context, std::span<const float> queries, std::span<const T> base,
                      std::size_t dim, std::size_t k, Metric metric, const StreamOptions& options) {
  if (dim == 0 || base.size() % dim != 0) {
    throw Error(Errc::invalid_argument, "base vectors hold " + std::to_string(base.size()) +
                                            " values, not a multiple of the dimension " +
                                            std::to_string(dim));
  }
  const detail::RowSource source{
      .type = std::is_same_v<T, std::uint8_t> ? ElementType::uint8 : ElementType::int8,
      .dim = dim,
      .bytes = std::as_bytes(base)};
  return detail::streamed_knn(context, source, queries, k, metric, options);
}

}  // namespace

KnnResult knn(Context& context, std::span<const float> queries, const MappedVectors& base,
              std::size_t k, Metric metric, const StreamOptions& options) {
  const detail::RowSource source{.type = base.element_type(), .dim = base.dim(), .mapped = &base};
  if (base.dim() == 0) {
    throw Error(Errc::invalid_argument,
                base.path().string() + ": holds no vectors, so its dimension is unknown");
  }
  return detail::streamed_knn(context, source, queries, k, metric, options);
}

KnnResult knn(Context& context, MatrixView<const float> queries, const MappedVectors& base,
              std::size_t k, Metric metric, const StreamOptions& options) {
  detail::check_same_dim(queries.dim(), base.dim(), "queries", base.path().string());
  return knn(context, queries.data(), base, k, metric, options);
}

KnnResult knn(Context& context, std::span<const float> queries, std::span<const std::uint8_t> base,
              std::size_t dim, std::size_t k, Metric metric, const StreamOptions& options) {
  return compact_knn(context, queries, base, dim, k, metric, options);
}

KnnResult knn(Context& context, std::span<const float> queries, std::span<const std::int8_t> base,
              std::size_t dim, std::size_t k, Metric metric, const StreamOptions& options) {
  return compact_knn(context, queries, base, dim, k, metric, options);
}

std::vector<float> distances(Context& context, std::span<const float> queries,
                             std::span<const float> base, std::size_t dim, Metric metric) {
  const std::size_t nq = rows_of(queries, dim, "queries");
  const std::size_t nb = rows_of(base, dim, "base vectors");
  detail::check_finite(queries, dim, "query");
  detail::check_finite(base, dim, "base");
  std::vector<float> out(nq * nb);
  if (nq == 0 || nb == 0) return out;
  detail::KnnEngine engine(context, dim, metric);
  const auto chunks = upload_base(engine, base, dim);
  Device device = context.device();
  const std::uint64_t range = device.capabilities().max_storage_buffer_range;
  std::size_t b0 = 0;
  for (const auto& chunk : chunks) {
    const std::size_t batch = std::max<std::size_t>(
        1, std::min({nq, range / (dim * sizeof(float)), range / (chunk.rows * sizeof(float))}));
    for (std::size_t q0 = 0; q0 < nq; q0 += batch) {
      const std::size_t qb = std::min(batch, nq - q0);
      BufferToken q = context.get_buffer(queries.subspan(q0 * dim, qb * dim));
      BufferToken qn = context.get_buffer(qb * sizeof(float));
      BufferToken d = context.get_buffer(qb * chunk.rows * sizeof(float));
      context
          .execute([&](CommandBuffer&, ComputeEncoder& e) {
            detail::encode_row_norms(device, e, q.buffer(), 0, u32(qb, "rows"), u32(dim, "dim"),
                                     qn.buffer(), 0);
            e.barrier({qn.buffer()}, Stage::dispatch, Stage::dispatch);
            detail::encode_distances(device, e,
                                     {.queries = q.buffer(),
                                      .base = chunk.vectors,
                                      .query_norms = qn.buffer(),
                                      .base_norms = chunk.norms,
                                      .out = d.buffer(),
                                      .num_queries = u32(qb, "rows"),
                                      .num_base = u32(chunk.rows, "rows"),
                                      .dim = u32(dim, "dim"),
                                      .out_stride = u32(chunk.rows, "rows"),
                                      .metric = metric});
          })
          .wait();
      const auto tile = d.read<float>(qb * chunk.rows);
      for (std::size_t r = 0; r < qb; ++r) {
        std::copy_n(tile.begin() + static_cast<std::ptrdiff_t>(r * chunk.rows), chunk.rows,
                    out.begin() + static_cast<std::ptrdiff_t>((q0 + r) * nb + b0));
      }
    }
    b0 += chunk.rows;
  }
  return out;
}

namespace {

/// top_k for k above what one workgroup's shared memory sorts: radix selection with many
/// workgroups per row, then a sort of the selected in global memory.
void top_k_many(Context& context, std::span<const float> values, std::size_t cols, bool largest,
                KnnResult& result) {
  Device device = context.device();
  const auto& caps = device.capabilities();
  const std::uint64_t range = caps.max_storage_buffer_range;
  const auto kk = u32(result.k, "k");
  const std::uint32_t width = detail::sorted_width(kk);
  if (std::uint64_t{width} * sizeof(double) > range) {
    throw Error(Errc::invalid_argument, "top_k: k = " + std::to_string(kk) + " sorts " +
                                            std::to_string(width * 8ull) +
                                            " bytes a row, above the device's storage-buffer "
                                            "range of " +
                                            std::to_string(range));
  }
  std::size_t batch = std::max<std::size_t>(
      1, std::min({result.rows, range / (std::max<std::size_t>(cols, 1) * sizeof(float)),
                   range / (std::uint64_t{width} * sizeof(double)), std::size_t{4096}}));
  while (batch > 1 && detail::row_select_state_bytes(caps, u32(batch, "rows"), cols, kk) > range)
    batch /= 2;
  for (std::size_t r0 = 0; r0 < result.rows; r0 += batch) {
    const std::size_t rb = std::min(batch, result.rows - r0);
    BufferToken in = context.get_buffer(values.subspan(r0 * cols, rb * cols));
    BufferToken selected_values = context.get_buffer(rb * kk * sizeof(float));
    BufferToken selected_labels = context.get_buffer(rb * kk * sizeof(float));
    BufferToken state =
        context.get_buffer(detail::row_select_state_bytes(caps, u32(rb, "rows"), cols, kk));
    BufferToken sort_keys = context.get_buffer(rb * width * sizeof(double));
    BufferToken sort_labels = context.get_buffer(rb * width * sizeof(std::uint32_t));
    BufferToken out_values = context.get_buffer(rb * kk * sizeof(float));
    BufferToken out_labels = context.get_buffer(rb * kk * sizeof(float));
    context
        .execute([&](CommandBuffer&, ComputeEncoder& e) {
          detail::encode_row_select(device, e,
                                    {.b_values = in.buffer(),
                                     .b_cols = u32(cols, "cols"),
                                     .b_stride = u32(cols, "cols"),
                                     .rows = u32(rb, "rows"),
                                     .k = kk,
                                     .largest = largest,
                                     .out_values = selected_values.buffer(),
                                     .out_labels = selected_labels.buffer(),
                                     .out_stride = kk,
                                     .state = state.buffer()});
          e.barrier({selected_values.buffer(), selected_labels.buffer()}, Stage::dispatch,
                    Stage::dispatch);
          detail::encode_sort_pairs(device, e,
                                    {.keys = selected_values.buffer(),
                                     .labels = selected_labels.buffer(),
                                     .float_keys = true,
                                     .rows = u32(rb, "rows"),
                                     .count = kk,
                                     .stride = kk,
                                     .k = kk,
                                     .largest = largest,
                                     .sort_keys = sort_keys.buffer(),
                                     .sort_labels = sort_labels.buffer(),
                                     .out_values = out_values.buffer(),
                                     .out_labels = out_labels.buffer()});
        })
        .wait();
    const auto v = out_values.read<float>(rb * kk);
    const auto l = out_labels.read<std::int32_t>(rb * kk);
    std::copy(v.begin(), v.end(), result.distances.begin() + static_cast<std::ptrdiff_t>(r0 * kk));
    std::copy(l.begin(), l.end(), result.labels.begin() + static_cast<std::ptrdiff_t>(r0 * kk));
  }
}

}  // namespace

KnnResult top_k(Context& context, std::span<const float> values, std::size_t rows, std::size_t cols,
                std::size_t k, bool largest) {
  detail::check_k(k, "top_k");
  if (values.size() != rows * cols) {
    throw Error(Errc::invalid_argument, "top_k: " + std::to_string(values.size()) +
                                            " values for a " + std::to_string(rows) + " x " +
                                            std::to_string(cols) + " matrix");
  }
  KnnResult result{rows, k, std::vector<float>(rows * k), std::vector<std::int64_t>(rows * k)};
  if (rows == 0) return result;
  Device device = context.device();
  if (k > detail::max_screen_candidates(device.capabilities())) {
    top_k_many(context, values, cols, largest, result);
    return result;
  }
  const std::uint64_t range = device.capabilities().max_storage_buffer_range;
  const auto kk = static_cast<std::uint32_t>(k);
  const std::uint32_t segment = detail::default_segment_length(kk);
  const std::size_t segments = std::max<std::size_t>(1, (cols + segment - 1) / segment);
  const std::size_t cand_stride = segments * k;
  const std::size_t batch = std::max<std::size_t>(
      1, std::min({rows, range / (std::max<std::size_t>(cols, 1) * sizeof(float)),
                   range / (cand_stride * sizeof(float)), std::size_t{65535}}));
  for (std::size_t r0 = 0; r0 < rows; r0 += batch) {
    const std::size_t rb = std::min(batch, rows - r0);
    BufferToken in = context.get_buffer(values.subspan(r0 * cols, rb * cols));
    BufferToken cand_values = context.get_buffer(rb * cand_stride * sizeof(float));
    BufferToken cand_labels = context.get_buffer(rb * cand_stride * sizeof(float));
    BufferToken out_values = context.get_buffer(rb * k * sizeof(float));
    BufferToken out_labels = context.get_buffer(rb * k * sizeof(float));
    context
        .execute([&](CommandBuffer&, ComputeEncoder& e) {
          detail::encode_select(device, e,
                                {.values = in.buffer(),
                                 .rows = u32(rb, "rows"),
                                 .cols = u32(cols, "cols"),
                                 .in_stride = u32(cols, "cols"),
                                 .segment_length = segment,
                                 .k = kk,
                                 .largest = largest,
                                 .out_values = cand_values.buffer(),
                                 .out_labels = cand_labels.buffer(),
                                 .out_stride = u32(cand_stride, "candidates")});
          e.barrier({cand_values.buffer(), cand_labels.buffer()}, Stage::dispatch, Stage::dispatch);
          detail::encode_select(device, e,
                                {.values = cand_values.buffer(),
                                 .labels = cand_labels.buffer(),
                                 .rows = u32(rb, "rows"),
                                 .cols = u32(cand_stride, "candidates"),
                                 .in_stride = u32(cand_stride, "candidates"),
                                 .k = kk,
                                 .largest = largest,
                                 .out_values = out_values.buffer(),
                                 .out_labels = out_labels.buffer(),
                                 .out_stride = kk});
        })
        .wait();
    const auto v = out_values.read<float>(rb * k);
    const auto l = out_labels.read<std::int32_t>(rb * k);
    std::copy(v.begin(), v.end(), result.distances.begin() + static_cast<std::ptrdiff_t>(r0 * k));
    std::copy(l.begin(), l.end(), result.labels.begin() + static_cast<std::ptrdiff_t>(r0 * k));
  }
  return result;
}

void encode_row_norms(Context& context, ComputeEncoder& encoder, const MatrixRef& matrix,
                      const Buffer& norms, std::uint64_t norms_offset) {
  check_range(matrix.buffer, matrix.offset, matrix.rows * matrix.cols * sizeof(float),
              "row norms input");
  check_range(norms, norms_offset, matrix.rows * sizeof(float), "row norms output");
  Device device = context.device();
  detail::encode_row_norms(device, encoder, matrix.buffer, u32(matrix.offset / 4, "offset"),
                           u32(matrix.rows, "rows"), u32(matrix.cols, "cols"), norms,
                           u32(norms_offset / 4, "offset"));
}

void encode_distances(Context& context, ComputeEncoder& encoder, const MatrixRef& queries,
                      const MatrixRef& base, const Buffer& query_norms, const Buffer& base_norms,
                      Metric metric, const MatrixRef& out) {
  if (queries.cols != base.cols || queries.cols == 0) {
    throw Error(Errc::invalid_argument, "distances: query dimension " +
                                            std::to_string(queries.cols) + " and base dimension " +
                                            std::to_string(base.cols) +
                                            " must be equal and above 0");
  }
  if (out.rows != queries.rows || out.cols != base.rows) {
    throw Error(Errc::invalid_argument, "distances: output is " + std::to_string(out.rows) + " x " +
                                            std::to_string(out.cols) + ", needs " +
                                            std::to_string(queries.rows) + " x " +
                                            std::to_string(base.rows));
  }
  if (queries.offset % (queries.cols * 4) != 0 || base.offset % (base.cols * 4) != 0) {
    throw Error(Errc::invalid_argument, "distances: matrix offsets must be whole rows");
  }
  check_range(queries.buffer, queries.offset, queries.rows * queries.cols * 4, "distances queries");
  check_range(base.buffer, base.offset, base.rows * base.cols * 4, "distances base");
  check_range(out.buffer, out.offset, out.rows * out.cols * 4, "distances output");
  if (metric == Metric::l2 || metric == Metric::cosine) {
    check_range(query_norms, queries.offset / queries.cols, queries.rows * 4, "query norms");
    check_range(base_norms, base.offset / base.cols, base.rows * 4, "base norms");
  }
  Device device = context.device();
  const Buffer& qn = query_norms.valid() ? query_norms : queries.buffer;
  const Buffer& bn = base_norms.valid() ? base_norms : base.buffer;
  detail::encode_distances(device, encoder,
                           {.queries = queries.buffer,
                            .base = base.buffer,
                            .query_norms = qn,
                            .base_norms = bn,
                            .out = out.buffer,
                            .num_queries = u32(queries.rows, "rows"),
                            .num_base = u32(base.rows, "rows"),
                            .dim = u32(queries.cols, "dim"),
                            .query_offset = u32(queries.offset / (queries.cols * 4), "offset"),
                            .base_offset = u32(base.offset / (base.cols * 4), "offset"),
                            .out_stride = u32(out.cols, "cols"),
                            .out_offset = u32(out.offset / 4, "offset"),
                            .metric = metric});
}

void encode_top_k(Context& context, ComputeEncoder& encoder, const MatrixRef& values, std::size_t k,
                  bool largest, const Buffer& out_values, const Buffer& out_labels) {
  detail::check_k(k, "encode_top_k");
  check_range(values.buffer, values.offset, values.rows * values.cols * 4, "top_k input");
  check_range(out_values, 0, values.rows * k * 4, "top_k values output");
  check_range(out_labels, 0, values.rows * k * 4, "top_k labels output");
  Device device = context.device();
  const std::uint32_t limit = detail::max_screen_candidates(device.capabilities());
  if (k > limit) {
    throw Error(Errc::invalid_argument,
                "encode_top_k: k = " + std::to_string(k) + " is above the " +
                    std::to_string(limit) +
                    " one workgroup sorts on this device (its form has no working memory); "
                    "top_k takes any k");
  }
  // One workgroup per row: no scratch buffer, so the caller's encoder needs nothing else.
  detail::encode_select(device, encoder,
                        {.values = values.buffer,
                         .rows = u32(values.rows, "rows"),
                         .cols = u32(values.cols, "cols"),
                         .in_stride = u32(values.cols, "cols"),
                         .in_offset = u32(values.offset / 4, "offset"),
                         .segment_length = 0,
                         .k = static_cast<std::uint32_t>(k),
                         .largest = largest,
                         .out_values = out_values,
                         .out_labels = out_labels,
                         .out_stride = static_cast<std::uint32_t>(k)});
}

std::vector<float> distances(Context& context, MatrixView<const float> queries,
                             MatrixView<const float> base, Metric metric) {
  detail::check_same_dim(queries.dim(), base.dim(), "queries", "the base");
  return distances(context, queries.data(), base.data(), base.dim(), metric);
}

}  // namespace vecaccel::ops
