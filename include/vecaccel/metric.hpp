#pragma once
// Distance metrics. l2 is the squared Euclidean distance, l1 the sum of |q_i - x_i|
// (Manhattan), linf the largest |q_i - x_i| (Chebyshev): distances, smaller is better.
// inner_product and cosine are similarities (larger is better), reported as similarities as
// FAISS does.

#include <string_view>

namespace vecaccel {

enum class Metric { l2, inner_product, cosine, l1, linf };

std::string_view to_string(Metric metric) noexcept;
/// "l2", "ip" / "inner_product", "cosine" / "cos", "l1", "linf", in any case ("L2", "IP",
/// "Cosine", "L1", "Linf"); invalid_argument naming the text otherwise.
Metric parse_metric(std::string_view text);
constexpr bool smaller_is_better(Metric metric) noexcept {
  return metric == Metric::l2 || metric == Metric::l1 || metric == Metric::linf;
}

}  // namespace vecaccel
