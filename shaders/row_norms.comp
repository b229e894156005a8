#version 450
#extension GL_EXT_control_flow_attributes : require
// norms[i] = squared L2 norm of row i of a rows x dim matrix (one thread per row, grid-stride:
// a one-off pass per base set, so simple beats clever).
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0, std430) readonly buffer Matrix { float m[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Norms { float norms[]; };

layout(push_constant) uniform Constants {
  uint rows;
  uint dim;
  uint matrix_offset;  // elements
  uint norms_offset;   // elements
} pc;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint row = gl_GlobalInvocationID.x; row < pc.rows; row += stride) {
    const uint base = pc.matrix_offset + row * pc.dim;
    float sum = 0.0;
    // 8 elements a turn, in element order: lavapipe ends an outermost loop after 65535 turns
    // of it and its inner loops together, which cut the norms of dimension 65536 short.
    uint j = 0u;
    for (; j + 8u <= pc.dim; j += 8u) {
      [[unroll]] for (uint u = 0u; u < 8u; ++u) sum = fma(m[base + j + u], m[base + j + u], sum);
    }
    for (; j < pc.dim; ++j) sum = fma(m[base + j], m[base + j], sum);
    norms[pc.norms_offset + row] = sum;
  }
}
