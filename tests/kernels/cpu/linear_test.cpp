// The fused linear kernel (GEMM + bias + activation) and its backward
// against the naive reference, for every activation, at a tiny size, at the
// seed DLRM's sizes (batch 1024: 64 -> 128, 512 -> 128, and the 512 -> 1
// output) and at the Criteo-like bottom layer (batch 128: 13 -> 512, more
// columns than rows, so the threads split the columns).
#include <gtest/gtest.h>

#include <tuple>

#include "recblocks/kernels/backend.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::Activation;
using kernels::GradOut;
using testing::activation_name;
using testing::nans;
using testing::tensors_close;
using testing::uniform;

struct Size {
  std::int64_t m, k, n;
};

class LinearKernelTest : public ::testing::TestWithParam<std::tuple<Activation, bool, int>> {
 protected:
  Size size() const {
    static constexpr Size kSizes[] = {
        {4, 3, 5}, {1024, 64, 128}, {1024, 512, 128}, {128, 13, 512}, {1024, 512, 1}};
    return kSizes[std::get<2>(GetParam())];
  }
  // Looser for the long dot products of the realistic sizes.
  double atol() const { return size().k > 100 ? 3e-4 : 1e-5; }
};

TEST_P(LinearKernelTest, ForwardMatchesReference) {
  const auto [act, with_bias, _] = GetParam();
  const Size s = size();
  const Tensor x = uniform({s.m, s.k}, 1), w = uniform({s.k, s.n}, 2, -0.3f, 0.3f);
  const Tensor bias = with_bias ? uniform({s.n}, 3) : Tensor();
  const Tensor y = nans({s.m, s.n});
  kernels::backend().linear_forward(x, w, bias, act, 1.0f, y);
  EXPECT_TRUE(tensors_close(y, testing::ref::linear_forward(x, w, bias, act), 1e-4, atol()));
}

TEST_P(LinearKernelTest, BackwardMatchesReference) {
  const auto [act, with_bias, _] = GetParam();
  const Size s = size();
  const Tensor x = uniform({s.m, s.k}, 4), w = uniform({s.k, s.n}, 5, -0.3f, 0.3f);
  const Tensor bias = with_bias ? uniform({s.n}, 6) : Tensor();
  const Tensor y = testing::ref::linear_forward(x, w, bias, act);
  const Tensor dy0 = uniform({s.m, s.n}, 7);
  const testing::ref::LinearGrads expected = testing::ref::linear_backward(x, w, y, act, dy0);

  const Tensor dy = dy0.clone();
  const Tensor dx = nans({s.m, s.k}), dw = nans({s.k, s.n}), db = nans({s.n});
  kernels::backend().linear_backward(x, w, y, act, 1.0f, dy, GradOut{dx, false}, GradOut{dw, false},
                                     with_bias ? GradOut{db, false} : GradOut{});
  EXPECT_TRUE(tensors_close(dx, expected.dx, 1e-4, atol())) << "dx";
  EXPECT_TRUE(tensors_close(dw, expected.dw, 1e-4, 10 * atol())) << "dw";  // sums over m
  if (with_bias) {
    EXPECT_TRUE(tensors_close(db, expected.dbias, 1e-4, 10 * atol())) << "dbias";
  }
  // dy now holds dz = dy * act'(y).
  Tensor dz = Tensor::empty(dy.shape());
  for (std::int64_t i = 0; i < dz.numel(); ++i) {
    dz.data<float>()[i] =
        static_cast<float>(dy0.item(i) * testing::ref::activation_grad_from_output(act, y.item(i)));
  }
  EXPECT_TRUE(tensors_close(dy, dz, 1e-5, 1e-6)) << "dz";
}

TEST_P(LinearKernelTest, BackwardAccumulates) {
  const auto [act, with_bias, _] = GetParam();
  const Size s = size();
  const Tensor x = uniform({s.m, s.k}, 8), w = uniform({s.k, s.n}, 9, -0.3f, 0.3f);
  const Tensor bias = with_bias ? uniform({s.n}, 10) : Tensor();
  const Tensor y = testing::ref::linear_forward(x, w, bias, act);
  const Tensor dy0 = uniform({s.m, s.n}, 11);
  const testing::ref::LinearGrads e = testing::ref::linear_backward(x, w, y, act, dy0);

  const Tensor dx = Tensor::full({s.m, s.k}, 1.0f), dw = Tensor::full({s.k, s.n}, -2.0f),
               db = Tensor::full({s.n}, 0.5f);
  kernels::backend().linear_backward(x, w, y, act, 1.0f, dy0.clone(), GradOut{dx, true},
                                     GradOut{dw, true}, GradOut{db, true});
  auto plus = [](const Tensor& t, float c) {
    Tensor r = t.clone();
    for (std::int64_t i = 0; i < r.numel(); ++i) r.data<float>()[i] += c;
    return r;
  };
  EXPECT_TRUE(tensors_close(dx, plus(e.dx, 1.0f), 1e-4, atol()));
  EXPECT_TRUE(tensors_close(dw, plus(e.dw, -2.0f), 1e-4, 10 * atol()));
  EXPECT_TRUE(tensors_close(db, plus(e.dbias, 0.5f), 1e-4, 10 * atol()));
}

