#include "knn_engine.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <limits>
#include <string>

#include "batch_host.hpp"
#include "certificate.hpp"
#include "integer_screen.hpp"
#include "kernels.hpp"
#include "knn_batch.hpp"
#include "knn_result.hpp"
#include "row_staging.hpp"
#include "screen_norms.hpp"
#include "util/settings.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

/// Buffers of a KnnScratch (its residency set's capacity).
constexpr std::size_t scratch_buffers = 22;

/// Rows of a base chunk at most (labels are 32-bit on the GPU; chunks stay manageable).
constexpr std::size_t max_chunk_rows = std::size_t{1} << 22;

std::uint32_t u32(std::size_t v, std::string_view what) {
  if (v > std::numeric_limits<std::uint32_t>::max()) {
    throw Error(Errc::invalid_argument, std::string(what) + " of " + std::to_string(v) +
                                            " exceeds the 32-bit limit of the kernels");
  }
  return static_cast<std::uint32_t>(v);
}

/// The least precise screen the planner may pick (VECACCEL_KNN_SCREEN, util/settings.hpp):
/// a diagnostic for comparing screens; results are exact either way.
ScreenPrecision least_precise_screen() {
  switch (knn_screen_setting()) {
    case LeastPreciseScreen::float32:
      return ScreenPrecision::float32;
    case LeastPreciseScreen::float16x3:
      return ScreenPrecision::float16x3;
    case LeastPreciseScreen::float16:
      return ScreenPrecision::float16;
    case LeastPreciseScreen::float16_copies:
      return ScreenPrecision::half_copies;
  }
  return ScreenPrecision::float16;
}

/// Each search's phases printed to stderr (VECACCEL_KNN_TRACE): where a search's time goes.
bool trace_enabled() {
  static const bool enabled = knn_trace_setting();
  return enabled;
}

const char* precision_name(ScreenPrecision p) {
  // In ScreenPrecision's order.
  static constexpr const char* names[] = {"float32",      "float16",        "float16x3",
                                          "float16-copy", "float16-copies", "float32-direct",
                                          "integer"};
  return names[static_cast<std::size_t>(p)];
}

