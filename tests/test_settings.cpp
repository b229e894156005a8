// Settings: every VECACCEL_* variable is checked where it is read, and the README lists each
// one the code names.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "support/expect_error.hpp"
#include "support/scoped_env.hpp"
#include "util/settings.hpp"

using namespace vecaccel;
using vecaccel::testing::expect_error;
using vecaccel::testing::mentions;
using vecaccel::testing::ScopedEnv;

namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The VECACCEL_* names inside string literals of the C++ files under `dir`: a variable is read
/// (and named in messages) through a literal, while bare VECACCEL_* tokens are the build's own
/// macros (VECACCEL_VERSION), not settings.
std::set<std::string> quoted_names(const fs::path& dir) {
  static const std::regex literal(R"re("([^"\\\n]|\\.)*")re");
  static const std::regex name("VECACCEL_[A-Z_0-9]+");
  std::set<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const auto ext = entry.path().extension();
    if (ext != ".cpp" && ext != ".hpp") continue;
    const std::string text = read_text(entry.path());
    for (std::sregex_iterator l(text.begin(), text.end(), literal), end; l != end; ++l) {
      const std::string quoted = l->str();
      for (std::sregex_iterator n(quoted.begin(), quoted.end(), name); n != end; ++n) {
        names.insert(n->str());
      }
    }
  }
  return names;
}

}  // namespace

TEST(Settings, ReadmeListsEveryVariableTheCodeNames) {
  const fs::path source = VECACCEL_SOURCE_DIR;
  const std::string readme = read_text(source / "README.md");
  ASSERT_FALSE(readme.empty());
  std::set<std::string> names;
  for (const char* dir : {"src", "tools", "python/src"})
    names.merge(quoted_names(source / dir));
  EXPECT_TRUE(names.contains("VECACCEL_MEMORY_BUDGET"));  // the scan itself works
  for (const auto& n : names) {
    EXPECT_NE(readme.find(n), std::string::npos) << n << " is named in the code, not in README.md";
  }
}

TEST(Settings, EmptyMeansTheDefault) {
  ScopedEnv budget("VECACCEL_MEMORY_BUDGET", "");
  ScopedEnv device("VECACCEL_DEVICE", "");
  ScopedEnv cache("VECACCEL_PIPELINE_CACHE", "");
  ScopedEnv xdg("XDG_CACHE_HOME", "/cache-home");
  ScopedEnv spin("VECACCEL_SPIN_US", "");
  ScopedEnv screen("VECACCEL_KNN_SCREEN", "");
  ScopedEnv trace("VECACCEL_KNN_TRACE", "");
  ScopedEnv profile("VECACCEL_PROFILE_DISPATCHES", "");
  ScopedEnv batch("VECACCEL_COALESCE_MAX_QUERIES", "");
  ScopedEnv regroup("VECACCEL_COALESCE_REGROUP_US", "");
  EXPECT_FALSE(memory_budget_setting());
  EXPECT_FALSE(detail::device_setting());
  EXPECT_EQ(detail::pipeline_cache_directory(), "/cache-home/vecaccel");
  EXPECT_FALSE(detail::spin_setting());
  EXPECT_EQ(detail::knn_screen_setting(), detail::LeastPreciseScreen::float16);
  EXPECT_FALSE(detail::knn_trace_setting());
  EXPECT_FALSE(detail::profile_dispatches_setting());
  EXPECT_EQ(detail::coalesce_max_queries_setting(), 8u);
  EXPECT_EQ(detail::coalesce_regroup_setting(), std::chrono::microseconds(100));
}

