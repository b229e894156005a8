#pragma once
// Settings from the environment that a program using vecaccel may need to see or set itself.
// The library reads every VECACCEL_* variable in one place and checks it: a malformed value is
// an Error (Errc::invalid_argument) naming the variable and its text. README.md ("Settings")
// lists them all.

#include <cstdint>
#include <optional>
#include <string>

namespace vecaccel {

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
