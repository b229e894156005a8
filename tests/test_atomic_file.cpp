// AtomicFile, the one writer behind vector files, index files, the pipeline cache and the CLI's
// outputs: the target is replaced whole or not at all, and no temporary outlives its owner.
// Write errors are real ones: a file-size limit (RLIMIT_FSIZE) makes write() fail with EFBIG
// the way a full disk fails with ENOSPC.
#include "util/atomic_file.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/expect_error.hpp"
#include "support/reference.hpp"
#include "support/temp_dir.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
namespace vt = vecaccel::testing;
using detail::AtomicFile;

using AtomicFileTest = vt::TempDirTest;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void put(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

void write_text(AtomicFile& file, const std::string& text) {
  file.write(std::as_bytes(std::span(text)));
}

/// Limits the size of any file this process writes while it lives; SIGXFSZ is ignored so the
/// write fails with EFBIG instead of killing the process.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit limit = old_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = SIG_DFL;
};

/// The io_error message of `action`, or "" after a test failure.
template <class F>
std::string io_error_of(F&& action) {
  return vt::error_of(std::forward<F>(action), Errc::io_error);
}

TEST_F(AtomicFileTest, TemporarySitsBesideTheTargetUntilCommitReplacesIt) {
  put(path("t.bin"), "old");
  AtomicFile file(path("t.bin"));
  write_text(file, "new contents");
  EXPECT_EQ(file.temp().parent_path(), dir_);
  const std::string prefix = "t.bin.tmp-" + std::to_string(::getpid()) + "-";
  EXPECT_EQ(file.temp().filename().string().rfind(prefix, 0), 0u) << file.temp();
  EXPECT_EQ(entries(), (std::vector<std::string>{"t.bin", file.temp().filename().string()}));
  EXPECT_EQ(slurp(path("t.bin")), "old") << "the target changed before commit";
  file.commit();
  EXPECT_EQ(slurp(path("t.bin")), "new contents");
  EXPECT_TRUE(file.temp().empty());
  EXPECT_EQ(entries(), std::vector<std::string>{"t.bin"});
}

TEST_F(AtomicFileTest, UncommittedFileIsRemovedAndTheTargetKept) {
  put(path("t.bin"), "old");
  {
    AtomicFile file(path("t.bin"));
    write_text(file, "abandoned");
    file.sync();  // even complete and durable, it is not the target until committed
  }
  EXPECT_EQ(slurp(path("t.bin")), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"t.bin"});
}

TEST_F(AtomicFileTest, WritersOfOneTargetGetTheirOwnTemporaries) {
  AtomicFile first(path("t.bin"));
  AtomicFile second(path("t.bin"));
  EXPECT_NE(first.temp(), second.temp());
  write_text(first, "first");
  write_text(second, "second");
  second.commit();
  first.commit();
  EXPECT_EQ(slurp(path("t.bin")), "first");
  EXPECT_EQ(entries(), std::vector<std::string>{"t.bin"});
}

TEST_F(AtomicFileTest, CommitAllReplacesEveryTarget) {
  put(path("a.bin"), "old a");
  AtomicFile a(path("a.bin"));
  AtomicFile b(path("b.bin"));
  write_text(a, "new a");
  write_text(b, "new b");
  AtomicFile* files[] = {&a, &b};
  detail::commit_all(files);
  EXPECT_EQ(slurp(path("a.bin")), "new a");
  EXPECT_EQ(slurp(path("b.bin")), "new b");
  EXPECT_EQ(entries(), (std::vector<std::string>{"a.bin", "b.bin"}));
}

