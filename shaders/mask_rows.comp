#version 450
// Filtered search's mask, inside the screen before selection: every value of a row the filter
// denies becomes the worst value, so no selection can prefer it to an allowed row. Tile mode:
// column c of a distance tile is base row label_offset + c. Label mode: the labels sit beside
// the values (the screen's candidates), and a denied one becomes -1 (a missing candidate: the
// re-ranking skips it and the exact selection pads with it).
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0, std430) buffer Values { float values[]; };
layout(set = 0, binding = 1, std430) buffer Labels { int labels[]; };
// Bit r set: base row r may be returned.
layout(set = 0, binding = 2, std430) readonly buffer Allowed { uint allowed[]; };

layout(push_constant) uniform Constants {
  uint rows;
  uint cols;
  uint stride;        // elements per row of values (and labels)
  uint label_offset;  // tile mode: the label of column 0
  uint has_labels;    // 1: label mode
  uint largest;       // 1: larger values are better (the worst is -inf)
} pc;

void main() {
  const float worst = uintBitsToFloat(pc.largest != 0u ? 0xff800000u : 0x7f800000u);
  const uint total = pc.rows * pc.cols;
  const uint step = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < total; i += step) {
    const uint row = i / pc.cols;
    const uint at = row * pc.stride + (i - row * pc.cols);
    const int label = pc.has_labels != 0u ? labels[at] : int(pc.label_offset + i - row * pc.cols);
    if (label < 0 || (allowed[uint(label) >> 5u] & (1u << (uint(label) & 31u))) != 0u) continue;
    values[at] = worst;
    if (pc.has_labels != 0u) labels[at] = -1;
  }
}
