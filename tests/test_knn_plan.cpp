// The planning function and the certificate, without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/certificate.hpp"
#include "ops/integer_screen.hpp"
#include "ops/kernels.hpp"
#include "ops/knn_plan.hpp"
#include "vecaccel/ops.hpp"

using namespace vecaccel;
using namespace vecaccel::detail;

namespace {

Capabilities gpu_like() {
  Capabilities c;
  c.subgroup_size = c.min_subgroup_size = c.max_subgroup_size = 32;
  c.max_workgroup_invocations = 1024;
  c.max_workgroup_count[0] = c.max_workgroup_count[1] = c.max_workgroup_count[2] = 65535;
  c.max_shared_memory_bytes = 48 * 1024;
  c.max_storage_buffer_range = 4ull << 30;
  c.device_local_memory = 80ull << 30;
  c.shader_float64 = true;
  return c;
}

Capabilities cpu_like() {
  Capabilities c = gpu_like();
  c.subgroup_size = c.min_subgroup_size = c.max_subgroup_size = 8;
  c.max_shared_memory_bytes = 32 * 1024;
  c.max_storage_buffer_range = 128ull << 20;
  c.device_local_memory = 2ull << 30;
  return c;
}

}  // namespace

/// screen_candidates with the float32 screen.
std::uint32_t candidates(std::size_t k, std::size_t rows) {
  return screen_candidates(k, rows, 128, ScreenPrecision::float32);
}

TEST(KnnPlan, ScreenProposesAMarginPastKForEveryK) {
  for (std::size_t k = 1; k <= 300'000; k = k < 4096 ? k + 7 : k * 3 / 2) {
    for (const auto precision : {ScreenPrecision::float32, ScreenPrecision::float16}) {
      const std::uint32_t c = screen_candidates(k, 10'000'000, 4096, precision);
      EXPECT_GE(c, k + 6) << "k " << k;
      EXPECT_GE(c, k + k / 8) << "k " << k;
    }
  }
  EXPECT_EQ(candidates(10, 1'000'000), fused_k_limit);
  EXPECT_EQ(candidates(20, 1'000'000), 32u);
  EXPECT_EQ(candidates(10, 12), 12u) << "a small base: every row is a candidate";
  EXPECT_EQ(candidates(10, 3), 10u) << "never fewer than k (padding)";
}

