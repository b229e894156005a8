#version 450
// Digit pass pc.pass of select_rows.glsl: per (slice, row) workgroup, a shared histogram of
// the digit of the keys that match the prefix found so far, added to the row's histogram;
// from pass 1 on, keys the previous pass placed below the k-th key's bin are written out, and
// pass 1 compacts the keys of the k-th key's first-digit bin for pass 2.
#include "select_rows.glsl"

shared uint bins[BINS];

/// Counts the lanes' digits where they match: one add per subgroup where all match one digit
/// (skewed data puts most keys in one bin). Every lane of the subgroup calls it together.
void tally(bool match, uint digit) {
  const uint lanes = subgroupBallotBitCount(subgroupBallot(true));
  if (subgroupAll(match) && subgroupAllEqual(digit)) {
    if (subgroupElect()) atomicAdd(bins[digit], lanes);
  } else if (match) {
    atomicAdd(bins[digit], 1u);
  }
}

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
  if (p == 2u && compacted(row)) {
    // Pass 1 compacted every kept key of the k-th key's first-digit bin: those are all this
    // pass counts or writes out.
    const uvec2 share = compacted_share(row);
    for (uint first = share.x; first < share.y; first += threads) {
      const uint i = first + tid;
      const uvec2 entry = i < share.y ? compacted_key(row, i) : uvec2(floatBitsToUint(0.0), 0u);
      const float value = uintBitsToFloat(entry.x);
      const uint key = i < share.y ? to_key(value) : WORST_KEY;
      const bool match = i < share.y && (key & mask) == prefix;
      const bool below = i < share.y && (key & mask) < prefix;
      if (!subgroupAny(match || below)) continue;
      tally(match, digit_of(key, p));
      emit(below, row, entry.y, value);
    }
  } else {
    // A uniform trip count: every lane reaches the subgroup operations together. Four columns
    // a lane; a subgroup none of whose columns counts or is written out moves on at once (most
    // of them, once the digit or the running bound has narrowed the keys down).
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
        tally(matches[i], digit_of(keys[i], p));
        if (p > 0u) emit(emits[i], row, col + i, values[i]);
        // Pass 1's matches are the k-th key's first-digit bin: pass 2 and the gather read them.
        if (p == 1u) compact(matches[i], row, col + i, values[i]);
      }
    }
  }
  barrier();
  for (uint b = tid; b < bins_of(p); b += threads) {
    if (bins[b] != 0u) atomicAdd(state[base + STATE_BINS + b], bins[b]);
  }
}
