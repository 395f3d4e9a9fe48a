// Reductions, broadcasts, strided copies and transposes.
#include <gtest/gtest.h>

#include <cmath>

#include "recblocks/kernels/backend.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::GradOut;
using kernels::MatrixView;
using testing::nans;
using testing::tensors_close;
using testing::uniform;

TEST(ReduceSumKernel, EveryAxisMatchesReference) {
  for (const Shape& s : {Shape{2, 3, 4}, Shape{64, 300}, Shape{16, 128, 32}}) {
    const Tensor x = uniform(s, 1);
    for (int axis = 0; axis < s.rank(); ++axis) {
      const Tensor expected = testing::ref::reduce_sum(x, axis, 0.5f);
      const Tensor y = nans(expected.shape());
      kernels::backend().reduce_sum(x, axis, 0.5f, y);
      EXPECT_TRUE(tensors_close(y, expected, 1e-5, 1e-5)) << s << " axis " << axis;
    }
  }
}

TEST(BroadcastAxisKernel, IsTheBackwardOfReduceSum) {
  for (const Shape& s : {Shape{2, 3, 4}, Shape{64, 300}}) {
    for (int axis = 0; axis < s.rank(); ++axis) {
      const Tensor dy = uniform(s.without(axis), 2);
      const Tensor dx = nans(s);
      kernels::backend().broadcast_axis(dy, axis, 2.0f, GradOut{dx, false});
      Tensor expected = Tensor::empty(s);
      const std::int64_t outer = s.outer(axis), n = s[axis], inner = s.inner(axis);
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t k = 0; k < n; ++k)
          for (std::int64_t i = 0; i < inner; ++i)
            expected.data<float>()[(o * n + k) * inner + i] =
                2.0f * dy.data<float>()[o * inner + i];
      EXPECT_TRUE(tensors_close(dx, expected, 1e-6, 0)) << s << " axis " << axis;

      kernels::backend().broadcast_axis(dy, axis, 2.0f, GradOut{dx, true});
      for (std::int64_t i = 0; i < expected.numel(); ++i) expected.data<float>()[i] *= 2.0f;
      EXPECT_TRUE(tensors_close(dx, expected, 1e-6, 0)) << "accumulated, " << s << " axis " << axis;
    }
  }
}

TEST(CopyMatrixKernel, StridedBlocksOverwriteOrAdd) {
  // Copy columns [2, 5) of a [4, 7] matrix into columns [1, 4) of a [4, 6] one.
  const Tensor src = uniform({4, 7}, 3);
  const Tensor dst = Tensor::full({4, 6}, 9.0f);
  const MatrixView s{src.data<float>() + 2, 4, 3, 7};
  const MatrixView d{dst.data<float>() + 1, 4, 3, 6};
  kernels::backend().copy_matrix(s, d, false);
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 6; ++c) {
      const float expected = c >= 1 && c < 4 ? src.data<float>()[r * 7 + c + 1] : 9.0f;
      EXPECT_EQ(dst.data<float>()[r * 6 + c], expected) << r << "," << c;
    }
  }
  kernels::backend().copy_matrix(s, d, true);
  for (int r = 0; r < 4; ++r) {
    for (int c = 1; c < 4; ++c) {
      EXPECT_FLOAT_EQ(dst.data<float>()[r * 6 + c], 2.0f * src.data<float>()[r * 7 + c + 1]);
    }
  }
}

TEST(CopyMatrixKernel, RealisticConcatBlock) {
  const Tensor src = uniform({1024, 64}, 4);
  const Tensor dst = nans({1024, 74});
  kernels::backend().copy_matrix({src.data<float>(), 1024, 64, 64},
                                 {dst.data<float>() + 10, 1024, 64, 74}, false);
  for (std::int64_t r = 0; r < 1024; ++r) {
    for (std::int64_t c = 0; c < 64; ++c) {
      ASSERT_EQ(dst.data<float>()[r * 74 + 10 + c], src.data<float>()[r * 64 + c]) << r << "," << c;
    }
    ASSERT_TRUE(std::isnan(dst.data<float>()[r * 74]));  // outside the block: untouched
  }
}

TEST(TransposeKernel, AnyTwoAxes) {
  struct Case {
    Shape s;
    int a0, a1;
  };
  for (const Case& c : {Case{{3, 5}, 0, 1}, Case{{2, 3, 4}, 1, 2}, Case{{2, 3, 4}, 0, 2},
                        Case{{2, 3, 4}, 0, 1}, Case{{256, 27, 16}, 1, 2}}) {
    const Tensor x = uniform(c.s, 5);
    const Tensor expected = testing::ref::transpose(x, c.a0, c.a1);
    const Tensor y = nans(expected.shape());
    kernels::backend().transpose(x, c.a0, c.a1, GradOut{y, false});
    EXPECT_TRUE(tensors_close(y, expected, 0, 0)) << c.s << " " << c.a0 << " " << c.a1;
    kernels::backend().transpose(x, c.a0, c.a1, GradOut{y, true});
    Tensor twice = expected.clone();
    for (std::int64_t i = 0; i < twice.numel(); ++i) twice.data<float>()[i] *= 2.0f;
    EXPECT_TRUE(tensors_close(y, twice, 1e-7, 0)) << "accumulated";
  }
}

}  // namespace
}  // namespace recblocks
