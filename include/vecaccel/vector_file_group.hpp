#pragma once
// VectorFileGroup: several vector files replaced all or nothing (a search's ids and distances).
//
// Each file is written to a temporary beside its target ("<name>.tmp-<pid>-<random hex>") when
// it is added, in the format of its extension, with the checks and errors of write_vectors /
// write_ids / write_ground_truth / write_array (vector_file.hpp). commit() renames them over their
// targets only once every one is complete and synced: a failure or a stop before that leaves every
// target untouched, and a rename failing after others were done puts each earlier target back
// as it was (its previous file, or none) and throws io_error naming the target that failed.
// Destroying a group that was not committed removes its temporaries. Not thread-safe: one
// owner at a time; movable.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "vecaccel/vector_file.hpp"

namespace vecaccel {

namespace detail {
class AtomicFile;
}

class VectorFileGroup {
 public:
  VectorFileGroup();
  VectorFileGroup(VectorFileGroup&&) noexcept;
  VectorFileGroup& operator=(VectorFileGroup&&) noexcept;
  ~VectorFileGroup();

  /// Writes the file's temporary (write_vectors / write_ids / write_ground_truth's formats and
  /// errors); `progress` may throw to abandon it (the temporary is removed).
  void write_vectors(const std::filesystem::path& path, const Matrix<float>& matrix,
                     const ProgressCallback& progress = {});
  void write_ids(const std::filesystem::path& path, const Matrix<std::int32_t>& matrix,
                 const ProgressCallback& progress = {});
  void write_ground_truth(const std::filesystem::path& path, const GroundTruth& truth,
                          const ProgressCallback& progress = {});
  void write_array(const std::filesystem::path& path, std::span<const float> values,
                   const ProgressCallback& progress = {});
  void write_array(const std::filesystem::path& path, std::span<const std::int64_t> values,
                   const ProgressCallback& progress = {});

  /// Makes every file written so far durable (an fsync each: the slow part), calling
  /// `before_each` first — it may throw to abandon the group (a stop), leaving no output.
  void sync(const std::function<void()>& before_each = {});
  /// Syncs what is not yet synced and renames every file over its target, all or nothing.
  /// The group is empty afterwards.
  void commit();

 private:
  std::vector<std::unique_ptr<detail::AtomicFile>> files_;
};

}  // namespace vecaccel
