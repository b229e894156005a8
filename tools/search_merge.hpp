#pragma once
// Several parts of one search (devices of --devices, ranks of mpirun) merged exactly into one
// top k.

#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <vector>

#include "search_base.hpp"
#include "search_options.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/mapped_vectors.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/sharded_index.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {

/// One part's results (a rank's, a device's) for the exact merge: global labels, and each
/// candidate's float64 value from the part's own rows (the merge reads those where float32
/// values tie).
struct PartResults {
  std::vector<float> distances;
  std::vector<std::int64_t> labels;
  std::vector<double> exact;
};

/// A part's results for the exact merge: `labels` are global rows (-1: none), row label +
/// `file_offset` of `base` (a rank's own file can number its rows from 0).
PartResults part_results(std::vector<float> distances, std::vector<std::int64_t> labels,
                         const Base& base, std::int64_t file_offset, const Matrix<float>& queries,
                         std::size_t k, Metric metric);

/// The merge of every part's results, gathered back to back, into the final ids and distances.
void merge_parts(const PartResults& gathered, std::size_t ranks, std::size_t queries, std::size_t k,
                 Metric metric, Matrix<std::int32_t>& ids, Matrix<float>& distances);

/// One device's share of a mapped base in a streamed sharded search.
struct StreamedShard {
  Context* context = nullptr;
  std::size_t first = 0;
  std::size_t rows = 0;
  std::uint64_t budget = 0;
};

/// --devices over a mapped base: each shard's contiguous share of the rows (within one row of
/// each other) on its device, with the device's memory budget, or none when every share fits
/// its device whole (then the index holds the base).
std::vector<StreamedShard> shards_to_stream(ShardedIndex& index, const MappedVectors& base);

/// Streams every device's share of the base through it at once (a thread each), then merges
/// the shares' top k exactly, as the ranks' are merged.
void search_streamed_shards(std::vector<StreamedShard>& shards, const Base& base,
                            const Matrix<float>& queries, const SearchOptions& options,
                            const std::stop_token& stop, SearchRun& run, Matrix<std::int32_t>& ids,
                            Matrix<float>& distances);

}  // namespace vecaccel::cli