TEST(KnnPlan, KBeyondSharedMemoryGetsAMarginAndSortsInGlobalMemory) {
  EXPECT_EQ(max_screen_candidates(gpu_like()), 4096u) << "48 KiB: 4096 x 12 bytes";
  EXPECT_EQ(max_screen_candidates(cpu_like()), 2048u) << "32 KiB";
  for (const Capabilities& caps : {gpu_like(), cpu_like()}) {
    const KnnPlan plan = plan_knn({500'000, 64, 300, 2048, Metric::l2, 1 << 22}, caps);
    EXPECT_GE(plan.screen_k, 2048u + 2048 / 8)
        << "no margin past k: every certificate fails and every query is searched directly";
    EXPECT_TRUE(plan.row_select);
    EXPECT_EQ(plan.global_sort, plan.screen_k > max_screen_candidates(caps));
  }
  const KnnPlan huge = plan_knn({1'000'000, 8, 100, 100'000, Metric::l2, 1 << 22}, cpu_like());
  EXPECT_GE(huge.screen_k, 100'000u + 100'000 / 8);
  EXPECT_TRUE(huge.row_select && huge.global_sort);
  EXPECT_GE(huge.tile_cols, huge.screen_k)
      << "the first tile fills the running candidates with real rows";
  EXPECT_EQ(huge.cand_stride, huge.screen_k) << "only the running candidates are kept";
  EXPECT_GE(huge.sort_bytes, huge.batch * 131072ull * sizeof(double));
  EXPECT_GT(huge.state_bytes, 0u);
  for (const std::uint64_t bytes :
       {huge.tile_bytes, huge.candidate_bytes, huge.exact_bytes, huge.sort_bytes, huge.state_bytes})
    EXPECT_LE(bytes, cpu_like().max_storage_buffer_range) << "within one storage buffer";
}

TEST(KnnPlan, ManyCandidatesAreSelectedWithManyWorkgroupsPerRow) {
  const KnnPlan few = plan_knn({1'000'000, 128, 1000, 100, Metric::l2, 1 << 22}, gpu_like());
  EXPECT_TRUE(few.radix && !few.row_select) << "k' = " << few.screen_k;
  const KnnPlan many = plan_knn({1'000'000, 128, 1000, 1000, Metric::l2, 1 << 22}, gpu_like());
  EXPECT_TRUE(many.row_select && !many.radix && !many.fused);
  EXPECT_FALSE(many.global_sort) << "k' = " << many.screen_k << " fits shared memory";
  EXPECT_EQ(many.first_cols, many.tile_cols) << "no short first tile: the bound is its own";
}

TEST(KnnPlan, LongRowsGetMoreCandidatesForTheFloat16Screen) {
  constexpr auto f16 = ScreenPrecision::float16;
  EXPECT_EQ(screen_candidates(10, 1'000'000, 128, f16), fused_k_limit)
      << "short rows: the 16-wide selection (0.3% re-screened at d = 768)";
  EXPECT_EQ(screen_candidates(10, 1'000'000, 768, f16), fused_k_limit);
  EXPECT_GE(screen_candidates(20, 200'000, 4096, f16), 64u)
      << "d = 4096: 32 candidates left 59 of 64 queries uncertified on an H100";
  EXPECT_GE(screen_candidates(100, 1'000'000, 768, f16), 160u)
      << "d = 768, k = 100: 116 candidates left 48% uncertified, 160 none";
  for (std::size_t dim = 64; dim <= 65536; dim *= 2) {
    if (dim <= 4096) {
      EXPECT_LE(screen_candidates(10, 1'000'000, dim, ScreenPrecision::float32), 16u)
          << "float32 errs far less than the distances spread, dimension " << dim;
    }
    EXPECT_GE(screen_candidates(10, 1'000'000, dim, f16),
              screen_candidates(10, 1'000'000, dim / 2, f16))
        << "more candidates for longer rows, dimension " << dim;
  }
}

TEST(KnnPlan, ManyQueriesWithSmallKUseTheFusedScreenAndAFewQueriesStream) {
  const Capabilities caps = gpu_like();
  const KnnPlan many = plan_knn({1'000'000, 128, 10'000, 10, Metric::l2, 1 << 22}, caps);
  EXPECT_TRUE(many.fused);
  EXPECT_FALSE(many.radix);
  for (const std::size_t q : {1u, 4u, 9u, 32u}) {
    EXPECT_FALSE(plan_knn({1'000'000, 128, q, 10, Metric::l2, 1 << 22}, caps).fused)
        << q << " queries on a GPU: a scan or tensor cores, and a selection pass";
  }
  // A CPU driver streams the base and selects as it goes (on a GPU that was slower).
  for (const std::size_t q : {1u, 4u, 8u, 9u, 16u}) {
    const KnnPlan few = plan_knn({1'000'000, 128, q, 10, Metric::l2, 1 << 22}, cpu_like());
    EXPECT_TRUE(few.fused && few.stream) << q << " queries stream the base, selecting as they go";
  }
  for (const std::size_t q : {17u, 32u}) {
    EXPECT_FALSE(plan_knn({1'000'000, 128, q, 10, Metric::l2, 1 << 22}, cpu_like()).stream) << q;
  }
  EXPECT_FALSE(plan_knn({1'000'000, 128, 4, 40, Metric::l2, 1 << 22}, cpu_like()).stream)
      << "the streaming screen keeps 16 candidates at most";
  const KnnPlan larger_k = plan_knn({1'000'000, 128, 1000, 100, Metric::l2, 1 << 22}, caps);
  EXPECT_FALSE(larger_k.fused);
  EXPECT_TRUE(larger_k.radix);
  EXPECT_LE(larger_k.first_cols, 2 * larger_k.segment);
}

TEST(KnnPlan, FusedSplitsShortenForFewQueriesToFillTheGpu) {
  EXPECT_EQ(fused_split_length(1'000'000, 4096, 128, 128), 8192u) << "many queries: long splits";
  EXPECT_EQ(fused_split_length(1'000'000, 1024, 128, 128), 8192u) << "976 workgroups already";
  const std::uint32_t few = fused_split_length(1'000'000, 64, 128, 128);
  EXPECT_LT(few, 8192u);
  EXPECT_GE(1'000'000 / few, 900u) << "about a thousand workgroups for one query block";
  EXPECT_EQ(fused_split_length(1000, 64, 128, 128), 512u) << "never below the minimum";
  for (std::size_t rows : {1000u, 100'000u, 10'000'000u}) {
    for (std::size_t batch : {33u, 100u, 4096u}) {
      const std::uint32_t split = fused_split_length(rows, batch, 64, 128);
      EXPECT_TRUE(std::has_single_bit(split)) << split;
    }
  }
  const KnnPlan p = plan_knn({1'000'000, 128, 64, 10, Metric::l2, 1 << 22}, gpu_like());
  ASSERT_TRUE(p.fused);
  EXPECT_EQ(p.segment, fused_split_length(1'000'000, 64, 128, 128));
}

TEST(KnnPlan, FusedSplitsOfLongRowsKeepAWorkgroupsLoopTurnsWithinTheLimit) {
  // llvmpipe ends a loop after 65535 turns: a split of 8192 rows of dimension 8192 took
  // 64 blocks x 512 stages and more, and the screen's dot products came out short.
  for (const std::uint32_t block : {64u, 128u}) {
    const std::uint64_t stage_dims = block == 128 ? 8 : 16;
    for (const std::size_t dim : {128u, 2048u, 8192u, 16384u, 65536u}) {
      for (const std::size_t batch : {1u, 4096u}) {
        const std::uint32_t split = fused_split_length(10'000'000, batch, block, dim);
        EXPECT_TRUE(std::has_single_bit(split)) << split;
        EXPECT_GE(split, block);
        EXPECT_LE(std::uint64_t{split} / block * ((dim + stage_dims - 1) / stage_dims + 256),
                  max_loop_turns)
            << "block " << block << ", dimension " << dim << ", split " << split;
      }
    }
  }
  EXPECT_EQ(fused_split_length(10'000'000, 4096, 128, 128), 8192u) << "short rows: unchanged";
}

TEST(KnnPlan, BatchesKeepEveryBufferWithinTheStorageRange) {
  for (const Capabilities& caps : {gpu_like(), cpu_like()}) {
    for (const std::size_t dim : {1u, 96u, 784u, 1536u}) {
      for (const std::size_t k : {1u, 10u, 100u, 1000u, 2048u}) {
        for (const std::size_t nq : {1u, 32u, 1000u, 10000u}) {
          const KnnShape shape{10'000'000, dim, nq, k, Metric::inner_product, 1 << 20};
          const KnnPlan p = plan_knn(shape, caps);
          const std::uint64_t range = caps.max_storage_buffer_range;
          EXPECT_GE(p.batch, 1u);
          EXPECT_LE(p.batch, nq);
          EXPECT_LE(p.query_bytes, range);
          EXPECT_LE(p.tile_bytes, range);
          EXPECT_LE(p.candidate_bytes, range);
          EXPECT_LE(p.exact_bytes, range);
          EXPECT_GE(p.screen_k, k);
          EXPECT_TRUE(p.tile_cols % p.segment == 0 || p.tile_cols == shape.base_rows)
              << "tiles are whole segments unless one tile takes the whole base";
        }
      }
    }
  }
}

TEST(KnnPlan, TensorCoresScreenBlocksOfQueriesWhereTheDeviceHasThem) {
  Capabilities caps = gpu_like();
  caps.cooperative_matrix = true;
  caps.shader_float16 = true;
  const KnnPlan many = plan_knn({1'000'000, 768, 1000, 10, Metric::l2, 1 << 22}, caps);
  EXPECT_EQ(many.precision, ScreenPrecision::float16);
  EXPECT_FALSE(many.fused) << "the tensor-core tile feeds the selection kernels";
  EXPECT_EQ(plan_knn({1'000'000, 128, 1000, 10, Metric::l2, 1 << 22}, caps).precision,
            ScreenPrecision::float32)
      << "below coop_min_dim float32 products cost less than float16 ones and their tile";
  KnnShape retry{1'000'000, 768, 1000, 100, Metric::cosine, 1 << 22};
  retry.least_precise = ScreenPrecision::float16x3;
  EXPECT_EQ(plan_knn(retry, caps).precision, ScreenPrecision::float16x3);
  EXPECT_EQ(plan_knn({1'000'000, 128, 32, 10, Metric::l2, 1 << 22}, caps).precision,
            ScreenPrecision::float16)
      << "mostly empty blocks of tensor-core products beat the streaming kernel's FMAs";
  EXPECT_EQ(plan_knn({1'000'000, 128, 1, 10, Metric::l2, 1 << 22}, caps).precision,
            ScreenPrecision::float32)
      << "one query streams the base";
  EXPECT_EQ(many.screen_k, candidates(10, 1'000'000)) << "the fast 16-wide selection";
  EXPECT_GT(screen_candidates(100, 1'000'000, 128, ScreenPrecision::float16),
            candidates(100, 1'000'000))
      << "a wider margin for float16 where the selection does not change kernels";
  EXPECT_EQ(plan_knn({1'000'000, 130, 1000, 10, Metric::l2, 1 << 22}, caps).precision,
            ScreenPrecision::float32)
      << "the kernel's 16-byte loads need a dimension that is a multiple of 4";
  EXPECT_TRUE(plan_knn({1'000'000, 32, 1000, 10, Metric::l2, 1 << 22}, caps).fused)
      << "at a small dimension the fused float32 screen costs less than the tile's traffic";
  EXPECT_EQ(plan_knn({1'000'000, 512, 1000, 100, Metric::l2, 1 << 22}, caps).precision,
            ScreenPrecision::float16)
      << "a k the fused kernel does not take";
  KnnShape float32_only{1'000'000, 768, 1000, 10, Metric::l2, 1 << 22};
  float32_only.least_precise = ScreenPrecision::float32;
  EXPECT_EQ(plan_knn(float32_only, caps).precision, ScreenPrecision::float32);
  EXPECT_EQ(plan_knn({1'000'000, 768, 1000, 10, Metric::l2, 1 << 22}, gpu_like()).precision,
            ScreenPrecision::float32)
      << "no cooperative matrices";
}

TEST(KnnPlan, SelectionSegmentsLengthenOnlyWhileTheirWorkgroupsFillTheGpu) {
  const std::uint64_t tile = 1ull << 30;
  EXPECT_EQ(select_segment_length(16, 1000, 1'000'000, tile), 32768u) << "many rows of a tile";
  EXPECT_EQ(select_segment_length(16, 1, 1'000'000, tile), default_segment_length(16))
      << "one row: short segments keep workgroups for every SM";
  EXPECT_EQ(select_segment_length(16, 8, 1'000'000, tile), 16384u)
      << "a few rows: 16,384 columns while 256 workgroups remain";
  EXPECT_EQ(select_segment_length(16, 32, 1'000'000, tile), 16384u) << "and no longer";
  EXPECT_EQ(select_segment_length(16, 1, 10'000'000, tile), 16384u) << "one row of 10M columns";
  EXPECT_EQ(select_segment_length(160, 1000, 1'000'000, tile), default_segment_length(160))
      << "radix selection keeps its own length";
  EXPECT_EQ(select_segment_length(16, 1000, 1'000'000, 1000ull * 8192 * 4),
            default_segment_length(16))
      << "two rows of a longer segment must fit the tile";
  for (const std::size_t batch : {1u, 32u, 1000u, 4096u}) {
    const std::uint32_t s = select_segment_length(16, batch, 10'000'000, tile);
    EXPECT_TRUE(std::has_single_bit(s));
    EXPECT_GE(s, default_segment_length(16));
    EXPECT_LE(s, 32768u);
  }
  // l1: no fused kernel, so k = 10 takes the register-list selection.
  const KnnPlan p = plan_knn({1'000'000, 128, 1000, 10, Metric::l1, 1 << 22}, gpu_like());
  ASSERT_FALSE(p.fused);
  EXPECT_EQ(p.segment, 32768u) << "the plan's selection takes the longer segments";
  EXPECT_EQ(p.tile_cols % p.segment, 0u);
}

TEST(KnnPlan, KOutsideTheLimitsIsRefused) {
  EXPECT_THROW(plan_knn({100, 8, 1, 0, Metric::l2, 100}, gpu_like()), Error);
  EXPECT_THROW(plan_knn({100, 8, 1, max_search_k + 1, Metric::l2, 100}, gpu_like()), Error);
  EXPECT_NO_THROW(plan_knn({200'000, 8, 1, 150'000, Metric::l2, 1 << 22}, gpu_like()));
  // One query's sort keys beyond the storage-buffer range: a clear refusal naming the range.
  try {
    (void)plan_knn({100'000'000, 8, 1, 20'000'000, Metric::l2, 1 << 22}, cpu_like());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("storage-buffer range of 134217728"), std::string::npos)
        << e.what();
  }
}

TEST(Certificate, BoundGrowsWithDimensionAndNorms) {
  for (const Metric m : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    EXPECT_LT(screen_error_bound(m, 16, 1, 1), screen_error_bound(m, 1024, 1, 1));
    EXPECT_GT(screen_error_bound(m, 16, 1, 1), 0.0);
  }
  EXPECT_LT(screen_error_bound(Metric::l2, 128, 1, 1), screen_error_bound(Metric::l2, 128, 1, 100));
  // The rounding of |q|^2 + |x|^2 - 2 q.x in float32 is at least relative 2^-24 of its terms.
  EXPECT_GE(screen_error_bound(Metric::l2, 1, 1000, 1000), 4e6 * 0x1p-24);
}

TEST(Certificate, HoldsOnlyWhenTheLastCandidateIsBeyondTheBound) {
  EXPECT_TRUE(certified(Metric::l2, 1.0, 2.0, 0.5));
  EXPECT_FALSE(certified(Metric::l2, 1.0, 1.5, 0.5)) << "a tie at the bound may enter";
  EXPECT_FALSE(certified(Metric::l2, 1.0, 1.0, 0.0)) << "ties outside the candidates";
  EXPECT_TRUE(certified(Metric::inner_product, 2.0, 1.0, 0.5));
  EXPECT_FALSE(certified(Metric::cosine, 0.9, 0.95, 0.01));
  EXPECT_FALSE(certified(Metric::l2, 1.0, 5.0, std::nan("")));
  EXPECT_FALSE(certified(Metric::l2, 1.0, INFINITY, INFINITY));
}

namespace {

/// v rounded to float16 (round to nearest even), as a float: 11 significant bits in the
/// normal range, multiples of 2^-24 below 2^-14, or zero there when `flush`.
float to_half(float v, bool flush) {
  if (std::fabs(v) < 0x1p-14f) return flush ? 0.0f : std::nearbyint(v * 0x1p24f) * 0x1p-24f;
  int e = 0;
  const float m = std::frexp(v, &e);  // |m| in [0.5, 1)
  return std::ldexp(std::nearbyint(std::ldexp(m, 11)), e - 11);
}

/// What the tensor-core screen computes for q.x (distances_coop.glsl): each row scaled by
/// 2^(7-e) (|row| in [2^(e-1), 2^e)), rounded to float16; three terms: high parts truncated
/// to 11 bits and kept normal, low parts times 2^11 in a second accumulator. Products summed in
/// float32; `flush` models tensor cores that flush subnormal inputs.
double emulated_coop_dot(const std::vector<float>& q, const std::vector<float>& x,
                         ScreenPrecision precision, bool flush) {
  const auto scale = [](const std::vector<float>& v) {
    float n2 = 0.0f;
    for (const float e : v)
      n2 = std::fma(e, e, n2);
    int e = 0;
    std::frexp(std::sqrt(n2), &e);
    return n2 >= 0x1p-120f ? std::ldexp(1.0f, 7 - e) : 0x1p60f;
  };
  const auto high = [&](float v) {
    if (precision == ScreenPrecision::float16) return to_half(v, flush);
    if (std::fabs(v) < 0x1p-14f) return 0.0f;
    return std::bit_cast<float>(std::bit_cast<std::uint32_t>(v) & 0xffffe000u);  // truncated
  };
  const float sq = scale(q);
  const float sx = scale(x);
  float sum = 0.0f;
  float low = 0.0f;
  for (std::size_t i = 0; i < q.size(); ++i) {
    const float a = q[i] * sq;
    const float b = x[i] * sx;
    const float ha = high(a);
    const float hb = high(b);
    sum = std::fma(ha, hb, sum);
    if (precision == ScreenPrecision::float16x3) {
      low = std::fma(ha, to_half((b - hb) * 2048.0f, flush), low);
      low = std::fma(to_half((a - ha) * 2048.0f, flush), hb, low);
    }
  }
  return static_cast<double>(sum + low * 0x1p-11f) / sq / sx;
}

/// The power of two half_rows.comp scales a row by: its largest element into [2^14, 2^15).
float half_row_scale(const std::vector<float>& v) {
  float largest = 0.0f;
  for (const float e : v)
    largest = std::max(largest, std::fabs(e));
  int e = 0;
  std::frexp(largest, &e);
  return largest > 0.0f ? std::ldexp(1.0f, std::clamp(15 - e, -100, 100)) : 1.0f;
}

/// What the tensor-core kernel over float16 copies computes for q.x (half_rows.comp, then
/// distances_half_coop.glsl): each row scaled by the power of two that brings its largest
/// element into [2^14, 2^15), rounded to float16, products summed in float32 and unscaled.
double emulated_half_copies_dot(const std::vector<float>& q, const std::vector<float>& x,
                                bool flush) {
  const float sq = half_row_scale(q);
  const float sx = half_row_scale(x);
  float sum = 0.0f;
  for (std::size_t i = 0; i < q.size(); ++i)
    sum = std::fma(to_half(q[i] * sq, flush), to_half(x[i] * sx, flush), sum);
  return static_cast<double>(sum) / sq / sx;
}

/// v - c in float32, element by element (what centre_row and half_rows_centred.comp round).
std::vector<float> minus(const std::vector<float>& v, const std::vector<float>& c) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    out[i] = v[i] - c[i];
  return out;
}

/// The float32 squared norm as row_norms.comp and half_rows_centred.comp sum it.
float squared_norm(const std::vector<float>& v) {
  float sum = 0.0f;
  for (const float e : v)
    sum = std::fma(e, e, sum);
  return sum;
}

/// The copy's row as half_rows.comp makes it, unscaled: each element rounded to float16 at the
/// row's power-of-two scale.
std::vector<float> half_copy_of(const std::vector<float>& v, bool flush) {
  const float scale = half_row_scale(v);
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    out[i] = to_half(v[i] * scale, flush) / scale;
  return out;
}

/// |q - x|^2 with every operation exact but the final rounding (long double).
double true_l2(const std::vector<float>& q, const std::vector<float>& x) {
  long double sum = 0.0L;
  for (std::size_t i = 0; i < q.size(); ++i) {
    const long double d = static_cast<long double>(q[i]) - static_cast<long double>(x[i]);
    sum += d * d;
  }
  return static_cast<double>(sum);
}

double norm_of(const std::vector<float>& v) {
  double sum = 0.0;
  for (const float e : v)
    sum += static_cast<double>(e) * e;
  return std::sqrt(sum);
}

/// A query and a base row built to stress the tensor-core bounds (trial picks the kind):
/// elements spread over 2^-20..2^4 within a row, x near q for cancellation; or a common offset
/// (1000 + N(0, 1)), whose low parts are mostly subnormal float16; any dimension up to 1539,
/// rows scaled by 2^-30..2^30.
std::pair<std::vector<float>, std::vector<float>> stressed_pair(std::mt19937& rng, int trial) {
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> exponent(-30.0f, 30.0f);
  const std::size_t dim = 4 + static_cast<std::size_t>(rng() % 1536);
  std::vector<float> q(dim);
  std::vector<float> x(dim);
  const float row_scale = std::pow(2.0f, exponent(rng));
  for (std::size_t i = 0; i < dim; ++i) {
    if (trial % 3 == 2) {
      q[i] = (1000.0f + normal(rng)) * row_scale;
      x[i] = (1000.0f + normal(rng)) * row_scale;
      continue;
    }
    q[i] = normal(rng) * std::pow(2.0f, static_cast<float>(rng() % 25) - 20.0f) * row_scale;
    x[i] = trial % 2 == 0 ? q[i] * (1.0f + 0.001f * normal(rng)) : normal(rng) * row_scale;
  }
  return {q, x};
}

}  // namespace

// The bound is derived on paper (docs/exactness.md); this checks it against an emulation of
// the kernel's arithmetic on rows built to stress it: wide ranges within a row, elements deep
// in float16's subnormal range after scaling, large and tiny norms, near-cancellation.
TEST(Certificate, TensorCoreBoundCoversEmulatedFloat16Products) {
  std::mt19937 rng(42);
  for (const ScreenPrecision p :
       {ScreenPrecision::float16, ScreenPrecision::float16x3, ScreenPrecision::half_copies}) {
    double worst = 0.0;
    for (int trial = 0; trial < 400; ++trial) {
      const auto [q, x] = stressed_pair(rng, trial);
      const std::size_t dim = q.size();
      double exact = 0.0;
      double qn = 0.0;
      double xn = 0.0;
      for (std::size_t i = 0; i < dim; ++i) {
        exact += static_cast<double>(q[i]) * x[i];
        qn += static_cast<double>(q[i]) * q[i];
        xn += static_cast<double>(x[i]) * x[i];
      }
      const double bound =
          screen_error_bound(Metric::inner_product, dim, std::sqrt(qn), std::sqrt(xn), p);
      for (const bool flush : {false, true}) {
        const double screened = p == ScreenPrecision::half_copies
                                    ? emulated_half_copies_dot(q, x, flush)
                                    : emulated_coop_dot(q, x, p, flush);
        const double error = std::fabs(screened - exact);
        ASSERT_LE(error, bound) << "trial " << trial << " dim " << dim << " flush " << flush;
        worst = std::max(worst, error / bound);
      }
    }
    EXPECT_GT(worst, 1e-4) << "a bound far above every error would prove nothing";
  }
  EXPECT_GT(screen_error_bound(Metric::l2, 128, 1, 1, ScreenPrecision::float16),
            screen_error_bound(Metric::l2, 128, 1, 1, ScreenPrecision::float16x3));
  EXPECT_GT(screen_error_bound(Metric::l2, 128, 1, 1, ScreenPrecision::float16x3),
            screen_error_bound(Metric::l2, 128, 1, 1, ScreenPrecision::float32));
}

// The centred screens (docs/exactness.md, "Centred copies") emulated: rows far from the origin
// and rows about it, centres near and far from them; the streaming kernel over the copy
// (half_base: float32 queries) and the tensor cores over both copies (half_copies). The bound of
// the centred rows plus the centring's rounding covers |s~ - s| against the true uncentred l2.
TEST(Certificate, CentredCopyBoundCoversEmulatedCentredScreens) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (const ScreenPrecision p : {ScreenPrecision::half_base, ScreenPrecision::half_copies}) {
    double worst = 0.0;
    for (int trial = 0; trial < 300; ++trial) {
      const std::size_t dim = 4 * (1 + rng() % 200);
      const float offset = trial % 3 == 0 ? 0.0f : std::pow(10.0f, static_cast<float>(rng() % 6));
      const float spread = std::pow(2.0f, static_cast<float>(rng() % 21) - 10.0f);
      std::vector<float> q(dim), x(dim), c(dim);
      for (std::size_t i = 0; i < dim; ++i) {
        q[i] = offset + spread * normal(rng);
        x[i] = trial % 2 == 0 ? q[i] + spread * 1e-3f * normal(rng) : offset + spread * normal(rng);
        // A centre near the data (the mean of a sample) or off it by a few spreads.
        c[i] = offset + (trial % 5 == 0 ? 3.0f * spread * normal(rng) : 0.0f);
      }
      const std::vector<float> qc = minus(q, c);
      const std::vector<float> xc = minus(x, c);
      const double bound = centred_screen_error_bound(dim, norm_of(qc), norm_of(xc), p);
      for (const bool flush : {false, true}) {
        double dot = 0.0;
        if (p == ScreenPrecision::half_copies) {
          dot = emulated_half_copies_dot(qc, xc, flush);
        } else {
          const std::vector<float> copy = half_copy_of(xc, flush);
          float sum = 0.0f;
          for (std::size_t i = 0; i < dim; ++i)
            sum = std::fma(qc[i], copy[i], sum);
          dot = sum;
        }
        const float screened =
            std::max(squared_norm(qc) + squared_norm(xc) - 2.0f * static_cast<float>(dot), 0.0f);
        const double error = std::fabs(static_cast<double>(screened) - true_l2(q, x));
        ASSERT_LE(error, bound) << "trial " << trial << " dim " << dim << " flush " << flush;
        worst = std::max(worst, error / bound);
      }
    }
    EXPECT_GT(worst, 1e-4) << "a bound far above every error would prove nothing";
  }
  // Far from the origin the centred bound is far below the uncentred one.
  EXPECT_LT(centred_screen_error_bound(16, 4.0, 4.0, ScreenPrecision::half_base) * 1000.0,
            screen_error_bound(Metric::l2, 16, 4000.0, 4000.0, ScreenPrecision::half_base));
  EXPECT_TRUE(
      std::isinf(centred_screen_error_bound(16, 0x1p62, 0x1p62, ScreenPrecision::half_base)))
      << "centred values that could overflow float32 certify nothing";
}

// l2 in direct form (distance_form.glsl's FORM_L2) emulated: (q - x)^2 summed in float32 with
// fused square-adds, on offset data (1000 +- spread) where the expanded form's bound exceeds the
// distances. Every row screened at s~ has s >= s~ - bound(s~), which the certificate uses.
TEST(Certificate, L2DirectFormBoundIsRelativeToTheScreenedValueAndCoversIt) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  double worst = 0.0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t dim = 1 + rng() % 1000;
    const float spread = std::pow(2.0f, static_cast<float>(rng() % 31) - 20.0f);
    std::vector<float> q(dim), x(dim);
    for (std::size_t i = 0; i < dim; ++i) {
      q[i] = 1000.0f + spread * normal(rng);
      x[i] = 1000.0f + spread * normal(rng);
    }
    float screened = 0.0f;
    for (std::size_t i = 0; i < dim; ++i) {
      const float d = q[i] - x[i];
      screened = std::fma(d, d, screened);
    }
    const double bound =
        screen_error_bound(Metric::l2, dim, 0, 0, ScreenPrecision::float32_direct, screened);
    const double error = std::fabs(static_cast<double>(screened) - true_l2(q, x));
    ASSERT_LE(error, bound) << "trial " << trial << " dim " << dim;
    worst = std::max(worst, error / bound);
    // Where the spread is far below the offset, the expanded form's bound would be far wider.
    if (spread <= 1.0f)
      EXPECT_LT(bound * 100.0, screen_error_bound(Metric::l2, dim, 1000.0 * std::sqrt(dim),
                                                  1000.0 * std::sqrt(dim)))
          << trial;
  }
  EXPECT_GT(worst, 1e-4) << "a bound far above every error would prove nothing";
  EXPECT_TRUE(
      std::isinf(screen_error_bound(Metric::l2, 100, 1, 1, ScreenPrecision::float32_direct)))
      << "without the screened value nothing is certified";
  EXPECT_TRUE(std::isinf(
      screen_error_bound(Metric::inner_product, 100, 1, 1, ScreenPrecision::float32_direct, 1.0)))
      << "direct form is l2's alone";
}

TEST(KnnPlan, AFailedL2ScreenEscalatesToDirectFormAndOtherMetricsDoNot) {
  for (const Capabilities& caps : {gpu_like(), cpu_like()}) {
    for (const std::size_t queries : {std::size_t{4}, std::size_t{1000}}) {
      KnnShape shape{1'000'000, 96, queries, 10, Metric::l2, 1 << 22};
      shape.least_precise = ScreenPrecision::float32_direct;
      const KnnPlan plan = plan_knn(shape, caps);
      EXPECT_EQ(plan.precision, ScreenPrecision::float32_direct) << queries;
      EXPECT_FALSE(plan.fused && !plan.stream)
          << "the block-fused kernel computes the expanded form (the streaming one either)";
    }
  }
}

TEST(KnnPlan, AFewQueriesStreamTheFloat16CopyWhereTheBaseHasOne) {
  for (const Capabilities& caps : {gpu_like(), cpu_like()}) {
    KnnShape shape{10'000'000, 128, 1, 10, Metric::l2, 1 << 22};
    EXPECT_EQ(plan_knn(shape, caps).precision, ScreenPrecision::float32) << "no copy";
    shape.half_copy = true;
    EXPECT_EQ(plan_knn(shape, caps).precision, ScreenPrecision::half_base);
    shape.queries = 8;
    EXPECT_EQ(plan_knn(shape, caps).precision, ScreenPrecision::half_base);
    shape.least_precise = ScreenPrecision::float32;
    EXPECT_EQ(plan_knn(shape, caps).precision, ScreenPrecision::float32)
        << "the re-screen of queries the copy left uncertified reads the rows";
    shape.least_precise = ScreenPrecision::float16;
    shape.queries = 1000;
    EXPECT_NE(plan_knn(shape, caps).precision, ScreenPrecision::half_base)
        << "query blocks read the rows";
  }
}

TEST(KnnPlan, QueryBlocksGoToTensorCoresOverFloat16CopiesWhereTheBaseHasOne) {
  Capabilities caps = gpu_like();
  caps.cooperative_matrix = true;
  caps.shader_float16 = true;
  KnnShape shape{1'000'000, 128, 1000, 10, Metric::l2, 1 << 22};
  shape.half_copy = true;
  EXPECT_NE(plan_knn(shape, caps).precision, ScreenPrecision::half_copies)
      << "at d = 128 opt-in (VECACCEL_KNN_SCREEN=float16-copies): second passes cost more";
  shape.queries = 16;
  EXPECT_EQ(plan_knn(shape, caps).precision, ScreenPrecision::half_copies)
      << "a few queries at any dimension: 32-row blocks over the copies";
  shape.queries = 1000;
  shape.dim = 384;
  EXPECT_EQ(plan_knn(shape, caps).precision, ScreenPrecision::half_copies)
      << "by default from d = 384 on";
  shape.dim = 128;
  shape.least_precise = ScreenPrecision::half_copies;
  EXPECT_EQ(plan_knn(shape, caps).precision, ScreenPrecision::half_copies)
      << "at any dimension: no conversion on load, half the bytes";
  shape.queries = 24;
  EXPECT_EQ(plan_knn(shape, caps).precision, ScreenPrecision::half_copies);
  shape.queries = 8;
  EXPECT_EQ(plan_knn(shape, caps).precision, ScreenPrecision::half_base)
      << "a few queries stream the copy";
  shape.queries = 1000;
  shape.dim = 132;
  EXPECT_NE(plan_knn(shape, caps).precision, ScreenPrecision::half_copies)
      << "the kernel's 16-byte loads take eight float16 elements";
  shape.dim = 128;
  shape.half_copy = false;
  EXPECT_EQ(
      plan_knn({1'000'000, 768, 1000, 10, Metric::l2, 1 << 22, ScreenPrecision::half_copies}, caps)
          .precision,
      ScreenPrecision::float16)
      << "no copy: the float32-operand tensor-core kernel";
  shape.half_copy = true;
  shape.least_precise = ScreenPrecision::float16x3;
  EXPECT_NE(plan_knn(shape, caps).precision, ScreenPrecision::half_copies)
      << "the re-screen of queries the copies left uncertified";
  shape.least_precise = ScreenPrecision::half_copies;
  EXPECT_NE(plan_knn(shape, cpu_like()).precision, ScreenPrecision::half_copies)
      << "no cooperative matrices";
}

/// What half_rows.glsl measures of a row's copy, in float32 as it does: the scaled row's
/// rounding loss over its squares, square-rooted.
float measured_copy_error(const std::vector<float>& v) {
  const float scale = half_row_scale(v);
  float lost = 0.0f;
  float squares = 0.0f;
  for (const float x : v) {
    const float scaled = x * scale;
    const float gone = scaled - to_half(scaled, false);
    lost = std::fma(gone, gone, lost);
    squares = std::fma(scaled, scaled, squares);
  }
  return squares > 0.0f ? std::sqrt(lost / squares) : 0.0f;
}

// The copies' measured errors (half_rows.glsl) replace the worst case of every element: the
// bound must still cover the emulated screens over the copies (tensor cores over both copies,
// the streaming kernel's float32 queries against the base's copy), on the same stressed rows
// as the a-priori bound, and be well below the a-priori bound on ordinary rows.
TEST(Certificate, MeasuredCopyErrorsTightenTheBoundAndStillCoverEmulatedScreens) {
  std::mt19937 rng(43);
  std::normal_distribution<float> normal;
  double worst = 0.0;
  for (int trial = 0; trial < 400; ++trial) {
    const auto [q, x] = stressed_pair(rng, trial);
    const std::size_t dim = q.size();
    const CopyErrors copies{
        .query = measured_copy_error(q), .base = measured_copy_error(x), .every_row_copied = true};
    double exact = 0.0;
    for (std::size_t i = 0; i < dim; ++i)
      exact += static_cast<double>(q[i]) * x[i];
    const double qn = norm_of(q);
    const double xn = norm_of(x);
    const std::vector<float> x_copy = half_copy_of(x, false);
    float streamed = 0.0f;
    for (std::size_t i = 0; i < dim; ++i)
      streamed = std::fma(q[i], x_copy[i], streamed);
    for (const ScreenPrecision p : {ScreenPrecision::half_copies, ScreenPrecision::half_base}) {
      const double bound =
          screen_error_bound(Metric::inner_product, dim, qn, xn, p, INFINITY, copies);
      ASSERT_LE(bound, screen_error_bound(Metric::inner_product, dim, qn, xn, p)) << trial;
      for (const bool flush : {false, true}) {
        const double screened = p == ScreenPrecision::half_copies
                                    ? emulated_half_copies_dot(q, x, flush)
                                    : static_cast<double>(streamed);
        const double error = std::fabs(screened - exact);
        ASSERT_LE(error, bound) << "trial " << trial << " dim " << dim << " flush " << flush;
        worst = std::max(worst, error / bound);
      }
    }
  }
  EXPECT_GT(worst, 1e-3) << "a bound far above every error would prove nothing";

  // Ordinary rows (normal values, d = 128): about 2^-12 measured against 2^-10 an element.
  std::vector<float> a(128), b(128);
  for (std::size_t i = 0; i < 128; ++i)
    a[i] = normal(rng), b[i] = normal(rng);
  const CopyErrors measured{
      .query = measured_copy_error(a), .base = measured_copy_error(b), .every_row_copied = true};
  for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    for (const ScreenPrecision p : {ScreenPrecision::half_copies, ScreenPrecision::half_base}) {
      const double tight = screen_error_bound(metric, 128, 10.0, 12.0, p, INFINITY, measured);
      const double worst_case = screen_error_bound(metric, 128, 10.0, 12.0, p);
      EXPECT_LT(tight * 2.0, worst_case) << to_string(metric);
    }
  }
  // Not measured (NaN), or a copy whose rows are not all copied: the a-priori bound.
  EXPECT_EQ(copy_relative_error(std::nan(""), 128), 0x1p-10);
  EXPECT_EQ(screen_error_bound(Metric::l2, 128, 10.0, 12.0, ScreenPrecision::half_copies, INFINITY,
                               {.query = 0.0, .base = 0.0, .every_row_copied = false}),
            screen_error_bound(Metric::l2, 128, 10.0, 12.0, ScreenPrecision::half_copies));
}

TEST(Certificate, TheFloat16CopyBoundLiesBetweenFloat32AndTensorCoreProducts) {
  for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    const double f32 = screen_error_bound(metric, 128, 10.0, 12.0, ScreenPrecision::float32);
    const double copy = screen_error_bound(metric, 128, 10.0, 12.0, ScreenPrecision::half_base);
    const double f16 = screen_error_bound(metric, 128, 10.0, 12.0, ScreenPrecision::float16);
    EXPECT_GT(copy, f32) << to_string(metric);
    EXPECT_LT(copy, f16) << to_string(metric);
  }
}

TEST(KnnPlan, L1AndLinfOnlyTheFloat32SimtScreensTakeThem) {
  Capabilities caps = gpu_like();
  caps.cooperative_matrix = caps.shader_float16 = true;
  for (const Metric metric : {Metric::l1, Metric::linf}) {
    for (const std::size_t queries : {std::size_t{4}, std::size_t{32}, std::size_t{1000}}) {
      KnnShape shape{1'000'000, 768, queries, 10, metric, 1 << 22};
      shape.half_copy = true;
      const KnnPlan plan = plan_knn(shape, caps);
      EXPECT_EQ(plan.precision, ScreenPrecision::float32) << queries;
      EXPECT_FALSE(plan.fused && !plan.stream) << queries << ": the block-fused kernel's products";
    }
    EXPECT_FALSE(has_product_form(metric));
  }
  // The same shapes under l2 do take tensor cores and the copy: the gate is the metric.
  KnnShape l2{1'000'000, 768, 1000, 10, Metric::l2, 1 << 22};
  EXPECT_EQ(plan_knn(l2, caps).precision, ScreenPrecision::float16);
}

TEST(Certificate, L1AndLinfBoundIsRelativeToTheScreenedValue) {
  for (const Metric metric : {Metric::l1, Metric::linf}) {
    const double at_one = screen_error_bound(metric, 100, 1, 1, ScreenPrecision::float32, 1);
    const double at_big = screen_error_bound(metric, 100, 1, 1, ScreenPrecision::float32, 1e6);
    EXPECT_GT(at_one, 0.0);
    EXPECT_NEAR(at_big / at_one, 1e6, 1.0);
    EXPECT_TRUE(std::isinf(screen_error_bound(metric, 100, 1, 1)))
        << "without the screened value nothing is certified";
    EXPECT_TRUE(std::isinf(screen_error_bound(metric, 100, 1, 1, ScreenPrecision::float16, 1.0)));
  }
  // l1 sums d rounded terms, linf rounds one: l1's bound grows with d.
  EXPECT_GT(screen_error_bound(Metric::l1, 1000, 1, 1, ScreenPrecision::float32, 1),
            screen_error_bound(Metric::l1, 10, 1, 1, ScreenPrecision::float32, 1));
  EXPECT_EQ(screen_error_bound(Metric::linf, 1000, 1, 1, ScreenPrecision::float32, 1),
            screen_error_bound(Metric::linf, 1000, 5, 9, ScreenPrecision::float32, 1));
}

namespace {

Capabilities integer_gpu() {
  Capabilities caps = gpu_like();
  caps.cooperative_matrix = caps.shader_float16 = true;
  caps.integer_cooperative_matrix = true;
  return caps;
}

KnnShape integer_shape(std::size_t dim, std::size_t queries, Metric metric,
                       ElementType type = ElementType::uint8) {
  KnnShape shape{1'000'000, dim, queries, 10, metric, 1 << 22};
  shape.integer_rows = type;
  return shape;
}

}  // namespace

TEST(KnnPlan, IntegerRowsAndQueriesTakeIntegerTensorCoresForBlocksOfQueries) {
  const Capabilities caps = integer_gpu();
  for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    for (const ElementType type : {ElementType::uint8, ElementType::int8}) {
      const KnnPlan plan = plan_knn(integer_shape(128, 10'000, metric, type), caps);
      EXPECT_EQ(plan.precision, ScreenPrecision::integer) << to_string(metric);
      EXPECT_FALSE(plan.fused) << "the integer tile feeds the selection kernels";
      EXPECT_EQ(plan.screen_k, candidates(10, 1'000'000)) << "float32's margin: it errs less";
    }
  }
  EXPECT_EQ(plan_knn(integer_shape(48, 1000, Metric::l2), caps).precision, ScreenPrecision::integer)
      << "a dimension that is a multiple of 16, not of the matrices' 32";
  KnnShape copies = integer_shape(768, 1000, Metric::l2);
  copies.half_copy = true;
  EXPECT_EQ(plan_knn(copies, caps).precision, ScreenPrecision::integer)
      << "exact products beat the float16 copies";
  EXPECT_EQ(plan_knn(integer_shape(128, small_query_limit, Metric::l2), caps).precision,
            ScreenPrecision::float32)
      << "a few queries stream the base";
  EXPECT_EQ(plan_knn(integer_shape(128, 1000, Metric::l1), caps).precision,
            ScreenPrecision::float32)
      << "l1 and linf keep their SIMT kernels";
  EXPECT_EQ(plan_knn(integer_shape(136, 1000, Metric::l2), caps).precision,
            ScreenPrecision::float32)
      << "16-byte loads of sixteen elements";
  EXPECT_EQ(plan_knn(integer_shape(128, 1000, Metric::l2, ElementType::float32), caps).precision,
            ScreenPrecision::float32)
      << "queries that do not fit the base's type";
  EXPECT_EQ(plan_knn(integer_shape(128, 1000, Metric::l2), cpu_like()).precision,
            ScreenPrecision::float32)
      << "no integer cooperative matrices (lavapipe)";
  KnnShape direct = integer_shape(128, 1000, Metric::l2);
  direct.least_precise = ScreenPrecision::float32_direct;
  EXPECT_EQ(plan_knn(direct, caps).precision, ScreenPrecision::float32_direct);
}

TEST(Certificate, IntegerBoundCoversEmulatedIntegerScreens) {
  std::mt19937 rng(21);
  std::size_t rounded = 0;
  double worst = 0.0;
  for (const ElementType type : {ElementType::uint8, ElementType::int8}) {
    for (const std::size_t dim : {std::size_t{48}, std::size_t{128}, std::size_t{4096}}) {
      const int lowest = type == ElementType::int8 ? -128 : 0;
      std::uniform_int_distribution<int> value(lowest, lowest + 255);
      for (int trial = 0; trial < 40; ++trial) {
        std::vector<std::int64_t> q(dim), x(dim);
        // Extremes as well as uniform values: the largest norms and products.
        for (std::size_t i = 0; i < dim; ++i) {
          q[i] = trial % 4 == 0 ? lowest + 255 : value(rng);
          x[i] = trial % 8 == 0 ? lowest : value(rng);
        }
        std::int64_t dot = 0, nq = 0, nx = 0, l2 = 0;
        for (std::size_t i = 0; i < dim; ++i) {
          dot += q[i] * x[i];
          nq += q[i] * q[i];
          nx += x[i] * x[i];
          l2 += (q[i] - x[i]) * (q[i] - x[i]);
        }
        ASSERT_EQ(l2, nq + nx - 2 * dot);
        for (const auto& [metric, exact] :
             {std::pair{Metric::l2, l2}, std::pair{Metric::inner_product, dot}}) {
          // distances_int_coop.glsl: the exact 32-bit value converted once.
          const auto screened = static_cast<float>(exact);
          rounded += static_cast<double>(screened) != static_cast<double>(exact);
          const double bound =
              screen_error_bound(metric, dim, 0, 0, ScreenPrecision::integer, screened);
          const double error =
              std::fabs(static_cast<double>(screened) - static_cast<double>(exact));
          ASSERT_LE(error, bound) << to_string(metric) << " dim " << dim << " trial " << trial;
          if (bound > 0) worst = std::max(worst, error / bound);
          // The least integer screened at this value or worse (half an ulp below it, a tie
          // rounding either way) lies within the bound: what the certificate relies on.
          const double ulp = std::nextafter(screened, INFINITY) - screened;
          EXPECT_GE(std::ceil(screened - ulp / 2), screened - bound) << dim;
        }
        // Cosine: apply_metric's float32 arithmetic on the rounded dot product and norms.
        const float denominator =
            std::sqrt(static_cast<float>(nq)) * std::sqrt(static_cast<float>(nx));
        const float cosine = denominator > 0 ? static_cast<float>(dot) / denominator : 0.0f;
        const double exact_cosine =
            denominator > 0 ? static_cast<double>(dot) /
                                  std::sqrt(static_cast<double>(nq) * static_cast<double>(nx))
                            : 0.0;
        const double bound =
            screen_error_bound(Metric::cosine, dim, 1, 1, ScreenPrecision::integer, cosine);
        ASSERT_LE(std::fabs(cosine - exact_cosine), bound) << "dim " << dim << " trial " << trial;
      }
    }
  }
  EXPECT_GT(rounded, 0u) << "values above 2^24 round: the bound is not vacuous";
  EXPECT_GT(worst, 0.1) << "a bound far above every error would prove nothing";
  EXPECT_TRUE(std::isinf(screen_error_bound(Metric::l2, 100, 1, 1, ScreenPrecision::integer)))
      << "without the screened value nothing is certified";
  EXPECT_EQ(screen_error_bound(Metric::l2, 100, 1, 1, ScreenPrecision::integer, 1000.0) < 1.0, true)
      << "below 2^24 the value is exact and the bound under one unit";
}

TEST(IntegerScreen, QueriesQualifyOnlyWithIntegersInTheBasesRange) {
  const std::vector<float> bytes = {0, 1, 255, 17};
  EXPECT_TRUE(integer_queries(bytes, ElementType::uint8));
  EXPECT_FALSE(integer_queries(bytes, ElementType::int8)) << "255 is beyond int8";
  EXPECT_FALSE(integer_queries(bytes, ElementType::float32));
  EXPECT_TRUE(integer_queries(std::vector<float>{-128, 127, 0}, ElementType::int8));
  EXPECT_FALSE(integer_queries(std::vector<float>{-1, 3}, ElementType::uint8));
  EXPECT_FALSE(integer_queries(std::vector<float>{2.5f}, ElementType::uint8));
  EXPECT_FALSE(integer_queries(std::vector<float>{256}, ElementType::uint8));
  EXPECT_FALSE(integer_queries(std::vector<float>{NAN}, ElementType::uint8));
  EXPECT_FALSE(integer_queries(std::vector<float>{-0.5f}, ElementType::int8));
}

TEST(IntegerScreen, StagesRowsAsBytesFollowedByTheirExactNorms) {
  const std::vector<float> rows = {-128, 127, 0, -1, 3, 4, 0, 0};  // 2 rows of 4
  std::vector<std::byte> out(integer_rows_bytes(2, 4) + 8);
  stage_integer_rows(rows, 4, out);
  EXPECT_EQ(static_cast<std::uint8_t>(out[0]), 0x80u);
  EXPECT_EQ(static_cast<std::uint8_t>(out[1]), 127u);
  EXPECT_EQ(static_cast<std::uint8_t>(out[3]), 0xffu);
  std::uint32_t norms[2];
  std::memcpy(norms, out.data() + 8, sizeof norms);
  EXPECT_EQ(norms[0], 128u * 128 + 127 * 127 + 1);
  EXPECT_EQ(norms[1], 25u);
  std::vector<std::byte> small(9);
  EXPECT_THROW(stage_integer_rows(rows, 4, small), Error);
}

TEST(KnnPlan, FailedCertificatesEscalateToMorePreciseScreensAndEndInTheDirectPass) {
  using P = ScreenPrecision;
  EXPECT_EQ(more_precise_screen(P::float16, Metric::inner_product), P::float16x3);
  EXPECT_EQ(more_precise_screen(P::half_copies, Metric::cosine), P::float16x3);
  EXPECT_EQ(more_precise_screen(P::float16x3, Metric::l2), P::float32_direct)
      << "l2 last tries direct form, whose error follows the distances";
  EXPECT_EQ(more_precise_screen(P::float32, Metric::l2), P::float32_direct);
  EXPECT_EQ(more_precise_screen(P::half_base, Metric::inner_product), P::float32)
      << "the streamed copy's failures read the float32 rows";
  EXPECT_EQ(more_precise_screen(P::float16x3, Metric::inner_product), std::nullopt);
  EXPECT_EQ(more_precise_screen(P::float32_direct, Metric::l2), std::nullopt);
  EXPECT_EQ(more_precise_screen(P::integer, Metric::l2), std::nullopt)
      << "exact products: only ties are left, for the float64 pass";
  for (const Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine, Metric::l1}) {
    for (const P start : {P::float16, P::half_copies, P::half_base, P::float32, P::integer}) {
      int steps = 0;  // every chain ends (no cycle)
      for (auto next = more_precise_screen(start, metric); next;
           next = more_precise_screen(*next, metric))
        ASSERT_LT(++steps, 4) << to_string(metric);
    }
  }
}
