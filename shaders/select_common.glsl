// Shared by the selection kernels: order-preserving keys and the push constants.
//
// A float becomes a uint whose unsigned order is the float order (flip all bits of negatives,
// the sign bit of the rest); "largest first" inverts it, so every kernel selects the smallest
// keys. Ties are broken by the smaller label, which makes every result deterministic.

layout(push_constant) uniform Constants {
  uint rows;
  uint cols;            // candidates per row
  uint in_stride;       // floats per input row
  uint in_offset;       // elements
  uint segment_length;  // candidates per workgroup (along x)
  uint k;
  uint largest;
  uint has_labels;      // 1: labels come from in_labels, else label_offset + column
  uint label_offset;
  uint out_stride;      // elements per output row
  uint out_offset;      // elements
} pc;

layout(set = 0, binding = 0, std430) readonly buffer InValues { float in_values[]; };
layout(set = 0, binding = 1, std430) readonly buffer InLabels { int in_labels[]; };
layout(set = 0, binding = 2, std430) writeonly buffer OutValues { float out_values[]; };
layout(set = 0, binding = 3, std430) writeonly buffer OutLabels { int out_labels[]; };

const uint WORST_KEY = 0xffffffffu;
const int NO_LABEL = -1;

uint to_key(float v) {
  const uint bits = floatBitsToUint(v);
  const uint ordered = (bits & 0x80000000u) != 0u ? ~bits : (bits | 0x80000000u);
  return pc.largest != 0u ? ~ordered : ordered;
}

float from_key(uint key) {
  const uint ordered = pc.largest != 0u ? ~key : key;
  const uint bits = (ordered & 0x80000000u) != 0u ? (ordered & 0x7fffffffu) : ~ordered;
  return uintBitsToFloat(bits);
}

/// Padding when fewer than k candidates exist: +inf for smallest-first, -inf for largest.
float worst_value() { return pc.largest != 0u ? uintBitsToFloat(0xff800000u) : uintBitsToFloat(0x7f800000u); }

bool better(uint key_a, int label_a, uint key_b, int label_b) {
  // Labels compare as unsigned so NO_LABEL (-1) sorts after every real label.
  return key_a < key_b || (key_a == key_b && uint(label_a) < uint(label_b));
}

int label_at(uint row, uint col) {
  return pc.has_labels != 0u ? in_labels[pc.in_offset + row * pc.in_stride + col]
                             : int(pc.label_offset + col);
}

void write_result(uint row, uint segment, uint i, uint key, int label) {
  const uint o = pc.out_offset + row * pc.out_stride + segment * pc.k + i;
  out_values[o] = label == NO_LABEL ? worst_value() : from_key(key);
  out_labels[o] = label;
}
