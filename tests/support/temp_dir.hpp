#pragma once
// A fresh temporary directory per test, removed with everything in it afterwards: the one
// fixture every test that writes files uses.

#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

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
  /// The names in the directory, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::filesystem::path dir_;
};

}  // namespace vecaccel::testing
