// gemm and batched_gemm against the naive reference, with every transpose
// combination, at a tiny and at a DLRM-sized shape.
#include <gtest/gtest.h>

#include <cstring>
#include <tuple>
#include <vector>

#include "kernels/cpu/gemm_tiles.h"
#include "recblocks/core/threads.h"
#include "recblocks/kernels/backend.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::nans;
using testing::tensors_close;
using testing::uniform;

// a, b shaped for op(a) [m, k] and op(b) [k, n].
Tensor operand(bool trans, std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  return trans ? uniform({cols, rows}, seed) : uniform({rows, cols}, seed);
}

class GemmTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(GemmTest, TinyMatchesReference) {
  const auto [ta, tb] = GetParam();
  const Tensor a = operand(ta, 3, 5, 1), b = operand(tb, 5, 4, 2);
  const Tensor c = nans({3, 4});
  kernels::backend().gemm(ta, tb, 1.0f, a, b, 0.0f, c);
  EXPECT_TRUE(tensors_close(c, testing::ref::gemm(ta, tb, 1.0f, a, b, 0.0f, Tensor()), 1e-5, 1e-6));
}

TEST_P(GemmTest, AlphaAndBetaScale) {
  const auto [ta, tb] = GetParam();
  const Tensor a = operand(ta, 6, 7, 3), b = operand(tb, 7, 5, 4);
  const Tensor c0 = uniform({6, 5}, 5);
  const Tensor c = c0.clone();
  kernels::backend().gemm(ta, tb, 0.5f, a, b, 2.0f, c);
  EXPECT_TRUE(tensors_close(c, testing::ref::gemm(ta, tb, 0.5f, a, b, 2.0f, c0), 1e-5, 1e-5));
}

TEST_P(GemmTest, RealisticMatchesReference) {
  const auto [ta, tb] = GetParam();
  const Tensor a = operand(ta, 256, 64, 6), b = operand(tb, 64, 128, 7);
  const Tensor c = nans({256, 128});
  kernels::backend().gemm(ta, tb, 1.0f, a, b, 0.0f, c);
  EXPECT_TRUE(tensors_close(c, testing::ref::gemm(ta, tb, 1.0f, a, b, 0.0f, Tensor()), 1e-4, 1e-4));
}

INSTANTIATE_TEST_SUITE_P(Transposes, GemmTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "T" : "N") +
                                  (std::get<1>(info.param) ? "T" : "N");
                         });

// A B^T with a short inner dimension and a wide C (retrieval's in-batch
// scores, the top-k scan) runs recblocks' own kernel (12-row tiles over
// panels of 32 columns with AVX-512, 6 x 16 without): every tail of rows,
// columns and k, alpha, and the same bits on 1 and 2 threads.
TEST(Gemm, ShortInnerDimensionKernelMatchesReference) {
  const int threads = num_threads();
  for (const auto& [m, n, k] : {std::tuple{1024, 1024, 64}, std::tuple{67, 259, 37},
                                std::tuple{64, 256, 1}, std::tuple{100, 300, 128}}) {
    const Tensor a = uniform({m, k}, 21), b = uniform({n, k}, 22);
    const Tensor c = nans({m, n});
    kernels::backend().gemm(false, true, 0.75f, a, b, 0.0f, c);
    EXPECT_TRUE(
        tensors_close(c, testing::ref::gemm(false, true, 0.75f, a, b, 0.0f, Tensor()), 1e-5, 1e-5))
        << m << "x" << n << "x" << k;
    set_num_threads(threads == 1 ? 2 : 1);
    const Tensor again = nans({m, n});
    kernels::backend().gemm(false, true, 0.75f, a, b, 0.0f, again);
    set_num_threads(threads);
    EXPECT_EQ(std::memcmp(c.data<float>(), again.data<float>(), sizeof(float) * m * n), 0)
        << m << "x" << n;
  }
}

