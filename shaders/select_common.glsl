// Shared by the selection kernels: the push constants, bindings and keys (keys.glsl).
#include "keys.glsl"

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
  uint has_bound;       // 1: bound_values[bound_offset + row * bound_stride] bounds the row
  uint bound_offset;
  uint bound_stride;
} pc;

layout(set = 0, binding = 0, std430) readonly buffer InValues { float in_values[]; };
layout(set = 0, binding = 1, std430) readonly buffer InLabels { int in_labels[]; };
layout(set = 0, binding = 2, std430) writeonly buffer OutValues { float out_values[]; };
layout(set = 0, binding = 3, std430) writeonly buffer OutLabels { int out_labels[]; };
layout(set = 0, binding = 4, std430) readonly buffer Bounds { float bound_values[]; };

const uint WORST_KEY = 0xffffffffu;
const int NO_LABEL = -1;

uint to_key(float v) { return order_key(v, pc.largest != 0u); }
float from_key(uint key) { return key_value(key, pc.largest != 0u); }

bool better(uint key_a, int label_a, uint key_b, int label_b) {
  return key_before(key_a, uint(label_a), key_b, uint(label_b));
}

/// Keys above this cannot make the row's top k: the caller's running k-th best, which came
/// from earlier labels (so an equal key is kept, not dropped, to stay exact either way).
uint row_bound(uint row) {
  return pc.has_bound != 0u ? to_key(bound_values[pc.bound_offset + row * pc.bound_stride])
                            : WORST_KEY;
}

int label_at(uint row, uint col) {
  return pc.has_labels != 0u ? in_labels[pc.in_offset + row * pc.in_stride + col]
                             : int(pc.label_offset + col);
}

void write_result(uint row, uint segment, uint i, uint key, int label) {
  const uint o = pc.out_offset + row * pc.out_stride + segment * pc.k + i;
  out_values[o] = label == NO_LABEL ? worst_value(pc.largest != 0u) : from_key(key);
  out_labels[o] = label;
}
