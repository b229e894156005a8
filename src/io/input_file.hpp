#pragma once
// InputFile: a vector file opened for reading, whether a regular file (read at offsets, in
// chunks) or a pipe or device (read whole, with a bound); and the chunked read of a matrix's
// values from one.

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/vector_file_parsing.hpp"

namespace vecaccel::io {

struct FileCloser {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

class InputFile {
 public:
  /// Opens without blocking: open() of a named pipe with no writer would wait for one with
  /// no way to give up (the tool ignored SIGINT there). Such a pipe waits in
  /// wait_until_readable instead.
  explicit InputFile(const std::filesystem::path& path) : name_(path.string()) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail_errno("cannot open", errno);
    file_.reset(::fdopen(fd, "rb"));
    if (!file_) {
      const int err = errno;
      ::close(fd);
      fail_errno("cannot open", err);
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0) fail_errno("cannot stat", errno);
    if (S_ISDIR(info.st_mode)) fail(Errc::io_error, name_, "cannot read: Is a directory");
    regular_ = S_ISREG(info.st_mode);
    fifo_ = S_ISFIFO(info.st_mode);
    size_ = regular_ ? static_cast<std::uint64_t>(info.st_size) : 0;
    if (!fifo_) blocking_reads();
  }

  /// A pipe: waits until its writer has written or closed, calling `waiting` (0, 0) every
  /// 100 ms (it may throw to give up, as the tool's stop check does), then reads block again.
  void wait_until_readable(const ProgressCallback& waiting) {
    if (!fifo_) return;
    pollfd ready{.fd = ::fileno(file_.get()), .events = POLLIN, .revents = 0};
    for (;;) {
      const int got = ::poll(&ready, 1, 100);
      if (got > 0) break;
      if (got < 0 && errno != EINTR) fail_errno("cannot wait for the pipe's writer", errno);
      if (waiting) waiting(0, 0);
    }
    blocking_reads();
  }

  // Pipes and devices have no size up front; those are read whole instead of streamed.
  bool regular() const { return regular_; }
  std::uint64_t size() const { return size_; }

  void read_at(std::span<std::byte> dst, std::uint64_t offset) {
    if (offset != position_) {
      if (::fseeko(file_.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
        fail_errno(cat("cannot seek to byte ", offset), errno);
      }
      position_ = offset;
    }
    const std::size_t got = std::fread(dst.data(), 1, dst.size(), file_.get());
    position_ += got;
    if (got == dst.size()) return;
    if (std::ferror(file_.get())) fail_errno(cat("read failed at byte ", offset + got), errno);
    fail(Errc::io_error, name_,
         cat("file shrank while reading: ended at byte ", offset + got, ", expected ", size_,
             " bytes"));
  }

  /// Appends what a pipe or device holds up to `size` bytes in all; false when it ended first.
  bool read_up_to(std::vector<std::byte>& bytes, std::uint64_t size) {
    while (bytes.size() < size) {
      const std::size_t old_size = bytes.size();
      const auto want =
          static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, size - old_size));
      bytes.resize(old_size + want);
      const std::size_t got = std::fread(bytes.data() + old_size, 1, want, file_.get());
      bytes.resize(old_size + got);
      if (got == want) continue;
      if (std::ferror(file_.get())) fail_errno(cat("read failed at byte ", bytes.size()), errno);
      return false;
    }
    return true;
  }

 private:
  // Takes errno by value so that it is read before building the message can clobber it.
  [[noreturn]] void fail_errno(const std::string& what, int err) const {
    fail(Errc::io_error, name_, cat(what, ": ", errno_message(err)));
  }

  void blocking_reads() {
    const int fd = ::fileno(file_.get());
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
      fail_errno("cannot make reads blocking", errno);
    }
  }

  std::string name_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  bool regular_ = false;
  bool fifo_ = false;
  std::uint64_t size_ = 0;
  std::uint64_t position_ = 0;
};

// Reads the rows x dim values at layout.data_offset, in chunks, decoding as they arrive.
template <class Out>
Matrix<Out> read_data(InputFile& file, const ValuesLayout& layout, std::string_view name,
                      const ProgressCallback& progress) {
  auto matrix = empty_matrix<Out>(layout);
  const std::uint64_t total = file.size();
  const std::size_t item = elem_size(layout.elem);
  const std::size_t chunk_bytes = kChunkBytes / item * item;
  const std::size_t data_bytes = matrix.values.size() * item;
  std::vector<std::byte> buffer;
  if (!is_native<Out>(layout.elem)) buffer.resize(std::min(chunk_bytes, data_bytes));
  const auto values = std::as_writable_bytes(std::span(matrix.values));
  for (std::size_t done = 0; done < data_bytes;) {
    const std::size_t size = std::min(chunk_bytes, data_bytes - done);
    const std::uint64_t offset = layout.data_offset + done;
    if (is_native<Out>(layout.elem)) {
      file.read_at(values.subspan(done, size), offset);
    } else {
      const auto chunk = std::span(buffer).first(size);
      file.read_at(chunk, offset);
      decode(layout.elem, chunk, matrix.values.data() + done / item, done / item, layout.dim, name);
    }
    done += size;
    if (layout.data_offset + done < total) report(progress, layout.data_offset + done, total);
  }
  return matrix;
}

/// Fails when a pipe or device needs more than this machine's memory to be read whole.
void check_fits_memory(std::uint64_t bytes, std::string_view name, std::string_view what);

}  // namespace vecaccel::io
