// The distance kernels' arguments, one source for every kernel that reads them (distances_*,
// knn_fused): bindings 0-3 are the operands and their squared norms, binding 4 the output;
// the push constants start with the operands' shape (DISTANCE_OPERANDS). kernels.cpp's
// DistanceConstants and FusedConstants mirror the blocks field for field, their sizes
// static_asserted. OPERAND is the element type the kernel reads queries and base rows as:
// float, or vec4 where the dimension is a multiple of 4 (16-byte loads).
#ifndef OPERAND
#define OPERAND float
#endif
// What base rows are read as, where it differs (a float16 copy).
#ifndef BASE_OPERAND
#define BASE_OPERAND OPERAND
#endif

layout(set = 0, binding = 0, std430) readonly buffer Queries { OPERAND queries[]; };
layout(set = 0, binding = 1, std430) readonly buffer Base { BASE_OPERAND base[]; };
layout(set = 0, binding = 2, std430) readonly buffer QueryNorms { float query_norms[]; };
layout(set = 0, binding = 3, std430) readonly buffer BaseNorms { float base_norms[]; };
#ifdef OUT_VEC4  // the same floats, four at a time
layout(set = 0, binding = 4, std430) writeonly buffer Out { vec4 out_values4[]; };
#elif defined(OUT_READ)  // the output also holds a bound the kernel reads (knn_stream)
layout(set = 0, binding = 4, std430) buffer Out { float out_values[]; };
#else
layout(set = 0, binding = 4, std430) writeonly buffer Out { float out_values[]; };
#endif

// The first push constants of every distance kernel.
#define DISTANCE_OPERANDS                                 \
  uint num_queries;                                       \
  uint num_base;                                          \
  uint dim;                                               \
  uint metric;                                            \
  uint query_offset; /* first query row */                \
  uint base_offset;  /* first base row */

#ifndef FUSED_CONSTANTS
// The distance kernels' push constants.
layout(push_constant) uniform Constants {
  DISTANCE_OPERANDS
  uint out_stride;  // floats per output row
  uint out_offset;  // elements
} pc;
#else
// The fused distance + selection kernels' (knn_fused, knn_stream): each workgroup's k best of
// its split of split_length base rows go to out[row * out_stride + out_offset + split * k + i].
layout(push_constant) uniform Constants {
  DISTANCE_OPERANDS
  uint split_length;  // base rows per workgroup
  uint k;
  uint largest;
  uint label_offset;
  uint out_stride;
  uint out_offset;
  uint has_bound;  // 1: bounds[bound_offset + row * bound_stride] is no better than the row's
  uint bound_offset;  //    final k-th best (a running merge's), so lists start there
  uint bound_stride;
} pc;
#endif
