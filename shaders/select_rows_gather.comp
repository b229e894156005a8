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
  if (tid == 0u) ties = 0u;
  barrier();
  for (uint first = begin; first < end; first += threads) {
    const uint col = first + tid;
    const bool valid = col < end;
    const float value = valid ? value_at(row, col) : 0.0;
    const uint key = valid ? to_key(value) : WORST_KEY;
    const bool kept = valid && key <= bound;
    emit(kept && (key & last_mask) == (threshold & last_mask) && key < threshold, row, col, value);
    const uint equal = subgroupBallotBitCount(subgroupBallot(kept && key == threshold));
    if (equal != 0u && subgroupElect()) atomicAdd(ties, equal);
  }
  barrier();
  if (tid == 0u) state[base + STATE_TIES + slice] = ties;
}
