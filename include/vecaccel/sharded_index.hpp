#pragma once
// ShardedIndex: exact k-nearest-neighbour search over several GPUs of one process.
//
// Each shard is a FlatIndex on its own device, with its own Context. Rows are spread over the
// shards in contiguous blocks that keep the shards' sizes within one row of each other; a
// search runs every shard at once (one thread per shard) and merges their top k exactly on the
// host: by float64 distance, then by row (insertion order, which is how one FlatIndex orders
// ties), so the result equals one FlatIndex over all rows bit for bit, ties included
// (docs/multi-gpu.md says how). Labels are global: add() numbers rows 0, 1, 2, ... across all
// shards; add_with_ids() takes the caller's.
//
// The same physical device may be listed more than once (each entry opens its own logical
// device). Thread-safety as FlatIndex: searches may run concurrently; add/remove_ids/reset
// exclude everything else. Errors from any shard surface as vecaccel::Error (the first that
// is not a consequence of another shard's failure); a stop or timeout applies to all shards.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "vecaccel/context.hpp"
#include "vecaccel/context_configuration.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/id_filter.hpp"
#include "vecaccel/matrix_view.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel {

namespace detail {
class ShardedIndexImpl;
}

class ShardedIndex {
 public:
  /// The devices a sharded search uses when given none: every device (enumerate() indices) of
  /// the best type present that supports the explicit model — all discrete GPUs where there
  /// are any, else all integrated ones, and so on (a CPU driver beside GPUs would only slow
  /// the merge down). device_initialization_failed when there is none.
  static std::vector<std::uint32_t> all_devices();

  /// One shard per entry of `devices` (enumerate() indices, repeats allowed), each a Context
  /// with `configuration`. invalid_argument for an empty list, an index out of range, dim 0
  /// or above FlatIndex::max_dim; context errors as Context's constructor.
  ShardedIndex(std::span<const std::uint32_t> devices, std::size_t dim, Metric metric,
               const ContextConfiguration& configuration = {});
  /// Over all_devices().
  ShardedIndex(std::size_t dim, Metric metric, const ContextConfiguration& configuration = {});
  /// Shards storing rows of `type`: float32 as above; uint8/int8 stay one byte per element on
  /// every GPU (FlatIndex's compact types), and their rows need no checks.
  ShardedIndex(std::span<const std::uint32_t> devices, std::size_t dim, Metric metric,
               ElementType type, const ContextConfiguration& configuration = {});
  ShardedIndex(ShardedIndex&&) noexcept;
  ShardedIndex& operator=(ShardedIndex&&) noexcept;
  ~ShardedIndex();

  /// As FlatIndex::add: the whole batch is checked first (NaN/Inf, norms; rows named by
  /// their global number) and nothing is added on refusal. The shards then upload their
  /// blocks concurrently; should a device fail there (out of memory, device lost), the
  /// shards that succeeded keep their rows and size() counts them.
  void add(std::span<const float> vectors);
  /// Rows of a uint8/int8 index; rows of a type other than the index's: invalid_argument
  /// naming both, as FlatIndex.
  void add(std::span<const std::uint8_t> vectors);
  void add(std::span<const std::int8_t> vectors);
  /// As FlatIndex::add_with_ids (ids >= 0, one per row).
  void add_with_ids(std::span<const float> vectors, std::span<const std::int64_t> ids);
  void add_with_ids(std::span<const std::uint8_t> vectors, std::span<const std::int64_t> ids);
  void add_with_ids(std::span<const std::int8_t> vectors, std::span<const std::int64_t> ids);
  /// As FlatIndex::search (no time limit unless options.timeout gives one); options.stop and
  /// options.timeout apply to every shard.
  /// second_pass_queries sums the shards'.
  KnnResult search(std::span<const float> queries, std::size_t k,
                   const ExecuteOptions& options = {}) const;
  /// Filtered: as FlatIndex's filtered search, over the labels the index gives (add()'s
  /// global rows or the caller's ids); each shard gathers or masks its allowed rows.
  KnnResult search(std::span<const float> queries, std::size_t k, const IdFilter& filter,
                   const ExecuteOptions& options = {}) const;
  /// The same with the rows' shape stated, as FlatIndex's MatrixView overloads:
  /// invalid_argument naming both dimensions when the view's dim() != dim(), nothing done.
  void add(MatrixView<const float> vectors);
  void add(MatrixView<const std::uint8_t> vectors);
  void add(MatrixView<const std::int8_t> vectors);
  void add_with_ids(MatrixView<const float> vectors, std::span<const std::int64_t> ids);
  void add_with_ids(MatrixView<const std::uint8_t> vectors, std::span<const std::int64_t> ids);
  void add_with_ids(MatrixView<const std::int8_t> vectors, std::span<const std::int64_t> ids);
  KnnResult search(MatrixView<const float> queries, std::size_t k,
                   const ExecuteOptions& options = {}) const;
  /// As FlatIndex::remove_ids: removes every row whose label is in `ids` from the shard
  /// holding it (each shard compacts its rows on its GPU) and returns how many went; the
  /// others keep their labels, and add() numbers on as if nothing had been removed. A shard's
  /// failure leaves the rows of the shards that succeeded removed.
  std::size_t remove_ids(std::span<const std::int64_t> ids);

  std::size_t size() const noexcept;
  std::size_t dim() const noexcept;
  Metric metric() const noexcept;
  ElementType element_type() const noexcept;
  std::size_t shard_count() const noexcept;
  /// Rows held by shard i (< shard_count()).
  std::size_t shard_size(std::size_t shard) const;
  /// Shard i's context (< shard_count()), e.g. to name its device or to run other work on
  /// that device (a streamed search of rows the index does not hold); Context's thread safety.
  const Context& shard_context(std::size_t shard) const;
  Context& shard_context(std::size_t shard);
  void reset();

 private:
  std::unique_ptr<detail::ShardedIndexImpl> impl_;
};

}  // namespace vecaccel
