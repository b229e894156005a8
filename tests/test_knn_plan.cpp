// The planning function and the certificate, without a GPU.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "ops/certificate.hpp"
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

TEST(KnnPlan, ScreenProposesAMarginPastKWithinTheExactSelectionLimit) {
  for (std::size_t k = 1; k <= ops::max_k; k += 7) {
    const std::uint32_t c = screen_candidates(k, 10'000'000);
    EXPECT_GE(c, k);
    EXPECT_LE(c, max_exact_candidates);
    if (k + 16 <= max_exact_candidates) EXPECT_GE(c, k + 6) << "k " << k;
  }
  EXPECT_EQ(screen_candidates(10, 1'000'000), fused_k_limit);
  EXPECT_EQ(screen_candidates(20, 1'000'000), small_k_limit);
  EXPECT_EQ(screen_candidates(10, 12), 12u) << "a small base: every row is a candidate";
  EXPECT_EQ(screen_candidates(10, 3), 10u) << "never fewer than k (padding)";
}

TEST(KnnPlan, ManyQueriesWithSmallKUseTheFusedScreenAndAFewQueriesStream) {
  const Capabilities caps = gpu_like();
  const KnnPlan many = plan_knn({1'000'000, 128, 10'000, 10, Metric::l2, 1 << 22}, caps);
  EXPECT_TRUE(many.fused);
  EXPECT_FALSE(many.radix);
  for (const std::size_t q : {1u, 4u, 9u, 32u}) {
    EXPECT_FALSE(plan_knn({1'000'000, 128, q, 10, Metric::l2, 1 << 22}, caps).fused)
        << q << " queries stream the base";
  }
  const KnnPlan large_k = plan_knn({1'000'000, 128, 1000, 1000, Metric::l2, 1 << 22}, caps);
  EXPECT_FALSE(large_k.fused);
  EXPECT_TRUE(large_k.radix);
  EXPECT_LE(large_k.first_cols, 2 * large_k.segment);
}

TEST(KnnPlan, FusedSplitsShortenForFewQueriesToFillTheGpu) {
  EXPECT_EQ(fused_split_length(1'000'000, 4096, 128), 8192u) << "many queries: long splits";
  EXPECT_EQ(fused_split_length(1'000'000, 1024, 128), 8192u) << "976 workgroups already";
  const std::uint32_t few = fused_split_length(1'000'000, 64, 128);
  EXPECT_LT(few, 8192u);
  EXPECT_GE(1'000'000 / few, 900u) << "about a thousand workgroups for one query block";
  EXPECT_EQ(fused_split_length(1000, 64, 128), 512u) << "never below the minimum";
  for (std::size_t rows : {1000u, 100'000u, 10'000'000u}) {
    for (std::size_t batch : {33u, 100u, 4096u}) {
      const std::uint32_t split = fused_split_length(rows, batch, 64);
      EXPECT_TRUE(std::has_single_bit(split)) << split;
    }
  }
  const KnnPlan p = plan_knn({1'000'000, 128, 64, 10, Metric::l2, 1 << 22}, gpu_like());
  ASSERT_TRUE(p.fused);
  EXPECT_EQ(p.segment, fused_split_length(1'000'000, 64, 128));
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

TEST(KnnPlan, KOutsideTheLimitsIsRefused) {
  EXPECT_THROW(plan_knn({100, 8, 1, 0, Metric::l2, 100}, gpu_like()), Error);
  EXPECT_THROW(plan_knn({100, 8, 1, ops::max_k + 1, Metric::l2, 100}, gpu_like()), Error);
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
