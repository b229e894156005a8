#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <random>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

namespace fs = std::filesystem;

fs::path temp_path(const fs::path& target) {
  std::random_device device;
  const std::uint64_t value = (std::uint64_t{device()} << 32) | device();
  std::ostringstream name;
  name << target.filename().string() << ".tmp-" << ::getpid() << "-" << std::hex << value;
  return target.parent_path() / name.str();
}

// Makes a rename durable. Best effort: some filesystems refuse fsync on directories, and the
// data is complete under its final name either way.
void sync_directory(const fs::path& target) {
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(const fs::path& target) : AtomicFile(target, target.string() + ": ") {}

AtomicFile::AtomicFile(const fs::path& target, std::string context)
    : target_(target), context_(std::move(context)), temp_(temp_path(target)) {
  // Refused before anything is written: the rename at the end would fail over a directory.
  std::error_code error;
  if (fs::is_directory(target_, error)) {
    temp_.clear();
    throw Error(Errc::io_error, context_ + "'" + target_.string() +
                                    "' is a directory, not a file that can be written");
  }
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int err = errno;
    const fs::path failed = std::exchange(temp_, {});  // nothing was created to remove
    throw Error(Errc::io_error, context_ + "cannot create temporary file '" + failed.string() +
                                    "': " + std::generic_category().message(err));
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::fail(const std::string& what, int err) const {
  throw Error(Errc::io_error, context_ + what + " '" + temp_.string() +
                                  "': " + std::generic_category().message(err));
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  if (fd_ < 0) fail("internal: write after sync to", EBADF);
  while (!bytes.empty()) {
    const ssize_t wrote = ::write(fd_, bytes.data(), bytes.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) fail("cannot write", errno);
    bytes = bytes.subspan(static_cast<std::size_t>(wrote));
  }
}

void AtomicFile::sync() {
  if (fd_ < 0) return;
  if (::fsync(fd_) != 0) fail("cannot fsync", errno);
  const int closed = ::close(fd_);
  fd_ = -1;
  // Some filesystems report write errors only at close.
  if (closed != 0) fail("cannot close", errno);
}

void AtomicFile::commit() {
  if (temp_.empty()) return;
  sync();
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    fail("cannot rename over '" + target_.string() + "' the temporary file", errno);
  }
  temp_.clear();
  sync_directory(target_);
}

namespace {

/// A target's state before a group commit replaces it: its file kept under a temporary name
/// (a hard link: no copy; a copy where links are refused), or nothing when there was none.
/// restore() puts that state back; the destructor removes what it kept.
class PreviousFile {
 public:
  explicit PreviousFile(const AtomicFile& file) : target_(file.target()) {
    std::error_code error;
    if (!fs::exists(fs::symlink_status(target_, error))) return;
    kept_ = temp_path(target_);
    if (::link(target_.c_str(), kept_.c_str()) == 0) return;
    if (fs::copy_file(target_, kept_, error)) return;
    const fs::path failed = std::exchange(kept_, {});
    throw Error(Errc::io_error, file.context() + "cannot keep the previous content under '" +
                                    failed.string() + "' before replacing it: " + error.message() +
                                    " (no output was replaced)");
  }
  PreviousFile(const PreviousFile&) = delete;
  PreviousFile& operator=(const PreviousFile&) = delete;
  PreviousFile(PreviousFile&& other) noexcept
      : target_(std::move(other.target_)), kept_(std::exchange(other.kept_, {})) {}
  ~PreviousFile() {
    if (!kept_.empty()) ::unlink(kept_.c_str());
  }

  /// Best effort (the error being reported is the rename that failed): the previous file goes
  /// back under the target's name, or the new one goes when there was none.
  void restore() noexcept {
    if (kept_.empty()) {
      ::unlink(target_.c_str());
      return;
    }
    if (::rename(kept_.c_str(), target_.c_str()) == 0) kept_.clear();
    sync_directory(target_);
  }

 private:
  fs::path target_;
  fs::path kept_;
};

}  // namespace

void commit_all(std::span<AtomicFile* const> files) {
  for (AtomicFile* file : files)
    file->sync();
  std::vector<PreviousFile> previous;
  previous.reserve(files.size());
  for (std::size_t i = 0; i + 1 < files.size(); ++i)
    previous.emplace_back(*files[i]);
  for (std::size_t i = 0; i < files.size(); ++i) {
    try {
      files[i]->commit();
    } catch (const Error&) {
      for (std::size_t j = 0; j < i; ++j)
        previous[j].restore();
      throw;
    }
  }
}

}  // namespace vecaccel::detail
