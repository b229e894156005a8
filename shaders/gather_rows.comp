#version 450
// Filtered search of few allowed rows: copies the listed rows of a chunk back to back into a
// smaller one (32-bit words: float rows, or their norms with width 1), so the search costs
// what the allowed rows cost.
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(set = 0, binding = 0, std430) readonly buffer Source { uint source[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Target { uint target[]; };
layout(set = 0, binding = 2, std430) readonly buffer Rows { uint source_rows[]; };

layout(push_constant) uniform Constants {
  uint count;       // rows to copy
  uint width;       // words per row
  uint target_row;  // where the first lands
} pc;

void main() {
  const uint total = pc.count * pc.width;
  const uint step = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < total; i += step) {
    const uint r = i / pc.width;
    const uint j = i - r * pc.width;
    target[(pc.target_row + r) * pc.width + j] = source[source_rows[r] * pc.width + j];
  }
}
