#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <random>
#include <sstream>
#include <system_error>
#include <utility>

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
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail("cannot rename over the target", errno);
  temp_.clear();
  sync_directory(target_);
}

void commit_all(std::span<AtomicFile* const> files) {
  for (AtomicFile* file : files)
    file->sync();
  for (AtomicFile* file : files)
    file->commit();
}

}  // namespace vecaccel::detail
