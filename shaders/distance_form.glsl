// How the SIMT distance kernels (distances_small*, distances_tiled*) combine a query's and a
// base row's elements: products (l2, inner product, cosine, finished by apply_metric), or
// |q - x| summed (l1) or maximised (linf). A specialization constant (id 3, kernels.cpp
// distance_form), so each pipeline keeps only its own loop and the products' loops are the
// ones they were before l1 and linf existed.

const uint FORM_DOT = 0u;
const uint FORM_L1 = 1u;
const uint FORM_LINF = 2u;
layout(constant_id = 3) const uint DISTANCE_FORM = FORM_DOT;

/// One element pair's step (a query's and a base row's element, either order: |a - b| and
/// a * b do not depend on it). The dot form's fma(a, b, acc) is the products' original step.
float accumulate(float acc, float a, float b) {
  if (DISTANCE_FORM == FORM_L1) return acc + abs(a - b);
  if (DISTANCE_FORM == FORM_LINF) return max(acc, abs(a - b));
  return fma(a, b, acc);
}

/// Four element pairs' steps (16-byte loads). The dot form's acc + dot(a, b) is the original.
float accumulate4(float acc, vec4 a, vec4 b) {
  const vec4 d = abs(a - b);
  if (DISTANCE_FORM == FORM_L1) return acc + ((d.x + d.y) + (d.z + d.w));
  if (DISTANCE_FORM == FORM_LINF) return max(acc, max(max(d.x, d.y), max(d.z, d.w)));
  return acc + dot(a, b);
}

#ifdef DISTANCE_SUBGROUPS
/// The subgroup's partial accumulations joined, as subgroupAdd joins partial dot products
/// (kernels with subgroup arithmetic define DISTANCE_SUBGROUPS).
float subgroup_join(float partial) {
  return DISTANCE_FORM == FORM_LINF ? subgroupMax(partial) : subgroupAdd(partial);
}
#endif
