#pragma once
// vecaccel: an explicit GPU compute context (the Metal 4 model on Vulkan 1.3) and exact
// vector search on top of it. This umbrella header includes the whole public API.

#include "vecaccel/acceleration_context.hpp"
#include "vecaccel/argument_table.hpp"
#include "vecaccel/buffer.hpp"
#include "vecaccel/buffer_pool.hpp"
#include "vecaccel/command_allocator.hpp"
#include "vecaccel/command_buffer.hpp"
#include "vecaccel/command_queue.hpp"
#include "vecaccel/compute_encoder.hpp"
#include "vecaccel/context.hpp"
#include "vecaccel/context_configuration.hpp"
#include "vecaccel/device.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/residency_manager.hpp"
#include "vecaccel/residency_set.hpp"
#include "vecaccel/shader_library.hpp"
#include "vecaccel/shared_event.hpp"
#include "vecaccel/stop.hpp"
#include "vecaccel/submission.hpp"
