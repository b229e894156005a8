// Fused distances and top-k for k <= LIST: the distance block never leaves the workgroup.
// Included by knn_fused_*.comp, which define BM, BK (see gemm_core.glsl) and LIST.
//
// Workgroup (split, query block) walks the split's base rows in BM-row blocks, keeping for
// each of its BM queries a sorted list of the k best (key, label) pairs in shared memory.
// After each block's matrix product, a thread compares its values with their row's current
// k-th best and hands the few that beat it to the row's owner thread through one slot per
// (row, thread), in rounds until none is left (at most MICRO rounds: each round takes one of
// a thread's values per row). Once the lists are warm almost every value fails the first
// comparison, so selection costs a compare per distance instead of a write and a re-read of
// the distance matrix. Output: each row's k best at out[row * out_stride + out_offset +
// split * k + i], labels label_offset + base row, padded with (worst, -1) as the selection
// kernels write them, so the running merge takes both alike.
#define FUSED_CONSTANTS
#include "gemm_core.glsl"
#include "keys.glsl"

layout(set = 0, binding = 5, std430) writeonly buffer OutLabels { uint out_labels[]; };

// Push constants: distance_args.glsl (FUSED_CONSTANTS); split_length a multiple of BM.

layout(set = 0, binding = 6, std430) readonly buffer Bounds { float bounds[]; };
// A filtered search's pipeline (specialization constant 3, kernels.cpp): bit r of `allowed`
// set lets base row label r be returned; a denied row is never offered, as a padding row is
// not, so the lists hold allowed rows only and pad as usual.
layout(constant_id = 3) const bool MASKED = false;
layout(set = 0, binding = 7, std430) readonly buffer Allowed { uint allowed[]; };

bool allowed_row(uint label) {
  return !MASKED || (allowed[label >> 5u] & (1u << (label & 31u))) != 0u;
}

const uint WORST_KEY = 0xffffffffu;
const uint NO_LABEL = 0xffffffffu;
const uint SLOTS = 16u;  // threads sharing a row (the workgroup's x extent)

shared uint list_key[BM * LIST];
shared uint list_label[BM * LIST];
shared uint more_rounds[2];

// Slot (row, thread) is a (key, label) pair inside smem, free between blocks.
void put_slot(uint row, uint thread, uint key, uint label) {
  const uint p = row * SLOTS + thread;
  smem[p / 2u][(p % 2u) * 2u] = uintBitsToFloat(key);
  smem[p / 2u][(p % 2u) * 2u + 1u] = uintBitsToFloat(label);
}

uvec2 get_slot(uint row, uint thread) {
  const uint p = row * SLOTS + thread;
  const vec4 w = smem[p / 2u];
  return (p % 2u) == 0u ? floatBitsToUint(w.xy) : floatBitsToUint(w.zw);
}

void insert(uint row, uint key, uint label) {
  const uint first = row * LIST;
  const uint last = first + pc.k - 1u;
  if (!key_before(key, label, list_key[last], list_label[last])) return;
  uint i = last;
  for (; i > first && key_before(key, label, list_key[i - 1u], list_label[i - 1u]); --i) {
    list_key[i] = list_key[i - 1u];
    list_label[i] = list_label[i - 1u];
  }
  list_key[i] = key;
  list_label[i] = label;
}

