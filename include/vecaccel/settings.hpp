#pragma once
// Settings from the environment that a program using vecaccel may need to see or set itself.
// The library reads every VECACCEL_* variable in one place and checks it: a malformed value is
// an Error (Errc::invalid_argument) naming the variable and its text. README.md ("Settings")
// lists them all.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vecaccel {

/// A byte size as people write it, "<bytes>[K|M|G]" (binary multiples: "4G" is 4 GiB, 4 << 30),
/// at least 1: the syntax of VECACCEL_MEMORY_BUDGET, for programs that take a budget themselves.
/// invalid_argument naming `what` and the text otherwise, e.g. "--budget = 'lots': need ...".
std::uint64_t parse_byte_size(std::string_view text, std::string_view what);

/// VECACCEL_MEMORY_BUDGET as set: the text (for messages) and the bytes it means.
struct MemoryBudgetSetting {
  std::string text;
  std::uint64_t bytes = 0;
};

/// VECACCEL_MEMORY_BUDGET=<bytes>[K|M|G] (binary multiples, >= 1): the device memory a search
/// may plan with. nullopt where unset or empty (the device's own budget then applies);
/// invalid_argument where malformed.
std::optional<MemoryBudgetSetting> memory_budget_setting();

/// Asks for the Khronos validation layer as if VECACCEL_VALIDATION=1 were set, where the
/// variable is unset or empty. The layer is chosen when vecaccel first opens Vulkan, so only a
/// request made before that takes effect (the Python module's `validation=True` uses this).
void request_validation_layer();

}  // namespace vecaccel
