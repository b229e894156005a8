#include "cli_support.hpp"

#include <cmath>
#include <cstdio>
#include <random>

#include "vecaccel/device.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::cli {

void check_finite(const Matrix<float>& matrix, std::string_view file) {
  for (std::size_t i = 0; i < matrix.values.size(); ++i) {
    const float v = matrix.values[i];
    if (std::isfinite(v)) continue;
    const std::size_t row = i / matrix.dim;
    const std::size_t column = i % matrix.dim;
    const char* what = std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
    throw Error(Errc::invalid_argument, std::string(file) + ": row " + std::to_string(row) +
                                            ", column " + std::to_string(column) + " is " + what +
                                            " (vectors must be finite)");
  }
}

CLI::Validator metric_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          parse_metric(text);
          return {};
        } catch (const Error&) {
          return "unknown metric '" + text + "' (use l2, ip or cosine)";
        }
      },
      "l2|ip|cosine");
}

std::string device_text(const Context& context) {
  const DeviceInfo& info = context.device().info();
  return info.name + " (" + std::string(to_string(info.type)) + ")";
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::vector<float> normal_data(std::size_t rows, std::size_t dim, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(rows * dim);
  for (float& v : values)
    v = normal(engine);
  return values;
}

std::vector<float> clustered_data(std::size_t rows, std::size_t dim, std::size_t clusters,
                                  float sigma, std::uint64_t centre_seed, std::uint64_t seed) {
  const std::vector<float> centres = normal_data(clusters, dim, centre_seed);
  std::mt19937_64 engine(seed);
  std::uniform_int_distribution<std::size_t> pick(0, clusters - 1);
  std::normal_distribution<float> noise(0.0f, sigma);
  std::vector<float> values(rows * dim);
  for (std::size_t r = 0; r < rows; ++r) {
    const float* centre = centres.data() + pick(engine) * dim;
    for (std::size_t j = 0; j < dim; ++j)
      values[r * dim + j] = centre[j] + noise(engine);
  }
  return values;
}

}  // namespace vecaccel::cli
