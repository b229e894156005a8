#include "vecaccel/flat_index.hpp"

#include <algorithm>
#include <bit>
#include <limits>
#include <mutex>
#include <numeric>
#include <optional>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/writer_preferring_mutex.hpp"
#include "ops/base_upload.hpp"
#include "ops/chunk_readback.hpp"
#include "ops/exact_merge.hpp"
#include "ops/flat_index_file.hpp"
#include "ops/id_order.hpp"
#include "ops/kernels.hpp"
#include "ops/knn_engine.hpp"
#include "ops/knn_result.hpp"
#include "ops/row_compaction.hpp"
#include "ops/row_filter.hpp"
#include "ops/row_staging.hpp"
#include "ops/search_coalescer.hpp"
#include "ops/streamed_search.hpp"
#include "search/range_search.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel {
namespace detail {
namespace {

// A first chunk sized exactly to a tiny first add would be regrown on every following small
// add; starting at a few hundred rows costs little and skips those first doublings.
constexpr std::size_t kMinChunkCapacity = 256;
// load() uploads this many bytes of rows per add, so loading a large index needs little extra
// memory.
constexpr std::uint64_t kLoadSliceBytes = std::uint64_t{64} << 20;

std::size_t checked_dim(std::size_t dim) {
  if (dim == 0 || dim > FlatIndex::max_dim) {
    throw Error(Errc::invalid_argument, "FlatIndex: dimension " + std::to_string(dim) +
                                            " outside 1.." + std::to_string(FlatIndex::max_dim));
  }
  return dim;
}

/// first, first + 1, ..., first + count - 1: the ids add() gives.
std::vector<std::int64_t> positions(std::size_t first, std::size_t count) {
  std::vector<std::int64_t> out(count);
  std::iota(out.begin(), out.end(), static_cast<std::int64_t>(first));
  return out;
}

}  // namespace

template <class T>
RowSource rows_in_memory(std::span<const T> values, std::size_t dim) {
  constexpr ElementType type = std::is_same_v<T, float>          ? ElementType::float32
                               : std::is_same_v<T, std::uint8_t> ? ElementType::uint8
                                                                 : ElementType::int8;
  return {.type = type, .dim = dim, .bytes = std::as_bytes(values)};
}

class FlatIndexImpl {
 public:
  FlatIndexImpl(Context& context, std::size_t dim, Metric metric, ElementType type,
                HalfCopy half_copy)
      : context_(context),
        dim_(checked_dim(dim)),
        metric_(metric),
        type_(type),
        half_copy_(checked_half_copy(context, dim, half_copy)),
        engine_(context, dim, metric),
        uploader_(context, dim, metric, engine_.chunk_rows()) {}

  std::size_t dim() const noexcept { return dim_; }
  Metric metric() const noexcept { return metric_; }
  ElementType element_type() const noexcept { return type_; }

  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return rows_;
  }

  void add(const RowSource& vectors, std::span<const std::int64_t> ids, bool with_ids) {
    const std::size_t n = rows_of(vectors, "add");
    if (vectors.type != type_) {
      throw Error(Errc::invalid_argument,
                  std::string("FlatIndex::add: ") + std::string(to_string(vectors.type)) +
                      " rows into an index of " + std::string(to_string(type_)) +
                      " rows (the element type is fixed when the index is made)");
    }
    if (with_ids && ids.size() != n) {
      throw Error(Errc::invalid_argument, "FlatIndex::add_with_ids: " + std::to_string(ids.size()) +
                                              " ids for " + std::to_string(n) + " vectors");
    }
    if (const auto problem = negative_id_problem(ids))
      throw Error(Errc::invalid_argument, "FlatIndex::add_with_ids: " + *problem);
    std::unique_lock lock(mutex_);
    if (n == 0) return;
    append_locked(vectors, ids, with_ids);
  }

