// Test main: fails the run on any Khronos validation message, and insists the layer is
// really on when VECACCEL_VALIDATION asks for it (so a missing layer cannot pass silently).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "vecaccel/diagnostics.hpp"

namespace {

class ValidationListener : public testing::EmptyTestEventListener {
  void OnTestStart(const testing::TestInfo&) override { before_ = count(); }
  void OnTestEnd(const testing::TestInfo& info) override {
    const auto seen = count() - before_;
    if (seen > 0) {
      std::fprintf(stderr, "FAILED: %llu validation message(s) during %s.%s\n",
                   static_cast<unsigned long long>(seen), info.test_suite_name(), info.name());
    }
  }
  static std::uint64_t count() {
    try {
      return vecaccel::validation_message_count();
    } catch (...) {
      return 0;  // no Vulkan at all: the tests themselves report that
    }
  }
  std::uint64_t before_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  testing::UnitTest::GetInstance()->listeners().Append(new ValidationListener);  // gtest owns it
  const int result = RUN_ALL_TESTS();
  const char* wanted = std::getenv("VECACCEL_VALIDATION");
  if (wanted != nullptr && std::string(wanted) == "1" &&
      testing::UnitTest::GetInstance()->test_to_run_count() > 0) {
    if (!vecaccel::validation_enabled()) {
      std::fprintf(stderr,
                   "FAILED: VECACCEL_VALIDATION=1 but the validation layer is not active\n");
      return 1;
    }
  }
  try {
    if (vecaccel::validation_message_count() > 0) {
      std::fprintf(stderr, "FAILED: %llu validation message(s) in this run\n",
                   static_cast<unsigned long long>(vecaccel::validation_message_count()));
      return 1;
    }
  } catch (...) {
  }
  return result;
}
