#pragma once
// What a search leaves behind: its output files, all or nothing, and its report.

#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <vector>

#include "search_options.hpp"
#include "vecaccel/ops.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {

/// recall@1, @10 and @k (each once, those within k) of `ids` against the ground truth's first
/// column.
std::vector<Recall> recalls(const Matrix<std::int32_t>& ids, const Matrix<std::int32_t>& gt,
                            std::size_t k);

void print_report(const SearchOptions& options, const SearchRun& run);

/// Writes and syncs every requested output to its temporary, then renames them into place
/// together; a failure or a stop before the renames removes the temporaries and leaves no output.
void write_outputs(const SearchOptions& options, const Matrix<std::int32_t>& ids,
                   const Matrix<float>& distances, const std::stop_token& stop);

/// A range search's outputs as FAISS shapes them, 1-D .npy arrays: --lims (int64, queries + 1),
/// --output (int64 labels) and --distances (float32), all or nothing as write_outputs.
void write_range_outputs(const SearchOptions& options, const RangeResult& result,
                         const std::stop_token& stop);

}  // namespace vecaccel::cli
