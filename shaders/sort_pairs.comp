#version 450
// Sorts rows of (key, label) pairs in global memory, any length: a bitonic network over each
// row padded to a power of two, its steps of strides below BLOCK run in shared memory (one
// dispatch per merge size), larger strides one global step a dispatch. Then the best k of
// each row are written as float32 values with their labels (and, for the kNN's exact
// selection, the certificate's inputs). Keys are the exact float64 values (negated for
// "largest first") or, for float32 inputs, their order keys (keys.glsl) as doubles; ties go to
// the smaller label, and a missing entry (label -1, or past the row) sorts last.
#extension GL_GOOGLE_include_directive : require
#include "keys.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint BLOCK = 2048;  // shared pairs, a power of two

layout(push_constant) uniform Constants {
  uint rows;
  uint count;     // entries per row in the inputs
  uint stride;    // input elements per row
  uint padded;    // sorted entries per row: a power of two >= count
  uint block;     // min(BLOCK, padded)
  uint size;      // the merge's size (modes 1, 2)
  uint distance;  // the global step's stride (mode 2)
  uint mode;      // 0: load and sort blocks, 1: merge within blocks, 2: a global step, 3: emit
  uint float_keys;
  uint largest;
  uint k;
  uint out_offset;  // first output row
  uint has_certificate;
} pc;

// Inputs: float64 values as pairs of words, or float32 bits.
layout(set = 0, binding = 0, std430) readonly buffer InKeys { uint in_keys[]; };
layout(set = 0, binding = 1, std430) readonly buffer InLabels { int in_labels[]; };
layout(set = 0, binding = 2, std430) readonly buffer Screen { float screen[]; };
layout(set = 0, binding = 3, std430) buffer Keys { double keys[]; };
layout(set = 0, binding = 4, std430) buffer Ids { uint ids[]; };
// Bits of float32 values: narrow() writes subnormal results, which a double -> float
// conversion may flush.
layout(set = 0, binding = 5, std430) writeonly buffer OutValues { uint out_values[]; };
layout(set = 0, binding = 6, std430) writeonly buffer OutLabels { int out_labels[]; };
layout(set = 0, binding = 7, std430) writeonly buffer Certificate { double certificate[]; };

shared double local_keys[BLOCK];
shared uint local_ids[BLOCK];

const uint MISSING = 0xffffffffu;

double infinity() { return packDouble2x32(uvec2(0u, 0x7ff00000u)); }

/// The bits of v rounded to float32 (to nearest, ties to even), subnormals included.
uint narrow(double v) {
  const double magnitude = abs(v);
  if (!(magnitude < 1.1754943508222875e-38LF)) return floatBitsToUint(float(v));  // 2^-126
  const uint units = uint(roundEven(magnitude * 7.1362384635297994e+44LF));  // 2^149
  return (v < 0.0LF ? 0x80000000u : 0u) | units;
}

bool before(double key_a, uint id_a, double key_b, uint id_b) {
  return key_a < key_b || (key_a == key_b && id_a < id_b);
}

void load_entry(uint row, uint i, uint slot) {
  double key = infinity();
  uint id = MISSING;
  if (i < pc.count) {
    const uint at = row * pc.stride + i;
    const int label = in_labels[at];
    if (label >= 0) {
      id = uint(label);
      if (pc.float_keys != 0u) {
        key = double(order_key(uintBitsToFloat(in_keys[at]), pc.largest != 0u));
      } else {
        const double v = packDouble2x32(uvec2(in_keys[2u * at], in_keys[2u * at + 1u]));
        key = pc.largest != 0u ? -v : v;
      }
    }
  }
  local_keys[slot] = key;
  local_ids[slot] = id;
}

/// The network's steps of strides below `from` within this workgroup's block; the direction
/// of each pair follows its global position (bit `size`).
void merge_local(uint first, uint size, uint from) {
  const uint tid = gl_LocalInvocationID.x;
  for (uint half_size = from; half_size > 0u; half_size >>= 1u) {
    for (uint i = tid; i < pc.block / 2u; i += gl_WorkGroupSize.x) {
      const uint lo = 2u * half_size * (i / half_size) + (i % half_size);
      const uint hi = lo + half_size;
      const bool ascending = ((first + lo) & size) == 0u;
      if (before(local_keys[hi], local_ids[hi], local_keys[lo], local_ids[lo]) == ascending) {
        const double key = local_keys[lo];
        local_keys[lo] = local_keys[hi];
        local_keys[hi] = key;
        const uint id = local_ids[lo];
        local_ids[lo] = local_ids[hi];
        local_ids[hi] = id;
      }
    }
    barrier();
  }
}

/// Writes sorted entry i of the row as output i (and the certificate at the k-th).
void emit(uint row, uint i) {
  const uint at = row * pc.padded + i;
  const bool missing = ids[at] == MISSING;
  const uint o = (pc.out_offset + row) * pc.k + i;
  const double key = keys[at];
  if (pc.float_keys != 0u) {
    out_values[o] = floatBitsToUint(missing ? worst_value(pc.largest != 0u)
                                            : key_value(uint(key), pc.largest != 0u));
  } else {
    out_values[o] = narrow(pc.largest != 0u ? -key : key);
  }
  out_labels[o] = missing ? -1 : int(ids[at]);
  if (pc.has_certificate != 0u && i == pc.k - 1u) {
    const uint cert = 2u * (pc.out_offset + row);
    certificate[cert] = pc.largest != 0u ? -key : key;
    certificate[cert + 1u] = double(screen[row * pc.stride + pc.count - 1u]);
  }
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint row = gl_WorkGroupID.y;
  // Modes 2 and 3 stride over the row: a row may hold more pairs than a dispatch's groups.
  const uint step = gl_NumWorkGroups.x * threads;
  if (pc.mode == 2u) {
    for (uint i = gl_WorkGroupID.x * threads + tid; i < pc.padded / 2u; i += step) {
      const uint lo = 2u * pc.distance * (i / pc.distance) + (i % pc.distance);
      const uint a = row * pc.padded + lo;
      const uint b = a + pc.distance;
      const bool ascending = (lo & pc.size) == 0u;
      if (before(keys[b], ids[b], keys[a], ids[a]) == ascending) {
        const double key = keys[a];
        keys[a] = keys[b];
        keys[b] = key;
        const uint id = ids[a];
        ids[a] = ids[b];
        ids[b] = id;
      }
    }
    return;
  }
  if (pc.mode == 3u) {
    for (uint i = gl_WorkGroupID.x * threads + tid; i < pc.k; i += step) emit(row, i);
    return;
  }
  const uint first = gl_WorkGroupID.x * pc.block;
  for (uint i = tid; i < pc.block; i += threads) {
    if (pc.mode == 0u) {
      load_entry(row, first + i, i);
    } else {
      local_keys[i] = keys[row * pc.padded + first + i];
      local_ids[i] = ids[row * pc.padded + first + i];
    }
  }
  barrier();
  if (pc.mode == 0u) {
    for (uint size = 2u; size <= pc.block; size <<= 1u) merge_local(first, size, size >> 1u);
  } else {
    merge_local(first, pc.size, pc.block >> 1u);
  }
  for (uint i = tid; i < pc.block; i += threads) {
    keys[row * pc.padded + first + i] = local_keys[i];
    ids[row * pc.padded + first + i] = local_ids[i];
  }
}
