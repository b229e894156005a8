#version 450
// Top-k for any k <= SORT_CAP: radix select finds the k-th smallest key in four 8-bit passes
// over the segment (a histogram of the next digit among keys that share the prefix found so
// far), then one pass gathers every key below it plus the first equal keys in column order,
// and a bitonic sort in shared memory orders the k survivors by (key, label).
// One workgroup per (segment, row).
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(constant_id = 3) const uint SORT_CAP = 2048;  // power of two >= k
layout(constant_id = 4) const uint MAX_SUBGROUPS = 128;

#include "select_common.glsl"

shared uint histogram[256];
shared uint sort_key[SORT_CAP];
shared int sort_label[SORT_CAP];
shared uint found_digit;
shared uint found_below;  // keys with the found prefix in bins below the digit
shared uint taken;        // survivors written so far
shared uint ties_left;    // keys equal to the threshold still to take
shared uint subgroup_ties[MAX_SUBGROUPS];
shared uint survivors;    // keys within the row's bound, gathered into sort_key/sort_label

/// Bitonic sort of SORT_CAP (key, label) pairs in shared memory, ascending.
void sort_pairs() {
  const uint tid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  for (uint size = 2u; size <= SORT_CAP; size <<= 1u) {
    for (uint stride = size >> 1u; stride > 0u; stride >>= 1u) {
      for (uint i = tid; i < SORT_CAP / 2u; i += threads) {
        const uint lo = 2u * i - (i & (stride - 1u));
        const uint hi = lo + stride;
        const bool ascending = (lo & size) == 0u;
        const uint ka = sort_key[lo];
        const int la = sort_label[lo];
        const uint kb = sort_key[hi];
        const int lb = sort_label[hi];
        if (better(kb, lb, ka, la) == ascending) {
          sort_key[lo] = kb;
          sort_label[lo] = lb;
          sort_key[hi] = ka;
          sort_label[hi] = la;
        }
      }
      barrier();
    }
  }
}

/// With a bound (a running merge's k-th best), usually only a few keys of the segment can
/// still matter: gather them in one read and sort them. False when they do not fit.
bool select_within_bound(uint row, uint segment, uint begin, uint end) {
  const uint tid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint bound = row_bound(row);
  for (uint i = tid; i < SORT_CAP; i += threads) {
    sort_key[i] = WORST_KEY;
    sort_label[i] = NO_LABEL;
  }
  if (tid == 0u) survivors = 0u;
  barrier();
  for (uint col = begin + tid; col < end; col += threads) {
    const uint key = to_key(in_values[pc.in_offset + row * pc.in_stride + col]);
    if (key <= bound) {
      const uint slot = atomicAdd(survivors, 1u);
      if (slot < SORT_CAP) {
        sort_key[slot] = key;
        sort_label[slot] = label_at(row, col);
      }
    }
  }
  barrier();
  const uint found = survivors;
  if (found > SORT_CAP) return false;  // uniform: read after a barrier
  sort_pairs();
  for (uint i = tid; i < pc.k; i += threads) write_result(row, segment, i, sort_key[i], sort_label[i]);
  return true;
}

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint segment = gl_WorkGroupID.x;
  const uint begin = segment * pc.segment_length;
  const uint end = min(begin + pc.segment_length, pc.cols);
  const uint tid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint count = end > begin ? end - begin : 0u;
  const uint want = min(pc.k, count);
  if (pc.has_bound != 0u) {
    if (select_within_bound(row, segment, begin, end)) return;
    barrier();
  }

  uint prefix = 0u;
  uint mask = 0u;
  uint remaining = want;  // how many keys with the current prefix still belong to the top k
  for (int shift = 24; shift >= 0 && want > 0u; shift -= 8) {
    for (uint b = tid; b < 256u; b += threads) histogram[b] = 0u;
    barrier();
    for (uint col = begin + tid; col < end; col += threads) {
      const uint key = to_key(in_values[pc.in_offset + row * pc.in_stride + col]);
      const bool match = (key & mask) == prefix;
      const uint digit = (key >> uint(shift)) & 255u;
      // Skewed data puts most keys in one bin: add once per subgroup when they agree.
      const uint lanes = subgroupBallotBitCount(subgroupBallot(true));
      if (subgroupAll(match) && subgroupAllEqual(digit)) {
        if (subgroupElect()) atomicAdd(histogram[digit], lanes);
      } else if (match) {
        atomicAdd(histogram[digit], 1u);
      }
    }
    barrier();
    if (tid == 0u) {
      uint below = 0u;
      uint digit = 0u;
      for (; digit < 255u; ++digit) {
        if (below + histogram[digit] >= remaining) break;
        below += histogram[digit];
      }
      found_digit = digit;
      found_below = below;
    }
    barrier();
    prefix |= found_digit << uint(shift);
    mask |= 255u << uint(shift);
    remaining -= found_below;
    barrier();
  }
  // Now `prefix` is the k-th smallest key: every smaller key is in, and `remaining` of the keys
  // equal to it (the first ones by column, which is by label for column labels).
  const uint threshold = prefix;
  if (tid == 0u) {
    taken = 0u;
    ties_left = remaining;
  }
  for (uint i = tid; i < SORT_CAP; i += threads) {
    sort_key[i] = WORST_KEY;
    sort_label[i] = NO_LABEL;
  }
  barrier();
  if (want > 0u) {
    for (uint col = begin + tid; col < end; col += threads) {
      const uint key = to_key(in_values[pc.in_offset + row * pc.in_stride + col]);
      if (key < threshold) {
        const uint slot = atomicAdd(taken, 1u);
        sort_key[slot] = key;
        sort_label[slot] = label_at(row, col);
      }
    }
  }
  barrier();
  // Keys equal to the threshold, in column order, until `remaining` are in: a workgroup
  // prefix count (subgroup ballots, then per-subgroup totals) per block of columns.
  for (uint block = begin; block < end && want > 0u; block += threads) {
    const uint budget = ties_left;  // uniform: read after a barrier
    if (budget == 0u) break;
    const uint col = block + tid;
    const bool tie =
        col < end && to_key(in_values[pc.in_offset + row * pc.in_stride + col]) == threshold;
    const uvec4 ballot = subgroupBallot(tie);
    if (subgroupElect()) subgroup_ties[gl_SubgroupID] = subgroupBallotBitCount(ballot);
    barrier();
    uint before = subgroupBallotExclusiveBitCount(ballot);
    uint total = 0u;
    for (uint s = 0u; s < gl_NumSubgroups; ++s) {
      if (s < gl_SubgroupID) before += subgroup_ties[s];
      total += subgroup_ties[s];
    }
    if (tie && before < budget) {
      const uint slot = atomicAdd(taken, 1u);
      sort_key[slot] = threshold;
      sort_label[slot] = label_at(row, col);
    }
    barrier();
    if (tid == 0u) ties_left = budget > total ? budget - total : 0u;
    barrier();
  }
  barrier();
  sort_pairs();
  for (uint i = tid; i < pc.k; i += threads) {
    write_result(row, segment, i, sort_key[i], i < want ? sort_label[i] : NO_LABEL);
  }
}
