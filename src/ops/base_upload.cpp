#include "base_upload.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <string>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "certificate.hpp"
#include "core/buffer_impl.hpp"
#include "kernels.hpp"
#include "row_staging.hpp"
#include "util/settings.hpp"
#include "vecaccel/argument_table.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/shader_library.hpp"

namespace vecaccel::detail {
namespace {

constexpr std::size_t kRingSize = 3;
// Rows per thread at least, so that tiny adds do not pay for threads.
constexpr std::size_t kMinRowsPerThread = 2048;

/// Adds the seconds of its lifetime to `total`.
class Timer {
 public:
  explicit Timer(double& total) : total_(total) {}
  ~Timer() { total_ += std::chrono::duration<double>(Clock::now() - start_).count(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  using Clock = std::chrono::steady_clock;
  double& total_;
  Clock::time_point start_ = Clock::now();
};

std::uint32_t u32(std::uint64_t v) {
  return static_cast<std::uint32_t>(v);  // callers keep chunks within 32-bit element counts
}

void store_fence() {
#if defined(__SSE2__)
  _mm_sfence();  // streaming stores are weakly ordered: complete them before the GPU copies
#endif
}

/// Copies bytes into write-only staging with streaming stores where the CPU has them: they
/// skip the read-for-ownership of cached memory and fill whole write-combining lines of a
/// device-local (BAR) mapping. The caller calls store_fence() before the GPU reads `out`.
void stream_copy(std::byte* out, const std::byte* in, std::size_t bytes) {
#if defined(__SSE2__)
  const std::size_t head = std::min(bytes, (16 - reinterpret_cast<std::uintptr_t>(out) % 16) % 16);
  std::memcpy(out, in, head);
  std::size_t i = head;
  for (; i + 16 <= bytes; i += 16) {
    _mm_stream_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
  }
  std::memcpy(out + i, in + i, bytes - i);
#else
  std::memcpy(out, in, bytes);
#endif
}

/// The power of two by which the engine scales a stored row: cosine rows get their largest
/// magnitude into [1, 2) (cosine_row_scale); other metrics store rows as given.
double stored_scale(const float* row, std::size_t dim, Metric metric) {
  return metric == Metric::cosine ? cosine_row_scale({row, dim}) : 1.0;
}

/// The float64 norm of a row as stored (scaled by `scale`), in one read of the row; throws
/// for NaN/Inf and (l2, inner product) overflowing norms, naming row `label`.
double checked_norm(const float* row, std::size_t dim, double scale, Metric metric,
                    std::size_t label) {
  // An all-ones exponent marks NaN and Inf. Four sums: the norm only bounds the certificate,
  // so its summation order is free, and independent sums let the loop vectorise instead of
  // waiting on one chain of adds.
  std::uint32_t bad = 0;
  double sums[4] = {0.0, 0.0, 0.0, 0.0};
  std::size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    for (std::size_t j = 0; j < 4; ++j) {
      const auto v = static_cast<float>(row[i + j] * scale);
      bad |= (std::bit_cast<std::uint32_t>(row[i + j]) & 0x7f800000u) == 0x7f800000u;
      sums[j] += static_cast<double>(v) * static_cast<double>(v);
    }
  }
  for (; i < dim; ++i) {
    const auto v = static_cast<float>(row[i] * scale);
    bad |= (std::bit_cast<std::uint32_t>(row[i]) & 0x7f800000u) == 0x7f800000u;
    sums[0] += static_cast<double>(v) * static_cast<double>(v);
  }
  if (bad != 0) check_finite({row, dim}, dim, "base", label);
  const double norm = std::sqrt((sums[0] + sums[1]) + (sums[2] + sums[3]));
  check_squared_norm(norm, metric, "base", label);
  return norm;
}

/// Stages one float row into write-only (possibly write-combined) memory: never reads `out`.
/// Rows are stored as the engine stores them (stored_scale). Returns the staged row's float64
/// norm; throws for NaN/Inf.
double stage_float_row(const float* row, float* out, std::size_t dim, Metric metric,
                       std::size_t label) {
  const double scale = stored_scale(row, dim, metric);
  const double norm = checked_norm(row, dim, scale, metric, label);
  // The row is still in the L1 cache: copying it in a second pass costs no memory traffic.
  if (scale == 1.0) {
    stream_copy(reinterpret_cast<std::byte*>(out), reinterpret_cast<const std::byte*>(row),
                dim * sizeof(float));
  } else {
    for (std::size_t j = 0; j < dim; ++j)
      out[j] = static_cast<float>(row[j] * scale);
  }
  return norm;
}

/// The float64 norm of a compact row: an exact integer sum of squares, then one rounding.
/// Blocks of 65536 squares (at most 255^2 each) sum exactly in 32 bits, which vectorises.
template <class T>
double compact_norm(const T* row, std::size_t dim) {
  constexpr std::size_t kBlock = 65536;
  std::uint64_t total = 0;
  for (std::size_t start = 0; start < dim; start += kBlock) {
    std::uint32_t sum = 0;
    const std::size_t end = std::min(dim, start + kBlock);
    for (std::size_t i = start; i < end; ++i) {
      // NOLINTNEXTLINE(bugprone-signed-char-misuse): int8 elements are numbers, sign and all
      const auto v = static_cast<std::int32_t>(row[i]);
      sum += static_cast<std::uint32_t>(v * v);
    }
    total += sum;
  }
  return std::sqrt(static_cast<double>(total));
}

double compact_row_norm(ElementType type, const std::byte* row, std::size_t dim) {
  if (type == ElementType::uint8) {
    return compact_norm(reinterpret_cast<const std::uint8_t*>(row), dim);
  }
  return compact_norm(reinterpret_cast<const std::int8_t*>(row), dim);
}

}  // namespace

std::size_t RowSource::rows() const {
  if (mapped != nullptr) return mapped->rows();
  return row_bytes() == 0 ? 0 : bytes.size() / row_bytes();
}

std::span<const std::byte> RowSource::view(std::size_t first, std::size_t count) const {
  if (mapped != nullptr) return mapped->contiguous(first, count);
  return bytes.subspan(first * row_bytes(), count * row_bytes());
}

void RowSource::copy(std::size_t first, std::size_t count, std::byte* out) const {
  if (mapped != nullptr) {
    mapped->copy_rows(first, count, {out, count * row_bytes()});
    return;
  }
  if (count != 0) std::memcpy(out, bytes.data() + first * row_bytes(), count * row_bytes());
}

std::vector<float> RowSource::row(std::size_t i) const {
  std::vector<std::byte> raw(row_bytes());
  copy(i, 1, raw.data());
  std::vector<float> out(dim);
  for (std::size_t j = 0; j < dim; ++j) {
    switch (type) {
      case ElementType::float32:
        std::memcpy(&out[j], raw.data() + 4 * j, 4);
        break;
      case ElementType::uint8:
        out[j] = static_cast<float>(static_cast<std::uint8_t>(raw[j]));
        break;
      case ElementType::int8:
        out[j] = static_cast<float>(static_cast<std::int8_t>(raw[j]));
        break;
    }
  }
  return out;
}

void check_float_rows(std::span<const float> rows, std::size_t dim, Metric metric,
                      std::size_t first_label) {
  const std::size_t count = dim == 0 ? 0 : rows.size() / dim;
  WorkCrew crew(WorkCrew::threads_for(count, kMinRowsPerThread));
  crew.run(count, [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r) {
      const float* row = rows.data() + r * dim;
      (void)checked_norm(row, dim, stored_scale(row, dim, metric), metric, first_label + r);
    }
  });
}

BaseUploader::BaseUploader(Context& context, std::size_t dim, Metric metric, std::size_t chunk_rows,
                           std::uint64_t slice_bytes, Staging staging)
    : context_(context),
      dim_(dim),
      metric_(metric),
      chunk_rows_(chunk_rows),
      slice_bytes_(std::max<std::uint64_t>(slice_bytes, 1)),
      staging_(staging),
      ring_(kRingSize) {}

Buffer& BaseUploader::staging_for(std::uint64_t bytes) {
  Slot& slot = ring_[next_];
  next_ = (next_ + 1) % ring_.size();
  if (slot.copied) {
    const Timer timer(times_.wait);
    slot.copied->wait();  // its previous slice must be on the GPU before it is overwritten
    slot.copied.reset();
  }
  if (!slot.buffer.valid() || slot.buffer.size() < bytes) {
    const Timer timer(times_.allocate);
    const BufferFactory factory = context_.buffer_factory();
    slot.buffer =
        staging_ == Staging::device
            ? make_write_only_staging(factory, bytes, "base staging")
            : factory.make_buffer(
                  {.size = bytes, .storage = StorageMode::shared, .label = "base staging"});
    context_.residency_manager().register_buffer(slot.buffer, ResidencyMode::persistent);
    context_.residency_manager().commit();
  }
  return slot.buffer;
}

void BaseUploader::wait_all() {
  for (Slot& slot : ring_) {
    if (!slot.copied) continue;
    auto copied = std::move(*slot.copied);
    slot.copied.reset();
    copied.wait();
  }
}

template <class StageRows, class Record>
RowNorms BaseUploader::upload(std::size_t first, std::size_t count, std::size_t row_stage_bytes,
                              StageRows&& stage, Record&& record) {
  std::lock_guard lock(mutex_);
  const std::size_t slice_rows = std::max<std::size_t>(1, slice_bytes_ / row_stage_bytes);
  // One crew for all the slices: starting threads per slice can cost as much as staging a
  // share of it.
  WorkCrew crew(WorkCrew::threads_for(std::min(slice_rows, count), kMinRowsPerThread));
  RowNorms max_norm;
  try {
    for (std::size_t done = 0; done < count;) {
      const std::size_t n = std::min(slice_rows, count - done);
      Buffer& staging = staging_for(std::uint64_t{n} * row_stage_bytes);
      std::byte* out = staging.mapped().data();
      std::mutex norm_mutex;
      {
        const Timer timer(times_.stage);
        crew.run(n, [&](std::size_t begin, std::size_t end) {
          RowNorms largest;
          for (std::size_t r = begin; r < end; ++r)
            largest = max(largest, stage(first + done + r, out + r * row_stage_bytes));
          store_fence();
          std::lock_guard guard(norm_mutex);
          max_norm = max(max_norm, largest);
        });
      }
      times_.bytes += std::uint64_t{n} * row_stage_bytes;
      const Timer timer(times_.submit);
      ring_[(next_ + ring_.size() - 1) % ring_.size()].copied =
          context_.execute([&](CommandBuffer&, ComputeEncoder& e) { record(e, staging, done, n); },
                           without_time_limit());
      done += n;
    }
    const Timer timer(times_.wait);
    wait_all();
  } catch (...) {
    try {
      wait_all();
    } catch (const Error&) {  // the first error is the one to report
    }
    throw;
  }
  return max_norm;
}

void BaseUploader::check_append(const RowSource& source, bool type_fits, std::size_t count,
                                std::size_t rows, std::size_t capacity) const {
  if (!type_fits || source.dim != dim_) {
    throw Error(Errc::invalid_argument,
                "upload of " + std::string(to_string(source.type)) + " rows of dimension " +
                    std::to_string(source.dim) + " into " +
                    (type_fits ? "chunks" : "chunks of another element type") + " of dimension " +
                    std::to_string(dim_));
  }
  if (rows + count > capacity) {
    throw Error(Errc::invalid_argument, "append of " + std::to_string(count) +
                                            " rows to a chunk holding " + std::to_string(rows) +
                                            " of " + std::to_string(capacity));
  }
}

void BaseUploader::append(BaseChunk& chunk, const RowSource& source, std::size_t first,
                          std::size_t count, std::size_t first_label) {
  check_append(source, source.type == ElementType::float32, count, chunk.rows, chunk.capacity);
  if (count == 0) return;
  const std::size_t row_bytes = dim_ * sizeof(float);
  const std::size_t base_row = chunk.rows;
  const std::size_t label0 = first_label - first;
  const auto stage = [&](std::size_t row, std::byte* out) {
    auto in = source.view(row, 1);
    std::vector<std::byte> copied;
    if (in.empty()) {  // TEXMEX rows: copied out to check their headers
      copied.resize(row_bytes);
      source.copy(row, 1, copied.data());
      in = copied;
    }
    const auto* values = reinterpret_cast<const float*>(in.data());
    const double norm =
        stage_float_row(values, reinterpret_cast<float*>(out), dim_, metric_, label0 + row);
    return RowNorms{norm, chunk.centre ? centred_norm({values, dim_}, chunk.centre->values) : 0.0};
  };
  Device device = context_.device();
  const auto record = [&](ComputeEncoder& e, const Buffer& staging, std::size_t done,
                          std::size_t n) {
    const std::uint64_t at = (base_row + done) * row_bytes;
    e.copy_buffer(staging, 0, chunk.vectors, at, n * row_bytes);
    e.barrier({chunk.vectors}, Stage::blit, Stage::dispatch);
    encode_row_norms(device, e, chunk.vectors, u32((base_row + done) * dim_), u32(n), u32(dim_),
                     chunk.norms, u32(base_row + done));
    encode_chunk_halves(device, e, chunk, base_row + done, n, dim_);
  };
  const RowNorms max_norm = upload(first, count, row_bytes, stage, record);
  read_half_errors(context_, chunk, base_row, count);
  chunk.rows += count;
  chunk.note_norms(max_norm.norm, max_norm.centred);
}

void BaseUploader::append(CompactChunk& chunk, const RowSource& source, std::size_t first,
                          std::size_t count) {
  check_append(source, source.type != ElementType::float32, count, chunk.rows, chunk.capacity);
  if (count == 0) return;
  const std::size_t row_bytes = dim_;
  const std::size_t base_row = chunk.rows;
  const auto stage = [&](std::size_t row, std::byte* out) {
    auto in = source.view(row, 1);
    if (in.empty()) {
      source.copy(row, 1, out);  // checks the TEXMEX header; the norm reads the source again
      in = source.mapped->row(row);
    } else {
      stream_copy(out, in.data(), row_bytes);
    }
    return RowNorms{compact_row_norm(source.type, in.data(), dim_)};
  };
  const auto record = [&](ComputeEncoder& e, const Buffer& staging, std::size_t done,
                          std::size_t n) {
    e.copy_buffer(staging, 0, chunk.bytes, (base_row + done) * row_bytes, n * row_bytes);
  };
  const RowNorms max_norm = upload(first, count, row_bytes, stage, record);
  chunk.rows += count;
  chunk.max_norm = std::max(chunk.max_norm, max_norm.norm);
}

UploadTimes BaseUploader::times() const {
  return times_;
}

CompactChunk BaseUploader::make_compact_chunk(std::size_t capacity) const {
  capacity = std::clamp<std::size_t>(capacity, 1, chunk_rows_);
  CompactChunk chunk;
  // Whole 32-bit words: the widening kernel reads the bytes four at a time.
  const std::uint64_t bytes = (std::uint64_t{capacity} * dim_ + 3) / 4 * 4;
  chunk.bytes = context_.buffer_factory().make_buffer(
      {.size = bytes, .storage = StorageMode::private_, .label = "compact base vectors"});
  chunk.capacity = capacity;
  context_.residency_manager().register_buffer(chunk.bytes, ResidencyMode::persistent);
  context_.residency_manager().commit();
  return chunk;
}

void BaseUploader::encode_widen(ComputeEncoder& encoder, const CompactChunk& compact,
                                ElementType type, const BaseChunk& out) const {
  if (compact.rows == 0) return;
  if (compact.rows > out.capacity) {
    throw Error(Errc::invalid_argument, "widening " + std::to_string(compact.rows) +
                                            " rows into a chunk of " +
                                            std::to_string(out.capacity));
  }
  Device device = context_.device();
  struct {
    std::uint32_t count, is_signed;
  } constants{u32(compact.rows * dim_), type == ElementType::int8 ? 1u : 0u};
  constexpr std::uint32_t threads = 64;
  const std::uint32_t words = constants.count / 4 + (constants.count % 4 != 0);
  const std::uint32_t groups = std::min(words / threads + (words % threads != 0),
                                        device.capabilities().max_workgroup_count[0]);
  encoder.set_pipeline(
      device.shaders().pipeline({.name = "widen_bytes", .workgroup_size = {threads, 1, 1}}));
  encoder.set_argument_table(
      ArgumentTable().set_buffer(0, compact.bytes).set_buffer(1, out.vectors));
  encoder.set_constants(constants);
  encoder.dispatch_threadgroups(std::max(groups, 1u));
  encoder.barrier({out.vectors}, Stage::dispatch, Stage::dispatch);
  encode_row_norms(device, encoder, out.vectors, 0, u32(compact.rows), u32(dim_), out.norms, 0);
  if (out.byte_norms.valid())
    encode_byte_norms(device, encoder, compact.bytes, u32(compact.rows), u32(dim_), type,
                      out.byte_norms);
}

void BaseUploader::keep_integer_rows(BaseChunk& chunk) const {
  if (!int_coop_distances_supported(context_.device().capabilities(), u32(dim_))) return;
  chunk.byte_norms = context_.buffer_factory().make_buffer(
      {.size = std::uint64_t{chunk.capacity} * sizeof(std::uint32_t),
       .storage = StorageMode::private_,
       .label = "base byte norms"});
  context_.residency_manager().register_buffer(chunk.byte_norms, ResidencyMode::persistent);
  context_.residency_manager().commit();
}

void attach_widened(BaseChunk& chunk, const CompactChunk& compact, ElementType type) {
  chunk.rows = compact.rows;
  chunk.max_norm = compact.max_norm;
  if (!chunk.byte_norms.valid()) return;
  chunk.bytes = compact.bytes;
  chunk.byte_type = type;
}

std::uint64_t device_memory_budget(Context& context) {
  // The variable exists so that a user (or CI) can cap the engine on a shared GPU or force
  // streaming on small data.
  if (const auto setting = memory_budget_setting()) return setting->bytes;
  const ResidencyStatistics stats = context.residency_manager().statistics();
  if (stats.device_budget_bytes && stats.device_usage_bytes) {
    return *stats.device_budget_bytes -
           std::min(*stats.device_budget_bytes, *stats.device_usage_bytes);
  }
  return context.device().capabilities().device_local_memory;
}

}  // namespace vecaccel::detail