  /// The public search: small ones may share a batch with concurrent others of an equal
  /// filter (coalescer_).
  KnnResult search(std::span<const float> queries, std::size_t k, const ExecuteOptions& options,
                   const IdFilter* filter = nullptr) const {
    check_k(k, "FlatIndex::search");
    const std::size_t nq = rows_of(queries, "search");
    if (!coalescer_.accepts(nq, k)) return search_now(queries, k, options, filter);
    // Checked before joining, so that a caller's bad input fails that caller alone.
    check_finite(queries, dim_, "query");
    auto run = [this](std::span<const float> batch, std::size_t width,
                      const ExecuteOptions& batch_options, const IdFilter* batch_filter) {
      return search_now(batch, width, batch_options, batch_filter);
    };
    return coalescer_.search(queries, k, options, filter, run);
  }

  SearchCoalescer& coalescer() const noexcept { return coalescer_; }

  KnnResult search_now(std::span<const float> queries, std::size_t k, const ExecuteOptions& options,
                       const IdFilter* filter) const {
    std::shared_lock lock(mutex_);
    return search_locked(queries, k, options, filter);
  }

  RangeResult range_search(MatrixView<const float> queries, double radius, std::size_t max_results,
                           const ExecuteOptions& options, const IdFilter* filter) const {
    std::shared_lock lock(mutex_);
    check_finite(queries.data(), dim_, "query");
    std::unordered_map<std::int64_t, std::size_t> position_of;  // made when first needed
    const RangeSource source{
        .queries = queries.rows(),
        .rows = rows_,
        .knn =
            [&](std::span<const std::size_t> picked, std::size_t k) {
              std::vector<float> some;
              for (const std::size_t q : picked)
                some.insert(some.end(), queries.row(q).begin(), queries.row(q).end());
              return search_locked(some, k, options, filter);
            },
        .exact =
            [&](std::size_t q, std::int64_t label) {
              if (!ids_.empty() && position_of.empty()) {
                for (std::size_t r = 0; r < ids_.size(); ++r)
                  position_of.emplace(ids_[r], r);
              }
              const std::size_t row =
                  ids_.empty() ? static_cast<std::size_t>(label) : position_of.at(label);
              return direct_distance(queries.row(q), reconstruct_locked(std::span(&row, 1)),
                                     metric_);
            }};
    return range_by_knn(source, radius, metric_, max_results);
  }

  KnnResult search_locked(std::span<const float> queries, std::size_t k,
                          const ExecuteOptions& options, const IdFilter* filter) const {
    check_k(k, "FlatIndex::search");
    const std::size_t nq = rows_of(queries, "search");
    std::optional<RowFilter> rows_allowed;
    if (filter != nullptr) rows_allowed = row_filter_locked(*filter);
    const RowFilter* allowed = rows_allowed ? &*rows_allowed : nullptr;
    if (rows_ == 0 || nq == 0 || (allowed != nullptr && allowed->allowed() == 0)) {
      check_finite(queries, dim_, "query");
      return padded_result(nq, k, metric_);
    }
    // The engine labels rows by their global row number (ties by row); callers see their ids,
    // ties by id.
    if (ids_.empty()) return search_rows(queries, k, options, allowed);
    const LabelledRows rows{
        .rows = allowed != nullptr ? allowed->allowed() : rows_,
        .ids = ids_,
        .ids_ascending = ids_ascending_,
        .search = [&](std::span<const float> some,
                      std::size_t width) { return search_rows(some, width, options, allowed); },
        .fetch = [&](std::span<const std::size_t> labels) { return reconstruct_locked(labels); },
        .all_labels =
            [&] {
              if (allowed != nullptr) return allowed->allowed_rows();
              std::vector<std::size_t> all(rows_);
              std::iota(all.begin(), all.end(), std::size_t{0});
              return all;
            }};
    return search_ties_by_id(queries, dim_, k, metric_, rows);
  }

