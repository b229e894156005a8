// The float16 copy of rows that few-query searches stream (half the bytes of float32): each
// row scaled by the power of two that brings its largest magnitude into [2^14, 2^15), below
// float16's largest value and far above its normal range's bottom, then rounded; scales[row]
// undoes it (a power of two: exact). A thread a row, grid-stride, or, with SUBGROUP_ROWS
// (kernels.cpp), a subgroup a row: its lanes load and store consecutive elements (a thread a
// row scattered every load: 104 us for 32 query rows of d = 1024 on an H100). Sums are in
// strand order (strands.glsl), the same bits either way.
//
// With CENTRED defined (half_rows_centred.comp), the copy is of the rows minus a centre
// (float32 subtractions, rounded as the host's centre_row rounds them), and norms[row] gets
// the float32 squared norm of the centred row: l2 is unchanged by the shift, and the copy's
// error, relative to the centred norms, shrinks where the data sits far from the origin
// (docs/exactness.md, "Centred copies").
//
// errors[row] gets the copy's measured relative error sqrt(sum (v - v~)^2 / sum v^2) over the
// scaled row (float32: certificate.cpp inflates it by its rounding), the very values the
// kernels read back from the copy: the certificate bounds the screen with it rather than with
// the worst case of every element (docs/exactness.md, "Measured copy errors").
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const bool SUBGROUP_ROWS = false;

