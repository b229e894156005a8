// How the SIMT distance kernels (distances_small*, distances_tiled*) combine a query's and a
// base row's elements: products (l2, inner product, cosine, finished by apply_metric), or
// |q - x| summed (l1) or maximised (linf), or (q - x)^2 summed (l2 in direct form, whose
// rounding is relative to the distance rather than to the norms: docs/exactness.md). A
// specialization constant (id 3, kernels.cpp distance_form), so each pipeline keeps only its
// own loop and the products' loops are the ones they were before the other forms existed.

const uint FORM_DOT = 0u;
const uint FORM_L1 = 1u;
const uint FORM_LINF = 2u;
const uint FORM_L2 = 3u;
layout(constant_id = 3) const uint DISTANCE_FORM = FORM_DOT;

/// One element pair's step (a query's and a base row's element, either order: |a - b|,
/// (a - b)^2 and a * b do not depend on it). The dot form's fma(a, b, acc) is the products'
/// original step.
float accumulate(float acc, float a, float b) {
  if (DISTANCE_FORM == FORM_L1) return acc + abs(a - b);
  if (DISTANCE_FORM == FORM_LINF) return max(acc, abs(a - b));
  if (DISTANCE_FORM == FORM_L2) {
    const float d = a - b;
    return fma(d, d, acc);
  }
  return fma(a, b, acc);
}

/// Four element pairs' steps (16-byte loads). The dot form's acc + dot(a, b) is the original.
float accumulate4(float acc, vec4 a, vec4 b) {
  const vec4 d = abs(a - b);
  if (DISTANCE_FORM == FORM_L1) return acc + ((d.x + d.y) + (d.z + d.w));
  if (DISTANCE_FORM == FORM_LINF) return max(acc, max(max(d.x, d.y), max(d.z, d.w)));
  if (DISTANCE_FORM == FORM_L2) return acc + dot(d, d);
  return acc + dot(a, b);
}

/// The kernel's value from what it accumulated: the products' form takes the norms
/// (apply_metric); the others accumulated the metric itself.
float finish_metric(uint metric, float acc, float query_norm, float base_norm) {
  if (DISTANCE_FORM != FORM_DOT) return acc;
  return apply_metric(metric, acc, query_norm, base_norm);
}

#ifdef DISTANCE_SUBGROUPS
/// The subgroup's partial accumulations joined, as subgroupAdd joins partial dot products
/// (kernels with subgroup arithmetic define DISTANCE_SUBGROUPS).
float subgroup_join(float partial) {
  return DISTANCE_FORM == FORM_LINF ? subgroupMax(partial) : subgroupAdd(partial);
}
#endif