  std::vector<float> reconstruct(std::span<const std::size_t> rows) const {
    std::shared_lock lock(mutex_);
    for (const std::size_t row : rows) {
      if (row >= rows_) {
        throw Error(Errc::invalid_argument, "FlatIndex::reconstruct: row " + std::to_string(row) +
                                                " is out of range: the index holds " +
                                                std::to_string(rows_) + " rows");
      }
    }
    return reconstruct_locked(rows);
  }

  /// reconstruct() of rows in range, under a lock the caller holds.
  std::vector<float> reconstruct_locked(std::span<const std::size_t> rows) const {
    std::vector<Buffer> buffers;
    for (const BaseChunk& chunk : chunks_)
      buffers.push_back(chunk.vectors);
    for (const CompactChunk& chunk : compact_)
      buffers.push_back(chunk.bytes);
    return widen_on_host(type_, read_back_rows(context_, buffers, engine_.chunk_rows(),
                                               dim_ * element_size(type_), rows));
  }

  /// Removes the rows whose id is in `ids`; the others keep their ids and order.
  std::size_t remove_ids(std::span<const std::int64_t> ids) {
    std::vector<std::int64_t> removed(ids.begin(), ids.end());
    std::sort(removed.begin(), removed.end());
    std::unique_lock lock(mutex_);
    // Not std::vector<bool>: a span needs contiguous bools.
    const auto keep = std::make_unique<bool[]>(rows_);
    std::vector<std::int64_t> kept_ids;
    for (std::size_t row = 0; row < rows_; ++row) {
      const std::int64_t id = ids_.empty() ? static_cast<std::int64_t>(row) : ids_[row];
      keep[row] = !std::binary_search(removed.begin(), removed.end(), id);
      if (keep[row]) kept_ids.push_back(id);
    }
    const std::size_t count = rows_ - kept_ids.size();
    if (count == 0) return 0;
    const std::span<const bool> kept(keep.get(), rows_);
    if (type_ == ElementType::float32) {
      remove_rows(context_, chunks_, kept, engine_.chunk_rows(), dim_);
    } else {
      remove_rows(context_, compact_, kept, engine_.chunk_rows(), dim_);
    }
    rows_ = kept_ids.size();
    // Ids stay in their order, so ascending ones stay ascending; where they are the positions
    // again (only rows at the end were removed), no list is needed.
    if (kept_ids == positions(0, rows_)) {
      ids_.clear();
    } else {
      ids_ = std::move(kept_ids);
    }
    ids_ascending_ = std::is_sorted(ids_.begin(), ids_.end());
    return count;
  }

  std::uint64_t device_bytes() const {
    std::shared_lock lock(mutex_);
    std::uint64_t total = 0;
    const auto count = [&total](const Buffer& buffer) {
      if (buffer.valid()) total += buffer.size();
    };
    for (const BaseChunk& chunk : chunks_) {
      count(chunk.vectors);
      count(chunk.norms);
      count(chunk.halves);
      count(chunk.half_scales);
    }
    for (const CompactChunk& chunk : compact_)
      count(chunk.bytes);
    return total;
  }

  void reset() {
    std::unique_lock lock(mutex_);
    chunks_.clear();
    compact_.clear();
    centre_.reset();  // the next rows get a centre of their own
    ids_.clear();
    ids_ascending_ = true;
    rows_ = 0;
    next_label_ = 0;
  }

  void save(const std::filesystem::path& path) const {
    // Saving only reads: searches may go on meanwhile, mutations wait.
    std::shared_lock lock(mutex_);
    FlatIndexWriter writer(path, {.metric = metric_,
                                  .dim = dim_,
                                  .rows = rows_,
                                  .element_type = type_,
                                  .next_label = next_label_});
    writer.write_ids(ids_.empty() ? positions(0, rows_) : ids_);
    const auto sink = [&](std::span<const std::byte> rows) { writer.write_vectors(rows); };
    for (const BaseChunk& chunk : chunks_)
      read_back_slices(context_, chunk.vectors, chunk.rows, dim_ * sizeof(float), sink);
    for (const CompactChunk& chunk : compact_)
      read_back_slices(context_, chunk.bytes, chunk.rows, dim_, sink);
    writer.commit();
  }

