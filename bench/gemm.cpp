// bench_gemm: the tensor-core distance kernels alone, as TFLOP/s of 2·M·N·K, on the shapes of
// PERFORMANCE.md (the torch peer is bench/peers/torch_gemm.py, same shapes, same run).
// Operands are float16 copies made on the GPU by the library's own half_rows kernel (rows of
// uniform values in [-1, 1)); the output is float32 inner products written to device memory
// (the last slice of columns checked against float64 on a sample), in column slices of at
// most 1 GiB with a barrier between them. GPU time from timestamp queries, median of --repeat.
// The float32-operand kernel (distances_coop1) runs beside the float16-copy shapes, and the
// integer kernels (distances_int_coop_u8 / _s8: uint8 and int8 rows of uniform bytes, exact
// products into 32-bit integers, TOPS of 2·M·N·K) where the device has integer cooperative
// matrices and K is a multiple of 16; their sample error must be 0 below 2^24.
//
//   bench_gemm [--shapes M,N,K;M,N,K...] [--repeat R] [--json FILE]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gpu_clock.hpp"
#include "kernels.hpp"
#include "vecaccel/vecaccel.hpp"

using namespace vecaccel;
using namespace vecaccel::detail;
using vecaccel::bench::warm_up;

namespace {

struct Shape {
  std::uint32_t m, n, k;
};

/// Distinct rows generated on the host; longer operands repeat them (device copies).
constexpr std::uint32_t unique_rows = 65536;

struct Operand {
  Buffer floats, halves, scales, errors, norms;
  std::vector<float> host;  // the unique rows
};

/// uint8 / int8 rows (one byte an element) and their exact squared norms (uint32).
struct ByteOperand {
  Buffer bytes, norms;
  std::vector<float> host;  // the unique rows' values
};

class Bench {
 public:
  Bench() : context_({.enable_profiling = true}), device_(context_.device()) {}

  bool supported(std::uint32_t k) const {
    return half_coop_distances_supported(device_.capabilities(), k);
  }

