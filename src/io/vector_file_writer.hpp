#pragma once
// Internal: a vector file written into an AtomicFile that the caller commits, for callers that
// commit several files together (the CLI renames its outputs only when all were written).

#include <cstdint>
#include <span>

#include "util/atomic_file.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::detail {

/// write_vectors / write_ids into `file`, in the format of file.target()'s extension, with the
/// same checks and errors; the file is left uncommitted.
void write_vectors_to(AtomicFile& file, const Matrix<float>& matrix,
                      const ProgressCallback& progress = {});
void write_ids_to(AtomicFile& file, const Matrix<std::int32_t>& matrix,
                  const ProgressCallback& progress = {});
/// write_array into `file` (an .npy target), uncommitted.
void write_array_to(AtomicFile& file, std::span<const float> values,
                    const ProgressCallback& progress = {});
void write_array_to(AtomicFile& file, std::span<const std::int64_t> values,
                    const ProgressCallback& progress = {});
/// write_ground_truth into `file` (an .ibin target), uncommitted.
void write_ground_truth_to(AtomicFile& file, const GroundTruth& truth,
                           const ProgressCallback& progress = {});

}  // namespace vecaccel::detail
