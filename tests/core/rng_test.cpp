#include "recblocks/core/rng.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace recblocks {
namespace {

TEST(Rng, SameSeedSameSequence) {
  Rng a(7), b(7), c(8);
  for (int i = 0; i < 10; ++i) {
    const std::uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    EXPECT_NE(x, c.next_u64());
  }
}

TEST(Rng, StreamsReserveDraws) {
  Rng rng(1);
  const std::uint64_t s0 = rng.state();
  const std::uint64_t base = rng.next_stream(100);
  EXPECT_EQ(base, s0);
  EXPECT_EQ(rng.state(), s0 + 100);
  rng.set_state(s0);
  EXPECT_EQ(rng.next_stream(1), base);
}

TEST(Rng, UniformIsInUnitIntervalWithMeanOneHalf) {
  Rng rng(3);
  double sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const float u = rng.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.01);
}

TEST(Rng, NormalHasMeanZeroAndUnitVariance) {
  Rng rng(5);
  double sum = 0, sq = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const float x = rng.normal();
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.03);
  EXPECT_NEAR(sq / n, 1.0, 0.05);
}

}  // namespace
}  // namespace recblocks
