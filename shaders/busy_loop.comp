#version 450
// A deliberately long-running kernel for tests of timeouts, back-pressure and deferred reuse:
// out[i] = the result of `iterations` steps of an integer hash started from seed + i, so the
// CPU can check every element and the GPU cannot skip the work.
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0, std430) writeonly buffer Out { uint values[]; } out_buffer;

layout(push_constant) uniform Constants {
  uint count;
  uint iterations;
  uint seed;
} pc;

uint step_hash(uint x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= pc.count) return;
  uint x = pc.seed + i;
  // llvmpipe (lavapipe) ends a loop after 65535 iterations in all, nested or not: 16 steps
  // per iteration keep up to 1,048,560 steps exact there.
  for (uint k = 0; k < pc.iterations / 16u; ++k) {
    x = step_hash(step_hash(step_hash(step_hash(x))));
    x = step_hash(step_hash(step_hash(step_hash(x))));
    x = step_hash(step_hash(step_hash(step_hash(x))));
    x = step_hash(step_hash(step_hash(step_hash(x))));
  }
  for (uint k = 0; k < pc.iterations % 16u; ++k) x = step_hash(x);
  out_buffer.values[i] = x;
}
