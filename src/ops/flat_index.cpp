#include "vecaccel/flat_index.hpp"

#include <algorithm>
#include <bit>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "ops/flat_index_file.hpp"
#include "ops/knn_engine.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel {
namespace detail {
namespace {

// A first chunk sized exactly to a tiny first add would be regrown on every following small
// add; starting at a few hundred rows costs little and skips those first doublings.
constexpr std::size_t kMinChunkCapacity = 256;
// save() downloads through a host-visible pooled buffer of at most this many bytes at a time,
// so saving a large index needs little extra memory.
constexpr std::uint64_t kDownloadSliceBytes = std::uint64_t{16} << 20;
// load() uploads this many rows per add, for the same reason.
constexpr std::uint64_t kLoadSliceBytes = std::uint64_t{64} << 20;

std::size_t checked_dim(std::size_t dim) {
  if (dim == 0 || dim > FlatIndex::max_dim) {
    throw Error(Errc::invalid_argument, "FlatIndex: dimension " + std::to_string(dim) +
                                            " outside 1.." + std::to_string(FlatIndex::max_dim));
  }
  return dim;
}

/// Index of the first negative id, or ids.size(). Ids must be >= 0: -1 labels padding in
/// results, and a caller's -1 would be indistinguishable from "no neighbour".
std::size_t first_negative(std::span<const std::int64_t> ids) {
  return static_cast<std::size_t>(
      std::find_if(ids.begin(), ids.end(), [](std::int64_t id) { return id < 0; }) - ids.begin());
}

std::string negative_id_text(std::size_t row, std::int64_t id) {
  return "row " + std::to_string(row) + " has id " + std::to_string(id) +
         "; ids must be >= 0 (-1 labels padding in results)";
}

float worst_distance(Metric metric) {
  return smaller_is_better(metric) ? std::numeric_limits<float>::infinity()
                                   : -std::numeric_limits<float>::infinity();
}

}  // namespace

class FlatIndexImpl {
 public:
  FlatIndexImpl(Context& context, std::size_t dim, Metric metric)
      : context_(context), dim_(checked_dim(dim)), metric_(metric), engine_(context, dim, metric) {}

  std::size_t dim() const noexcept { return dim_; }
  Metric metric() const noexcept { return metric_; }

  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return ids_.size();
  }

  void add(std::span<const float> vectors, std::span<const std::int64_t> ids, bool with_ids) {
    const std::size_t n = rows_of(vectors, "add");
    if (with_ids && ids.size() != n) {
      throw Error(Errc::invalid_argument, "FlatIndex::add_with_ids: " + std::to_string(ids.size()) +
                                              " ids for " + std::to_string(n) + " vectors");
    }
    if (const std::size_t row = first_negative(ids); row < ids.size()) {
      throw Error(Errc::invalid_argument,
                  "FlatIndex::add_with_ids: " + negative_id_text(row, ids[row]));
    }
    std::unique_lock lock(mutex_);
    engine_.check_base(vectors, ids_.size());
    if (n == 0) return;
    append_locked(vectors, ids, with_ids);
  }

  KnnResult search(std::span<const float> queries, std::size_t k,
                   const ExecuteOptions& options) const {
    if (k == 0 || k > ops::max_k) {
      throw Error(Errc::invalid_argument, "FlatIndex::search: k = " + std::to_string(k) +
                                              " outside 1.." + std::to_string(ops::max_k));
    }
    const std::size_t nq = rows_of(queries, "search");
    std::shared_lock lock(mutex_);
    if (ids_.empty() || nq == 0) {
      check_finite(queries, dim_, "query");
      return padding(nq, k);
    }
    KnnResult result = engine_.search(queries, chunks_, k, options);
    // The engine labels rows by their global row number; callers see their ids.
    for (std::int64_t& label : result.labels) {
      if (label >= 0) label = ids_[static_cast<std::size_t>(label)];
    }
    return result;
  }