  /// Fills this (new, empty) index of the file's element type from a verified file.
  void load_from(FlatIndexReader& reader, const std::filesystem::path& path) {
    const std::vector<std::int64_t> ids = reader.read_ids();
    // Only a crafted file holds one (add_with_ids refuses them), but the checksum cannot tell.
    if (const auto problem = negative_id_problem(ids))
      throw Error(Errc::io_error, "cannot load index '" + path.string() + "': " + *problem);
    const bool positional = ids == positions(0, ids.size());
    const std::size_t row_bytes = dim_ * element_size(type_);
    const std::size_t slice_rows = std::max<std::size_t>(1, kLoadSliceBytes / row_bytes);
    std::vector<std::byte> bytes;
    std::unique_lock lock(mutex_);
    for (std::size_t row = 0; row < ids.size(); row += slice_rows) {
      const std::size_t n = std::min(slice_rows, ids.size() - row);
      bytes.resize(n * row_bytes);
      reader.read_vectors(bytes);
      const RowSource rows{.type = type_, .dim = dim_, .bytes = bytes};
      if (type_ == ElementType::float32) check_loaded(rows, row, path);
      append_locked(rows, std::span(ids).subspan(row, n), !positional);
    }
    next_label_ = static_cast<std::size_t>(reader.header().next_label);
  }

 private:
  /// save() writes only finite values (add checks them), so this holds for any file the
  /// checksum vouches for unless it was crafted; still never build an index from it.
  void check_loaded(const RowSource& rows, std::size_t first_row,
                    const std::filesystem::path& path) const {
    try {
      check_finite({reinterpret_cast<const float*>(rows.bytes.data()), rows.bytes.size() / 4}, dim_,
                   "base", first_row);
    } catch (const Error& e) {
      throw Error(Errc::io_error, "cannot load index '" + path.string() + "': " + e.what());
    }
  }

  std::size_t rows_of(std::span<const float> values, const char* operation) const {
    return rows_of(rows_in_memory(values, dim_), operation);
  }

  std::size_t rows_of(const RowSource& values, const char* operation) const {
    if (values.dim != dim_ ||
        (values.mapped == nullptr && values.bytes.size() % values.row_bytes() != 0)) {
      const bool mapped = values.mapped != nullptr;
      const std::size_t count =
          mapped ? values.dim : values.bytes.size() / element_size(values.type);
      throw Error(Errc::invalid_argument,
                  std::string("FlatIndex::") + operation + ": " +
                      (mapped ? "rows of dimension " + std::to_string(count)
                              : std::to_string(count) + " " +
                                    (values.type == ElementType::float32
                                         ? std::string("floats")
                                         : std::string(to_string(values.type)) + " values") +
                                    " is not a whole number of rows") +
                      (mapped ? " do not match" : " of") + " dimension " + std::to_string(dim_) +
                      " (dimension mismatch?)");
    }
    return values.rows();
  }

  /// The search by global row number (the engine's labels, ties by row), of the rows
  /// `allowed` allows (all when null).
  KnnResult search_rows(std::span<const float> queries, std::size_t k,
                        const ExecuteOptions& options, const RowFilter* allowed) const {
    return type_ == ElementType::float32 ? engine_.search(queries, chunks_, k, options, allowed)
                                         : search_compact(queries, k, options, allowed);
  }

  /// The rows whose ids `filter` allows (an allow-list of a positional index visits its ids).
  RowFilter row_filter_locked(const IdFilter& filter) const {
    if (ids_.empty()) return RowFilter::of_positions(filter, rows_, 0);
    return RowFilter::of_ids(filter, rows_, [&](std::size_t r) { return ids_[r]; });
  }

