#include "vecaccel/sharded_index.hpp"

#include <algorithm>
#include <exception>
#include <numeric>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>

#include "core/device_impl.hpp"
#include "core/writer_preferring_mutex.hpp"
#include "ops/base_upload.hpp"
#include "ops/exact_merge.hpp"
#include "ops/id_order.hpp"
#include "ops/knn_engine.hpp"
#include "search/device_threads.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/flat_index.hpp"

namespace vecaccel {
namespace detail {
namespace {

std::vector<std::int64_t> identity(std::size_t n) {
  std::vector<std::int64_t> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<std::int64_t>(i);
  return out;
}

/// A shard's rows come in blocks, one per add that gave it rows: local rows
/// [local, local + count) hold global rows [global, global + count).
struct Block {
  std::size_t local;
  std::size_t global;
  std::size_t count;
};

struct Shard {
  Shard(std::uint32_t device, std::size_t dim, Metric metric, ElementType type,
        const ContextConfiguration& configuration)
      : context(Device::open(device), configuration), index(context, dim, metric, type) {}

  /// Local rows numbered so far: the label the index's next add() gives.
  std::size_t numbered() const {
    return blocks.empty() ? 0 : blocks.back().local + blocks.back().count;
  }

  /// Rows the shard holds.
  std::size_t rows() const { return numbered() - removed.size(); }

  /// The index's position of a local row it holds (remove_ids closes the gaps up).
  std::size_t position(std::size_t local) const {
    return local - static_cast<std::size_t>(
                       std::lower_bound(removed.begin(), removed.end(), local) - removed.begin());
  }

  bool holds(std::size_t local) const {
    return !std::binary_search(removed.begin(), removed.end(), local);
  }

  /// The global row of a local row (a label its index returned).
  std::size_t global_row(std::size_t local) const {
    const auto after = std::upper_bound(blocks.begin(), blocks.end(), local,
                                        [](std::size_t l, const Block& b) { return l < b.local; });
    const Block& block = *std::prev(after);
    return block.global + (local - block.local);
  }

  /// The local row of a global row this shard holds.
  std::size_t local_row(std::size_t global) const {
    const auto after = std::upper_bound(blocks.begin(), blocks.end(), global,
                                        [](std::size_t g, const Block& b) { return g < b.global; });
    const Block& block = *std::prev(after);
    return block.local + (global - block.global);
  }

  Context context;
  // Labelled by local row (add() numbers them): a shard's blocks hold ascending global rows,
  // so its ties are ordered as one FlatIndex over all rows orders them (by row). Its results
  // are relabelled by global row (global_row) before they are merged. remove_ids keeps the
  // labels, so the blocks stay valid.
  FlatIndex index;
  std::vector<Block> blocks;
  std::vector<std::size_t> removed;  // local rows removed, ascending
};

}  // namespace

class ShardedIndexImpl {
 public:
  ShardedIndexImpl(std::span<const std::uint32_t> devices, std::size_t dim, Metric metric,
                   ElementType type, const ContextConfiguration& configuration)
      : dim_(dim), metric_(metric), type_(type) {
    if (devices.empty()) {
      throw Error(Errc::invalid_argument, "ShardedIndex: the list of devices is empty");
    }
    for (const std::uint32_t device : devices)
      shards_.push_back(std::make_unique<Shard>(device, dim, metric, type, configuration));
  }

  std::size_t dim() const noexcept { return dim_; }
  Metric metric() const noexcept { return metric_; }
  ElementType element_type() const noexcept { return type_; }
  std::size_t shard_count() const noexcept { return shards_.size(); }
  const Context& context(std::size_t shard) const { return checked(shard).context; }
  Context& context(std::size_t shard) {
    (void)checked(shard);  // the range check
    return shards_[shard]->context;
  }

  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return held_rows();
  }

  std::size_t shard_size(std::size_t shard) const {
    std::shared_lock lock(mutex_);
    return checked(shard).rows();
  }

