#include "util/settings.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "vecaccel/error.hpp"

namespace vecaccel {
namespace {

std::atomic<bool> validation_requested{false};

/// The variable's text; nullopt where unset or empty (both mean "not set": a shell's `X=`
/// clears a setting).
std::optional<std::string_view> read(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string_view(value);
}

Error malformed(const char* name, std::string_view text, std::string_view need) {
  return Error(Errc::invalid_argument,
               std::string(name) + " = '" + std::string(text) + "': need " + std::string(need));
}

/// A 0|1 switch; `otherwise` where unset or empty.
bool read_switch(const char* name, bool otherwise) {
  const auto text = read(name);
  if (!text) return otherwise;
  if (*text == "0") return false;
  if (*text == "1") return true;
  throw malformed(name, *text, "0 or 1");
}

/// 0 to 1,000,000 microseconds (a second: beyond it a wait only burns a core or a caller's
/// time); nullopt where unset or empty.
std::optional<std::chrono::microseconds> read_microseconds(const char* name) {
  constexpr std::int64_t most = 1'000'000;
  const auto text = read(name);
  if (!text) return std::nullopt;
  const bool digits = text->size() <= 7 && std::all_of(text->begin(), text->end(),
                                                       [](char c) { return c >= '0' && c <= '9'; });
  const std::int64_t value = digits ? std::stoll(std::string(*text)) : most + 1;
  if (value > most) throw malformed(name, *text, "microseconds, 0 to 1000000");
  return std::chrono::microseconds(value);
}

}  // namespace

std::optional<MemoryBudgetSetting> memory_budget_setting() {
  const auto text = read("VECACCEL_MEMORY_BUDGET");
  if (!text) return std::nullopt;
  return MemoryBudgetSetting{.text = std::string(*text),
                             .bytes = parse_byte_size(*text, "VECACCEL_MEMORY_BUDGET")};
}

void request_validation_layer() {
  validation_requested.store(true);
}

namespace detail {

std::optional<std::string> device_setting() {
  const auto text = read("VECACCEL_DEVICE");
  if (!text) return std::nullopt;
  return std::string(*text);
}

bool validation_setting() {
  return read_switch("VECACCEL_VALIDATION", validation_requested.load());
}

std::string pipeline_cache_directory() {
  if (!read_switch("VECACCEL_PIPELINE_CACHE", true)) return {};
  if (const auto xdg = read("XDG_CACHE_HOME")) return std::string(*xdg) + "/vecaccel";
  if (const auto home = read("HOME")) return std::string(*home) + "/.cache/vecaccel";
  return {};
}

std::optional<std::chrono::microseconds> spin_setting() {
  return read_microseconds("VECACCEL_SPIN_US");
}

std::chrono::microseconds coalesce_regroup_setting() {
  return read_microseconds("VECACCEL_COALESCE_REGROUP_US").value_or(std::chrono::microseconds(100));
}

LeastPreciseScreen knn_screen_setting() {
  const auto text = read("VECACCEL_KNN_SCREEN");
  if (!text || *text == "float16") return LeastPreciseScreen::float16;
  if (*text == "float16-copies") return LeastPreciseScreen::float16_copies;
  if (*text == "float16x3") return LeastPreciseScreen::float16x3;
  if (*text == "float32") return LeastPreciseScreen::float32;
  throw malformed("VECACCEL_KNN_SCREEN", *text, "float16-copies, float16, float16x3 or float32");
}

bool knn_trace_setting() {
  return read_switch("VECACCEL_KNN_TRACE", false);
}

bool profile_dispatches_setting() {
  return read_switch("VECACCEL_PROFILE_DISPATCHES", false);
}

bool integer_screen_setting() {
  return read_switch("VECACCEL_INTEGER_SCREEN", true);
}

std::size_t coalesce_max_queries_setting() {
  constexpr std::size_t most = 32;  // SearchCoalescer::max_batch_queries
  // What the streaming screen's first variant takes in one pass (kernels.hpp
  // small_query_limit; its second takes up to stream_query_limit). Measured on
  // an H100 (BENCHMARKS.md, session 14), 16 threads of one query over 1M x 128: 18,711
  // queries/s in batches of up to 8 against 16,342 in batches of up to 32 (32-row tensor-core
  // blocks over the float16 copy) and 11,437 before those.
  constexpr std::size_t streamed = 8;
  const auto text = read("VECACCEL_COALESCE_MAX_QUERIES");
  if (!text) return streamed;
  const bool digits = text->size() <= 2 && std::all_of(text->begin(), text->end(),
                                                       [](char c) { return c >= '0' && c <= '9'; });
  const std::size_t value = digits ? std::stoul(std::string(*text)) : 0;
  if (value < 1 || value > most) throw malformed("VECACCEL_COALESCE_MAX_QUERIES", *text, "1 to 32");
  return value;
}

}  // namespace detail
}  // namespace vecaccel
