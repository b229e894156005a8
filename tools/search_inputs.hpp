#pragma once
// Checks of a search's inputs and outputs before any GPU work (usage errors exit 2), and the
// reads of its query and ground-truth files.

#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <string>
#include <vector>

#include "search_options.hpp"
#include "vecaccel/element_type.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {

/// The base files the ranks read: --base with "{rank}" replaced by each rank, or --base itself.
std::vector<std::string> base_files(const std::string& base, int ranks);

/// ann-benchmarks HDF5 inputs: --query f.hdf5 reads its `test` dataset (--base `train` and --gt
/// `neighbors` are the readers' defaults), and without --metric (`metric_given` false) the base
/// file's `distance` attribute sets the metric (euclidean: l2, angular: cosine; another value
/// is an error naming it).
void apply_hdf5_defaults(SearchOptions& options, bool metric_given);

/// Fails early (usage error) on an output path whose extension the writer would refuse.
/// --output .ibin writes the billion-scale benchmarks' ground-truth layout (ids, distances).
void check_output_path(const std::string& path, const char* option, bool ids);

/// Refuses (usage error) what a search cannot be asked: -k and --radius together or neither;
/// --lims or --max-results without --radius, --radius without --lims or with --gt; outputs
/// whose extension the mode's writer would refuse (--radius writes 1-D .npy arrays only).
void check_search_mode(const SearchOptions& options);

/// --filter's ids (read_id_list: any row layout or shape), each a base row number: a negative
/// one is an error naming the file, the id and its position. Ids past the base are kept (a
/// search ignores them).
std::vector<std::int64_t> read_filter(const std::string& path);

/// Refuses (usage error) an output that would overwrite an input or the other output: the run
/// would destroy its own data (replace the ground truth with the results, say) and succeed.
/// `ranks`: the MPI ranks (1 without MPI), whose "{rank}" base files count as inputs.
void check_distinct_files(const SearchOptions& options, int ranks);

/// The checks of a search's arguments alone: the mode and the outputs' extensions
/// (check_search_mode) and that they name no input or each other (check_distinct_files), usage
/// errors; --radius over several MPI `ranks`: Errc::unsupported.
void check_search_arguments(const SearchOptions& options, int ranks);

/// Fails (io_error, exit 1) before any work when an output cannot be created: its directory is
/// missing or not writable, or the output itself is a directory.
void check_output_target(const std::string& path, const char* option);

/// Throws Errc::cancelled once a signal asked to stop; run_search turns it into Interrupted.
void check_stop(const std::stop_token& stop);

/// `callback` followed by a stop check: file reads and writes stop between chunks.
ProgressCallback stopping(ProgressCallback callback, const std::stop_token& stop);

/// A query (or base) file read whole as float32, with a progress bar; refused when empty or not
/// finite.
Matrix<float> read_input(const std::string& path, const char* role, bool show_progress,
                         const std::stop_token& stop);

/// Ground truth for `queries` queries: one row each, of at least one id.
Matrix<std::int32_t> read_ground_truth(const std::string& path, std::size_t queries);

/// Ground-truth ids are base row numbers: an id outside 0..N-1 would silently count as a miss.
void check_ground_truth_ids(const Matrix<std::int32_t>& gt, const std::string& path,
                            std::size_t base_rows, const std::string& base);

/// Query and base must share a dimension a search supports, k must not exceed the base's rows,
/// and row numbers must fit the int32 ids of .ivecs.
void check_search_shape(const SearchOptions& options, std::size_t base_dim, std::size_t base_rows,
                        const Matrix<float>& queries);

/// --devices and mpirun stream a base they map; one read into memory (from a pipe) they hold
/// whole on their GPUs: a VECACCEL_MEMORY_BUDGET that a device's `rows` would exceed is refused
/// before any work, as is a malformed one, rather than ignored.
void check_held_within_budget(const std::string& base, std::size_t rows, std::size_t dim,
                              ElementType type, const char* mode);

}  // namespace vecaccel::cli
