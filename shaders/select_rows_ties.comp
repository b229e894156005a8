#version 450
// The end of select_rows.glsl, per (slice, row) workgroup: of the keys equal to the k-th,
// the row needs the first `remaining` in column order; a slice takes those after the ties of
// the slices before it, at the slots after the keys below the k-th (the last slot included).
// Where the row takes all of them and pass 1 compacted its k-th first-digit bin, the slice's
// ties come from there instead of a read of its columns.
#include "select_rows.glsl"

layout(constant_id = 3) const uint MAX_SUBGROUPS = 128;

shared uint before_slice;
shared uint row_ties;
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
    row_ties = 0u;
    taken = 0u;
  }
  barrier();
  uint mine = 0u, every = 0u;
  for (uint s = tid; s < gl_NumWorkGroups.x; s += threads) {
    const uint ties = state[base + STATE_TIES + s];
    if (s < slice) mine += ties;
    every += ties;
  }
  if (mine != 0u) atomicAdd(before_slice, mine);
  if (every != 0u) atomicAdd(row_ties, every);
  barrier();
  const uint before = before_slice;
  if (before >= remaining) return;  // uniform: read after a barrier
  const uint budget = remaining - before;
  const uint start = row_want() - remaining + before;
  const uint threshold = state[base + STATE_PREFIX];
  if (row_ties == remaining && compacted(row)) {
    // Every key equal to the k-th is taken (the usual case: one such key), so column order
    // decides nothing: the slice's ties come from the compacted keys, in any order, to the
    // slots after the earlier slices' (a slice reads its ties' bin, not its columns).
    const uint count = state[base + STATE_COMPACTED];
    for (uint first = 0u; first < count; first += threads) {
      const uint i = first + tid;
      const uvec2 entry = i < count ? compacted_key(row, i) : uvec2(0u);
      const float value = uintBitsToFloat(entry.x);
      if (i < count && entry.y / pc.slice_length == slice && to_key(value) == threshold) {
        const uint o = pc.out_offset + row * pc.out_stride + start + atomicAdd(taken, 1u);
        out_values[o] = value;
        out_labels[o] = label_at(row, entry.y);
      }
    }
    return;
  }
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
