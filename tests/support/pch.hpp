#pragma once
// Precompiled once per build for every test linking vecaccel_test_support (tests/CMakeLists.txt):
// the headers nearly all tests include, parsed once instead of once per test file. Vulkan-Hpp is
// left out: only a few tests include it, and a precompiled copy costs more than it saves.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "vecaccel/vecaccel.hpp"
