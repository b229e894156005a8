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
  // A uniform trip count: every lane reaches the subgroup operations together. Four columns a
  // lane; a subgroup none of whose columns counts or is written out moves on at once (most of
  // them, once the digit or the running bound has narrowed the keys down).
  for (uint first = begin; first < end; first += 4u * threads) {
    const uint col = first + 4u * tid;
    const vec4 values = values_at(row, col, end);
    uint keys[4];
    bool matches[4], emits[4];
    bool any = false;
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      const bool valid = col + i < end;
      keys[i] = valid ? to_key(values[i]) : WORST_KEY;
      const bool kept = valid && keys[i] <= bound;
      matches[i] = kept && (keys[i] & mask) == prefix;
      emits[i] = p > 0u && kept && (keys[i] & previous_mask) == previous_prefix &&
                 (keys[i] & mask) < prefix;
      any = any || matches[i] || emits[i];
    }
    if (!subgroupAny(any)) continue;
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      const uint digit = digit_of(keys[i], p);
      const uint lanes = subgroupBallotBitCount(subgroupBallot(true));
      // Skewed data puts most keys in one bin: one add per subgroup when they agree.
      if (subgroupAll(matches[i]) && subgroupAllEqual(digit)) {
        if (subgroupElect()) atomicAdd(bins[digit], lanes);
      } else if (matches[i]) {
        atomicAdd(bins[digit], 1u);
      }
      if (p > 0u) emit(emits[i], row, col + i, values[i]);
    }
  }
  barrier();
  for (uint b = tid; b < bins_of(p); b += threads) {
    if (bins[b] != 0u) atomicAdd(state[base + STATE_BINS + b], bins[b]);
  }
}