  template <class T>
  void add(std::span<const T> vectors, std::span<const std::int64_t> ids, bool with_ids) {
    const std::size_t n = rows_of(vectors, "add");
    if (with_ids) check_ids(ids, n);
    std::unique_lock lock(mutex_);
    const std::vector<std::size_t> takes = spread(n);
    std::vector<std::size_t> firsts(shards_.size(), 0);
    for (std::size_t s = 1; s < shards_.size(); ++s)
      firsts[s] = firsts[s - 1] + takes[s - 1];
    // The batch is checked (on every core) before any shard takes a row, so a refused batch
    // adds nothing; errors name the first bad global row. A single shard's FlatIndex checks
    // its rows itself as it stages them; uint8/int8 rows need no checks.
    if constexpr (std::is_same_v<T, float>) {
      if (shards_.size() > 1) {
        check_float_rows(vectors, dim_, metric_, size_);
      }
    }
    if (n == 0) return;
    const auto errors = run_each(shards_.size(), [&](std::size_t s) {
      if (takes[s] == 0) return;
      shards_[s]->index.add(vectors.subspan(firsts[s] * dim_, takes[s] * dim_));
    });
    // Rows a failed shard did not take leave gaps in the global numbering (its later rows
    // keep their numbers); ids_ maps every number.
    const std::size_t old_ids = ids_.size();
    if (with_ids) {
      if (ids_.empty()) ids_ = identity(size_);
      ids_.insert(ids_.end(), ids.begin(), ids.end());
    } else if (!ids_.empty()) {
      ids_.resize(size_ + n);
      std::iota(ids_.begin() + static_cast<std::ptrdiff_t>(size_), ids_.end(),
                static_cast<std::int64_t>(size_));
    }
    ids_ascending_ = ids_ascend(ids_, old_ids, ids_ascending_);
    for (std::size_t s = 0; s < shards_.size(); ++s) {
      if (errors[s] || takes[s] == 0) continue;
      Shard& shard = *shards_[s];
      shard.blocks.push_back({shard.numbered(), size_ + firsts[s], takes[s]});
    }
    size_ += n;
    rethrow_first(errors);
  }

  KnnResult search(std::span<const float> queries, std::size_t k, const ExecuteOptions& options,
                   const IdFilter* filter = nullptr) const {
    std::shared_lock lock(mutex_);
    std::vector<IdFilter> shard_filters;
    if (filter != nullptr) shard_filters = local_filters(*filter);
    const std::span<const IdFilter> local = shard_filters;
    // Shards label rows by global row number (ties by row); callers see their ids, ties by id.
    if (ids_.empty() || held_rows() == 0) return search_rows(queries, k, options, local);
    std::vector<std::size_t> labels = held_labels();
    if (filter != nullptr) {
      std::erase_if(labels, [&](std::size_t global) { return !filter->allows(ids_[global]); });
    }
    if (labels.empty()) return search_rows(queries, k, options, local);  // padding
    const LabelledRows rows{
        .rows = labels.size(),
        .ids = ids_,
        .ids_ascending = ids_ascending_,
        .search = [&](std::span<const float> some,
                      std::size_t width) { return search_rows(some, width, options, local); },
        .fetch = [&](std::span<const std::size_t> globals) { return fetch_rows(globals); },
        .all_labels = [&] { return labels; }};
    return search_ties_by_id(queries, dim_, k, metric_, rows);
  }

  /// Per shard, the caller's filter over its local labels (ids by global row).
  std::vector<IdFilter> local_filters(const IdFilter& filter) const {
    std::vector<IdFilter> out;
    for (const auto& shard : shards_) {
      const std::size_t labels = shard->numbered();
      std::vector<std::uint64_t> words((labels + 63) / 64, 0);
      for (const Block& block : shard->blocks) {
        for (std::size_t r = 0; r < block.count; ++r) {
          const std::size_t global = block.global + r;
          const auto id = ids_.empty() ? static_cast<std::int64_t>(global) : ids_[global];
          if (filter.allows(id))
            words[(block.local + r) / 64] |= std::uint64_t{1} << ((block.local + r) % 64);
        }
      }
      out.push_back(IdFilter::bitset(words, labels));
    }
    return out;
  }

  /// The search by global row number (ties by row), every shard searched at once and merged;
  /// shard s filtered by filters[s] where given.
  KnnResult search_rows(std::span<const float> queries, std::size_t k,
                        const ExecuteOptions& options,
                        std::span<const IdFilter> filters = {}) const {
    // The search's rule (run_per_device): the caller's stop reaches every shard, a failing one
    // stops the shards after it, and the error is the lowest shard's.
    std::vector<KnnResult> parts(shards_.size());
    run_per_device(shards_.size(), options.stop, [&](std::size_t s, std::stop_token stop) {
      const ExecuteOptions shard_options{.timeout = options.timeout, .stop = stop};
      parts[s] = filters.empty() ? shards_[s]->index.search(queries, k, shard_options)
                                 : shards_[s]->index.search(queries, k, filters[s], shard_options);
      for (std::int64_t& label : parts[s].labels) {
        if (label >= 0)
          label =
              static_cast<std::int64_t>(shards_[s]->global_row(static_cast<std::size_t>(label)));
      }
    });
    return parts.size() == 1 ? std::move(parts[0]) : merge(queries, parts);
  }

