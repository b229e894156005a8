// The metric codes of the push constants (kernels.cpp metric_code) and the one place a dot
// product becomes a distance or similarity, shared by every distance kernel so their results
// agree bit for bit. l1 and linf have no dot-product form: the SIMT kernels accumulate them
// element by element (distance_form.glsl) and the accumulated value is the metric.

const uint METRIC_L2 = 0u;
const uint METRIC_INNER_PRODUCT = 1u;
const uint METRIC_COSINE = 2u;
const uint METRIC_L1 = 3u;
const uint METRIC_LINF = 4u;

/// Whether the metric reads the squared norms (the others never touch those bindings).
bool metric_uses_norms(uint metric) { return metric == METRIC_L2 || metric == METRIC_COSINE; }

/// The metric from a dot product (or l1/linf: the accumulated value) and the two squared norms.
float apply_metric(uint metric, float dot_product, float query_norm, float base_norm) {
  if (metric == METRIC_L1 || metric == METRIC_LINF) return dot_product;
  if (metric == METRIC_L2) {
    // |q|^2 + |x|^2 - 2 q.x can dip below zero by rounding; a distance cannot.
    return max(query_norm + base_norm - 2.0 * dot_product, 0.0);
  }
  if (metric == METRIC_COSINE) {
    const float denominator = sqrt(query_norm) * sqrt(base_norm);
    return denominator > 0.0 ? dot_product / denominator : 0.0;  // a zero vector is similar to nothing
  }
  return dot_product;
}
