#version 450
// The end of select_rows.glsl, per (slice, row) workgroup: of the keys equal to the k-th,
// the row needs the first `remaining` in column order; a slice takes those after the ties of
// the slices before it, at the slots after the keys below the k-th (the last slot included).
#include "select_rows.glsl"

layout(constant_id = 3) const uint MAX_SUBGROUPS = 128;

shared uint before_slice;
shared uint subgroup_ties[MAX_SUBGROUPS];
shared uint taken;

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint slice = gl_WorkGroupID.x;
  const uint tid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint base = state_base(row);
  const uint remaining = state[base + STATE_REMAINING];
  if (remaining == 0u || state[base + STATE_TIES + slice] == 0u) return;  // uniform
  if (tid == 0u) {
    before_slice = 0u;
    taken = 0u;
  }
  barrier();
  uint mine = 0u;
  for (uint s = tid; s < slice; s += threads) mine += state[base + STATE_TIES + s];
  if (mine != 0u) atomicAdd(before_slice, mine);
  barrier();
  const uint before = before_slice;
  if (before >= remaining) return;  // uniform: read after a barrier
  const uint budget = remaining - before;
  const uint start = row_want() - remaining + before;
  const uint threshold = state[base + STATE_PREFIX];
  const uint begin = slice * pc.slice_length;
  const uint end = min(begin + pc.slice_length, row_cols());
  for (uint first = begin; first < end; first += threads) {
    const uint done = taken;  // uniform: read after a barrier
    if (done >= budget) break;
    const uint col = first + tid;
    const bool tie = col < end && to_key(value_at(row, col)) == threshold;
    const uvec4 ballot = subgroupBallot(tie);
    if (subgroupElect()) subgroup_ties[gl_SubgroupID] = subgroupBallotBitCount(ballot);
    barrier();
    uint rank = done + subgroupBallotExclusiveBitCount(ballot);
    uint total = 0u;
    for (uint s = 0u; s < gl_NumSubgroups; ++s) {
      if (s < gl_SubgroupID) rank += subgroup_ties[s];
      total += subgroup_ties[s];
    }
    if (tie && rank < budget) {
      const uint o = pc.out_offset + row * pc.out_stride + start + rank;
      out_values[o] = value_at(row, col);
      out_labels[o] = label_at(row, col);
    }
    barrier();
    if (tid == 0u) taken = done + total;
    barrier();
  }
}