  /// The rows of these global row numbers, read back from the shards that hold them.
  std::vector<float> fetch_rows(std::span<const std::size_t> globals) const {
    std::vector<float> out(globals.size() * dim_);
    for (std::size_t i = 0; i < globals.size(); ++i) {
      for (const auto& shard : shards_) {
        const auto block =
            std::find_if(shard->blocks.begin(), shard->blocks.end(), [&](const Block& b) {
              return globals[i] >= b.global && globals[i] < b.global + b.count;
            });
        if (block == shard->blocks.end()) continue;
        const std::size_t local = block->local + (globals[i] - block->global);
        if (!shard->holds(local)) continue;
        const std::size_t position = shard->position(local);
        const std::vector<float> row = shard->index.reconstruct(std::span(&position, 1));
        std::copy(row.begin(), row.end(), out.begin() + static_cast<std::ptrdiff_t>(i * dim_));
        break;
      }
    }
    return out;
  }

  /// Every global row number a shard holds (a failed add leaves gaps).
  std::vector<std::size_t> held_labels() const {
    std::vector<std::size_t> out;
    for (const auto& shard : shards_) {
      for (const Block& block : shard->blocks) {
        for (std::size_t r = 0; r < block.count; ++r) {
          if (shard->holds(block.local + r)) out.push_back(block.global + r);
        }
      }
    }
    return out;
  }

  std::size_t remove_ids(std::span<const std::int64_t> ids) {
    std::vector<std::int64_t> removed(ids.begin(), ids.end());
    std::sort(removed.begin(), removed.end());
    std::unique_lock lock(mutex_);
    std::vector<std::vector<std::int64_t>> locals(shards_.size());
    for (std::size_t s = 0; s < shards_.size(); ++s) {
      const Shard& shard = *shards_[s];
      for (const Block& block : shard.blocks) {
        for (std::size_t r = 0; r < block.count; ++r) {
          const std::size_t global = block.global + r;
          const auto id = ids_.empty() ? static_cast<std::int64_t>(global) : ids_[global];
          if (shard.holds(block.local + r) &&
              std::binary_search(removed.begin(), removed.end(), id))
            locals[s].push_back(static_cast<std::int64_t>(block.local + r));
        }
      }
    }
    // Each shard's index labels its rows by local row (add() numbering): remove those.
    const auto errors = run_each(shards_.size(), [&](std::size_t s) {
      if (!locals[s].empty()) shards_[s]->index.remove_ids(locals[s]);
    });
    std::size_t count = 0;
    for (std::size_t s = 0; s < shards_.size(); ++s) {
      if (errors[s]) continue;
      std::vector<std::size_t>& gone = shards_[s]->removed;
      gone.insert(gone.end(), locals[s].begin(), locals[s].end());
      std::sort(gone.begin(), gone.end());
      count += locals[s].size();
    }
    rethrow_first(errors);
    return count;
  }

  void reset() {
    std::unique_lock lock(mutex_);
    for (auto& shard : shards_) {
      shard->index.reset();
      shard->blocks.clear();
      shard->removed.clear();
    }
    ids_.clear();
    ids_ascending_ = true;
    size_ = 0;
  }

 private:
  const Shard& checked(std::size_t shard) const {
    if (shard >= shards_.size()) {
      throw Error(Errc::invalid_argument,
                  "ShardedIndex: shard " + std::to_string(shard) +
                      " is out of range: " + std::to_string(shards_.size()) + " shard(s)");
    }
    return *shards_[shard];
  }