  /// `rows` rows repeating `unique_rows` distinct ones: their float16 copy, scales and norms
  /// made once and copied on; the float32 rows only once (the float32-operand kernel reads
  /// them in slices of unique_rows).
  Operand make_operand(std::uint32_t rows, std::uint32_t k, std::uint64_t seed) {
    Operand o;
    const std::uint32_t distinct = std::min(rows, unique_rows);
    o.host.resize(std::size_t{distinct} * k);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (float& v : o.host)
      v = uniform(rng);
    const std::uint64_t half_row = std::uint64_t{k} * 2;
    o.floats = make(std::uint64_t{distinct} * k * 4);
    o.halves = make(rows * half_row);
    o.scales = make(std::uint64_t{rows} * 4);
    o.errors = make(std::uint64_t{distinct} * 4);
    o.norms = make(std::uint64_t{rows} * 4);
    context_.residency_manager().commit();
    BufferToken up = context_.get_buffer(std::span<const float>(o.host));
    context_.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      e.copy_buffer(up.buffer(), 0, o.floats, 0, o.host.size() * 4);
      e.barrier({o.floats}, Stage::blit, Stage::dispatch);
      encode_half_rows(device_, e, o.floats, 0, distinct, k, {o.halves, o.scales, o.errors});
      encode_row_norms(device_, e, o.floats, 0, distinct, k, o.norms, 0);
      e.barrier({o.halves, o.scales, o.norms}, Stage::dispatch, Stage::blit);
      for (std::uint32_t r = distinct; r < rows; r += distinct) {
        const std::uint64_t count = std::min(distinct, rows - r);
        e.copy_buffer(o.halves, 0, o.halves, r * half_row, count * half_row);
        e.copy_buffer(o.scales, 0, o.scales, r * 4ull, count * 4);
        e.copy_buffer(o.norms, 0, o.norms, r * 4ull, count * 4);
      }
    });
    return o;
  }

  /// As make_operand, for uint8 / int8 rows of uniform bytes.
  ByteOperand make_byte_operand(std::uint32_t rows, std::uint32_t k, ElementType type,
                                std::uint64_t seed) {
    ByteOperand o;
    const std::uint32_t distinct = std::min(rows, unique_rows);
    std::vector<std::uint8_t> bytes(std::size_t{distinct} * k);
    std::mt19937_64 rng(seed);
    for (std::uint8_t& v : bytes)
      v = static_cast<std::uint8_t>(rng());
    o.host.resize(bytes.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      o.host[i] = type == ElementType::int8 ? static_cast<float>(static_cast<std::int8_t>(bytes[i]))
                                            : static_cast<float>(bytes[i]);
    }
    o.bytes = make(std::uint64_t{rows} * k);
    o.norms = make(std::uint64_t{rows} * 4);
    context_.residency_manager().commit();
    BufferToken up = context_.get_buffer(std::span<const std::uint8_t>(bytes));
    context_.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      e.copy_buffer(up.buffer(), 0, o.bytes, 0, bytes.size());
      e.barrier({o.bytes}, Stage::blit, Stage::dispatch);
      encode_byte_norms(device_, e, o.bytes, distinct, k, type, o.norms);
      e.barrier({o.bytes, o.norms}, Stage::dispatch | Stage::blit, Stage::blit);
      for (std::uint32_t r = distinct; r < rows; r += distinct) {
        const std::uint64_t count = std::min(distinct, rows - r);
        e.copy_buffer(o.bytes, 0, o.bytes, std::uint64_t{r} * k, count * k);
        e.copy_buffer(o.norms, 0, o.norms, r * 4ull, count * 4);
      }
    });
    return o;
  }

  /// Median GPU milliseconds of one whole product, in column slices; out holds the last.
  template <typename Encode>
  double time(const Shape& s, std::uint32_t slice, int repeat, Encode&& encode) {
    const auto run = [&] {
      context_.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
        for (std::uint32_t c = 0; c < s.n; c += slice) {
          if (c > 0) e.barrier({out_}, Stage::dispatch, Stage::dispatch);
          encode(e, c, std::min(slice, s.n - c));
        }
      });
    };
    warm_up(run);  // pipelines, and the GPU's clock (gpu_clock.hpp)
    std::vector<double> ms;
    for (int r = 0; r < repeat; ++r) {
      run();
      ms.push_back(static_cast<double>(context_.performance_stats().last_gpu_time.count()) / 1e6);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  }

  /// Largest |got - exact| / (|a||b|) over a sample of the last slice (inner products) of
  /// operands whose unique rows are `a` and `b`.
  double sample_error(const Shape& s, const std::vector<float>& a, const std::vector<float>& b,
                      std::uint32_t first, std::uint32_t columns) {
    const std::uint32_t rows = std::min(s.m, 64u);
    const std::uint64_t bytes = std::uint64_t{rows} * columns * 4;
    BufferToken down = context_.get_buffer(bytes);
    context_.execute_and_wait([&](CommandBuffer&, ComputeEncoder& e) {
      e.copy_buffer(out_, 0, down.buffer(), 0, bytes);
    });
    const auto* got = reinterpret_cast<const float*>(down.buffer().mapped().data());
    double worst = 0.0;
    for (std::uint32_t i = 0; i < rows; ++i) {
      for (std::uint32_t j = 0; j < columns; j += std::max(1u, columns / 61)) {
        const float* x = &a[std::size_t{i % unique_rows} * s.k];
        const float* y = &b[std::size_t{(first + j) % unique_rows} * s.k];
        double dot = 0.0, nx = 0.0, ny = 0.0;
        for (std::uint32_t t = 0; t < s.k; ++t) {
          dot += double{x[t]} * y[t];
          nx += double{x[t]} * x[t];
          ny += double{y[t]} * y[t];
        }
        const double err = std::abs(got[std::size_t{i} * columns + j] - dot) / std::sqrt(nx * ny);
        worst = std::max(worst, std::isnan(err) ? INFINITY : err);
      }
    }
    return worst;
  }

  void run(const Shape& s, int repeat, std::ostream& json) {
    const std::uint32_t slice = std::max<std::uint32_t>(
        256, static_cast<std::uint32_t>((1ull << 30) / (4ull * s.m)) / 256 * 256);
    const Operand a = make_operand(s.m, s.k, 1);
    const Operand b = make_operand(s.n, s.k, 2);
    out_ = make(std::uint64_t{s.m} * std::min(slice, s.n) * 4);
    context_.residency_manager().commit();
    const double tflop = 2.0 * s.m * s.n * static_cast<double>(s.k) / 1e12;
    const auto args = [&](std::uint32_t first, std::uint32_t columns, bool halves) {
      return DistanceArgs{.queries = halves ? a.halves : a.floats,
                          .base = halves ? b.halves : b.floats,
                          .query_norms = a.norms,
                          .base_norms = b.norms,
                          .out = out_,
                          .base_scales = halves ? b.scales : Buffer{},
                          .query_scales = halves ? a.scales : Buffer{},
                          .num_queries = s.m,
                          .num_base = columns,
                          .dim = s.k,
                          .base_offset = first,
                          .out_stride = columns,
                          .metric = Metric::inner_product};
    };
    const auto report = [&](const char* kernel, double ms, std::uint32_t first,
                            std::uint32_t columns) {
      const double error = sample_error(s, a.host, b.host, first, columns);
      std::printf("%6u x %8u x %5u  %-34s %9.3f ms %8.1f TFLOP/s  max error %.2e |a||b|\n", s.m,
                  s.n, s.k, kernel, ms, tflop / (ms / 1e3), error);
      json << "{\"m\":" << s.m << ",\"n\":" << s.n << ",\"k\":" << s.k << ",\"kernel\":\"" << kernel
           << "\",\"ms\":" << ms << ",\"tflops\":" << tflop / (ms / 1e3)
           << ",\"max_error\":" << error << "},\n";
    };
    const std::uint32_t last = (s.n - 1) / slice * slice;
    static constexpr std::pair<HalfCoopShape, const char*> shapes[] = {
        {HalfCoopShape::q128_b128, "half copies 128x128, 2 stages"},
        {HalfCoopShape::q128_b256, "half copies 128x256"},
        {HalfCoopShape::q128_b256_k16, "half copies 128x256 k16, 2 stages"},
        {HalfCoopShape::q256_b128, "half copies 256x128"},
        {HalfCoopShape::q32_b256, "half copies 32x256 (few queries)"},
        {HalfCoopShape::q128_b128_wide, "half copies 128x128 wide stores"},
        {HalfCoopShape::q128_b256_wide, "half copies 128x256 wide stores"},
        {HalfCoopShape::q32_b256_wide, "half copies 32x256 wide stores"}};
    for (const auto& entry : shapes) {  // no structured binding: clang 14 cannot capture one
      const HalfCoopShape shape = entry.first;
      // The few-query blocks only where a search would take them.
      const bool few = shape == HalfCoopShape::q32_b256 || shape == HalfCoopShape::q32_b256_wide;
      if (few && s.m > 32) continue;
      const double ms =
          time(s, slice, repeat, [&](ComputeEncoder& e, std::uint32_t c, std::uint32_t n) {
            encode_distances_half_coop(device_, e, args(c, n, true), shape);
          });
      report(entry.second, ms, last, std::min(slice, s.n - last));
    }
    if (s.m > unique_rows) return;  // the float32 queries are the distinct rows only
    // The float32 base holds the distinct rows only: every slice reads them from row 0.
    const std::uint32_t slice32 = std::min(slice, unique_rows);
    const double ms =
        time(s, slice32, repeat, [&](ComputeEncoder& e, std::uint32_t, std::uint32_t n) {
          encode_distances_coop(device_, e, args(0, n, false), CoopTerms::one);
        });
    report("float32 operands (distances_coop1)", ms, 0,
           std::min(slice32, s.n - (s.n - 1) / slice32 * slice32));
  }

  /// The integer kernel over uint8 / int8 operands of shape s, as TOPS.
  void run_integer(const Shape& s, ElementType type, int repeat, std::ostream& json) {
    const std::uint32_t slice = std::max<std::uint32_t>(
        256, static_cast<std::uint32_t>((1ull << 30) / (4ull * s.m)) / 256 * 256);
    const ByteOperand a = make_byte_operand(s.m, s.k, type, 3);
    const ByteOperand b = make_byte_operand(s.n, s.k, type, 4);
    out_ = make(std::uint64_t{s.m} * std::min(slice, s.n) * 4);
    context_.residency_manager().commit();
    const double tops = 2.0 * s.m * s.n * static_cast<double>(s.k) / 1e12;
    const double ms =
        time(s, slice, repeat, [&](ComputeEncoder& e, std::uint32_t c, std::uint32_t n) {
          encode_distances_int_coop(device_, e,
                                    {.queries = a.bytes,
                                     .base = b.bytes,
                                     .query_norms = a.norms,
                                     .base_norms = b.norms,
                                     .out = out_,
                                     .num_queries = s.m,
                                     .num_base = n,
                                     .dim = s.k,
                                     .base_offset = c,
                                     .out_stride = n,
                                     .metric = Metric::inner_product},
                                    type);
        });
    const std::uint32_t last = (s.n - 1) / slice * slice;
    const double error = sample_error(s, a.host, b.host, last, std::min(slice, s.n - last));
    const std::string kernel =
        std::string(to_string(type)) + " -> " + (type == ElementType::int8 ? "int32" : "uint32");
    std::printf("%6u x %8u x %5u  %-34s %9.3f ms %8.1f TOPS     max error %.2e |a||b|\n", s.m, s.n,
                s.k, kernel.c_str(), ms, tops / (ms / 1e3), error);
    json << "{\"m\":" << s.m << ",\"n\":" << s.n << ",\"k\":" << s.k << ",\"kernel\":\"" << kernel
         << "\",\"ms\":" << ms << ",\"tops\":" << tops / (ms / 1e3) << ",\"max_error\":" << error
         << "},\n";
  }

  bool integer_supported(std::uint32_t k) const {
    return int_coop_distances_supported(device_.capabilities(), k);
  }

 private:
  Buffer make(std::uint64_t bytes) {
    Buffer b = context_.buffer_factory().make_buffer(
        {.size = std::max<std::uint64_t>(bytes, 16), .storage = StorageMode::private_});
    context_.residency_manager().register_buffer(b, ResidencyMode::persistent);
    return b;
  }

  Context context_;
  Device device_;
  Buffer out_;
};