const char* selection_name(const KnnPlan& plan) {
  if (plan.fused) return "fused";
  if (plan.row_select) return plan.global_sort ? "row-radix+global-sort" : "row-radix";
  return plan.radix ? "radix" : "tile+select";
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

KnnEngine::KnnEngine(Context& context, std::size_t dim, Metric metric)
    : context_(context), dim_(dim), metric_(metric) {
  if (dim == 0) throw Error(Errc::invalid_argument, "dimension must be at least 1");
  const auto& caps = context.device().capabilities();
  const std::uint64_t row_bytes = dim * sizeof(float);
  chunk_rows_ = std::min<std::uint64_t>(caps.max_storage_buffer_range / row_bytes, max_chunk_rows);
  chunk_rows_ =
      std::min<std::uint64_t>(chunk_rows_, std::numeric_limits<std::uint32_t>::max() / dim);
  if (chunk_rows_ == 0) {
    throw Error(Errc::invalid_argument,
                "dimension " + std::to_string(dim) +
                    ": one vector exceeds the device's storage buffer range of " +
                    std::to_string(caps.max_storage_buffer_range) + " bytes");
  }
}

BaseChunk KnnEngine::make_chunk(std::size_t capacity, bool half_copy,
                                std::shared_ptr<const RowCentre> centre) const {
  capacity = std::clamp<std::size_t>(capacity, 1, chunk_rows_);
  if (half_copy && !half_copy_supported(context_.device().capabilities(), u32(dim_, "dimension"))) {
    throw Error(Errc::invalid_argument,
                "a float16 copy of rows of dimension " + std::to_string(dim_) +
                    " (it needs a multiple of 4 and subgroups of 4 or more)");
  }
  auto factory = context_.buffer_factory();
  const auto make = [&](std::uint64_t size, const char* label) {
    Buffer buffer =
        factory.make_buffer({.size = size, .storage = StorageMode::private_, .label = label});
    context_.residency_manager().register_buffer(buffer, ResidencyMode::persistent);
    return buffer;
  };
  BaseChunk chunk;
  chunk.vectors = make(capacity * dim_ * sizeof(float), "base vectors");
  chunk.norms = make(capacity * sizeof(float), "base norms");
  if (half_copy) {
    chunk.halves = make(capacity * dim_ * 2, "base float16 copy");
    chunk.half_scales = make(capacity * sizeof(float), "base float16 scales");
    chunk.half_errors = make(capacity * sizeof(float), "base float16 errors");
    if (centre != nullptr && metric_ == Metric::l2) {
      chunk.centre = std::move(centre);
      chunk.centred_norms = make(capacity * sizeof(float), "base centred norms");
    }
  }
  chunk.capacity = capacity;
  context_.residency_manager().commit();
  return chunk;
}

void encode_chunk_halves(Device& device, ComputeEncoder& encoder, const BaseChunk& chunk,
                         std::size_t first, std::size_t rows, std::size_t dim) {
  if (!chunk.halves.valid() || rows == 0) return;
  encode_half_rows(
      device, encoder, chunk.vectors, u32(first, "offset"), u32(rows, "rows"),
      u32(dim, "dimension"), {chunk.halves, chunk.half_scales, chunk.half_errors},
      chunk.centre ? HalfRowsCentre{chunk.centre->buffer, chunk.centred_norms} : HalfRowsCentre{});
}

void read_half_errors(Context& context, BaseChunk& chunk, std::size_t first, std::size_t rows) {
  if (!chunk.half_errors.valid() || rows == 0) return;
  const std::uint64_t bytes = rows * sizeof(float);
  BufferToken readback = context.get_buffer(bytes);
  context.execute_and_wait(
      [&](CommandBuffer&, ComputeEncoder& encoder) {
        encoder.copy_buffer(chunk.half_errors, first * sizeof(float), readback.buffer(), 0, bytes);
      },
      without_time_limit());
  const std::vector<float> errors = readback.read<float>(rows);
  const float largest = *std::max_element(errors.begin(), errors.end());
  // NaN cannot come from finite rows; were it to, the a-priori bound takes over.
  const double measured = std::isnan(largest) ? INFINITY : double{largest};
  chunk.max_half_error = first == 0 ? measured : std::max(chunk.max_half_error, measured);
}

std::uint64_t KnnEngine::chunk_bytes(std::size_t capacity, bool half_copy) const {
  const std::uint64_t row = dim_ * sizeof(float) + sizeof(float);
  // A copy's scales and errors, and for l2 its centred rows' norms.
  const std::uint64_t per_row = sizeof(float) * (metric_ == Metric::l2 ? 3 : 2);
  return std::uint64_t{capacity} * (row + (half_copy ? dim_ * 2 + per_row : 0));
}

void KnnEngine::check_base(std::span<const float> vectors, std::size_t first_row) const {
  check_finite(vectors, dim_, "base", first_row);
  if (metric_ == Metric::cosine) return;  // rows are scaled when staged
  for (std::size_t r = 0; r < vectors.size() / dim_; ++r)
    check_squared_norm(row_norm(vectors.subspan(r * dim_, dim_)), metric_, "base", first_row + r);
}

void KnnEngine::append(BaseChunk& chunk, std::span<const float> vectors) const {
  const std::size_t n = vectors.size() / dim_;
  if (n == 0) return;
  if (chunk.rows + n > chunk.capacity) {
    throw Error(Errc::invalid_argument,
                "append of " + std::to_string(n) + " rows to a chunk holding " +
                    std::to_string(chunk.rows) + " of " + std::to_string(chunk.capacity));
  }
  BufferToken upload = context_.get_buffer(vectors.size_bytes());
  const std::vector<double> norms =
      stage_rows(vectors, upload.buffer().mapped(), dim_, metric_, "base", chunk.rows);
  Device device = context_.device();
  const std::uint64_t at = chunk.rows * dim_ * sizeof(float);
  context_
      .execute(
          [&](CommandBuffer&, ComputeEncoder& encoder) {
            encoder.copy_buffer(upload.buffer(), 0, chunk.vectors, at, vectors.size_bytes());
            encoder.barrier({chunk.vectors}, Stage::blit, Stage::dispatch);
            encode_row_norms(device, encoder, chunk.vectors, u32(chunk.rows * dim_, "offset"),
                             u32(n, "rows"), u32(dim_, "dimension"), chunk.norms,
                             u32(chunk.rows, "offset"));
            encode_chunk_halves(device, encoder, chunk, chunk.rows, n, dim_);
          },
          without_time_limit())
      .wait();
  read_half_errors(context_, chunk, chunk.rows, n);
  double centred = 0.0;
  if (chunk.centre) {
    for (std::size_t r = 0; r < n; ++r)
      centred =
          std::max(centred, centred_norm(vectors.subspan(r * dim_, dim_), chunk.centre->values));
  }
  chunk.rows += n;
  chunk.note_norms(*std::max_element(norms.begin(), norms.end()), centred);
}

BaseChunk KnnEngine::grow(const BaseChunk& chunk, std::size_t new_capacity) const {
  BaseChunk bigger = make_chunk(new_capacity, chunk.halves.valid(), chunk.centre);
  if (chunk.rows > 0) {
    context_
        .execute(
            [&](CommandBuffer&, ComputeEncoder& encoder) {
              encoder.copy_buffer(chunk.vectors, 0, bigger.vectors, 0,
                                  chunk.rows * dim_ * sizeof(float));
              encoder.copy_buffer(chunk.norms, 0, bigger.norms, 0, chunk.rows * sizeof(float));
              if (chunk.halves.valid()) {
                encoder.copy_buffer(chunk.halves, 0, bigger.halves, 0, chunk.rows * dim_ * 2);
                encoder.copy_buffer(chunk.half_scales, 0, bigger.half_scales, 0,
                                    chunk.rows * sizeof(float));
                encoder.copy_buffer(chunk.half_errors, 0, bigger.half_errors, 0,
                                    chunk.rows * sizeof(float));
              }
              if (chunk.centred_norms.valid()) {
                encoder.copy_buffer(chunk.centred_norms, 0, bigger.centred_norms, 0,
                                    chunk.rows * sizeof(float));
              }
            },
            without_time_limit())
        .wait();
  }
  bigger.rows = chunk.rows;
  bigger.note_norms(chunk.max_norm, chunk.max_centred_norm);
  bigger.max_half_error = chunk.max_half_error;
  return bigger;
}

namespace {

/// The exact top k of one query from values of every base row (the direct path).
struct Ranked {
  double key;  // the value, negated where larger is better: smaller keys rank first
  std::int64_t label;
  bool operator<(const Ranked& other) const {
    return key < other.key || (key == other.key && label < other.label);
  }
};

}  // namespace

KnnResult KnnEngine::search(std::span<const float> queries, std::span<const BaseChunk> chunks,
                            std::size_t k, const ExecuteOptions& options,
                            const RowFilter* filter) const {
  if (queries.size() % dim_ != 0) {
    throw Error(Errc::invalid_argument, "queries hold " + std::to_string(queries.size()) +
                                            " floats, not a multiple of the dimension " +
                                            std::to_string(dim_));
  }
  const std::size_t nq = queries.size() / dim_;
  std::size_t total = 0;
  bool half_copy = false;
  for (const auto& c : chunks) {
    total += c.rows;
    half_copy = half_copy || c.halves.valid();
  }
  check_k(k, "kNN search");
  if (filter != nullptr) {
    if (filter->rows() != total) {
      throw Error(Errc::invalid_argument, "kNN search: a filter of " +
                                              std::to_string(filter->rows()) + " rows over " +
                                              std::to_string(total) + " base rows");
    }
    if (filter->allowed() == total) return search(queries, chunks, k, options);
    if (filter->allowed() == 0) {
      check_finite(queries, dim_, "query");
      return padded_result(nq, k, metric_);
    }
    if (gather_allowed_rows(*filter)) return search_gathered(queries, chunks, k, options, *filter);
  }
  // Past the base's rows a result is padding: search for the rows there are, then pad.
  if (total > 0 && k > total)
    return widened(search(queries, chunks, total, options, filter), k, metric_);
  const auto& caps = context_.device().capabilities();
  const KnnShape shape{.base_rows = total,
                       .dim = dim_,
                       .queries = nq,
                       .k = k,
                       .metric = metric_,
                       .chunk_rows = chunk_rows_,
                       .least_precise = least_precise_screen(),
                       .half_copy = half_copy,
                       .integer_rows = integer_rows(caps, dim_, queries, chunks)};
  const KnnPlan plan = plan_knn(shape, caps);
  if (nq == 0 || total == 0) {
    check_finite(queries, dim_, "query");
    return padded_result(nq, k, metric_);
  }
  u32(total, "base rows");
  if (!caps.shader_float64) {
    throw Error(Errc::unsupported,
                "exact kNN re-ranks in float64 and the device has no shaderFloat64");
  }
  const Deadline deadline = Deadline::after(options.timeout, options.stop);
  std::optional<Mask> mask;
  if (filter != nullptr) {
    mask.emplace(Mask{*filter, context_.get_buffer(filter->words().size_bytes())});
    mask->words.write(filter->words());
  }
  const Mask* masked = mask ? &*mask : nullptr;

  const auto allocating = std::chrono::steady_clock::now();
  KnnResult result = reserved_result(nq, k);
  const double allocate_ms = ms_since(allocating);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::size_t> uncertified =
      screened_search(queries, chunks, k, plan, deadline, result, masked);
  result.second_pass_queries = uncertified.size();
  const double screen_ms = ms_since(start);
  for (auto tried = more_precise_screen(plan.precision, metric_);
       !uncertified.empty() && tried.has_value(); tried = more_precise_screen(*tried, metric_)) {
    uncertified =
        rescreen(queries, chunks, k, shape, *tried, uncertified, deadline, result, masked);
  }
  result.direct_pass_queries = uncertified.size();
  const double rescreen_ms = ms_since(start) - screen_ms;
  if (!uncertified.empty())
    search_direct(queries, chunks, k, uncertified, result, deadline, masked);
  if (trace_enabled()) {
    std::fprintf(stderr,
                 "vecaccel knn: N=%zu d=%zu Q=%zu k=%zu %s: %s screen, k'=%u, batch %zu, %s "
                 "%.3f ms; %zu uncertified, re-screen %.3f ms; %zu direct, %.3f ms; result "
                 "buffers %.3f ms\n",
                 total, dim_, nq, k, std::string(to_string(metric_)).c_str(),
                 precision_name(plan.precision), plan.screen_k, plan.batch, selection_name(plan),
                 screen_ms, result.second_pass_queries, rescreen_ms, result.direct_pass_queries,
                 ms_since(start) - screen_ms - rescreen_ms, allocate_ms);
  }
  return result;
}

std::vector<std::size_t> KnnEngine::rescreen(std::span<const float> queries,
                                             std::span<const BaseChunk> chunks, std::size_t k,
                                             KnnShape shape, ScreenPrecision precision,
                                             std::span<const std::size_t> rows,
                                             const Deadline& deadline, KnnResult& result,
                                             const Mask* mask) const {
  std::vector<float> subset(rows.size() * dim_);
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy_n(queries.begin() + static_cast<std::ptrdiff_t>(rows[i] * dim_), dim_,
                subset.begin() + static_cast<std::ptrdiff_t>(i * dim_));
  shape.queries = rows.size();
  shape.least_precise = precision;
  const KnnPlan plan = plan_knn(shape, context_.device().capabilities());
  KnnResult again = reserved_result(rows.size(), k);
  std::vector<std::size_t> still = screened_search(subset, chunks, k, plan, deadline, again, mask);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto from = static_cast<std::ptrdiff_t>(i * k);
    const auto to = static_cast<std::ptrdiff_t>(rows[i] * k);
    std::copy_n(again.distances.begin() + from, k, result.distances.begin() + to);
    std::copy_n(again.labels.begin() + from, k, result.labels.begin() + to);
  }
  for (std::size_t& r : still)
    r = rows[r];
  return still;
}

