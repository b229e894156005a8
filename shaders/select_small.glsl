#extension GL_EXT_control_flow_attributes : require
// Included by select_small*.comp, which define LIST (a compile-time constant keeps the
// per-thread lists in registers).
// Top-k for small k (k <= LIST): each thread keeps a sorted list of its LIST best candidates
// in registers while it streams its share of the segment, then k rounds of a workgroup-wide
// minimum pop the k best heads. One workgroup per (segment, row).
// After the first batch of loads, the k-th best of the threads' list heads becomes a shared
// threshold: k values of the segment are at least that good, so nothing worse can be in its
// top k. Without it a thread's own list, warm after a few dozen values, rejected too little:
// most values paid for an insertion (measured on an H200: 0.47 TB/s over a distance tile).
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(constant_id = 3) const uint MAX_SUBGROUPS = 128;

#include "select_common.glsl"

shared uint round_key[MAX_SUBGROUPS];
shared int round_label[MAX_SUBGROUPS];
shared uint winner_key;
shared int winner_label;
shared uint heads_key[gl_WorkGroupSize.x];
shared int heads_label[gl_WorkGroupSize.x];
shared uint threshold_key;
shared int threshold_label;

/// The k-th best of the threads' list heads (key, label), or (WORST_KEY, NO_LABEL) when fewer
/// than k threads hold a value. Every thread calls it (it has barriers).
void share_threshold(uint key, int label) {
  const uint me = gl_LocalInvocationID.x;
  heads_key[me] = key;
  heads_label[me] = label;
  if (me == 0u) {
    threshold_key = WORST_KEY;
    threshold_label = NO_LABEL;
  }
  barrier();
  if (label != NO_LABEL) {
    // Labels of a row are distinct, so ranks are too: one thread holds rank k - 1.
    uint rank = 0u;
    for (uint t = 0u; t < gl_WorkGroupSize.x; ++t) {
      if (heads_label[t] != NO_LABEL && better(heads_key[t], heads_label[t], key, label)) ++rank;
    }
    if (rank == pc.k - 1u) {
      threshold_key = key;
      threshold_label = label;
    }
  }
  barrier();
}

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint segment = gl_WorkGroupID.x;
  const uint begin = segment * pc.segment_length;
  const uint end = min(begin + pc.segment_length, pc.cols);
  const uint threads = gl_WorkGroupSize.x;

  uint keys[LIST];
  int labels[LIST];
  [[unroll]] for (uint i = 0; i < LIST; ++i) {
    keys[i] = WORST_KEY;
    labels[i] = NO_LABEL;
  }
  // BATCH loads in flight per thread before any comparison: one at a time leaves the scan
  // waiting on memory latency instead of bandwidth.
  const uint BATCH = 8u;
  // Values must be no worse than (limit_key, limit_label) and, with a bound, have a key no
  // worse than it (an equal key is kept: the bound's label is not known here).
  const uint bound_key = row_bound(row);
  uint limit_key = WORST_KEY;
  int limit_label = NO_LABEL;
  bool shared_limit = false;
  // The loop bounds are the workgroup's, not the thread's: share_threshold's barriers need
  // every thread in the same iteration.
  for (uint batch_begin = begin; batch_begin < end; batch_begin += threads * BATCH) {
    if (!shared_limit && batch_begin != begin) {
      share_threshold(keys[0], labels[0]);
      limit_key = threshold_key;
      limit_label = threshold_label;
      shared_limit = true;
    }
    const uint first = batch_begin + gl_LocalInvocationID.x;
    float values[BATCH];
    [[unroll]] for (uint u = 0; u < BATCH; ++u) {
      const uint col = first + u * threads;
      values[u] = col < end ? in_values[pc.in_offset + row * pc.in_stride + col] : 0.0;
    }
    // No break or continue in unrolled loops: they keep the loop, and register arrays
    // indexed by a loop variable live in local memory.
    [[unroll]] for (uint u = 0; u < BATCH; ++u) {
      const uint col = first + u * threads;
      if (col < end) {
        const uint key = to_key(values[u]);
        // Keys alone reject almost every value; labels (a load when they come from memory)
        // only settle ties.
        if (key <= min(min(bound_key, limit_key), keys[LIST - 1])) {
          const int label = label_at(row, col);
          const bool within =
              limit_label == NO_LABEL || !better(limit_key, limit_label, key, label);
          if (within && better(key, label, keys[LIST - 1], labels[LIST - 1])) {
            // Insertion into the sorted list; constant bounds keep it in registers.
            uint k = key;
            int l = label;
            [[unroll]] for (uint i = 0; i < LIST; ++i) {
              if (better(k, l, keys[i], labels[i])) {
                const uint tk = keys[i];
                const int tl = labels[i];
                keys[i] = k;
                labels[i] = l;
                k = tk;
                l = tl;
              }
            }
          }
        }
      }
    }
  }

  // k rounds: the workgroup's best head wins and its owner pops it.
  for (uint r = 0; r < pc.k; ++r) {
    const uint head_key = keys[0];
    const int head_label = labels[0];
    const uint best_key = subgroupMin(head_key);
    const uint best_label = subgroupMin(head_key == best_key ? uint(head_label) : 0xffffffffu);
    if (subgroupElect()) {
      round_key[gl_SubgroupID] = best_key;
      round_label[gl_SubgroupID] = int(best_label);
    }
    barrier();
    if (gl_LocalInvocationID.x == 0) {
      uint wk = round_key[0];
      int wl = round_label[0];
      for (uint s = 1; s < gl_NumSubgroups; ++s) {
        if (better(round_key[s], round_label[s], wk, wl)) {
          wk = round_key[s];
          wl = round_label[s];
        }
      }
      winner_key = wk;
      winner_label = wl;
      write_result(row, segment, r, wk, wl);
    }
    barrier();
    if (head_key == winner_key && head_label == winner_label && head_label != NO_LABEL) {
      [[unroll]] for (uint i = 1; i < LIST; ++i) {
        keys[i - 1] = keys[i];
        labels[i - 1] = labels[i];
      }
      keys[LIST - 1] = WORST_KEY;
      labels[LIST - 1] = NO_LABEL;
    }
    barrier();
  }
}