  /// Appends rows, checking them as they are staged. On failure the index is left as it was
  /// before the call.
  void append_locked(const RowSource& vectors, std::span<const std::int64_t> ids, bool with_ids) {
    const std::size_t n = vectors.rows();
    const std::size_t old_rows = rows_;
    const std::size_t old_ids = ids_.size();
    const std::size_t old_chunks = chunks_.size();
    const std::size_t old_last_rows = chunks_.empty() ? 0 : chunks_.back().rows;
    const double old_last_norm = chunks_.empty() ? 0.0 : chunks_.back().max_norm;
    const double old_last_centred = chunks_.empty() ? 0.0 : chunks_.back().max_centred_norm;
    const std::size_t old_compact = compact_.size();
    const std::size_t old_compact_rows = compact_.empty() ? 0 : compact_.back().rows;
    const double old_compact_norm = compact_.empty() ? 0.0 : compact_.back().max_norm;
    if (wants_centre()) centre_ = make_centre(vectors);
    try {
      for (std::size_t done = 0; done < n;) {
        if (type_ == ElementType::float32) {
          BaseChunk& chunk = chunk_with_room(n - done);
          const std::size_t take = std::min(n - done, chunk.capacity - chunk.rows);
          uploader_.append(chunk, vectors, done, take, old_rows + done);
          done += take;
        } else {
          CompactChunk& chunk = compact_with_room(n - done);
          const std::size_t take = std::min(n - done, chunk.capacity - chunk.rows);
          uploader_.append(chunk, vectors, done, take);
          done += take;
        }
      }
      // add() numbers rows on from every row added before (removed ones and add_with_ids
      // rows too), so that no label it gives repeats.
      if (with_ids || !ids_.empty() || next_label_ != old_rows) {
        if (ids_.empty()) ids_ = positions(0, old_rows);
        const std::vector<std::int64_t> more =
            with_ids ? std::vector<std::int64_t>(ids.begin(), ids.end())
                     : positions(next_label_, n);
        ids_.insert(ids_.end(), more.begin(), more.end());
      }
      ids_ascending_ = ids_ascend(ids_, old_ids, ids_ascending_);
      rows_ = old_rows + n;
      next_label_ += n;
    } catch (...) {
      // Rows past a chunk's count are ignored by the engine: trimming the counts undoes the
      // append (a grown last chunk holds the same first rows as the one it replaced).
      chunks_.resize(old_chunks);
      if (!chunks_.empty()) {
        chunks_.back().rows = old_last_rows;
        chunks_.back().max_norm = old_last_norm;
        chunks_.back().max_centred_norm = old_last_centred;
      }
      compact_.resize(old_compact);
      if (!compact_.empty()) {
        compact_.back().rows = old_compact_rows;
        compact_.back().max_norm = old_compact_norm;
      }
      ids_.resize(old_ids);
      throw;
    }
  }

  /// The last chunk, grown (doubling, up to chunk_rows) or newly made so that it has room for
  /// at least one and up to `wanted` more rows. make(capacity) makes an empty chunk,
  /// grow(chunk, capacity) a bigger copy of one.
  template <class Chunk, class Make, class Grow>
  Chunk& with_room(std::vector<Chunk>& chunks, std::size_t wanted, Make&& make, Grow&& grow) {
    const std::size_t limit = engine_.chunk_rows();
    if (chunks.empty() || chunks.back().rows == limit) {
      chunks.push_back(make(std::min(limit, std::max(wanted, kMinChunkCapacity))));
      return chunks.back();
    }
    Chunk& chunk = chunks.back();
    const std::size_t needed = std::min(limit, chunk.rows + wanted);
    if (needed > chunk.capacity) {
      std::size_t capacity = std::max<std::size_t>(chunk.capacity, 1);
      while (capacity < needed)
        capacity *= 2;
      chunk = grow(chunk, std::min(limit, capacity));
    }
    return chunk;
  }