  std::vector<float> reconstruct(std::span<const std::size_t> rows) const {
    std::shared_lock lock(mutex_);
    for (const std::size_t row : rows) {
      if (row >= ids_.size()) {
        throw Error(Errc::invalid_argument, "FlatIndex::reconstruct: row " + std::to_string(row) +
                                                " is out of range: the index holds " +
                                                std::to_string(ids_.size()) + " rows");
      }
    }
    std::vector<float> out(rows.size() * dim_);
    if (rows.empty()) return out;
    const std::uint64_t row_bytes = dim_ * sizeof(float);
    const std::size_t slice_rows =
        static_cast<std::size_t>(std::max<std::uint64_t>(1, kDownloadSliceBytes / row_bytes));
    BufferToken staging = context_.get_buffer(std::min(rows.size(), slice_rows) * row_bytes);
    // Every chunk but the last is full, so a row's chunk follows from its position.
    const std::size_t chunk_rows = engine_.chunk_rows();
    for (std::size_t first = 0; first < rows.size(); first += slice_rows) {
      const std::size_t n = std::min(slice_rows, rows.size() - first);
      context_.execute_and_wait([&](CommandBuffer&, ComputeEncoder& encoder) {
        for (std::size_t i = 0; i < n; ++i) {
          const std::size_t row = rows[first + i];
          encoder.copy_buffer(chunks_[row / chunk_rows].vectors, (row % chunk_rows) * row_bytes,
                              staging.buffer(), i * row_bytes, row_bytes);
        }
        encoder.barrier({staging.buffer()}, Stage::blit, Stage::host);
      });
      staging.read_bytes(std::as_writable_bytes(std::span(out).subspan(first * dim_, n * dim_)));
    }
    return out;
  }

  void reset() {
    std::unique_lock lock(mutex_);
    chunks_.clear();
    ids_.clear();
  }

  void save(const std::filesystem::path& path) const {
    // Saving only reads: searches may go on meanwhile, mutations wait.
    std::shared_lock lock(mutex_);
    FlatIndexWriter writer(path, {.metric = metric_, .dim = dim_, .rows = ids_.size()});
    writer.write_ids(ids_);
    for (const BaseChunk& chunk : chunks_) {
      download_chunk(chunk, writer);
    }
    writer.commit();
  }

  /// Fills this (new, empty) index from a verified file.
  void load_from(FlatIndexReader& reader, const std::filesystem::path& path) {
    const std::vector<std::int64_t> ids = reader.read_ids();
    // Only a crafted file holds one (add_with_ids refuses them), but the checksum cannot tell.
    if (const std::size_t row = first_negative(ids); row < ids.size()) {
      throw Error(Errc::io_error,
                  "cannot load index '" + path.string() + "': " + negative_id_text(row, ids[row]));
    }
    const std::size_t slice_rows =
        std::max<std::size_t>(1, kLoadSliceBytes / (dim_ * sizeof(float)));
    std::vector<float> values;
    std::unique_lock lock(mutex_);
    for (std::size_t row = 0; row < ids.size(); row += slice_rows) {
      const std::size_t n = std::min(slice_rows, ids.size() - row);
      values.resize(n * dim_);
      reader.read_vectors(values);
      try {
        // save() writes only finite values (add checks them), so this holds for any file the
        // checksum vouches for unless it was crafted; still never build an index from it.
        check_finite(values, dim_, "base", row);
      } catch (const Error& e) {
        throw Error(Errc::io_error, "cannot load index '" + path.string() + "': " + e.what());
      }
      append_locked(values, std::span(ids).subspan(row, n), true);
    }
  }

 private:
  std::size_t rows_of(std::span<const float> values, const char* operation) const {
    if (values.size() % dim_ != 0) {
      throw Error(Errc::invalid_argument,
                  std::string("FlatIndex::") + operation + ": " + std::to_string(values.size()) +
                      " floats is not a whole number of rows of dimension " + std::to_string(dim_) +
                      " (dimension mismatch?)");
    }
    return values.size() / dim_;
  }

  KnnResult padding(std::size_t rows, std::size_t k) const {
    return {.rows = rows,
            .k = k,
            .distances = std::vector<float>(rows * k, worst_distance(metric_)),
            .labels = std::vector<std::int64_t>(rows * k, -1)};
  }

  /// Appends validated rows. On failure the index is left as it was before the call.
  void append_locked(std::span<const float> vectors, std::span<const std::int64_t> ids,
                     bool with_ids) {
    const std::size_t n = vectors.size() / dim_;
    const std::size_t old_rows = ids_.size();
    const std::size_t old_chunks = chunks_.size();
    const std::size_t old_last_rows = chunks_.empty() ? 0 : chunks_.back().rows;
    try {
      for (std::size_t done = 0; done < n;) {
        BaseChunk& chunk = chunk_with_room(n - done);
        const std::size_t take = std::min(n - done, chunk.capacity - chunk.rows);
        engine_.append(chunk, vectors.subspan(done * dim_, take * dim_));
        done += take;
      }
      if (with_ids) {
        ids_.insert(ids_.end(), ids.begin(), ids.end());
      } else {
        // add() numbers rows by position, also after earlier add_with_ids calls.
        for (std::size_t i = 0; i < n; ++i)
          ids_.push_back(static_cast<std::int64_t>(old_rows + i));
      }
    } catch (...) {
      // Rows past a chunk's count are ignored by the engine: trimming the counts undoes the
      // append (a grown last chunk holds the same first rows as the one it replaced).
      chunks_.resize(old_chunks);
      if (!chunks_.empty()) chunks_.back().rows = old_last_rows;
      ids_.resize(old_rows);
      throw;
    }
  }

