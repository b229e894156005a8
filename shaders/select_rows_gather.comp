#version 450
// The last pass of select_rows.glsl, per (slice, row) workgroup: writes the keys below the
// k-th that the digit passes had not placed yet, and counts the slice's keys equal to it.
#include "select_rows.glsl"

shared uint ties;

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint slice = gl_WorkGroupID.x;
  const uint tid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint begin = slice * pc.slice_length;
  const uint end = min(begin + pc.slice_length, row_cols());
  const uint base = state_base(row);
  const uint threshold = state[base + STATE_PREFIX];
  const uint last_mask = mask_before(2u);
  const uint bound = row_bound(row);
  if (compacted(row)) {
    // Every key this pass writes out or counts lies in the k-th key's first-digit bin, which
    // pass 1 compacted; ties go straight to their column's slice.
    const uvec2 share = compacted_share(row);
    for (uint first = share.x; first < share.y; first += threads) {
      const uint i = first + tid;
      const uvec2 entry = i < share.y ? compacted_key(row, i) : uvec2(floatBitsToUint(0.0), 0u);
      const float value = uintBitsToFloat(entry.x);
      const uint key = i < share.y ? to_key(value) : WORST_KEY;
      const bool below =
          i < share.y && (key & last_mask) == (threshold & last_mask) && key < threshold;
      emit(below, row, entry.y, value);
      if (i < share.y && key == threshold) {
        atomicAdd(state[base + STATE_TIES + entry.y / pc.slice_length], 1u);
      }
    }
    return;  // uniform: the row's count decides
  }
  if (tid == 0u) ties = 0u;
  barrier();
  // Four columns a lane (select_rows.glsl, values_at); most subgroups have none to write out
  // or count.
  for (uint first = begin; first < end; first += 4u * threads) {
    const uint col = first + 4u * tid;
    const vec4 values = values_at(row, col, end);
    bool below[4], equal[4];
    bool any = false;
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      const bool valid = col + i < end;
      const uint key = valid ? to_key(values[i]) : WORST_KEY;
      const bool kept = valid && key <= bound;
      below[i] = kept && (key & last_mask) == (threshold & last_mask) && key < threshold;
      equal[i] = kept && key == threshold;
      any = any || below[i] || equal[i];
    }
    if (!subgroupAny(any)) continue;
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      emit(below[i], row, col + i, values[i]);
      const uint ties_here = subgroupBallotBitCount(subgroupBallot(equal[i]));
      if (ties_here != 0u && subgroupElect()) atomicAdd(ties, ties_here);
    }
  }
  barrier();
  if (tid == 0u) state[base + STATE_TIES + slice] = ties;
}