  BaseChunk& chunk_with_room(std::size_t wanted) {
    return with_room(
        chunks_, wanted,
        [&](std::size_t capacity) {
          return engine_.make_chunk(capacity, wants_half_copy(capacity), centre_);
        },
        [&](const BaseChunk& chunk, std::size_t capacity) {
          return engine_.grow(chunk, capacity);
        });
  }

  static HalfCopy checked_half_copy(Context& context, std::size_t dim, HalfCopy half_copy) {
    const bool supported =
        dim <= FlatIndex::max_dim &&
        half_copy_supported(context.device().capabilities(), static_cast<std::uint32_t>(dim));
    if (half_copy == HalfCopy::always && !supported) {
      throw Error(Errc::invalid_argument,
                  "FlatIndex: HalfCopy::always for dimension " + std::to_string(dim) +
                      ": a float16 copy needs a dimension that is a multiple of 4");
    }
    return supported ? half_copy : HalfCopy::never;
  }

  /// Whether a new chunk of `capacity` rows gets a float16 copy: always, or (automatic) while
  /// the chunk with its copy takes at most half the device memory left.
  bool wants_half_copy(std::size_t capacity) const {
    if (type_ != ElementType::float32 || half_copy_ == HalfCopy::never) return false;
    if (half_copy_ == HalfCopy::always) return true;
    return engine_.chunk_bytes(capacity, true) <= device_memory_budget(context_) / 2;
  }

  /// l2 float16 copies are made about a centre, chosen from the first rows added.
  bool wants_centre() const {
    return type_ == ElementType::float32 && metric_ == Metric::l2 &&
           half_copy_ != HalfCopy::never && !centre_;
  }

  /// The mean of (a sample of) these rows, those with only finite values (others are refused
  /// as they are staged); none when no sampled row is finite.
  std::shared_ptr<const RowCentre> make_centre(const RowSource& rows) const {
    return make_row_centre(context_, dim_, rows.rows(), [&](std::size_t i) { return rows.row(i); });
  }

  CompactChunk& compact_with_room(std::size_t wanted) {
    const auto grow = [&](const CompactChunk& chunk, std::size_t capacity) {
      CompactChunk bigger = uploader_.make_compact_chunk(capacity);
      context_.execute_and_wait(
          [&](CommandBuffer&, ComputeEncoder& encoder) {
            encoder.copy_buffer(chunk.bytes, 0, bigger.bytes, 0, std::uint64_t{chunk.rows} * dim_);
          },
          without_time_limit());
      bigger.rows = chunk.rows;
      bigger.max_norm = chunk.max_norm;
      return bigger;
    };
    return with_room(
        compact_, wanted,
        [&](std::size_t capacity) { return uploader_.make_compact_chunk(capacity); }, grow);
  }

  /// Searches a compact index: each chunk is widened on the GPU into a float32 scratch chunk
  /// (the next while the current one is searched) and searched exactly; the chunks' top k are
  /// merged exactly (TopKMerger).
  KnnResult search_compact(std::span<const float> queries, std::size_t k,
                           const ExecuteOptions& options, const RowFilter* allowed) const {
    const Deadline deadline = Deadline::after(options.timeout, options.stop);
    std::vector<std::size_t> first_rows;
    for (std::size_t c = 0, row = 0; c < compact_.size(); row += compact_[c].rows, ++c)
      first_rows.push_back(row);
    TopKMerger merger(queries, dim_, k, metric_, small_integers(queries), [&](std::int64_t label) {
      const auto row = static_cast<std::size_t>(label);
      return reconstruct_locked(std::span(&row, 1));
    });
    std::size_t widest = 1;
    for (const CompactChunk& chunk : compact_)
      widest = std::max(widest, chunk.rows);
    BaseChunk scratch[2] = {engine_.make_chunk(widest), engine_.make_chunk(widest)};
    for (BaseChunk& chunk : scratch)
      uploader_.keep_integer_rows(chunk);
    const auto widen = [&](std::size_t c) {
      return context_.execute(
          [&, c](CommandBuffer&, ComputeEncoder& e) {
            uploader_.encode_widen(e, compact_[c], type_, scratch[c % 2]);
          },
          deadline.execute_options());
    };
    Submission<void> next = widen(0);
    for (std::size_t c = 0; c < compact_.size(); ++c) {
      deadline.wait(next, "widening compact base chunk " + std::to_string(c));
      BaseChunk& chunk = scratch[c % 2];
      attach_widened(chunk, compact_[c], type_);
      if (c + 1 < compact_.size()) next = widen(c + 1);
      std::optional<RowFilter> chunk_allowed;
      if (allowed != nullptr) chunk_allowed = allowed->slice(first_rows[c], chunk.rows);
      const KnnResult part =
          engine_.search(queries, std::span(&chunk, 1), k, deadline.execute_options(),
                         chunk_allowed ? &*chunk_allowed : nullptr);
      merger.add(part, static_cast<std::int64_t>(first_rows[c]));
    }
    return merger.take();
  }