std::vector<std::size_t> KnnEngine::screened_search(std::span<const float> queries,
                                                    std::span<const BaseChunk> chunks,
                                                    std::size_t k, const KnnPlan& plan,
                                                    const Deadline& deadline, KnnResult& result,
                                                    const Mask* mask) const {
  const std::size_t nq = queries.size() / dim_;
  const ScreenNorms norms = screen_norms(chunks, metric_, plan.precision);
  std::size_t total = 0;
  for (const auto& c : chunks)
    total += c.rows;
  Device device = context_.device();
  const std::uint32_t kk = plan.screen_k;
  const std::uint32_t dim = u32(dim_, "dimension");
  const std::vector<Tile> tiles =
      plan_tiles(chunks, plan.first_cols, static_cast<std::uint32_t>(plan.tile_cols),
                 /*span_chunks=*/!plan.fused);
  std::vector<std::uint32_t> chunk_labels;  // global label of each chunk's first row
  for (std::size_t i = 0, label = 0; i < chunks.size(); label += chunks[i].rows, ++i)
    chunk_labels.push_back(static_cast<std::uint32_t>(label));

  std::vector<std::size_t> uncertified;
  const bool half_copies = plan.precision == ScreenPrecision::half_copies;
  // Up to two batches in flight, each with its own scratch: while the GPU runs one, the host
  // stages the next and reads the previous one's results.
  struct InFlight {
    Submission<void> done;
    BufferToken readback;
    std::unique_ptr<Scratch> scratch;
    std::size_t q0;
    std::uint32_t qb;
    std::vector<double> query_norms;
    std::vector<double> centred_query_norms;  // with norms.centre
  };
  std::deque<InFlight> in_flight;
  std::int64_t gpu_ns = 0;  // the trace's: each batch's command buffer (enable_profiling)
  // The trace's host side: waiting for the GPU, staging and recording, reading back.
  double wait_ms = 0.0, stage_ms = 0.0, read_ms = 0.0;
  const auto started = std::chrono::steady_clock::now();
  const auto finish_oldest = [&] {
    InFlight& f = in_flight.front();
    const auto waiting = std::chrono::steady_clock::now();
    deadline.wait(f.done, "kNN search of " + std::to_string(nq) + " queries");
    wait_ms += ms_since(waiting);
    const auto reading = std::chrono::steady_clock::now();
    if (trace_enabled()) gpu_ns += context_.performance_stats().last_gpu_time.count();
    const std::size_t n = std::size_t{f.qb} * k;
    copy_results(f.readback, n, f.q0 * k, result);
    const auto certificate = f.readback.read<double>(2 * std::size_t{f.qb}, 2 * n * sizeof(float));
    // The queries' float16 copies' measured errors, where the screen read them.
    const auto query_copy_errors =
        half_copies
            ? f.readback.read<float>(f.qb, 2 * n * sizeof(float) + 2 * sizeof(double) * f.qb)
            : std::vector<float>(f.qb, INFINITY);
    // Every row is a candidate when the base has no more (allowed) rows than the screen
    // proposes.
    if ((mask != nullptr ? mask->rows.allowed() : total) > kk) {
      for (std::uint32_t r = 0; r < f.qb; ++r) {
        const double bound = norms.bound(metric_, dim_, plan.precision, f.query_norms[r],
                                         norms.centre != nullptr ? f.centred_query_norms[r] : 0.0,
                                         certificate[2 * std::size_t{r} + 1], query_copy_errors[r]);
        if (!certified(metric_, certificate[2 * std::size_t{r}],
                       certificate[2 * std::size_t{r} + 1], bound))
          uncertified.push_back(f.q0 + r);
      }
    }
    give_back(std::move(f.scratch));
    in_flight.pop_front();
    read_ms += ms_since(reading);
  };
  // On an error, work already submitted keeps its scratch until it completes; the call
  // returns without waiting for it (a timeout must not turn into a hang).
  const auto abandon = [&] {
    for (InFlight& f : in_flight)
      retire(std::move(f.scratch), std::move(f.done), chunks);
    in_flight.clear();
  };
  try {
    for (std::size_t q0 = 0; q0 < nq; q0 += plan.batch) {
      deadline.check_stop(std::to_string(q0) + " of " + std::to_string(nq) + " queries");
      const auto staging = std::chrono::steady_clock::now();
      const std::uint32_t qb = static_cast<std::uint32_t>(std::min(plan.batch, nq - q0));
      // Host-visible staging only at the edges; the kernels touch device-local memory alone.
      // Checked while staged: a batch with NaN or Inf throws before any of its work is encoded
      // (earlier batches have run; their results are dropped with the exception).
      const auto batch_queries = queries.subspan(q0 * dim_, qb * dim_);
      const bool centred = norms.centre != nullptr;
      const bool integer = plan.precision == ScreenPrecision::integer;
      const std::size_t float_bytes = batch_queries.size_bytes() * (centred ? 2 : 1);
      const std::size_t byte_rows = integer ? integer_rows_bytes(qb, dim_) : 0;
      BufferToken upload = context_.get_buffer(float_bytes + byte_rows + (integer ? qb * 4 : 0));
      std::vector<double> query_norms(qb);
      std::vector<double> centred_query_norms(centred ? qb : 0);
      stage_queries(batch_queries, upload.buffer().mapped(), dim_, metric_, q0, norms.centre,
                    query_norms, centred_query_norms);
      if (integer) {
        stage_integer_rows(batch_queries, dim_, upload.buffer().mapped().subspan(float_bytes));
      }
      const std::uint64_t result_bytes = std::uint64_t{qb} * k * sizeof(float);
      const std::uint64_t certificate_bytes = std::uint64_t{qb} * 2 * sizeof(double);
      const std::uint64_t copy_error_bytes = half_copies ? std::uint64_t{qb} * sizeof(float) : 0;
      BufferToken readback =
          context_.get_buffer(2 * result_bytes + certificate_bytes + copy_error_bytes);
      const std::uint64_t mask_bytes = mask != nullptr ? mask->rows.words().size_bytes() : 0;
      std::unique_ptr<Scratch> scratch = take_scratch(plan, k, mask_bytes, centred);
      const Scratch& s = *scratch;
      ResidencySet& scratch_set = *scratch->residency;
      const BatchEncoding batch{.device = device,
                                .plan = plan,
                                .chunks = chunks,
                                .chunk_labels = chunk_labels,
                                .tiles = tiles,
                                .scratch = s,
                                .queries = qb,
                                .k = static_cast<std::uint32_t>(k),
                                .dim = dim,
                                .metric = metric_,
                                .masked = mask != nullptr,
                                .centre = norms.centre};
      Submission<void> done = context_.execute(
          [&](CommandBuffer& cb, ComputeEncoder& e) {
            cb.use_residency_set(scratch_set);
            e.copy_buffer(upload.buffer(), 0, s.queries, 0, batch_queries.size_bytes());
            if (centred) {
              e.copy_buffer(upload.buffer(), batch_queries.size_bytes(), s.centred_queries, 0,
                            batch_queries.size_bytes());
            }
            if (mask != nullptr) e.copy_buffer(mask->words.buffer(), 0, s.allowed, 0, mask_bytes);
            if (integer) {
              e.copy_buffer(upload.buffer(), float_bytes, s.query_bytes, 0, byte_rows);
              e.copy_buffer(upload.buffer(), float_bytes + byte_rows, s.query_byte_norms, 0,
                            std::uint64_t{qb} * 4);
            }
            e.barrier({s.queries, s.centred_queries, s.allowed, s.query_bytes, s.query_byte_norms},
                      Stage::blit, Stage::dispatch);
            encode_screen(e, batch);
            encode_exact_top_k(e, batch);
            e.barrier({s.final_values, s.final_labels, s.certificate, s.query_half_errors},
                      Stage::dispatch, Stage::blit);
            e.copy_buffer(s.final_values, 0, readback.buffer(), 0, result_bytes);
            e.copy_buffer(s.final_labels, 0, readback.buffer(), result_bytes, result_bytes);
            e.copy_buffer(s.certificate, 0, readback.buffer(), 2 * result_bytes, certificate_bytes);
            if (half_copies) {
              e.copy_buffer(s.query_half_errors, 0, readback.buffer(),
                            2 * result_bytes + certificate_bytes, copy_error_bytes);
            }
          },
          deadline.execute_options());
      in_flight.push_back({std::move(done), std::move(readback), std::move(scratch), q0, qb,
                           std::move(query_norms), std::move(centred_query_norms)});
      // The batch's result entries, touched (zeroed) while the GPU runs it.
      grow_result(result, (q0 + qb) * k);
      stage_ms += ms_since(staging);
      if (in_flight.size() == 2) finish_oldest();
    }
    while (!in_flight.empty())
      finish_oldest();
  } catch (...) {
    abandon();
    throw;
  }
  if (trace_enabled()) {
    std::fprintf(stderr,
                 "vecaccel knn:   %s pass over %zu queries in batches of %zu: %.3f ms, GPU %.3f ms "
                 "(with enable_profiling); host: staging and recording %.3f ms, waiting %.3f ms, "
                 "reading back %.3f ms\n",
                 precision_name(plan.precision), nq, plan.batch, ms_since(started),
                 static_cast<double>(gpu_ns) / 1e6, stage_ms, wait_ms, read_ms);
  }
  return uncertified;
}

