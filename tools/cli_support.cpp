#include "cli_support.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "commands.hpp"
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
          return "unknown metric '" + text + "' (use l2, ip, cosine, l1 or linf, in any case)";
        }
      },
      "l2|ip|cosine|l1|linf");
}

CLI::Validator whole_number_in(std::uint64_t min, std::uint64_t max) {
  const std::string range = std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        });
        if (!digits) return "'" + text + "' is not a whole number (need " + range + ")";
        errno = 0;
        const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
        if (errno == ERANGE || value < min || value > max) {
          return "'" + text + "' is outside " + range;
        }
        return {};
      },
      "INT in " + range);
}

CLI::Validator non_empty_path() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return text.empty() ? "'' is an empty path: name a file" : std::string();
      },
      "PATH");
}

std::string device_text(const Context& context) {
  const DeviceInfo& info = context.device().info();
  return info.name + " (" + std::string(to_string(info.type)) + ")";
}

std::vector<std::uint32_t> parse_devices(const std::string& text) {
  if (text == "all") return ShardedIndex::all_devices();
  const std::size_t count = Device::enumerate().size();
  std::vector<std::uint32_t> out;
  for (std::size_t at = 0; at <= text.size();) {
    const std::size_t end = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, end - at);
    const bool digits =
        !item.empty() && item.size() < 10 &&
        std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(item) >= count) {
      std::string message = "--devices '" + text;
      message += "': '" + item;
      message += "' is not a device index (this machine has ";
      message += count == 1 ? "one device, index 0"
                            : std::to_string(count) + " devices, indices 0 to " +
                                  std::to_string(count - 1);
      message += "; see `vecaccel info`) or 'all'";
      throw UsageError(message);
    }
    out.push_back(static_cast<std::uint32_t>(std::stoul(item)));
    at = end + 1;
  }
  return out;
}

std::string device_text(std::span<Context* const> devices) {
  std::string out;
  for (const Context* device : devices)
    out += (out.empty() ? "" : " + ") + device_text(*device);
  return out;
}

std::string device_text(ShardedIndex& index) {
  std::vector<Context*> devices;
  for (std::size_t s = 0; s < index.shard_count(); ++s)
    devices.push_back(&index.shard_context(s));
  return device_text(devices);
}

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
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

std::vector<float> parallel_normal_data(std::size_t rows, std::size_t dim, std::uint64_t seed) {
  constexpr std::size_t block_rows = 16384;
  std::vector<float> values(rows * dim);
  const std::size_t blocks = (rows + block_rows - 1) / block_rows;
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t b = next++; b < blocks; b = next++) {
      std::mt19937_64 engine(seed * 0x9E3779B97F4A7C15ull + b);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      const std::size_t end = std::min(rows, (b + 1) * block_rows) * dim;
      for (std::size_t i = b * block_rows * dim; i < end; ++i)
        values[i] = normal(engine);
    }
  };
  std::vector<std::jthread> threads(std::max(1u, std::thread::hardware_concurrency()) - 1);
  for (std::jthread& thread : threads)
    thread = std::jthread(work);
  work();
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