  Context& context_;
  std::size_t dim_;
  Metric metric_;
  ElementType type_;
  HalfCopy half_copy_;
  KnnEngine engine_;
  // Used by add() alone, under the exclusive lock; search_compact only records with it.
  mutable BaseUploader uploader_;
  // Writer-preferring: add/reset wait for the searches already running, not for a stream of
  // new ones.
  mutable WriterPreferringMutex mutex_;
  mutable SearchCoalescer coalescer_{dim_};
  std::vector<BaseChunk> chunks_;            // float32 rows; all full except the last
  std::shared_ptr<const RowCentre> centre_;  // of the l2 float16 copies (wants_centre)
  std::vector<CompactChunk> compact_;        // uint8/int8 rows; likewise
  std::size_t rows_ = 0;
  // Rows ever added (since the last reset): the label add() gives next.
  std::size_t next_label_ = 0;
  // ids_[global row]; empty while every row's id is its position (add() alone), which spares
  // a large base 8 bytes a row of host memory.
  std::vector<std::int64_t> ids_;
  bool ids_ascending_ = true;  // ids_ never descend (ids_ascend)
};

}  // namespace detail

FlatIndex::FlatIndex(Context& context, std::size_t dim, Metric metric)
    : FlatIndex(context, dim, metric, ElementType::float32) {}
FlatIndex::FlatIndex(Context& context, std::size_t dim, Metric metric, ElementType type)
    : FlatIndex(context, dim, metric, type, HalfCopy::automatic) {}
FlatIndex::FlatIndex(Context& context, std::size_t dim, Metric metric, ElementType type,
                     HalfCopy half_copy)
    : impl_(std::make_unique<detail::FlatIndexImpl>(context, dim, metric, type, half_copy)) {}
FlatIndex::FlatIndex(std::unique_ptr<detail::FlatIndexImpl> impl) noexcept
    : impl_(std::move(impl)) {}
FlatIndex::FlatIndex(FlatIndex&&) noexcept = default;
FlatIndex& FlatIndex::operator=(FlatIndex&&) noexcept = default;
FlatIndex::~FlatIndex() = default;