// Shapes with m >= 24 and n, k >= 16 run recblocks' own tile kernel (12 x
// 32 with AVX-512, 6 x 16 without): every transpose, B in place or packed,
// A^T in place or packed in groups of tiles (288 rows: whole groups), tails
// of rows and of columns (widths not a multiple of the panel's),
// alpha, beta 0 and 1, and the same bits on 1 and 2 threads.
TEST(Gemm, TiledKernelMatchesReference) {
  const int threads = num_threads();
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (const auto& [m, n, k] :
           {std::tuple{1024, 64, 1024}, std::tuple{67, 37, 257}, std::tuple{100, 48, 300},
            std::tuple{1024, 74, 64}, std::tuple{128, 512, 1024}, std::tuple{24, 16, 16},
            std::tuple{31, 17, 19}, std::tuple{288, 40, 300}}) {
        for (float beta : {0.0f, 1.0f}) {
          const Tensor a = operand(ta, m, k, 31), b = operand(tb, k, n, 32);
          const Tensor c0 = uniform({m, n}, 33);
          const Tensor c = c0.clone();
          kernels::backend().gemm(ta, tb, 0.5f, a, b, beta, c);
          EXPECT_TRUE(
              tensors_close(c, testing::ref::gemm(ta, tb, 0.5f, a, b, beta, c0), 1e-4, 1e-4))
              << (ta ? "T" : "N") << (tb ? "T" : "N") << " " << m << "x" << n << "x" << k
              << " beta " << beta;
          set_num_threads(threads == 1 ? 2 : 1);
          const Tensor again = c0.clone();
          kernels::backend().gemm(ta, tb, 0.5f, a, b, beta, again);
          set_num_threads(threads);
          EXPECT_EQ(std::memcmp(c.data<float>(), again.data<float>(), sizeof(float) * m * n), 0)
              << m << "x" << n;
        }
      }
    }
  }
  // Beta 0 never reads C: NaNs there do not leak.
  const Tensor a = uniform({30, 20}, 34), b = uniform({20, 40}, 35);
  const Tensor c = nans({30, 40});
  kernels::backend().gemm(false, false, 1.0f, a, b, 0.0f, c);
  EXPECT_TRUE(
      tensors_close(c, testing::ref::gemm(false, false, 1.0f, a, b, 0.0f, Tensor()), 1e-5, 1e-5));
}

TEST(Gemm, SeedDlrmTopMlpShape) {
  // batch 1024, 512 -> 128 (the seed DLRM's widest layer).
  const Tensor a = uniform({1024, 512}, 8), b = uniform({512, 128}, 9);
  const Tensor c = nans({1024, 128});
  kernels::backend().gemm(false, false, 1.0f, a, b, 0.0f, c);
  EXPECT_TRUE(
      tensors_close(c, testing::ref::gemm(false, false, 1.0f, a, b, 0.0f, Tensor()), 1e-4, 2e-4));
}

class BatchedGemmTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

Tensor batched_operand(bool trans, std::int64_t batch, std::int64_t rows, std::int64_t cols,
                       std::uint64_t seed) {
  return trans ? uniform({batch, cols, rows}, seed) : uniform({batch, rows, cols}, seed);
}

TEST_P(BatchedGemmTest, TinyMatchesReference) {
  const auto [ta, tb] = GetParam();
  const Tensor a = batched_operand(ta, 3, 2, 4, 10), b = batched_operand(tb, 3, 4, 5, 11);
  const Tensor c = nans({3, 2, 5});
  kernels::backend().batched_gemm(ta, tb, 1.0f, a, b, 0.0f, c);
  EXPECT_TRUE(
      tensors_close(c, testing::ref::batched_gemm(ta, tb, 1.0f, a, b, 0.0f, c), 1e-5, 1e-6));
}

TEST_P(BatchedGemmTest, SharedTwoDimensionalB) {
  const auto [ta, tb] = GetParam();
  const Tensor a = batched_operand(ta, 4, 3, 6, 12), b = operand(tb, 6, 2, 13);
  const Tensor c0 = uniform({4, 3, 2}, 14);
  const Tensor c = c0.clone();
  kernels::backend().batched_gemm(ta, tb, 2.0f, a, b, 1.0f, c);
  EXPECT_TRUE(
      tensors_close(c, testing::ref::batched_gemm(ta, tb, 2.0f, a, b, 1.0f, c0), 1e-5, 1e-5));
}