TEST(Settings, WellFormedValuesAreRead) {
  ScopedEnv budget("VECACCEL_MEMORY_BUDGET", "3K");
  ScopedEnv device("VECACCEL_DEVICE", "llvmpipe");
  ScopedEnv cache("VECACCEL_PIPELINE_CACHE", "0");
  ScopedEnv spin("VECACCEL_SPIN_US", "1000000");
  ScopedEnv screen("VECACCEL_KNN_SCREEN", "float16x3");
  ScopedEnv trace("VECACCEL_KNN_TRACE", "1");
  ScopedEnv profile("VECACCEL_PROFILE_DISPATCHES", "1");
  ScopedEnv batch("VECACCEL_COALESCE_MAX_QUERIES", "32");
  ScopedEnv regroup("VECACCEL_COALESCE_REGROUP_US", "0");
  ASSERT_TRUE(memory_budget_setting());
  EXPECT_EQ(memory_budget_setting()->bytes, 3072u);
  EXPECT_EQ(memory_budget_setting()->text, "3K");
  EXPECT_EQ(detail::device_setting(), "llvmpipe");
  EXPECT_EQ(detail::pipeline_cache_directory(), "");
  EXPECT_EQ(detail::spin_setting(), std::chrono::microseconds(1'000'000));
  EXPECT_EQ(detail::knn_screen_setting(), detail::LeastPreciseScreen::float16x3);
  EXPECT_TRUE(detail::knn_trace_setting());
  EXPECT_TRUE(detail::profile_dispatches_setting());
  EXPECT_EQ(detail::coalesce_max_queries_setting(), 32u);
  EXPECT_EQ(detail::coalesce_regroup_setting(), std::chrono::microseconds(0));
  ScopedEnv copies("VECACCEL_KNN_SCREEN", "float16-copies");
  EXPECT_EQ(detail::knn_screen_setting(), detail::LeastPreciseScreen::float16_copies);
}

TEST(Settings, AMalformedValueIsAnErrorNamingTheVariableAndItsText) {
  const auto check = [](const char* name, const char* text, auto read) {
    ScopedEnv env(name, text);
    const Error e = expect_error(Errc::invalid_argument, read);
    EXPECT_TRUE(mentions(e, name)) << e.what();
    EXPECT_TRUE(mentions(e, std::string("'") + text + "'")) << e.what();
  };
  check("VECACCEL_MEMORY_BUDGET", "lots", [] { memory_budget_setting(); });
  check("VECACCEL_MEMORY_BUDGET", "0", [] { memory_budget_setting(); });
  check("VECACCEL_VALIDATION", "yes", [] { detail::validation_setting(); });
  check("VECACCEL_PIPELINE_CACHE", "off", [] { detail::pipeline_cache_directory(); });
  check("VECACCEL_SPIN_US", "-5", [] { detail::spin_setting(); });
  check("VECACCEL_SPIN_US", "1000001", [] { detail::spin_setting(); });
  check("VECACCEL_SPIN_US", "99999999999999999999", [] { detail::spin_setting(); });
  check("VECACCEL_KNN_SCREEN", "float64", [] { detail::knn_screen_setting(); });
  check("VECACCEL_KNN_TRACE", "true", [] { detail::knn_trace_setting(); });
  check("VECACCEL_PROFILE_DISPATCHES", "on", [] { detail::profile_dispatches_setting(); });
  check("VECACCEL_COALESCE_MAX_QUERIES", "0", [] { detail::coalesce_max_queries_setting(); });
  check("VECACCEL_COALESCE_MAX_QUERIES", "33", [] { detail::coalesce_max_queries_setting(); });
  check("VECACCEL_COALESCE_MAX_QUERIES", "8 ", [] { detail::coalesce_max_queries_setting(); });
  check("VECACCEL_COALESCE_REGROUP_US", "1000001", [] { detail::coalesce_regroup_setting(); });
  check("VECACCEL_COALESCE_REGROUP_US", "0.5", [] { detail::coalesce_regroup_setting(); });
}

TEST(Settings, AValidationRequestStandsInForAnUnsetVariableOnly) {
  {
    ScopedEnv off("VECACCEL_VALIDATION", "0");
    request_validation_layer();
    EXPECT_FALSE(detail::validation_setting());
  }
  ScopedEnv unset("VECACCEL_VALIDATION", "");
  EXPECT_TRUE(detail::validation_setting());
}
