// Inputs with no size up front (pipes, devices): the header is checked before anything past it
// is read, and no more is read than the header promises (or the host's memory holds), so
// /dev/zero fails at its header instead of filling memory, and a pipe with a bad header fails
// while its writer is still open instead of waiting for it to finish.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "support/expect_error.hpp"
#include "support/temp_dir.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using VectorStreamTest = testing::TempDirTest;

std::string io_error_of(const std::function<void()>& read) {
  return testing::error_of(read, Errc::io_error);
}

TEST_F(VectorStreamTest, DevZeroInEveryFormatFailsAtItsHeader) {
  const std::pair<std::string, std::string> cases[] = {
      {"zero.fvecs", "row 0 has dimension 0"},
      {"zero.bvecs", "row 0 has dimension 0"},
      {"zero.npy", "missing magic"},
      {"zero.fbin", "wrong size: 0 x 0 needs 0 data bytes"},
  };
  for (const auto& [file, text] : cases) {
    // Named copies: clang 14 cannot capture structured bindings in a lambda.
    const std::string& name = file;
    const std::string& expected = text;
    fs::create_symlink("/dev/zero", path(name));
    const std::string message = io_error_of([&] { read_vectors(path(name)); });
    EXPECT_NE(message.find(expected), std::string::npos) << name << ": " << message;
    EXPECT_NE(message.find(path(name).string()), std::string::npos) << message;
  }
  fs::create_symlink("/dev/zero", path("zero.ibin"));
  const std::string truth = io_error_of([&] { read_ground_truth(path("zero.ibin")); });
  EXPECT_NE(truth.find("wrong size"), std::string::npos) << truth;
}

TEST_F(VectorStreamTest, APipeWithABadHeaderFailsWhileItsWriterIsStillOpen) {
  const fs::path fifo = path("p.fbin");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // O_RDWR opens without waiting for a reader; the header fits the pipe buffer.
  const int fd = ::open(fifo.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const std::array<std::int32_t, 2> header = {-5, 4};  // rows -5: not a .fbin header
  ASSERT_EQ(::write(fd, header.data(), sizeof header), static_cast<ssize_t>(sizeof header));
  std::promise<void> read_done;
  // Closes once the read gave up, or after a minute (the old code waited for that).
  std::thread writer([fd, done = read_done.get_future()] {
    done.wait_for(60s);
    ::close(fd);
  });
  const auto started = std::chrono::steady_clock::now();
  const std::string message = io_error_of([&] { read_vectors(fifo); });
  const auto took = std::chrono::steady_clock::now() - started;
  read_done.set_value();
  writer.join();
  EXPECT_NE(message.find("header has -5 rows"), std::string::npos) << message;
  EXPECT_LT(took, 60s) << "the read waited for the writer to close";
}

}  // namespace
}  // namespace vecaccel