layout(set = 0, binding = 0, std430) readonly buffer Matrix { float m[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Halves { uint halves[]; };
layout(set = 0, binding = 2, std430) writeonly buffer Scales { float scales[]; };
layout(set = 0, binding = 5, std430) writeonly buffer Errors { float errors[]; };
#ifdef CENTRED
layout(set = 0, binding = 3, std430) readonly buffer Centre { float centre[]; };
layout(set = 0, binding = 4, std430) writeonly buffer Norms { float norms[]; };
#endif

layout(push_constant) uniform Constants {
  uint rows;
  uint dim;         // even
  uint first_row;   // of the matrix, the copy, the scales and the norms alike
} pc;

// The value of float16 bits h as the kernels read them back, decoded with integer operations:
// a compiler may fold unpackHalf2x16(packHalf2x16(v)) into v (NVIDIA's does), which would
// measure every copy as exact. The copy's elements are below 2^15: no infinity or NaN.
float half_value(uint h) {
  const uint exponent = (h >> 10u) & 0x1fu;
  const uint mantissa = h & 0x3ffu;
  const float magnitude = exponent == 0u
                              ? float(mantissa) * uintBitsToFloat(0x33800000u)  // 2^-24
                              : uintBitsToFloat(((exponent + 112u) << 23u) | (mantissa << 13u));
  return (h & 0x8000u) != 0u ? -magnitude : magnitude;
}

float element(uint first, uint j) {
#ifdef CENTRED
  return m[first + j] - centre[j];
#else
  return m[first + j];
#endif
}

#include "strands.glsl"

/// The power of two that brings a row's largest magnitude into [2^14, 2^15). Rows are refused
/// above 2^62 (their squared norms would overflow), so the clamp only keeps rows below 2^-85
/// from an overflowing scale; their elements become float16 subnormals or zeros, which
/// certificate.cpp's bound covers.
int row_shift(float largest) {
  int exponent = 0;
  frexp(largest, exponent);  // largest = f 2^exponent, f in [0.5, 1)
  return largest > 0.0 ? clamp(15 - exponent, -100, 100) : 0;
}

/// Elements e and e + 1 of the row at `first`, scaled and rounded into the copy; the scaled
/// pair and what rounding lost (exact: the copy keeps their leading bits) returned.
void copy_pair(uint first, uint e, float scale, out vec2 kept, out vec2 lost) {
  kept = vec2(element(first, e), element(first, e + 1u)) * scale;
  const uint packed = packHalf2x16(kept);
  halves[(first + e) / 2u] = packed;
  lost = kept - vec2(half_value(packed & 0xffffu), half_value(packed >> 16u));
}

void finish_row(uint row, int shift, float scaled_squares, float lost_squares, float squares) {
  scales[pc.first_row + row] = ldexp(1.0, -shift);
  errors[pc.first_row + row] = scaled_squares > 0.0 ? sqrt(lost_squares / scaled_squares) : 0.0;
#ifdef CENTRED
  norms[pc.first_row + row] = squares;
#endif
}

void copy_row_thread(uint row) {
  const uint first = (pc.first_row + row) * pc.dim;
  float largest = 0.0;
  float squares[STRANDS];
  [[unroll]] for (uint s = 0u; s < STRANDS; ++s) squares[s] = 0.0;
  for (uint j = 0u; j < pc.dim; j += STRANDS) {
    [[unroll]] for (uint s = 0u; s < STRANDS; ++s) {
      if (j + s < pc.dim) {
        const float v = element(first, j + s);
        largest = max(largest, abs(v));
        squares[s] = fma(v, v, squares[s]);
      }
    }
  }
  const int shift = row_shift(largest);
  const float scale = ldexp(1.0, shift);
  float scaled[STRANDS];
  float lost[STRANDS];
  [[unroll]] for (uint s = 0u; s < STRANDS; ++s) {
    scaled[s] = 0.0;
    lost[s] = 0.0;
  }
  const uint pairs = pc.dim / 2u;
  for (uint j = 0u; j < pairs; j += STRANDS) {
    [[unroll]] for (uint s = 0u; s < STRANDS; ++s) {
      if (j + s < pairs) {
        vec2 kept;
        vec2 gone;
        copy_pair(first, 2u * (j + s), scale, kept, gone);
        scaled[s] = fma(kept.x, kept.x, fma(kept.y, kept.y, scaled[s]));
        lost[s] = fma(gone.x, gone.x, fma(gone.y, gone.y, lost[s]));
      }
    }
  }
  finish_row(row, shift, strands_in_order(scaled), strands_in_order(lost),
             strands_in_order(squares));
}

void copy_row_subgroup(uint row) {
  const uint pairs = pc.dim / 2u;
  const uint first = (pc.first_row + row) * pc.dim;
  float largest = 0.0;
  float squares[LANE_STRANDS];
  [[unroll]] for (uint t = 0u; t < LANE_STRANDS; ++t) squares[t] = 0.0;
  for (uint j = 0u; j < pc.dim; j += STRANDS * TURN_STRIDES) {
    [[unroll]] for (uint r = 0u; r < TURN_STRIDES; ++r) {
      [[unroll]] for (uint t = 0u; t < LANE_STRANDS; ++t) {
        const uint s = lane_strand(t);
        const uint i = j + r * STRANDS + s;
        if (s < STRANDS && i < pc.dim) {
          const float v = element(first, i);
          largest = max(largest, abs(v));
          squares[t] = fma(v, v, squares[t]);
        }
      }
    }
  }
  const int shift = row_shift(subgroupMax(largest));
  const float scale = ldexp(1.0, shift);
  float scaled[LANE_STRANDS];
  float lost[LANE_STRANDS];
  [[unroll]] for (uint t = 0u; t < LANE_STRANDS; ++t) {
    scaled[t] = 0.0;
    lost[t] = 0.0;
  }
  for (uint j = 0u; j < pairs; j += STRANDS * TURN_STRIDES) {
    [[unroll]] for (uint r = 0u; r < TURN_STRIDES; ++r) {
      [[unroll]] for (uint t = 0u; t < LANE_STRANDS; ++t) {
        const uint s = lane_strand(t);
        const uint p = j + r * STRANDS + s;
        if (s < STRANDS && p < pairs) {
          vec2 kept;
          vec2 gone;
          copy_pair(first, 2u * p, scale, kept, gone);
          scaled[t] = fma(kept.x, kept.x, fma(kept.y, kept.y, scaled[t]));
          lost[t] = fma(gone.x, gone.x, fma(gone.y, gone.y, lost[t]));
        }
      }
    }
  }
  const float scaled_sum = lane_strands_in_order(scaled);
  const float lost_sum = lane_strands_in_order(lost);
#ifdef CENTRED
  const float squares_sum = lane_strands_in_order(squares);
#else
  const float squares_sum = 0.0;
#endif
  if (gl_SubgroupInvocationID == 0u) finish_row(row, shift, scaled_sum, lost_sum, squares_sum);
}

void main() {
  if (!SUBGROUP_ROWS) {
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint row = gl_GlobalInvocationID.x; row < pc.rows; row += stride) copy_row_thread(row);
    return;
  }
  const uint stride = gl_NumWorkGroups.x * gl_NumSubgroups;
  for (uint row = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; row < pc.rows;
       row += stride) {
    copy_row_subgroup(row);
  }
}
