#version 450
// Per query (one workgroup each): sorts the candidates by their exact float64 value, ties by
// label, and writes the best k as float32 with their labels, plus what the host's certificate
// needs: the exact k-th value and the screen's value of its last candidate.
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint SLOTS = 64;  // a power of two >= candidates per query

layout(set = 0, binding = 0, std430) readonly buffer Exact { double exact[]; };
layout(set = 0, binding = 1, std430) readonly buffer Labels { int labels[]; };
layout(set = 0, binding = 2, std430) readonly buffer Screen { float screen[]; };
// Bits of float32 values: narrow() writes subnormal results, which a double -> float
// conversion may flush.
layout(set = 0, binding = 3, std430) writeonly buffer OutValues { uint out_values[]; };
layout(set = 0, binding = 4, std430) writeonly buffer OutLabels { int out_labels[]; };
layout(set = 0, binding = 5, std430) writeonly buffer Certificate { double certificate[]; };

layout(push_constant) uniform Constants {
  uint num_queries;
  uint candidates;  // per query, at most SLOTS
  uint k;
  uint largest;
  uint stride;      // exact, labels and screen: elements per query
  uint out_offset;  // first output row
} pc;

// Sort keys: values negated for "largest first", so the sort is always ascending; a missing
// candidate (label -1) sorts last.
shared double keys[SLOTS];
shared uint ids[SLOTS];

/// The bits of v rounded to float32 (to nearest, ties to even), subnormals included.
uint narrow(double v) {
  const double magnitude = abs(v);
  if (!(magnitude < 1.1754943508222875e-38LF)) return floatBitsToUint(float(v));  // 2^-126
  // Below float32's normal range the spacing is 2^-149: the scaled value is an integer after
  // rounding, at most 2^23 (which encodes the smallest normal number).
  const uint units = uint(roundEven(magnitude * 7.1362384635297994e+44LF));  // 2^149
  return (v < 0.0LF ? 0x80000000u : 0u) | units;
}

bool before(uint a, uint b) {
  return keys[a] < keys[b] || (keys[a] == keys[b] && ids[a] < ids[b]);
}

void main() {
  const uint query = gl_WorkGroupID.x;
  const uint threads = gl_WorkGroupSize.x;
  const uint lane = gl_LocalInvocationID.x;
  const double infinity = packDouble2x32(uvec2(0u, 0x7ff00000u));
  const bool in_range = query < pc.num_queries;
  for (uint i = lane; i < SLOTS; i += threads) {
    keys[i] = infinity;
    ids[i] = 0xffffffffu;
    if (in_range && i < pc.candidates) {
      const int label = labels[query * pc.stride + i];
      if (label >= 0) {
        const double v = exact[query * pc.stride + i];
        keys[i] = pc.largest != 0u ? -v : v;
        ids[i] = uint(label);
      }
    }
  }
  barrier();
  // Bitonic sort over SLOTS entries; every thread runs every round (barriers stay uniform).
  for (uint size = 2u; size <= SLOTS; size <<= 1u) {
    for (uint half_size = size >> 1u; half_size > 0u; half_size >>= 1u) {
      for (uint i = lane; i < SLOTS / 2u; i += threads) {
        const uint lo = 2u * half_size * (i / half_size) + (i % half_size);
        const uint hi = lo + half_size;
        const bool ascending = (lo & size) == 0u;
        if (before(hi, lo) == ascending) {
          const double key = keys[lo];
          keys[lo] = keys[hi];
          keys[hi] = key;
          const uint id = ids[lo];
          ids[lo] = ids[hi];
          ids[hi] = id;
        }
      }
      barrier();
    }
  }
  if (!in_range) return;
  const uint out_row = (pc.out_offset + query) * pc.k;
  for (uint i = lane; i < pc.k; i += threads) {
    const bool missing = ids[i] == 0xffffffffu;
    const double v = pc.largest != 0u ? -keys[i] : keys[i];
    out_values[out_row + i] = narrow(v);
    out_labels[out_row + i] = missing ? -1 : int(ids[i]);
  }
  if (lane == 0u) {
    const uint cert = 2u * (pc.out_offset + query);
    certificate[cert] = pc.largest != 0u ? -keys[pc.k - 1u] : keys[pc.k - 1u];
    certificate[cert + 1u] = double(screen[query * pc.stride + pc.candidates - 1u]);
  }
}