void FlatIndex::add(std::span<const float> vectors) {
  impl_->add(detail::rows_in_memory(vectors, impl_->dim()), {}, false);
}
void FlatIndex::add(std::span<const std::uint8_t> vectors) {
  impl_->add(detail::rows_in_memory(vectors, impl_->dim()), {}, false);
}
void FlatIndex::add(std::span<const std::int8_t> vectors) {
  impl_->add(detail::rows_in_memory(vectors, impl_->dim()), {}, false);
}
void FlatIndex::add(const MappedVectors& vectors) {
  impl_->add({.type = vectors.element_type(), .dim = vectors.dim(), .mapped = &vectors}, {}, false);
}
void FlatIndex::add(MatrixView<const float> vectors) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add(vectors.data());
}
void FlatIndex::add(MatrixView<const std::uint8_t> vectors) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add(vectors.data());
}
void FlatIndex::add(MatrixView<const std::int8_t> vectors) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add(vectors.data());
}
void FlatIndex::add_with_ids(std::span<const float> vectors, std::span<const std::int64_t> ids) {
  impl_->add(detail::rows_in_memory(vectors, impl_->dim()), ids, true);
}
void FlatIndex::add_with_ids(std::span<const std::uint8_t> vectors,
                             std::span<const std::int64_t> ids) {
  impl_->add(detail::rows_in_memory(vectors, impl_->dim()), ids, true);
}
void FlatIndex::add_with_ids(std::span<const std::int8_t> vectors,
                             std::span<const std::int64_t> ids) {
  impl_->add(detail::rows_in_memory(vectors, impl_->dim()), ids, true);
}
void FlatIndex::add_with_ids(MatrixView<const float> vectors, std::span<const std::int64_t> ids) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add_with_ids(vectors.data(), ids);
}
void FlatIndex::add_with_ids(MatrixView<const std::uint8_t> vectors,
                             std::span<const std::int64_t> ids) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add_with_ids(vectors.data(), ids);
}
void FlatIndex::add_with_ids(MatrixView<const std::int8_t> vectors,
                             std::span<const std::int64_t> ids) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add_with_ids(vectors.data(), ids);
}
KnnResult FlatIndex::search(std::span<const float> queries, std::size_t k,
                            const ExecuteOptions& options) const {
  return impl_->search(queries, k, options);
}
KnnResult FlatIndex::search(MatrixView<const float> queries, std::size_t k,
                            const ExecuteOptions& options) const {
  detail::check_same_dim(queries.dim(), dim(), "queries", "the index");
  return search(queries.data(), k, options);
}
void FlatIndex::set_coalescing_window(std::chrono::nanoseconds window) {
  impl_->coalescer().set_window(window);
}
std::chrono::nanoseconds FlatIndex::coalescing_window() const {
  return impl_->coalescer().window();
}
KnnResult FlatIndex::search(std::span<const float> queries, std::size_t k, const IdFilter& filter,
                            const ExecuteOptions& options) const {
  return impl_->search(queries, k, options, &filter);
}
KnnResult FlatIndex::search(MatrixView<const float> queries, std::size_t k, const IdFilter& filter,
                            const ExecuteOptions& options) const {
  detail::check_same_dim(queries.dim(), dim(), "queries", "the index");
  return search(queries.data(), k, filter, options);
}
RangeResult FlatIndex::range_search(MatrixView<const float> queries, double radius,
                                    std::size_t max_results, const ExecuteOptions& options) const {
  detail::check_same_dim(queries.dim(), dim(), "queries", "the index");
  return impl_->range_search(queries, radius, max_results, options, nullptr);
}
RangeResult FlatIndex::range_search(MatrixView<const float> queries, double radius,
                                    const IdFilter& filter, std::size_t max_results,
                                    const ExecuteOptions& options) const {
  detail::check_same_dim(queries.dim(), dim(), "queries", "the index");
  return impl_->range_search(queries, radius, max_results, options, &filter);
}
std::vector<float> FlatIndex::reconstruct(std::span<const std::size_t> rows) const {
  return impl_->reconstruct(rows);
}
std::size_t FlatIndex::remove_ids(std::span<const std::int64_t> ids) {
  return impl_->remove_ids(ids);
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
ElementType FlatIndex::element_type() const noexcept {
  return impl_->element_type();
}
std::uint64_t FlatIndex::device_bytes() const {
  return impl_->device_bytes();
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
                                                      header.metric, header.element_type,
                                                      HalfCopy::automatic);
  impl->load_from(reader, path);
  return FlatIndex(std::move(impl));
}

}  // namespace vecaccel
