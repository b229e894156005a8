#include "knn_engine.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <string>

#include "kernels.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

/// Distance tiles: large enough that per-tile costs (a barrier drains the GPU three times per
/// tile) stay small, small enough to leave the device's memory to the data: 1/64 of it,
/// between 64 MiB and 1 GiB.
std::uint64_t tile_budget(const Capabilities& caps) {
  return std::clamp<std::uint64_t>(caps.device_local_memory / 64, 64ull << 20, 1ull << 30);
}
/// Rows of a base chunk at most (labels are 32-bit on the GPU; chunks stay manageable).
constexpr std::size_t max_chunk_rows = std::size_t{1} << 22;

std::uint32_t u32(std::size_t v, std::string_view what) {
  if (v > std::numeric_limits<std::uint32_t>::max()) {
    throw Error(Errc::invalid_argument, std::string(what) + " of " + std::to_string(v) +
                                            " exceeds the 32-bit limit of the kernels");
  }
  return static_cast<std::uint32_t>(v);
}

KnnResult padding(std::size_t rows, std::size_t k, Metric metric) {
  KnnResult r{rows, k, {}, {}};
  const float worst = smaller_is_better(metric) ? std::numeric_limits<float>::infinity()
                                                : -std::numeric_limits<float>::infinity();
  r.distances.assign(rows * k, worst);
  r.labels.assign(rows * k, -1);
  return r;
}

}  // namespace

void check_finite(std::span<const float> values, std::size_t dim, std::string_view what,
                  std::size_t first_row) {
  // An exponent of all ones marks Inf and NaN; OR-ing that test over the values vectorises,
  // so the common all-finite case costs a fraction of a branch per value.
  std::uint32_t any = 0;
  for (const float v : values)
    any |=
        static_cast<std::uint32_t>((std::bit_cast<std::uint32_t>(v) & 0x7f800000u) == 0x7f800000u);
  if (any == 0) return;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw Error(Errc::invalid_argument, std::string(what) + " row " +
                                              std::to_string(first_row + i / dim) + " holds " +
                                              std::to_string(values[i]) + " at dimension " +
                                              std::to_string(i % dim) + ": values must be finite");
    }
  }
}

