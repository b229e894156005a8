#version 450
// After digit pass pc.pass of select_rows.glsl, one workgroup per row: the bin holding the
// k-th key (a prefix sum over the row's histogram), which extends the prefix; the histogram
// is cleared for the next pass. After the last pass, the slots past the row's keys are
// padded (label -1, the worst value).
#include "select_rows.glsl"

layout(constant_id = 3) const uint MAX_THREADS = 256;

shared uint sums[MAX_THREADS];
shared uint found_digit;
shared uint found_below;

void main() {
  const uint row = gl_WorkGroupID.x;
  const uint tid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint base = state_base(row);
  const uint p = pc.pass;
  const uint per = bins_of(p) / threads;  // threads: a power of two up to 1024
  const uint remaining = p == 0u ? row_want() : state[base + STATE_REMAINING];
  uint mine = 0u;
  for (uint i = 0u; i < per; ++i) mine += state[base + STATE_BINS + tid * per + i];
  sums[tid] = mine;
  if (tid == 0u) {
    found_digit = 0u;
    found_below = 0u;
  }
  barrier();
  // Inclusive prefix sums over the threads' totals (Hillis-Steele).
  for (uint step = 1u; step < threads; step <<= 1u) {
    const uint add = tid >= step ? sums[tid - step] : 0u;
    barrier();
    sums[tid] += add;
    barrier();
  }
  const uint before = sums[tid] - mine;
  if (before < remaining && remaining <= sums[tid]) {
    uint below = before;
    for (uint i = 0u; i < per; ++i) {
      const uint count = state[base + STATE_BINS + tid * per + i];
      if (below + count >= remaining) {
        found_digit = tid * per + i;
        found_below = below;
        break;
      }
      below += count;
    }
  }
  barrier();
  for (uint i = 0u; i < per; ++i) state[base + STATE_BINS + tid * per + i] = 0u;
  if (tid == 0u) {
    state[base + STATE_PREFIX] |= found_digit << shift_of(p);
    state[base + STATE_REMAINING] = remaining - found_below;
  }
  if (p == 2u) {
    const float worst = worst_value(pc.largest != 0u);
    for (uint i = row_want() + tid; i < pc.k; i += threads) {
      out_values[pc.out_offset + row * pc.out_stride + i] = worst;
      out_labels[pc.out_offset + row * pc.out_stride + i] = NO_LABEL;
    }
  }
}
