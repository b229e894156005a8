// Fused distances and top-k for a handful of queries (<= MAX_QUERIES) and k <= LIST, over base
// rows streamed once (stream_rows.glsl): distances_small's scan without its distance rows, and
// without the selection passes that read them back (a quarter of a 1M x 128 one-query
// search's GPU time on an H100). Included by knn_stream_*.comp.
//
// Workgroup `split` takes base rows [split * split_length, +split_length) in blocks: each
// subgroup TURNS turns of its rows a block. A value enters its query's room of candidates in
// shared memory (a slot claimed with a shared atomic) when it is no worse than the query's
// limit; after each block, a query whose room could not take another block has its k best
// kept and the rest dropped (compact), and its limit becomes the k-th (key, label) of them:
// a value tying the k-th key enters only with a smaller label, so rows of equal values cost
// one compaction, not one a block. The limit starts at the running bound where there is one
// (its label unknown: values equal to it enter). Output, as knn_fused: each query's k best at
// out[query * out_stride + out_offset + split * k + i], labels label_offset + base row, padded
// with (worst, -1). A few queries share the subgroups' turns: MAX_QUERIES (8, or 16 for the
// _16 variants) bounds them.
#define FUSED_CONSTANTS
#define OUT_READ
#include "stream_rows.glsl"
#include "keys.glsl"

// The bound, where there is one, is in out_values (a running merge's k-th, ahead of the slots
// this kernel writes): eight bindings are all an argument table has.
layout(set = 0, binding = 6, std430) writeonly buffer OutLabels { uint out_labels[]; };
// A filtered search's pipeline: bit r of `allowed` set lets base row label r be returned.
layout(constant_id = 5) const bool MASKED = false;
layout(set = 0, binding = 7, std430) readonly buffer Allowed { uint allowed[]; };
// Turns of each subgroup a block, and candidates a query's room holds (kernels.cpp
// encode_knn_stream: at least LIST plus a block's rows).
layout(constant_id = 6) const uint TURNS = 1u;
layout(constant_id = 7) const uint CAPACITY = 528u;

const uint WORST_KEY = 0xffffffffu;
const uint NO_LABEL = 0xffffffffu;
const uint LIST = 16u;  // kernels.hpp small_k_limit: the largest k

shared uint room_key[MAX_QUERIES * CAPACITY];
shared uint room_label[MAX_QUERIES * CAPACITY];
shared uint room_count[MAX_QUERIES];
shared uint limit_key[MAX_QUERIES];
shared uint limit_label[MAX_QUERIES];
shared uint best_key[MAX_QUERIES * LIST];
shared uint best_label[MAX_QUERIES * LIST];

bool allowed_row(uint label) {
  return !MASKED || (allowed[label >> 5u] & (1u << (label & 31u))) != 0u;
}

/// By one subgroup: query m's k best candidates, in order, to the front of its room (all of
/// them where it holds fewer), and, once it holds k, its limit the k-th of them. Returns how
/// many it keeps.
uint compact(uint m) {
  const uint lanes = gl_SubgroupSize;
  const uint lane = gl_SubgroupInvocationID;
  const uint first = m * CAPACITY;
  const uint count = room_count[m];
  const uint taken = min(count, pc.k);
  uint last_key = 0u;
  uint last_label = 0u;
  // Round r: the best candidate after round r - 1's. Labels of a query are distinct rows.
  for (uint r = 0u; r < taken; ++r) {
    uint key = WORST_KEY;
    uint label = NO_LABEL;
    // Four candidates a lane a turn: few turns for lavapipe's loop count.
    for (uint i = lane; i < count; i += 4u * lanes) {
      [[unroll]] for (uint u = 0u; u < 4u; ++u) {
        const uint c = i + u * lanes;
        if (c < count) {
          const uint ck = room_key[first + c];
          const uint cl = room_label[first + c];
          const bool after = r == 0u || key_before(last_key, last_label, ck, cl);
          if (after && key_before(ck, cl, key, label)) {
            key = ck;
            label = cl;
          }
        }
      }
    }
    last_key = subgroupMin(key);
    last_label = subgroupMin(key == last_key ? label : NO_LABEL);
    if (lane == 0u) {
      best_key[m * LIST + r] = last_key;
      best_label[m * LIST + r] = last_label;
    }
  }
  // Every lane's reads of the room are done before any lane overwrites its front.
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  for (uint r = lane; r < taken; r += lanes) {
    room_key[first + r] = best_key[m * LIST + r];
    room_label[first + r] = best_label[m * LIST + r];
  }
  if (lane == 0u) {
    room_count[m] = taken;
    if (taken == pc.k) {
      limit_key[m] = last_key;
      limit_label[m] = last_label;
    }
  }
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  return taken;
}

void main() {
  const uint subgroups = gl_NumSubgroups;
  const uint split_begin = gl_WorkGroupID.x * pc.split_length;
  const uint split_end = min(split_begin + pc.split_length, pc.num_base);
  const bool largest = pc.largest != 0u;
  const uint turn_rows = subgroup_turn_rows();
  const uint block_rows = TURNS * subgroups * turn_rows;

  // Limits start at the row's bound (its label unknown: a value equal to it may enter).
  if (gl_LocalInvocationIndex < MAX_QUERIES) {
    const uint m = gl_LocalInvocationIndex;
    room_count[m] = 0u;
    limit_key[m] = (pc.has_bound != 0u && m < pc.num_queries)
                       ? order_key(out_values[pc.bound_offset + m * pc.bound_stride], largest)
                       : WORST_KEY;
    limit_label[m] = NO_LABEL;
  }
  barrier();

  float query_norm[MAX_QUERIES];
  load_query_norms(query_norm);
  for (uint block = split_begin; block < split_end; block += block_rows) {
    uint keys[MAX_QUERIES];
    uint labels[MAX_QUERIES];
    [[unroll]] for (uint m = 0u; m < MAX_QUERIES; ++m) {
      keys[m] = limit_key[m];
      labels[m] = limit_label[m];
    }
    for (uint t = 0u; t < TURNS; ++t) {
      uint row;
      float value[MAX_QUERIES];
      turn_values(block + (gl_SubgroupID * TURNS + t) * turn_rows, query_norm, row, value);
      const uint label = pc.label_offset + row;
      if (row < split_end && allowed_row(label)) {
        [[unroll]] for (uint m = 0u; m < MAX_QUERIES; ++m) {
          const uint key = order_key(value[m], largest);
          if (m < pc.num_queries && key_before(key, label, keys[m], labels[m])) {
            const uint slot = atomicAdd(room_count[m], 1u);
            room_key[m * CAPACITY + slot] = key;
            room_label[m * CAPACITY + slot] = label;
          }
        }
      }
    }
    barrier();
    // Every query's room takes another block, or is compacted first.
    for (uint m = gl_SubgroupID; m < pc.num_queries; m += subgroups) {
      if (room_count[m] > CAPACITY - block_rows) compact(m);
    }
    barrier();
  }

  for (uint m = gl_SubgroupID; m < pc.num_queries; m += subgroups) {
    const uint held = compact(m);
    const uint out_first = pc.out_offset + m * pc.out_stride + gl_WorkGroupID.x * pc.k;
    for (uint i = gl_SubgroupInvocationID; i < pc.k; i += gl_SubgroupSize) {
      const bool real = i < held;
      out_values[out_first + i] =
          real ? key_value(room_key[m * CAPACITY + i], largest) : worst_value(largest);
      out_labels[out_first + i] = real ? room_label[m * CAPACITY + i] : NO_LABEL;
    }
  }
}