  /// The last chunk, grown (doubling, up to chunk_rows) or newly made so that it has room for
  /// at least one and up to `wanted` more rows.
  BaseChunk& chunk_with_room(std::size_t wanted) {
    const std::size_t limit = engine_.chunk_rows();
    if (chunks_.empty() || chunks_.back().rows == limit) {
      chunks_.push_back(engine_.make_chunk(std::min(limit, std::max(wanted, kMinChunkCapacity))));
      return chunks_.back();
    }
    BaseChunk& chunk = chunks_.back();
    const std::size_t needed = std::min(limit, chunk.rows + wanted);
    if (needed > chunk.capacity) {
      std::size_t capacity = std::max<std::size_t>(chunk.capacity, 1);
      while (capacity < needed)
        capacity *= 2;
      chunk = engine_.grow(chunk, std::min(limit, capacity));
    }
    return chunk;
  }

  /// Writes a chunk's vectors to the file, read back from the GPU in slices.
  void download_chunk(const BaseChunk& chunk, FlatIndexWriter& writer) const {
    if (chunk.rows == 0) return;
    const std::uint64_t row_bytes = dim_ * sizeof(float);
    const std::size_t slice_rows =
        static_cast<std::size_t>(std::max<std::uint64_t>(1, kDownloadSliceBytes / row_bytes));
    BufferToken staging = context_.get_buffer(std::min(chunk.rows, slice_rows) * row_bytes);
    std::vector<float> host;
    for (std::size_t row = 0; row < chunk.rows; row += slice_rows) {
      const std::size_t n = std::min(slice_rows, chunk.rows - row);
      const std::uint64_t bytes = n * row_bytes;
      context_.execute_and_wait([&](CommandBuffer&, ComputeEncoder& encoder) {
        encoder.copy_buffer(chunk.vectors, row * row_bytes, staging.buffer(), 0, bytes);
        // The copy's writes must be visible to the host before it reads the mapped memory.
        encoder.barrier({staging.buffer()}, Stage::blit, Stage::host);
      });
      host.resize(n * dim_);
      staging.read_bytes(std::as_writable_bytes(std::span(host)));
      writer.write_vectors(host);
    }
  }

  Context& context_;
  std::size_t dim_;
  Metric metric_;
  KnnEngine engine_;
  mutable std::shared_mutex mutex_;
  std::vector<BaseChunk> chunks_;  // all full except the last
  std::vector<std::int64_t> ids_;  // ids_[global row]
};

}  // namespace detail

FlatIndex::FlatIndex(Context& context, std::size_t dim, Metric metric)
    : impl_(std::make_unique<detail::FlatIndexImpl>(context, dim, metric)) {}
FlatIndex::FlatIndex(std::unique_ptr<detail::FlatIndexImpl> impl) noexcept
    : impl_(std::move(impl)) {}
FlatIndex::FlatIndex(FlatIndex&&) noexcept = default;
FlatIndex& FlatIndex::operator=(FlatIndex&&) noexcept = default;
FlatIndex::~FlatIndex() = default;

void FlatIndex::add(std::span<const float> vectors) {
  impl_->add(vectors, {}, false);
}
void FlatIndex::add_with_ids(std::span<const float> vectors, std::span<const std::int64_t> ids) {
  impl_->add(vectors, ids, true);
}
KnnResult FlatIndex::search(std::span<const float> queries, std::size_t k,
                            const ExecuteOptions& options) const {
  return impl_->search(queries, k, options);
}
std::vector<float> FlatIndex::reconstruct(std::span<const std::size_t> rows) const {
  return impl_->reconstruct(rows);
}
std::size_t FlatIndex::size() const noexcept {
  return impl_->size();
}
std::size_t FlatIndex::dim() const noexcept {
  return impl_->dim();
}
Metric FlatIndex::metric() const noexcept {
  return impl_->metric();
}
void FlatIndex::reset() {
  impl_->reset();
}
void FlatIndex::save(const std::filesystem::path& path) const {
  impl_->save(path);
}

FlatIndex FlatIndex::load(Context& context, const std::filesystem::path& path) {
  detail::FlatIndexReader reader(path);
  const detail::FlatIndexHeader& header = reader.header();
  auto impl = std::make_unique<detail::FlatIndexImpl>(context, static_cast<std::size_t>(header.dim),
                                                      header.metric);
  impl->load_from(reader, path);
  return FlatIndex(std::move(impl));
}

}  // namespace vecaccel
