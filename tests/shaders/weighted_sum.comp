#version 450
// A caller's shader for the tests: out[i] = a * x[i] + b * y[i] + bias. Its workgroup width
// and bias are specialization constants; the constants block is 12 bytes.
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const float bias = 0.0;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Y { float y[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float result[]; };

layout(push_constant) uniform Constants {
  uint count;
  float a;
  float b;
} pc;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < pc.count) result[i] = pc.a * x[i] + pc.b * y[i] + bias;
}