void KnnEngine::search_direct(std::span<const float> queries, std::span<const BaseChunk> chunks,
                              std::size_t k, std::span<const std::size_t> rows, KnnResult& result,
                              const Deadline& deadline, const Mask* mask) const {
  Device device = context_.device();
  const auto& caps = device.capabilities();
  std::size_t widest = 1;
  for (const auto& c : chunks)
    widest = std::max(widest, c.rows);
  // Queries per pass: their float64 values against the widest chunk within one buffer.
  const std::uint64_t budget = std::min<std::uint64_t>(caps.max_storage_buffer_range, 256u << 20);
  const std::size_t group = std::clamp<std::size_t>(budget / (widest * sizeof(double)), 1, 1024);
  const double sign = smaller_is_better(metric_) ? 1.0 : -1.0;
  std::vector<float> staged(std::min(group, rows.size()) * dim_);
  for (std::size_t g0 = 0; g0 < rows.size(); g0 += group) {
    deadline.check_stop(std::to_string(g0) + " of " + std::to_string(rows.size()) +
                        " directly searched queries");
    const std::size_t g = std::min(group, rows.size() - g0);
    BufferToken upload = context_.get_buffer(g * dim_ * sizeof(float));
    for (std::size_t i = 0; i < g; ++i) {
      const auto row = queries.subspan(rows[g0 + i] * dim_, dim_);
      stage_rows(row, upload.buffer().mapped().subspan(i * dim_ * sizeof(float)), dim_, metric_,
                 "query", rows[g0 + i]);
    }
    std::vector<std::vector<Ranked>> best(g);
    for (std::size_t c = 0, label = 0; c < chunks.size(); label += chunks[c].rows, ++c) {
      const std::size_t n = chunks[c].rows;
      BufferToken exact = context_.get_buffer(g * n * sizeof(double));
      Submission<void> done = context_.execute(
          [&](CommandBuffer&, ComputeEncoder& e) {
            encode_rerank(device, e,
                          {.queries = upload.buffer(),
                           .base = chunks[c].vectors,
                           .exact = exact.buffer(),
                           .num_queries = static_cast<std::uint32_t>(g),
                           .slots = static_cast<std::uint32_t>(n),
                           .dim = static_cast<std::uint32_t>(dim_),
                           .label_begin = static_cast<std::uint32_t>(label),
                           .chunk_rows = static_cast<std::uint32_t>(n),
                           .stride = static_cast<std::uint32_t>(n),
                           .direct = true,
                           .metric = metric_});
            e.barrier({exact.buffer()}, Stage::dispatch, Stage::host);
          },
          deadline.execute_options());
      try {
        deadline.wait(done, "direct kNN pass over " + std::to_string(g) + " queries");
      } catch (...) {
        retire(nullptr, std::move(done), chunks);  // the base outlives the GPU's reads
        throw;
      }
      const auto values = exact.read<double>(g * n);
      for (std::size_t i = 0; i < g; ++i) {
        std::vector<Ranked>& list = best[i];
        for (std::size_t j = 0; j < n; ++j) {
          if (mask == nullptr || mask->rows.allows(label + j))
            list.push_back({sign * values[i * n + j], static_cast<std::int64_t>(label + j)});
        }
        if (list.empty()) continue;
        const auto keep = std::min(k, list.size());
        std::nth_element(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(keep - 1),
                         list.end());
        list.resize(keep);
      }
    }
    for (std::size_t i = 0; i < g; ++i) {
      std::vector<Ranked>& list = best[i];
      std::sort(list.begin(), list.end());
      const std::size_t at = rows[g0 + i] * k;
      for (std::size_t j = 0; j < k; ++j) {
        const bool have = j < list.size();
        result.distances[at + j] =
            have ? static_cast<float>(sign * list[j].key) : static_cast<float>(sign * INFINITY);
        result.labels[at + j] = have ? list[j].label : -1;
      }
    }
  }
}

