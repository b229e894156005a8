#include "vecaccel/vector_file_group.hpp"

#include "io/vector_file_writer.hpp"
#include "util/atomic_file.hpp"

namespace vecaccel {

VectorFileGroup::VectorFileGroup() = default;
VectorFileGroup::VectorFileGroup(VectorFileGroup&&) noexcept = default;
VectorFileGroup& VectorFileGroup::operator=(VectorFileGroup&&) noexcept = default;
VectorFileGroup::~VectorFileGroup() = default;

void VectorFileGroup::write_vectors(const std::filesystem::path& path, const Matrix<float>& matrix,
                                    const ProgressCallback& progress) {
  auto file = std::make_unique<detail::AtomicFile>(path);
  detail::write_vectors_to(*file, matrix, progress);
  files_.push_back(std::move(file));
}

void VectorFileGroup::write_ids(const std::filesystem::path& path,
                                const Matrix<std::int32_t>& matrix,
                                const ProgressCallback& progress) {
  auto file = std::make_unique<detail::AtomicFile>(path);
  detail::write_ids_to(*file, matrix, progress);
  files_.push_back(std::move(file));
}

void VectorFileGroup::write_ground_truth(const std::filesystem::path& path,
                                         const GroundTruth& truth,
                                         const ProgressCallback& progress) {
  auto file = std::make_unique<detail::AtomicFile>(path);
  detail::write_ground_truth_to(*file, truth, progress);
  files_.push_back(std::move(file));
}

void VectorFileGroup::write_array(const std::filesystem::path& path, std::span<const float> values,
                                  const ProgressCallback& progress) {
  auto file = std::make_unique<detail::AtomicFile>(path);
  detail::write_array_to(*file, values, progress);
  files_.push_back(std::move(file));
}

void VectorFileGroup::write_array(const std::filesystem::path& path,
                                  std::span<const std::int64_t> values,
                                  const ProgressCallback& progress) {
  auto file = std::make_unique<detail::AtomicFile>(path);
  detail::write_array_to(*file, values, progress);
  files_.push_back(std::move(file));
}

void VectorFileGroup::sync(const std::function<void()>& before_each) {
  for (const auto& file : files_) {
    if (before_each) before_each();
    file->sync();
  }
}

void VectorFileGroup::commit() {
  std::vector<detail::AtomicFile*> files;
  files.reserve(files_.size());
  for (const auto& file : files_)
    files.push_back(file.get());
  detail::commit_all(files);
  files_.clear();
}

}  // namespace vecaccel