TEST_P(BatchedGemmTest, CriteoInteractionShape) {
  // 256 samples of 27 features x 16 dims times its own transpose.
  const auto [ta, tb] = GetParam();
  const Tensor a = batched_operand(ta, 256, 27, 16, 15), b = batched_operand(tb, 256, 16, 27, 16);
  const Tensor c = nans({256, 27, 27});
  kernels::backend().batched_gemm(ta, tb, 1.0f, a, b, 0.0f, c);
  EXPECT_TRUE(
      tensors_close(c, testing::ref::batched_gemm(ta, tb, 1.0f, a, b, 0.0f, c), 1e-4, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(Transposes, BatchedGemmTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "T" : "N") +
                                  (std::get<1>(info.param) ? "T" : "N");
                         });

// Every tile kernel this CPU can run (AVX-512, AVX2, the baseline: one
// portable binary picks among them by cpuid) against the naive product, on
// one thread, every transpose, tails of rows and columns, A^T in place and
// packed, B in place and packed; AVX2 and AVX-512 (both fused multiply-adds,
// each element's k products summed in order) give the same bits.
TEST(Gemm, EveryInstructionSetsTilesMatchReference) {
  using kernels::cpu::TileKernel;
  std::vector<const TileKernel*> isas;
  for (const TileKernel* const* k = kernels::cpu::available_tile_kernels(); *k != nullptr; ++k) {
    isas.push_back(*k);
  }
  ASSERT_FALSE(isas.empty());
  EXPECT_STREQ(isas.back()->name, "baseline");
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (const auto& [m, n, k] :
           {std::tuple{100, 48, 300}, std::tuple{288, 40, 300}, std::tuple{67, 64, 257},
            std::tuple{13, 37, 16}, std::tuple{128, 512, 1024}}) {
        const Tensor a = operand(ta, m, k, 41), b = operand(tb, k, n, 42);
        const Tensor c0 = uniform({m, n}, 43);
        const Tensor expected = testing::ref::gemm(ta, tb, 0.5f, a, b, 1.0f, c0);
        std::vector<Tensor> results;
        for (const TileKernel* kernel : isas) {
          std::vector<float> scratch(static_cast<std::size_t>(kernel->scratch_floats(n, k)));
          const Tensor c = c0.clone();
          kernel->gemm(ta, tb, m, n, k, 0.5f, a.data<float>(), a.size(1), b.data<float>(),
                       b.size(1), 1.0f, c.data<float>(), n, scratch.data());
          EXPECT_TRUE(tensors_close(c, expected, 1e-4, 1e-4))
              << kernel->name << " " << (ta ? "T" : "N") << (tb ? "T" : "N") << " " << m << "x" << n
              << "x" << k;
          results.push_back(c);
        }
        if (isas.size() >= 3) {  // avx512 and avx2
          EXPECT_EQ(std::memcmp(results[0].data<float>(), results[1].data<float>(),
                                sizeof(float) * m * n),
                    0)
              << m << "x" << n << "x" << k;
        }
      }
    }
  }
  for (const TileKernel* kernel : isas) {
    const std::int64_t m = 67, n = 259, k = 37;
    const Tensor a = uniform({m, k}, 44), b = uniform({n, k}, 45);
    const Tensor c = nans({m, n});
    std::vector<float> scratch(static_cast<std::size_t>(k * kernel->tile_cols));
    const std::int64_t panels = (n + kernel->tile_cols - 1) / kernel->tile_cols;
    kernel->nt_short_k(0, panels, m, n, k, 0.75f, a.data<float>(), k, b.data<float>(), k,
                       c.data<float>(), n, scratch.data());
    EXPECT_TRUE(
        tensors_close(c, testing::ref::gemm(false, true, 0.75f, a, b, 0.0f, Tensor()), 1e-5, 1e-5))
        << kernel->name;
  }
}

}  // namespace
}  // namespace recblocks