std::vector<Shape> parse_shapes(const std::string& text) {
  std::vector<Shape> shapes;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ';')) {
    Shape s{};
    if (std::sscanf(item.c_str(), "%u,%u,%u", &s.m, &s.n, &s.k) != 3 || s.m == 0 || s.n == 0 ||
        s.k == 0)
      throw Error(Errc::invalid_argument, "--shapes: '" + item + "' is not M,N,K");
    shapes.push_back(s);
  }
  return shapes;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string shapes =
      "4096,4096,4096;4096,2000000,384;1000,1000000,960;4096,1000000,128;"
      "10000,60000,784";
  int repeat = 10;
  std::string json_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--shapes")
      shapes = argv[i + 1];
    else if (flag == "--repeat")
      repeat = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--json")
      json_path = argv[i + 1];
    else
      throw Error(Errc::invalid_argument, "unknown option " + flag);
  }
  Bench bench;
  std::ostringstream json;
  for (const Shape& s : parse_shapes(shapes)) {
    if (!bench.supported(s.k)) {
      std::printf("%u x %u x %u: no tensor-core kernel over float16 copies on this device\n", s.m,
                  s.n, s.k);
      continue;
    }
    bench.run(s, repeat, json);
    if (!bench.integer_supported(s.k)) {
      std::printf("%u x %u x %u: no integer tensor-core kernel on this device\n", s.m, s.n, s.k);
      continue;
    }
    bench.run_integer(s, ElementType::uint8, repeat, json);
    bench.run_integer(s, ElementType::int8, repeat, json);
  }
  if (!json_path.empty()) std::ofstream(json_path) << "[\n" << json.str() << "{}]\n";
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_gemm: %s\n", e.what());
  return 1;
}