  template <class T>
  std::size_t rows_of(std::span<const T> values, const char* operation) const {
    constexpr ElementType type = std::is_same_v<T, float>          ? ElementType::float32
                                 : std::is_same_v<T, std::uint8_t> ? ElementType::uint8
                                                                   : ElementType::int8;
    if (type != type_) {
      throw Error(Errc::invalid_argument,
                  std::string("ShardedIndex::") + operation + ": " + std::string(to_string(type)) +
                      " rows into an index of " + std::string(to_string(type_)) +
                      " rows (the element type is fixed when the index is made)");
    }
    if (values.size() % dim_ != 0) {
      throw Error(Errc::invalid_argument,
                  std::string("ShardedIndex::") + operation + ": " + std::to_string(values.size()) +
                      " " + (type == ElementType::float32 ? "floats" : "values") +
                      " is not a whole number of rows of dimension " + std::to_string(dim_));
    }
    return values.size() / dim_;
  }

  static void check_ids(std::span<const std::int64_t> ids, std::size_t rows) {
    if (ids.size() != rows) {
      throw Error(Errc::invalid_argument,
                  "ShardedIndex::add_with_ids: " + std::to_string(ids.size()) + " ids for " +
                      std::to_string(rows) + " vectors");
    }
    if (const auto problem = negative_id_problem(ids))
      throw Error(Errc::invalid_argument, "ShardedIndex::add_with_ids: " + *problem);
  }

  std::size_t held_rows() const {
    std::size_t rows = 0;
    for (const auto& shard : shards_)
      rows += shard->rows();
    return rows;
  }

  /// Rows of the next n that each shard takes: enough to bring every shard to its share of
  /// the new total (shares differ by at most one row), the rest (after a failed add left the
  /// shards uneven) to the smallest.
  std::vector<std::size_t> spread(std::size_t n) const {
    const std::size_t count = shards_.size();
    const std::size_t total = held_rows() + n;
    std::vector<std::size_t> takes(count, 0);
    std::size_t left = n;
    for (std::size_t s = 0; s < count && left > 0; ++s) {
      const std::size_t share = total / count + (s < total % count ? 1 : 0);
      const std::size_t held = shards_[s]->rows();
      takes[s] = std::min(left, share > held ? share - held : 0);
      left -= takes[s];
    }
    if (left > 0) {
      const auto smallest =
          std::min_element(shards_.begin(), shards_.end(),
                           [](const auto& a, const auto& b) { return a->rows() < b->rows(); });
      takes[static_cast<std::size_t>(smallest - shards_.begin())] += left;
    }
    return takes;
  }

  /// The exact merge of the shards' results: float64 values only where float32 distances of
  /// different shards tie, from the rows read back from their GPUs.
  KnnResult merge(std::span<const float> queries, std::span<const KnnResult> parts) const {
    return merge_exact_reading_rows(
        parts, queries, dim_, metric_, [&](std::size_t s, std::span<const std::int64_t> labels) {
          std::vector<std::size_t> rows;
          rows.reserve(labels.size());
          for (const std::int64_t label : labels)
            rows.push_back(
                shards_[s]->position(shards_[s]->local_row(static_cast<std::size_t>(label))));
          return shards_[s]->index.reconstruct(rows);
        });
  }

  std::size_t dim_;
  Metric metric_;
  ElementType type_;
  std::vector<std::unique_ptr<Shard>> shards_;
  // Writer-preferring: add/reset wait for the searches already running, not for a stream of
  // new ones.
  mutable WriterPreferringMutex mutex_;
  std::size_t size_ = 0;  // global rows numbered so far
  // The caller's id of each global row; empty while every row is its own id (add() only).
  std::vector<std::int64_t> ids_;
  bool ids_ascending_ = true;  // ids_ never descend (ids_ascend)
};

}  // namespace detail

std::vector<std::uint32_t> ShardedIndex::all_devices() {
  const std::vector<DeviceInfo> devices = Device::enumerate();
  int best = -1;
  for (const DeviceInfo& d : devices) {
    if (!d.supports_explicit_model) continue;
    const int rank = detail::type_rank(d.type);
    if (best < 0 || rank < best) best = rank;
  }
  std::vector<std::uint32_t> out;
  for (const DeviceInfo& d : devices) {
    if (d.supports_explicit_model && detail::type_rank(d.type) == best) out.push_back(d.index);
  }
  if (out.empty()) {
    throw Error(Errc::device_initialization_failed,
                "no Vulkan device supports the explicit model (Vulkan 1.3, timeline semaphores, "
                "synchronization2); found " +
                    std::to_string(devices.size()) + " device(s)");
  }
  return out;
}