TEST(LinearKernel, BackwardWritesOnlyWantedGradients) {
  for (Activation act :
       {Activation::kNone, Activation::kRelu, Activation::kSigmoid, Activation::kTanh}) {
    const Tensor x = uniform({4, 3}, 12), w = uniform({3, 5}, 13);
    const Tensor y = testing::ref::linear_forward(x, w, Tensor(), act);
    const Tensor dy0 = uniform({4, 5}, 14);
    const Tensor dw = nans({3, 5});
    kernels::backend().linear_backward(x, w, y, act, 1.0f, dy0.clone(), GradOut{},
                                       GradOut{dw, false}, GradOut{});
    EXPECT_TRUE(tensors_close(dw, testing::ref::linear_backward(x, w, y, act, dy0).dw, 1e-5, 1e-5))
        << activation_name(act);
  }
}

// alpha scales the input: forward and gradients are those of the reference
// on alpha x (the gradient for x is alpha times the one for alpha x).
TEST(LinearKernel, AlphaScalesTheInput) {
  for (const float alpha : {0.5f, 0.3f}) {
    for (const Size s : {Size{4, 3, 5}, Size{1024, 128, 512}}) {
      const Tensor x = uniform({s.m, s.k}, 15), w = uniform({s.k, s.n}, 16, -0.3f, 0.3f);
      const Tensor bias = uniform({s.n}, 17);
      Tensor xs = x.clone();
      for (std::int64_t i = 0; i < xs.numel(); ++i) xs.data<float>()[i] *= alpha;
      const Tensor y = nans({s.m, s.n});
      kernels::backend().linear_forward(x, w, bias, Activation::kRelu, alpha, y);
      const Tensor expected_y = testing::ref::linear_forward(xs, w, bias, Activation::kRelu);
      const double tol = s.k > 100 ? 3e-4 : 1e-5;
      EXPECT_TRUE(tensors_close(y, expected_y, 1e-4, tol)) << alpha;

      const Tensor dy0 = uniform({s.m, s.n}, 18);
      const testing::ref::LinearGrads e =
          testing::ref::linear_backward(xs, w, expected_y, Activation::kRelu, dy0);
      Tensor expected_dx = e.dx.clone();
      for (std::int64_t i = 0; i < expected_dx.numel(); ++i) expected_dx.data<float>()[i] *= alpha;
      const Tensor dx = nans({s.m, s.k}), dw = nans({s.k, s.n}), db = nans({s.n});
      kernels::backend().linear_backward(x, w, expected_y, Activation::kRelu, alpha, dy0.clone(),
                                         GradOut{dx, false}, GradOut{dw, false},
                                         GradOut{db, false});
      EXPECT_TRUE(tensors_close(dx, expected_dx, 1e-4, tol)) << alpha;
      EXPECT_TRUE(tensors_close(dw, e.dw, 1e-4, 10 * tol)) << alpha;
      EXPECT_TRUE(tensors_close(db, e.dbias, 1e-4, 10 * tol)) << alpha;
    }
  }
}

std::string linear_test_name(
    const ::testing::TestParamInfo<std::tuple<Activation, bool, int>>& info) {
  static const char* kSizeNames[] = {"4x3to5", "1024x64to128", "1024x512to128", "128x13to512",
                                     "1024x512to1"};
  return activation_name(std::get<0>(info.param)) + (std::get<1>(info.param) ? "Bias" : "NoBias") +
         "_" + kSizeNames[std::get<2>(info.param)];
}

INSTANTIATE_TEST_SUITE_P(All, LinearKernelTest,
                         ::testing::Combine(::testing::Values(Activation::kNone, Activation::kRelu,
                                                              Activation::kSigmoid,
                                                              Activation::kTanh),
                                            ::testing::Bool(), ::testing::Values(0, 1, 3, 4)),
                         linear_test_name);

// The widest layer of the seed DLRM, once: its naive reference is slow.
INSTANTIATE_TEST_SUITE_P(SeedDlrmWidest, LinearKernelTest,
                         ::testing::Combine(::testing::Values(Activation::kRelu),
                                            ::testing::Values(true), ::testing::Values(2)),
                         linear_test_name);

}  // namespace
}  // namespace recblocks
