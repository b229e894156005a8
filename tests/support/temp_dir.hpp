#pragma once
// A fresh temporary directory per test, removed afterwards (issue 24 asks the tests to share one
// such fixture; new tests use this one).

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

namespace vecaccel::testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device device;
    dir_ = std::filesystem::temp_directory_path() /
           ("vecaccel-test-" + std::to_string(::getpid()) + "-" + std::to_string(device()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path path(const std::string& name) const { return dir_ / name; }

  std::filesystem::path dir_;
};

}  // namespace vecaccel::testing
