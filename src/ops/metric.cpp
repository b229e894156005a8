#include "vecaccel/metric.hpp"

#include <string>

#include "vecaccel/error.hpp"

namespace vecaccel {

std::string_view to_string(Metric metric) noexcept {
  switch (metric) {
    case Metric::l2:
      return "l2";
    case Metric::inner_product:
      return "inner_product";
    case Metric::cosine:
      return "cosine";
  }
  return "l2";
}

Metric parse_metric(std::string_view text) {
  if (text == "l2" || text == "L2") return Metric::l2;
  if (text == "ip" || text == "inner_product") return Metric::inner_product;
  if (text == "cosine" || text == "cos") return Metric::cosine;
  throw Error(Errc::invalid_argument,
              "unknown metric '" + std::string(text) + "' (use l2, ip or cosine)");
}

}  // namespace vecaccel