// The CLI's --output / --distances pair: a rename that fails after the first one was done (the
// second target became a directory meanwhile) puts the first target back as it was.
TEST_F(AtomicFileTest, CommitAllWhoseLastRenameFailsRestoresTheEarlierTargets) {
  put(path("a.bin"), "old a");
  std::string message;
  {
    AtomicFile a(path("a.bin"));
    AtomicFile new_c(path("c.bin"));  // no previous file: it must not appear
    AtomicFile b(path("b.bin"));
    write_text(a, "new a");
    write_text(new_c, "new c");
    write_text(b, "new b");
    fs::create_directories(path("b.bin") / "in the way");
    AtomicFile* files[] = {&a, &new_c, &b};
    message = io_error_of([&] { detail::commit_all(files); });
  }
  EXPECT_NE(message.find(path("b.bin").string()), std::string::npos) << message;
  EXPECT_EQ(slurp(path("a.bin")), "old a");
  EXPECT_EQ(entries(), (std::vector<std::string>{"a.bin", "b.bin"}));  // b.bin: the directory
}

TEST_F(AtomicFileTest, MissingDirectoryIsIoErrorNamingTargetAndReason) {
  const fs::path target = path("nodir") / "t.bin";
  const std::string message = io_error_of([&] { AtomicFile file(target); });
  EXPECT_NE(message.find(target.string()), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
  EXPECT_TRUE(entries().empty());
}

TEST_F(AtomicFileTest, ADirectoryTargetIsRefusedBeforeAnythingIsWritten) {
  const fs::path target = path("out");
  fs::create_directory(target);
  const std::string message = io_error_of([&] { AtomicFile file(target); });
  EXPECT_NE(message.find("'" + target.string() + "' is a directory"), std::string::npos) << message;
  EXPECT_EQ(entries(), std::vector<std::string>{"out"});  // no temporary beside it
  EXPECT_TRUE(fs::is_empty(target));
}

TEST_F(AtomicFileTest, WriteErrorIsIoErrorNamingTheFileAndLeavesEveryTargetAsItWas) {
  put(path("a.bin"), "old a");
  put(path("b.bin"), "old b");
  const std::string big(std::size_t{1} << 20, 'x');
  std::string message;
  {
    const FileSizeLimit limit(64 * 1024);
    AtomicFile a(path("a.bin"));
    AtomicFile b(path("b.bin"));
    write_text(a, "new a");  // fine: the group fails only at b
    message = io_error_of([&] { write_text(b, big); });
  }
  EXPECT_NE(message.find(path("b.bin").string()), std::string::npos) << message;
  EXPECT_NE(message.find("cannot write"), std::string::npos) << message;
  EXPECT_EQ(slurp(path("a.bin")), "old a");
  EXPECT_EQ(slurp(path("b.bin")), "old b");
  EXPECT_EQ(entries(), (std::vector<std::string>{"a.bin", "b.bin"}));
}

TEST_F(AtomicFileTest, VectorFileWriteErrorIsIoErrorNamingTheFile) {
  const Matrix<float> old{2, 2, {1, 2, 3, 4}};
  write_vectors(path("v.fvecs"), old);
  const std::size_t rows = 4096, dim = 64;  // 1 MiB of floats
  const Matrix<float> big{rows, dim, vt::normal_data(rows, dim, 1)};
  std::string message;
  {
    const FileSizeLimit limit(64 * 1024);
    message = io_error_of([&] { write_vectors(path("v.fvecs"), big); });
  }
  EXPECT_NE(message.find(path("v.fvecs").string()), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_EQ(read_vectors(path("v.fvecs")), old);
  EXPECT_EQ(entries(), std::vector<std::string>{"v.fvecs"});
}

TEST_F(AtomicFileTest, IndexSaveWriteErrorIsIoErrorNamingTheFile) {
  Context context;
  FlatIndex index(context, 64, Metric::l2);
  index.add(vt::normal_data(4096, 64, 2));
  std::string message;
  {
    const FileSizeLimit limit(64 * 1024);
    message = io_error_of([&] { index.save(path("i.vfi")); });
  }
  EXPECT_NE(message.find("cannot save index '" + path("i.vfi").string() + "'"), std::string::npos)
      << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_TRUE(entries().empty());
}

}  // namespace
}  // namespace vecaccel
