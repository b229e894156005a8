#version 450
// values[i] = the i-th byte of `words` as a float (uint8, or int8 when pc.is_signed): compact
// bases stay one byte per element on the GPU and are widened a chunk at a time just before the
// kNN engine searches them. Every uint8/int8 value is exact in float32.
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0, std430) readonly buffer Bytes { uint words[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Values { float values[]; };

layout(push_constant) uniform Constants {
  uint count;  // bytes to widen, from byte 0
  uint is_signed;
} pc;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint word_count = pc.count / 4u + uint(pc.count % 4u != 0u);
  for (uint w = gl_GlobalInvocationID.x; w < word_count; w += stride) {
    const uint word = words[w];
    for (uint j = 0u; j < 4u; ++j) {
      const uint i = w * 4u + j;
      if (i >= pc.count) break;
      const uint b = (word >> (8u * j)) & 0xffu;
      values[i] = pc.is_signed != 0u ? float(int(b << 24u) >> 24) : float(b);
    }
  }
}
