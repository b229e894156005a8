#pragma once
// AtomicFile: the one way vecaccel replaces a file (vector files, index files, the pipeline
// cache, the CLI's outputs). Readers of the target see the old file or the complete new one,
// never a partial one, and a failed or abandoned write leaves no stray file behind.
//
// The data goes to a temporary beside the target, "<name>.tmp-<pid>-<random hex>" (same
// directory, so the rename cannot cross filesystems; unique, so concurrent writers of one
// target never share it). commit() fsyncs and closes it, renames it over the target and fsyncs
// the directory. Destroying an uncommitted AtomicFile removes the temporary: an error or a
// cancellation that unwinds past it cleans up. Not thread-safe; one owner at a time.
//
// Errors: Errc::io_error, the message made of `context` (by default "<target>: ") and what
// failed, naming the temporary and the system's reason.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace vecaccel::detail {

class AtomicFile {
 public:
  explicit AtomicFile(const std::filesystem::path& target);
  AtomicFile(const std::filesystem::path& target, std::string context);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(std::span<const std::byte> bytes);
  /// fsync and close: the data is complete and durable under the temporary name. Writing after
  /// this is an error.
  void sync();
  /// sync() unless done, then rename over the target and fsync the directory.
  void commit();

  const std::filesystem::path& target() const noexcept { return target_; }
  /// The temporary's path; empty once committed.
  const std::filesystem::path& temp() const noexcept { return temp_; }
  /// The message prefix for errors about this file.
  const std::string& context() const noexcept { return context_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err) const;

  std::filesystem::path target_;
  std::string context_;
  std::filesystem::path temp_;
  int fd_ = -1;
};

/// Commits several files as a group, all or nothing: every one is synced first, and the renames
/// start only when all of them succeeded, so a failure before that point (a full disk, a
/// cancellation) leaves every target untouched. Before the renames, the previous content of
/// each target but the last is kept under a temporary name (a hard link, else a copy); a
/// rename failing after others were done puts each earlier target back as it was (its
/// previous file, or none) and throws, naming the target that failed.
void commit_all(std::span<AtomicFile* const> files);

}  // namespace vecaccel::detail