ShardedIndex::ShardedIndex(std::span<const std::uint32_t> devices, std::size_t dim, Metric metric,
                           const ContextConfiguration& configuration)
    : ShardedIndex(devices, dim, metric, ElementType::float32, configuration) {}
ShardedIndex::ShardedIndex(std::span<const std::uint32_t> devices, std::size_t dim, Metric metric,
                           ElementType type, const ContextConfiguration& configuration)
    : impl_(std::make_unique<detail::ShardedIndexImpl>(devices, dim, metric, type, configuration)) {
}
ShardedIndex::ShardedIndex(std::size_t dim, Metric metric,
                           const ContextConfiguration& configuration)
    : ShardedIndex(all_devices(), dim, metric, configuration) {}
ShardedIndex::ShardedIndex(ShardedIndex&&) noexcept = default;
ShardedIndex& ShardedIndex::operator=(ShardedIndex&&) noexcept = default;
ShardedIndex::~ShardedIndex() = default;

void ShardedIndex::add(std::span<const float> vectors) {
  impl_->add(vectors, {}, false);
}
void ShardedIndex::add(std::span<const std::uint8_t> vectors) {
  impl_->add(vectors, {}, false);
}
void ShardedIndex::add(std::span<const std::int8_t> vectors) {
  impl_->add(vectors, {}, false);
}
void ShardedIndex::add_with_ids(std::span<const float> vectors, std::span<const std::int64_t> ids) {
  impl_->add(vectors, ids, true);
}
void ShardedIndex::add_with_ids(std::span<const std::uint8_t> vectors,
                                std::span<const std::int64_t> ids) {
  impl_->add(vectors, ids, true);
}
void ShardedIndex::add_with_ids(std::span<const std::int8_t> vectors,
                                std::span<const std::int64_t> ids) {
  impl_->add(vectors, ids, true);
}
KnnResult ShardedIndex::search(std::span<const float> queries, std::size_t k,
                               const ExecuteOptions& options) const {
  return impl_->search(queries, k, options);
}
KnnResult ShardedIndex::search(std::span<const float> queries, std::size_t k,
                               const IdFilter& filter, const ExecuteOptions& options) const {
  return impl_->search(queries, k, options, &filter);
}
void ShardedIndex::add(MatrixView<const float> vectors) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add(vectors.data());
}
void ShardedIndex::add(MatrixView<const std::uint8_t> vectors) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add(vectors.data());
}
void ShardedIndex::add(MatrixView<const std::int8_t> vectors) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add(vectors.data());
}
void ShardedIndex::add_with_ids(MatrixView<const float> vectors,
                                std::span<const std::int64_t> ids) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add_with_ids(vectors.data(), ids);
}
void ShardedIndex::add_with_ids(MatrixView<const std::uint8_t> vectors,
                                std::span<const std::int64_t> ids) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add_with_ids(vectors.data(), ids);
}
void ShardedIndex::add_with_ids(MatrixView<const std::int8_t> vectors,
                                std::span<const std::int64_t> ids) {
  detail::check_same_dim(vectors.dim(), dim(), "vectors", "the index");
  add_with_ids(vectors.data(), ids);
}
KnnResult ShardedIndex::search(MatrixView<const float> queries, std::size_t k,
                               const ExecuteOptions& options) const {
  detail::check_same_dim(queries.dim(), dim(), "queries", "the index");
  return search(queries.data(), k, options);
}
std::size_t ShardedIndex::remove_ids(std::span<const std::int64_t> ids) {
  return impl_->remove_ids(ids);
}
std::size_t ShardedIndex::size() const noexcept {
  return impl_->size();
}
std::size_t ShardedIndex::dim() const noexcept {
  return impl_->dim();
}
Metric ShardedIndex::metric() const noexcept {
  return impl_->metric();
}
ElementType ShardedIndex::element_type() const noexcept {
  return impl_->element_type();
}
std::size_t ShardedIndex::shard_count() const noexcept {
  return impl_->shard_count();
}
std::size_t ShardedIndex::shard_size(std::size_t shard) const {
  return impl_->shard_size(shard);
}
const Context& ShardedIndex::shard_context(std::size_t shard) const {
  return impl_->context(shard);
}
Context& ShardedIndex::shard_context(std::size_t shard) {
  return impl_->context(shard);
}
void ShardedIndex::reset() {
  impl_->reset();
}

}  // namespace vecaccel
