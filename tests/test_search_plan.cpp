// plan_search, the planner's hold / stream decision: a pure function of sizes and budgets,
// tested without a device.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "vecaccel/error.hpp"
#include "vecaccel/search.hpp"

namespace vecaccel {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

std::string refusal(const PlanInput& input) {
  try {
    plan_search(input);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    return e.what();
  }
  ADD_FAILURE() << "plan_search accepted it";
  return "";
}

TEST(SearchPlan, ABaseThatFitsItsDeviceIsHeldWhole) {
  const SearchPlan plan = plan_search({.rows = 1000, .dim = 20, .budgets = {kMiB}});
  EXPECT_EQ(plan.handling, BaseHandling::held);
  ASSERT_EQ(plan.shares.size(), 1u);
  EXPECT_EQ(plan.shares[0].first_row, 0u);
  EXPECT_EQ(plan.shares[0].rows, 1000u);
  EXPECT_EQ(plan.shares[0].rows_per_pass, 1000u);
  EXPECT_TRUE(plan.shares[0].fits);
  EXPECT_EQ(plan.passes(), 0u);
  EXPECT_EQ(plan.description(), "held on 1 device");
}

TEST(SearchPlan, ABaseOverTheBudgetIsStreamedTwoPassesInFlightWithinIt) {
  // 84 bytes a float row of 20 (values and norm): 3/8 of 64 KiB is 292 rows a pass, 11 passes
  // over 3,000 rows (the CLI's streamed test reports the same).
  const SearchPlan plan = plan_search({.rows = 3000, .dim = 20, .budgets = {64 * 1024}});
  EXPECT_EQ(plan.handling, BaseHandling::streamed);
  ASSERT_EQ(plan.shares.size(), 1u);
  EXPECT_EQ(plan.shares[0].rows_per_pass, 292u);
  EXPECT_EQ(plan.shares[0].memory_budget, 64u * 1024);
  EXPECT_EQ(plan.passes(), 11u);
  EXPECT_EQ(plan.description(),
            "streamed on 1 device, 11 passes of up to 292 rows (budget 65536 bytes)");
}

TEST(SearchPlan, CompactRowsCountTheirBytesOnTheDeviceToo) {
  const SearchPlan plan =
      plan_search({.rows = 3000, .dim = 20, .type = ElementType::uint8, .budgets = {64 * 1024}});
  EXPECT_EQ(plan.handling, BaseHandling::streamed);
  EXPECT_EQ(plan.shares[0].rows_per_pass, 236u);  // 104 bytes a row
}

TEST(SearchPlan, TheBoundaryIsThreeQuartersOfTheBudget) {
  // 84-byte rows: 936 of them take 78,624 bytes, 3/4 of 104,832.
  EXPECT_EQ(plan_search({.rows = 936, .dim = 20, .budgets = {104832}}).handling,
            BaseHandling::held);
  EXPECT_EQ(plan_search({.rows = 937, .dim = 20, .budgets = {104832}}).handling,
            BaseHandling::streamed);
}

TEST(SearchPlan, DevicesGetContiguousSharesWithinOneRowOfEachOther) {
  const SearchPlan plan = plan_search({.rows = 801, .dim = 6, .budgets = {kMiB, kMiB, kMiB}});
  ASSERT_EQ(plan.shares.size(), 3u);
  std::size_t next = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plan.shares[i].device, i);
    EXPECT_EQ(plan.shares[i].first_row, next);
    EXPECT_EQ(plan.shares[i].rows, 267u);
    next += plan.shares[i].rows;
  }
  EXPECT_EQ(plan.description(), "held on 3 devices");
}

TEST(SearchPlan, OneShareOverItsBudgetStreamsEveryShareEachWithinItsOwnBudget) {
  const SearchPlan plan = plan_search({.rows = 800, .dim = 6, .budgets = {kMiB, 4096}});
  EXPECT_EQ(plan.handling, BaseHandling::streamed);
  ASSERT_EQ(plan.shares.size(), 2u);
  EXPECT_EQ(plan.shares[0].rows_per_pass, 400u);  // fits its budget: one pass
  EXPECT_EQ(plan.shares[1].rows_per_pass, 54u);   // 4096 * 3/8 / 28-byte rows
  EXPECT_EQ(plan.shares[1].memory_budget, 4096u);
  EXPECT_EQ(plan.passes(), 1u + 8u);
}

TEST(SearchPlan, ABaseThatCannotBeStreamedIsHeldAndSaysItDoesNotFit) {
  const SearchPlan plan =
      plan_search({.rows = 801, .dim = 6, .streamable = false, .budgets = {4096, 4096}});
  EXPECT_EQ(plan.handling, BaseHandling::held);
  ASSERT_EQ(plan.shares.size(), 2u);
  EXPECT_FALSE(plan.shares[0].fits);
  EXPECT_EQ(plan.shares[1].rows, 401u);
  EXPECT_EQ(plan.passes(), 0u);
}

TEST(SearchPlan, DevicesBeyondTheRowsGetNoShare) {
  const SearchPlan plan = plan_search({.rows = 2, .dim = 4, .budgets = {kMiB, kMiB, kMiB}});
  ASSERT_EQ(plan.shares.size(), 2u);
  EXPECT_EQ(plan.shares[1].first_row, 1u);
  const SearchPlan empty = plan_search({.rows = 0, .dim = 4, .budgets = {kMiB, kMiB}});
  ASSERT_EQ(empty.shares.size(), 1u);
  EXPECT_EQ(empty.shares[0].rows, 0u);
  EXPECT_EQ(empty.handling, BaseHandling::held);
}

TEST(SearchPlan, ABudgetBelowOneRowIsRefusedNamingBothSizes) {
  const std::string what = refusal({.rows = 100, .dim = 20, .budgets = {100}});
  EXPECT_NE(what.find("a memory budget of 100 bytes"), std::string::npos) << what;
  EXPECT_NE(what.find("takes 84 bytes"), std::string::npos) << what;
}

TEST(SearchPlan, NoDevicesOrNoDimensionIsRefused) {
  EXPECT_NE(refusal({.rows = 10, .dim = 4, .budgets = {}}).find("no devices"), std::string::npos);
  EXPECT_NE(refusal({.rows = 10, .dim = 0, .budgets = {kMiB}}).find("dimension"),
            std::string::npos);
}

}  // namespace
}  // namespace vecaccel
