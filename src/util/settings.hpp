#pragma once
// Settings: the one place the library reads its environment. Every VECACCEL_* variable is read
// and checked here, when asked for (not cached: a program or test may set one between calls);
// a malformed value is Errc::invalid_argument naming the variable and its text. README.md
// ("Settings") documents each; include/vecaccel/settings.hpp holds what clients may use.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "vecaccel/settings.hpp"

namespace vecaccel::detail {

/// VECACCEL_DEVICE: the device to open where none is named, by index (all digits) or by a
/// substring of its name. nullopt where unset or empty.
std::optional<std::string> device_setting();

/// VECACCEL_VALIDATION=0|1: the Khronos validation layer (default 0, or 1 after
/// request_validation_layer()).
bool validation_setting();

/// Where the pipeline cache lives: $XDG_CACHE_HOME/vecaccel, else $HOME/.cache/vecaccel; empty
/// (no cache) where VECACCEL_PIPELINE_CACHE=0 or neither directory variable is set.
/// VECACCEL_PIPELINE_CACHE=0|1, default 1.
std::string pipeline_cache_directory();

/// VECACCEL_SPIN_US=<microseconds, 0 to 1000000>: how long a wait spins before it blocks.
/// nullopt where unset or empty (the device's own default then applies).
std::optional<std::chrono::microseconds> spin_setting();

/// The least precise screen a search may use,
/// VECACCEL_KNN_SCREEN=float16-copies|float16|float16x3|float32 (default float16;
/// docs/exactness.md): a diagnostic for comparing screens. float16-copies also lets blocks of
/// more than 32 queries below d = 384 use the tensor-core kernel over float16 copies (from 384
/// on, and 9-32 queries at every dimension, do by default: knn_plan.cpp, half_copies_min_dim).
enum class LeastPreciseScreen { float16_copies, float16, float16x3, float32 };
LeastPreciseScreen knn_screen_setting();

/// VECACCEL_KNN_TRACE=0|1 (default 0): each search's phases printed to stderr.
bool knn_trace_setting();

/// VECACCEL_PROFILE_DISPATCHES=0|1 (default 0), read when a Context is made: its command
/// buffers time every dispatch, copy and fill on the GPU and print each operation's times, by
/// pipeline, to stderr.
bool profile_dispatches_setting();

/// VECACCEL_INTEGER_SCREEN=0|1 (default 1): uint8 / int8 indexes searched with byte-valued
/// queries screen on integer tensor cores (integer_screen.hpp); 0 keeps them on the float
/// screens (a diagnostic).
bool integer_screen_setting();

/// VECACCEL_COALESCE_MAX_QUERIES=1..32 (default 8, what the streaming kernel takes in one
/// pass): the most queries one coalesced batch of FlatIndex searches holds
/// (search_coalescer.hpp). A diagnostic for comparing batch sizes.
std::size_t coalesce_max_queries_setting();

/// VECACCEL_COALESCE_REGROUP_US=0..1000000 (default 100), read when an index is made: how long
/// after a coalesced batch ends its callers are expected back before an idle coalescer starts
/// the next group without them (search_coalescer.hpp; 0: at once). A diagnostic.
std::chrono::microseconds coalesce_regroup_setting();

}  // namespace vecaccel::detail