std::unique_ptr<KnnEngine::Scratch> KnnEngine::take_scratch(const KnnPlan& plan, std::size_t k,
                                                            std::uint64_t mask_bytes,
                                                            bool centred) const {
  std::unique_ptr<Scratch> scratch;
  {
    std::lock_guard lock(scratch_mutex_);
    std::erase_if(retired_, [&](Retired& r) {
      if (!r.done.is_complete()) return false;
      if (r.scratch) scratch_.push_back(std::move(r.scratch));
      return true;
    });
    if (!scratch_.empty()) {
      scratch = std::move(scratch_.back());
      scratch_.pop_back();
    }
  }
  if (!scratch) scratch = std::make_unique<Scratch>();
  if (!scratch->residency) {
    scratch->residency = context_.device().make_residency_set(
        {.label = "vecaccel knn scratch", .capacity = scratch_buffers});
  }
  ResidencySet& set = *scratch->residency;
  bool grown = false;
  const auto fit = [&](Buffer& b, std::uint64_t bytes, const char* label) {
    if (b.valid() && b.size() >= bytes) return;
    if (b.valid()) set.remove_allocation(b);
    b = context_.buffer_factory().make_buffer({.size = std::max<std::uint64_t>(bytes, 4),
                                               .storage = StorageMode::private_,
                                               .label = label});
    set.add_allocation(b);
    grown = true;
  };
  const std::uint64_t batch = plan.batch;
  const std::uint64_t screened = batch * plan.screen_k * sizeof(float);
  const std::uint64_t results = batch * k * sizeof(float);
  fit(scratch->queries, plan.query_bytes, "knn queries");
  fit(scratch->query_norms, batch * sizeof(float), "knn query norms");
  fit(scratch->tile, plan.tile_bytes, "knn distance tile");
  fit(scratch->cand_values, plan.candidate_bytes, "knn candidate values");
  fit(scratch->cand_labels, plan.candidate_bytes, "knn candidate labels");
  fit(scratch->out_values, screened, "knn screened values");
  fit(scratch->out_labels, screened, "knn screened labels");
  fit(scratch->exact, plan.exact_bytes, "knn exact values");
  fit(scratch->final_values, results, "knn result values");
  fit(scratch->final_labels, results, "knn result labels");
  fit(scratch->certificate, batch * 2 * sizeof(double), "knn certificate");
  fit(scratch->query_halves, plan.query_bytes / 2, "knn query float16 copy");
  fit(scratch->query_scales, batch * sizeof(float), "knn query scales");
  fit(scratch->query_half_errors, batch * sizeof(float), "knn query float16 errors");
  const bool integer = plan.precision == ScreenPrecision::integer;
  fit(scratch->query_bytes, integer ? plan.query_bytes / sizeof(float) : 4, "knn query bytes");
  fit(scratch->query_byte_norms, integer ? batch * 4 : 4, "knn query byte norms");
  fit(scratch->centred_queries, centred ? plan.query_bytes : 4, "knn centred queries");
  fit(scratch->centred_query_norms, centred ? batch * sizeof(float) : 4, "knn centred norms");
  fit(scratch->select_state, plan.state_bytes, "knn row selection state");
  fit(scratch->sort_keys, plan.sort_bytes, "knn sort keys");
  fit(scratch->sort_labels, plan.sort_bytes / 2, "knn sort labels");
  fit(scratch->allowed, mask_bytes, "knn filter bits");
  if (grown) set.commit();
  return scratch;
}

void KnnEngine::retire(std::unique_ptr<Scratch> scratch, Submission<void> done,
                       std::span<const BaseChunk> chunks) const {
  std::vector<Buffer> base;
  for (const BaseChunk& chunk : chunks) {
    for (const Buffer* b : {&chunk.vectors, &chunk.norms, &chunk.bytes, &chunk.byte_norms})
      if (b->valid()) base.push_back(*b);
  }
  std::lock_guard lock(scratch_mutex_);
  retired_.push_back({std::move(scratch), std::move(done), std::move(base)});
}

KnnEngine::~KnnEngine() {
  for (Retired& r : retired_) {
    try {
      r.done.wait();
    } catch (const Error&) {  // device lost: nothing runs any more, the memory can go
    }
  }
}

void KnnEngine::give_back(std::unique_ptr<Scratch> scratch) const {
  std::lock_guard lock(scratch_mutex_);
  scratch_.push_back(std::move(scratch));
}

}  // namespace vecaccel::detail
