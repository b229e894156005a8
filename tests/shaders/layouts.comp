#version 450
// The push-constant block's size in the layouts C++ callers meet: a vec3 (16-byte aligned), a
// matrix, an array and a trailing double; 8 * 16 + ... see the test for the sum.
#extension GL_ARB_gpu_shader_fp64 : require
layout(local_size_x = 8, local_size_y = 2) in;
layout(set = 0, binding = 3) buffer Out { float result[]; };
layout(push_constant) uniform Constants {
  vec3 direction;   // offset 0, 12 bytes
  uint count;       // offset 12
  mat2 rotation;    // offset 16, column stride 8: 16 bytes
  float weights[3]; // offset 32, stride 4: 12 bytes
  double scale;     // offset 48, 8 bytes: the block is 56 bytes
} pc;
void main() {
  result[0] = pc.direction.x + float(pc.count) + pc.rotation[1][1] + pc.weights[2] + float(pc.scale);
}