namespace {

/// Copies rows of `dim` floats into mapped memory and checks them in the same pass: a
/// separate check of a large query batch cost as much as the copy. Throws like check_finite.
void copy_finite(std::span<const float> values, std::span<std::byte> out, std::size_t dim,
                 std::string_view what, std::size_t first_row) {
  if (out.size() < values.size_bytes()) {
    throw Error(Errc::invalid_argument, "staging " + std::to_string(values.size_bytes()) +
                                            " bytes of " + std::string(what) + " rows into " +
                                            std::to_string(out.size()) + " mapped bytes");
  }
  float* target = reinterpret_cast<float*>(out.data());  // mapped memory: aligned for floats
  std::uint32_t any = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    any |=
        static_cast<std::uint32_t>((std::bit_cast<std::uint32_t>(v) & 0x7f800000u) == 0x7f800000u);
    target[i] = v;
  }
  if (any != 0) check_finite(values, dim, what, first_row);
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

BaseChunk KnnEngine::make_chunk(std::size_t capacity) const {
  capacity = std::clamp<std::size_t>(capacity, 1, chunk_rows_);
  auto factory = context_.buffer_factory();
  BaseChunk chunk;
  chunk.vectors = factory.make_buffer({.size = capacity * dim_ * sizeof(float),
                                       .storage = StorageMode::private_,
                                       .label = "base vectors"});
  chunk.norms = factory.make_buffer(
      {.size = capacity * sizeof(float), .storage = StorageMode::private_, .label = "base norms"});
  chunk.capacity = capacity;
  context_.residency_manager().register_buffer(chunk.vectors, ResidencyMode::persistent);
  context_.residency_manager().register_buffer(chunk.norms, ResidencyMode::persistent);
  context_.residency_manager().commit();
  return chunk;
}

void KnnEngine::append(BaseChunk& chunk, std::span<const float> vectors) const {
  const std::size_t n = vectors.size() / dim_;
  if (n == 0) return;
  if (chunk.rows + n > chunk.capacity) {
    throw Error(Errc::invalid_argument,
                "append of " + std::to_string(n) + " rows to a chunk holding " +
                    std::to_string(chunk.rows) + " of " + std::to_string(chunk.capacity));
  }
  BufferToken upload = context_.get_buffer(vectors);
  Device device = context_.device();
  const std::uint64_t at = chunk.rows * dim_ * sizeof(float);
  context_
      .execute([&](CommandBuffer&, ComputeEncoder& encoder) {
        encoder.copy_buffer(upload.buffer(), 0, chunk.vectors, at, vectors.size_bytes());
        encoder.barrier({chunk.vectors}, Stage::blit, Stage::dispatch);
        encode_row_norms(device, encoder, chunk.vectors, u32(chunk.rows * dim_, "offset"),
                         u32(n, "rows"), u32(dim_, "dimension"), chunk.norms,
                         u32(chunk.rows, "offset"));
      })
      .wait();
  chunk.rows += n;
}

BaseChunk KnnEngine::grow(const BaseChunk& chunk, std::size_t new_capacity) const {
  BaseChunk bigger = make_chunk(new_capacity);
  if (chunk.rows > 0) {
    context_
        .execute([&](CommandBuffer&, ComputeEncoder& encoder) {
          encoder.copy_buffer(chunk.vectors, 0, bigger.vectors, 0,
                              chunk.rows * dim_ * sizeof(float));
          encoder.copy_buffer(chunk.norms, 0, bigger.norms, 0, chunk.rows * sizeof(float));
        })
        .wait();
  }
  bigger.rows = chunk.rows;
  return bigger;
}

namespace {

/// Base rows of one chunk that land in a tile from column `column` on.
struct Piece {
  const BaseChunk* chunk;
  std::uint32_t chunk_row;
  std::uint32_t rows;
  std::uint32_t column;
};
/// Consecutive base rows (labels first_label..) that share one selection and one merge.
struct Tile {
  std::size_t first_label = 0;
  std::uint32_t cols = 0;
  std::vector<Piece> pieces;
};

/// Cuts the chunks' rows into tiles of tile_cols columns, the first of first_cols; a tile may
/// span chunks if allowed.
std::vector<Tile> plan_tiles(std::span<const BaseChunk> chunks, std::uint32_t first_cols,
                             std::uint32_t tile_cols, bool span_chunks) {
  std::vector<Tile> tiles;
  Tile current;
  std::size_t label = 0;
  const auto capacity = [&] { return tiles.empty() ? first_cols : tile_cols; };
  const auto flush = [&] {
    if (current.cols > 0) tiles.push_back(std::move(current));
    current = Tile{label, 0, {}};
  };
  for (const BaseChunk& chunk : chunks) {
    for (std::size_t r = 0; r < chunk.rows;) {
      const auto take = static_cast<std::uint32_t>(
          std::min<std::size_t>(chunk.rows - r, capacity() - current.cols));
      current.pieces.push_back({&chunk, static_cast<std::uint32_t>(r), take, current.cols});
      current.cols += take;
      r += take;
      label += take;
      if (current.cols == capacity()) flush();
    }
    if (!span_chunks) flush();
  }
  flush();
  return tiles;
}

/// Base rows per workgroup of the fused kernel: enough blocks per workgroup that warming its
/// lists up costs little, few enough that a query batch fills the GPU.
constexpr std::uint32_t fused_split = 8192;
/// Segments per fused tile: bounds the candidates each merge selects from.
constexpr std::uint32_t fused_segments_per_tile = 64;
/// A single batch of queries is split in two (to overlap its host work with the GPU's) from
/// this size on, each half keeping at least this many queries.
constexpr std::size_t pipelined_min_bytes = std::size_t{1} << 20;
constexpr std::size_t pipelined_min_queries = 256;

}  // namespace

KnnResult KnnEngine::search(std::span<const float> queries, std::span<const BaseChunk> chunks,
                            std::size_t k, const ExecuteOptions& options) const {
  if (k == 0 || k > ops::max_k) {
    throw Error(Errc::invalid_argument,
                "k = " + std::to_string(k) + " is outside 1.." + std::to_string(ops::max_k));
  }
  if (queries.size() % dim_ != 0) {
    throw Error(Errc::invalid_argument, "queries hold " + std::to_string(queries.size()) +
                                            " floats, not a multiple of the dimension " +
                                            std::to_string(dim_));
  }
  const std::size_t nq = queries.size() / dim_;
  std::size_t total = 0;
  for (const auto& c : chunks)
    total += c.rows;
  if (nq == 0 || total == 0) return padding(nq, k, metric_);
  u32(total, "base rows");

  Device device = context_.device();
  const auto& caps = device.capabilities();
  const bool largest = !smaller_is_better(metric_);
  const std::uint32_t kk = static_cast<std::uint32_t>(k);
  const std::uint32_t dim = u32(dim_, "dimension");
  // Fused distance + selection where the kernel takes this k; a handful of queries streams
  // the base instead (a fused block would be almost all empty rows).
  const bool fused = nq > small_query_limit && fused_knn_supported(caps, kk, dim);
  const std::uint32_t segment = fused ? fused_split : default_segment_length(kk);
  const std::uint64_t range = caps.max_storage_buffer_range;
  const std::uint64_t tile_bytes = std::min(range, tile_budget(caps));

  // Query batches: as many as leave a distance tile at least one segment wide.
  std::size_t batch = std::min<std::size_t>({nq, 4096, range / (dim_ * sizeof(float))});
  if (!fused) batch = std::min<std::size_t>(batch, tile_bytes / (segment * sizeof(float)));
  // Two batches at least once the queries are large: the second is staged while the GPU runs
  // the first, and the first read back while it runs the second.
  if (batch == nq && nq >= 2 * pipelined_min_queries &&
      nq * dim_ * sizeof(float) >= pipelined_min_bytes) {
    batch = (nq + 1) / 2;
  }
  batch = std::max<std::size_t>(batch, 1);
  // Tile columns: a multiple of the segment length, within the tile budget (the fused kernel
  // keeps its distances on chip and is limited by its candidate count instead).
  std::uint64_t tile_cols = fused ? std::uint64_t{fused_segments_per_tile} * segment
                                  : tile_bytes / (batch * sizeof(float)) / segment * segment;
  tile_cols = std::clamp<std::uint64_t>(tile_cols, segment, fused ? chunk_rows_ : total);
  const std::uint32_t segments_per_tile =
      static_cast<std::uint32_t>((tile_cols + segment - 1) / segment);
  const std::uint32_t cand_stride =
      u32((1 + static_cast<std::uint64_t>(segments_per_tile)) * kk, "candidates");
  if (batch * cand_stride * sizeof(float) > range) {
    batch = std::max<std::size_t>(1, range / (cand_stride * sizeof(float)));
  }
  // Radix selection in later tiles drops what cannot beat the running k-th best
  // (encode_select's bound), so only the first tile pays for a full one: keep it at two
  // segments, which leaves later segments about k/2 survivors each.
  const bool radix = !fused && kk > small_k_limit;
  const auto first_cols = static_cast<std::uint32_t>(
      radix ? std::min<std::uint64_t>(tile_cols, 2 * std::uint64_t{segment}) : tile_cols);
  const std::vector<Tile> tiles =
      plan_tiles(chunks, first_cols, static_cast<std::uint32_t>(tile_cols), /*span_chunks=*/!fused);

  const ScratchSizes sizes{batch * dim_ * sizeof(float), batch * sizeof(float),
                           fused ? sizeof(float) : batch * tile_cols * sizeof(float),
                           std::uint64_t{batch} * cand_stride * sizeof(float),
                           std::uint64_t{batch} * k * sizeof(float)};
  KnnResult result{nq, k, std::vector<float>(nq * k), std::vector<std::int64_t>(nq * k)};
  // Up to two batches in flight, each with its own scratch: while the GPU runs one, the host
  // stages the next and reads the previous one's results.
  struct InFlight {
    Submission<void> done;
    BufferToken readback;
    std::unique_ptr<Scratch> scratch;
    std::size_t q0;
    std::uint32_t qb;
  };
  std::deque<InFlight> in_flight;
  // One deadline for the whole call; every wait gets what is left of it.
  const auto limit = options.timeout.value_or(context_.configuration().default_timeout);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  const auto wait_options = [&] {
    const auto left = std::max(deadline - std::chrono::steady_clock::now(),
                               std::chrono::steady_clock::duration::zero());
    return WaitOptions{std::chrono::duration_cast<std::chrono::nanoseconds>(left), options.stop};
  };
  const auto finish_oldest = [&] {
    InFlight& f = in_flight.front();
    try {
      f.done.wait(wait_options());
    } catch (const Error& e) {
      if (e.code() != Errc::timeout) throw;
      throw Error(Errc::timeout, "kNN search of " + std::to_string(nq) +
                                     " queries did not finish within " +
                                     std::to_string(limit.count() / 1000) + " us");
    }
    const std::size_t n = std::size_t{f.qb} * kk;
    const auto values = f.readback.read<float>(n);
    const auto labels = f.readback.read<std::int32_t>(n, n * sizeof(float));
    std::copy(values.begin(), values.end(),
              result.distances.begin() + static_cast<std::ptrdiff_t>(f.q0 * k));
    std::copy(labels.begin(), labels.end(),
              result.labels.begin() + static_cast<std::ptrdiff_t>(f.q0 * k));
    give_back(std::move(f.scratch));
    in_flight.pop_front();
  };
  // On an error, work already submitted keeps its scratch until it completes; the call
  // returns without waiting for it (a timeout must not turn into a hang).
  const auto abandon = [&]() noexcept {
    for (InFlight& f : in_flight)
      retire(std::move(f.scratch), std::move(f.done));
    in_flight.clear();
  };
  try {
    for (std::size_t q0 = 0; q0 < nq; q0 += batch) {
      if (options.stop.stop_requested()) {
        throw Error(Errc::cancelled, "kNN search stopped after " + std::to_string(q0) + " of " +
                                         std::to_string(nq) + " queries");
      }
      const std::uint32_t qb = static_cast<std::uint32_t>(std::min(batch, nq - q0));
      // Host-visible staging only at the edges; the kernels touch device-local memory alone.
      // Checked while staged: a batch with NaN or Inf throws before any of its work is encoded
      // (earlier batches have run; their results are dropped with the exception).
      const auto batch_queries = queries.subspan(q0 * dim_, qb * dim_);
      BufferToken upload = context_.get_buffer(batch_queries.size_bytes());
      copy_finite(batch_queries, upload.buffer().mapped(), dim_, "query", q0);
      const std::uint64_t result_bytes = std::uint64_t{qb} * kk * sizeof(float);
      BufferToken readback = context_.get_buffer(2 * result_bytes);
      std::unique_ptr<Scratch> scratch = take_scratch(sizes);
      const Scratch& s = *scratch;
      const auto distances_of = [&](const Piece& piece) {
        return DistanceArgs{.queries = s.queries,
                            .base = piece.chunk->vectors,
                            .query_norms = s.query_norms,
                            .base_norms = piece.chunk->norms,
                            .out = s.tile,
                            .num_queries = qb,
                            .num_base = piece.rows,
                            .dim = dim,
                            .query_offset = 0,
                            .base_offset = piece.chunk_row,
                            .out_stride = static_cast<std::uint32_t>(tile_cols),
                            .out_offset = piece.column,
                            .metric = metric_};
      };
      Submission<void> done = context_.execute(
          [&](CommandBuffer&, ComputeEncoder& e) {
            e.copy_buffer(upload.buffer(), 0, s.queries, 0,
                          std::uint64_t{qb} * dim_ * sizeof(float));
            e.barrier({s.queries}, Stage::blit, Stage::dispatch);
            encode_row_norms(device, e, s.queries, 0, qb, dim, s.query_norms, 0);
            e.barrier({s.query_norms}, Stage::dispatch, Stage::dispatch);
            for (std::size_t t = 0; t < tiles.size(); ++t) {
              const Tile& tile = tiles[t];
              const auto first_label = static_cast<std::uint32_t>(tile.first_label);
              // Each row's candidate slots: the running best k (from the second tile on), then
              // k per segment of this tile. Every slot a merge reads has been written.
              const std::uint32_t running = t == 0 ? 0 : kk;
              std::uint32_t segs = 0;
              if (fused) {
                for (const Piece& piece : tile.pieces) {
                  segs += encode_knn_fused(device, e,
                                           {.distances = distances_of(piece),
                                            .split_length = segment,
                                            .k = kk,
                                            .largest = largest,
                                            .label_offset = first_label + piece.column,
                                            .out_values = s.cand_values,
                                            .out_labels = s.cand_labels,
                                            .out_stride = cand_stride,
                                            .out_offset = running + kk * segs,
                                            .bound = t == 0 ? Buffer{} : s.cand_values,
                                            .bound_offset = kk - 1,
                                            .bound_stride = cand_stride});
                }
              } else {
                for (const Piece& piece : tile.pieces)
                  encode_distances(device, e, distances_of(piece));
                e.barrier({s.tile}, Stage::dispatch, Stage::dispatch);
                segs = encode_select(device, e,
                                     {.values = s.tile,
                                      .rows = qb,
                                      .cols = tile.cols,
                                      .in_stride = static_cast<std::uint32_t>(tile_cols),
                                      .in_offset = 0,
                                      .segment_length = segment,
                                      .k = kk,
                                      .largest = largest,
                                      .label_offset = first_label,
                                      .out_values = s.cand_values,
                                      .out_labels = s.cand_labels,
                                      .out_stride = cand_stride,
                                      .out_offset = running,
                                      // The running k-th best: later tiles keep only what
                                      // can still beat it.
                                      .bound = t == 0 ? Buffer{} : s.cand_values,
                                      .bound_offset = kk - 1,
                                      .bound_stride = cand_stride});
              }
              e.barrier({s.tile, s.cand_values, s.cand_labels}, Stage::dispatch, Stage::dispatch);
              // Running merge: the best k so far sit in each row's first k slots. The last
              // merge writes rows of exactly k apart, so the host reads back qb x k results
              // rather than every candidate slot.
              const bool last = t + 1 == tiles.size();
              encode_select(device, e,
                            {.values = s.cand_values,
                             .labels = s.cand_labels,
                             .rows = qb,
                             .cols = running + segs * kk,
                             .in_stride = cand_stride,
                             .in_offset = 0,
                             .segment_length = 0,
                             .k = kk,
                             .largest = largest,
                             .out_values = last ? s.out_values : s.cand_values,
                             .out_labels = last ? s.out_labels : s.cand_labels,
                             .out_stride = last ? kk : cand_stride,
                             .out_offset = 0});
              e.barrier({s.cand_values, s.cand_labels}, Stage::dispatch, Stage::dispatch);
            }
            e.barrier({s.out_values, s.out_labels}, Stage::dispatch, Stage::blit);
            e.copy_buffer(s.out_values, 0, readback.buffer(), 0, result_bytes);
            e.copy_buffer(s.out_labels, 0, readback.buffer(), result_bytes, result_bytes);
          },
          ExecuteOptions{.timeout = wait_options().timeout, .stop = options.stop});
      in_flight.push_back({std::move(done), std::move(readback), std::move(scratch), q0, qb});
      if (in_flight.size() == 2) finish_oldest();
    }
    while (!in_flight.empty())
      finish_oldest();
  } catch (...) {
    abandon();
    throw;
  }
  return result;
}

Buffer KnnEngine::device_buffer(std::uint64_t bytes, const char* label) const {
  Buffer buffer = context_.buffer_factory().make_buffer({.size = std::max<std::uint64_t>(bytes, 4),
                                                         .storage = StorageMode::private_,
                                                         .label = label});
  context_.residency_manager().register_buffer(buffer, ResidencyMode::persistent);
  return buffer;
}

std::unique_ptr<KnnEngine::Scratch> KnnEngine::take_scratch(const ScratchSizes& sizes) const {
  std::unique_ptr<Scratch> scratch;
  {
    std::lock_guard lock(scratch_mutex_);
    std::erase_if(retired_, [&](Retired& r) {
      if (!r.done.is_complete()) return false;
      scratch_.push_back(std::move(r.scratch));
      return true;
    });
    if (!scratch_.empty()) {
      scratch = std::move(scratch_.back());
      scratch_.pop_back();
    }
  }
  if (!scratch) scratch = std::make_unique<Scratch>();
  bool grown = false;
  const auto fit = [&](Buffer& b, std::uint64_t bytes, const char* label) {
    if (b.valid() && b.size() >= bytes) return;
    b = device_buffer(bytes, label);
    grown = true;
  };
  fit(scratch->queries, sizes.queries, "knn queries");
  fit(scratch->query_norms, sizes.query_norms, "knn query norms");
  fit(scratch->tile, sizes.tile, "knn distance tile");
  fit(scratch->cand_values, sizes.candidates, "knn candidate values");
  fit(scratch->cand_labels, sizes.candidates, "knn candidate labels");
  fit(scratch->out_values, sizes.results, "knn result values");
  fit(scratch->out_labels, sizes.results, "knn result labels");
  if (grown) context_.residency_manager().commit();
  return scratch;
}

void KnnEngine::retire(std::unique_ptr<Scratch> scratch, Submission<void> done) const {
  if (!scratch) return;
  std::lock_guard lock(scratch_mutex_);
  retired_.push_back({std::move(scratch), std::move(done)});
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
