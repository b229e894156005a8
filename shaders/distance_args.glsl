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

// The distance kernels' push constants; knn_fused declares its own from DISTANCE_OPERANDS.
#ifndef FUSED_CONSTANTS
layout(push_constant) uniform Constants {
  DISTANCE_OPERANDS
  uint out_stride;  // floats per output row
  uint out_offset;  // elements
} pc;
#endif
