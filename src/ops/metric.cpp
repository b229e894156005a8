#include "vecaccel/metric.hpp"

#include <algorithm>
#include <cctype>
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
    case Metric::l1:
      return "l1";
    case Metric::linf:
      return "linf";
  }
  return "l2";
}

Metric parse_metric(std::string_view text) {
  // Case-insensitive: "L2", "IP" and "Cosine" are the names people write.
  std::string name(text);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name == "l2") return Metric::l2;
  if (name == "ip" || name == "inner_product") return Metric::inner_product;
  if (name == "cosine" || name == "cos") return Metric::cosine;
  if (name == "l1") return Metric::l1;
  if (name == "linf") return Metric::linf;
  throw Error(Errc::invalid_argument, "unknown metric '" + std::string(text) +
                                          "' (use l2, ip, cosine, l1 or linf, in any case)");
}

}  // namespace vecaccel
