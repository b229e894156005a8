#version 450
// Digit pass pc.pass of select_rows.glsl: per (slice, row) workgroup, a shared histogram of
// the digit of the keys that match the prefix found so far, added to the row's histogram;
// from pass 1 on, keys the previous pass placed below the k-th key's bin are written out.
#include "select_rows.glsl"

shared uint bins[BINS];

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint tid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint begin = gl_WorkGroupID.x * pc.slice_length;
  const uint end = min(begin + pc.slice_length, row_cols());
  const uint base = state_base(row);
  const uint p = pc.pass;
  const uint mask = mask_before(p);
  const uint prefix = state[base + STATE_PREFIX];
  const uint previous_mask = p == 0u ? 0u : mask_before(p - 1u);
  const uint previous_prefix = prefix & previous_mask;
  const uint bound = row_bound(row);
  for (uint b = tid; b < BINS; b += threads) bins[b] = 0u;
  barrier();
  // A uniform trip count: every lane reaches the subgroup operations together.
  for (uint first = begin; first < end; first += threads) {
    const uint col = first + tid;
    const bool valid = col < end;
    const float value = valid ? value_at(row, col) : 0.0;
    const uint key = valid ? to_key(value) : WORST_KEY;
    const bool kept = valid && key <= bound;
    const bool match = kept && (key & mask) == prefix;
    const uint digit = digit_of(key, p);
    const uint lanes = subgroupBallotBitCount(subgroupBallot(true));
    // Skewed data puts most keys in one bin: one add per subgroup when they agree.
    if (subgroupAll(match) && subgroupAllEqual(digit)) {
      if (subgroupElect()) atomicAdd(bins[digit], lanes);
    } else if (match) {
      atomicAdd(bins[digit], 1u);
    }
    if (p > 0u) {
      emit(kept && (key & previous_mask) == previous_prefix && (key & mask) < prefix, row, col,
           value);
    }
  }
  barrier();
  for (uint b = tid; b < bins_of(p); b += threads) {
    if (bins[b] != 0u) atomicAdd(state[base + STATE_BINS + b], bins[b]);
  }
}