void main() {
  const uint tx = gl_LocalInvocationID.x;
  const uint ty = gl_LocalInvocationID.y;
  const uint tid = gl_LocalInvocationIndex;
  const uint q0 = gl_WorkGroupID.y * BM;
  const uint split_begin = gl_WorkGroupID.x * pc.split_length;
  const uint split_end = min(split_begin + pc.split_length, pc.num_base);
  const bool largest = pc.largest != 0u;
  const Operands o =
      Operands(pc.num_queries, pc.num_base, pc.dim / 4u, pc.query_offset, pc.base_offset);

  // Lists start full of placeholders (no label: written out as padding) at the row's bound,
  // so only values at least as good as it are ever offered.
  if (tid < BM) {
    const uint q = q0 + tid;
    const uint start = (pc.has_bound != 0u && q < pc.num_queries)
                           ? order_key(bounds[pc.bound_offset + q * pc.bound_stride], largest)
                           : WORST_KEY;
    for (uint i = 0u; i < LIST; ++i) {
      list_key[tid * LIST + i] = start;
      list_label[tid * LIST + i] = NO_LABEL;
    }
  }
  if (tid < 2u) more_rounds[tid] = 0u;

  uint parity = 0u;
  for (uint b0 = split_begin; b0 < split_end; b0 += BM) {
    multiply_block(o, q0, b0);  // ends with a barrier: smem is free for the slots

    // Keys in place of the dot products. Registers are what limits occupancy here, so the
    // norms are re-read (from cache) rather than kept, and the values still to offer are
    // bits of two words: bit (i % 4) * MICRO + j of word i / 4.
    [[unroll]] for (uint i = 0u; i < MICRO; ++i) {
      const uint q = q0 + local_row(i, ty);
      const float query_norm = (q < pc.num_queries && pc.metric != METRIC_INNER_PRODUCT)
                                   ? query_norms[pc.query_offset + q] : 0.0;
      [[unroll]] for (uint j = 0u; j < MICRO; ++j) {
        const uint b = b0 + local_row(j, tx);
        // Padding rows and denied ones offer nothing.
        const bool valid = b < split_end && q < pc.num_queries && allowed_row(pc.label_offset + b);
        const float base_norm = (valid && pc.metric != METRIC_INNER_PRODUCT)
                                    ? base_norms[pc.base_offset + b] : 0.0;
        acc[i][j] = uintBitsToFloat(
            valid ? order_key(apply_metric(pc.metric, acc[i][j], query_norm, base_norm), largest)
                  : WORST_KEY);
      }
    }
    // Precheck: which values may beat their row's k-th best, by key alone (ties are settled
    // with labels when offered). Once the lists are warm almost no block has any, and then
    // this one comparison per value and one barrier are all the selection costs.
    uint pending[GROUPS];
    [[unroll]] for (uint g = 0u; g < GROUPS; ++g) pending[g] = 0u;
    [[unroll]] for (uint i = 0u; i < MICRO; ++i) {
      const uint bound_key = list_key[local_row(i, ty) * LIST + pc.k - 1u];
      [[unroll]] for (uint j = 0u; j < MICRO; ++j) {
        const uint key = floatBitsToUint(acc[i][j]);
        if (key != WORST_KEY && key <= bound_key) pending[i / 4u] |= 1u << ((i % 4u) * MICRO + j);
      }
    }
    // Flags alternate by parity; each is cleared one phase before it is set again, by thread
    // 0 on the far side of a barrier from every read of it.
    if (tid == 0u) more_rounds[parity ^ 1u] = 0u;
    bool any = false;
    [[unroll]] for (uint g = 0u; g < GROUPS; ++g) any = any || pending[g] != 0u;
    if (any) more_rounds[parity] = 1u;
    barrier();
    bool again = more_rounds[parity] != 0u;
    parity ^= 1u;

    while (again) {
      // Offer: per row, the first value still beating the row's k-th best.
      bool more = false;
      [[unroll]] for (uint i = 0u; i < MICRO; ++i) {
        const uint row = local_row(i, ty);
        const uint kth = row * LIST + pc.k - 1u;
        const uint bound_key = list_key[kth];
        const uint bound_label = list_label[kth];
        uint offer_key = WORST_KEY;
        uint offer_label = NO_LABEL;
        // No break or continue in unrolled loops: they keep the loop, and `acc` indexed by
        // a loop variable lives in local memory.
        [[unroll]] for (uint j = 0u; j < MICRO; ++j) {
          const uint bit = 1u << ((i % 4u) * MICRO + j);
          const uint key = floatBitsToUint(acc[i][j]);
          const uint label = pc.label_offset + b0 + local_row(j, tx);
          if ((pending[i / 4u] & bit) != 0u) {
            if (key == WORST_KEY || !key_before(key, label, bound_key, bound_label)) {
              pending[i / 4u] &= ~bit;
            } else if (offer_label == NO_LABEL) {
              offer_key = key;
              offer_label = label;
              pending[i / 4u] &= ~bit;
            }
          }
        }
        const uint row_bits = ((1u << MICRO) - 1u) << ((i % 4u) * MICRO);
        more = more || (pending[i / 4u] & row_bits) != 0u;
        put_slot(row, tx, offer_key, offer_label);
      }
      if (more) more_rounds[parity] = 1u;
      barrier();
      // Take: each row's owner inserts its row's offers.
      if (tid < BM) {
        for (uint s = 0u; s < SLOTS; ++s) {
          const uvec2 offer = get_slot(tid, s);
          if (offer.y != NO_LABEL) insert(tid, offer.x, offer.y);
        }
      }
      if (tid == 0u) more_rounds[parity ^ 1u] = 0u;
      again = more_rounds[parity] != 0u;
      barrier();
      parity ^= 1u;
    }
  }

  const uint q = q0 + tid;
  if (tid < BM && q < pc.num_queries) {
    const uint out_first = pc.out_offset + q * pc.out_stride + gl_WorkGroupID.x * pc.k;
    // Unrolled with a guard, not a loop to pc.k: llvmpipe (Mesa 22.3) ran that loop once for
    // some invocations after the divergent rounds above, leaving most of a row unwritten.
    [[unroll]] for (uint i = 0u; i < LIST; ++i) {
      if (i < pc.k) {
        const uint key = list_key[tid * LIST + i];
        const uint label = list_label[tid * LIST + i];
        out_values[out_first + i] = label == NO_LABEL ? worst_value(largest) : key_value(key, largest);
        out_labels[out_first + i] = label;
      }
    }
  }
}
