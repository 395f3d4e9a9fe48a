// Batch norm, layer norm and L2 normalisation kernels against the naive
// reference, tiny and realistic.
#include <gtest/gtest.h>

#include <cmath>

#include "recblocks/kernels/backend.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::GradOut;
using testing::nans;
using testing::plus;
using testing::tensors_close;
using testing::uniform;

class NormKernelTest : public ::testing::TestWithParam<Shape> {};

TEST_P(NormKernelTest, BatchNormStatisticsAndApply) {
  const Shape s = GetParam();
  const std::int64_t c = s[1];
  const Tensor x = uniform(s, 1, -2.0f, 3.0f);
  const Tensor gamma = uniform({c}, 2, 0.5f, 1.5f), beta = uniform({c}, 3);
  const float eps = 1e-5f;
  const auto e = testing::ref::batch_norm_training(x, gamma, beta, eps);

  const Tensor mean = nans({c}), var = nans({c}), invstd = nans({c});
  kernels::backend().batch_norm_statistics(x, eps, mean, var, invstd);
  EXPECT_TRUE(tensors_close(mean, e.mean, 1e-5, 1e-5)) << "mean";
  EXPECT_TRUE(tensors_close(invstd, e.invstd, 1e-4, 1e-5)) << "invstd";
  // var: the biased batch variance (what invstd is computed from) or the
  // unbiased one (what the running statistics use): the header does not
  // say, so accept either, exactly one of them.
  Tensor unbiased = e.var.clone();
  const double n = static_cast<double>(s[0]);
  for (std::int64_t j = 0; j < c; ++j)
    unbiased.data<float>()[j] = static_cast<float>(e.var.item(j) * n / (n - 1));
  EXPECT_TRUE(tensors_close(var, e.var, 1e-4, 1e-5) || tensors_close(var, unbiased, 1e-4, 1e-5))
      << "var " << var.str() << "\nbiased " << e.var.str() << "\nunbiased " << unbiased.str();

  const Tensor y = nans(s);
  kernels::backend().batch_norm_apply(x, e.mean, e.invstd, gamma, beta, y);
  EXPECT_TRUE(tensors_close(y, e.y, 1e-4, 1e-5)) << "y";
}

TEST_P(NormKernelTest, BatchNormBackwardTrainingAndEvaluation) {
  const Shape s = GetParam();
  const std::int64_t c = s[1];
  const Tensor x = uniform(s, 4, -2.0f, 3.0f);
  const Tensor gamma = uniform({c}, 5, 0.5f, 1.5f), beta = uniform({c}, 6);
  const auto f = testing::ref::batch_norm_training(x, gamma, beta, 1e-5f);
  const Tensor dy = uniform(s, 7);
  for (bool training : {true, false}) {
    const auto e = testing::ref::batch_norm_backward(x, f.mean, f.invstd, gamma, dy, training);
    const Tensor dx = nans(s), dgamma = nans({c}), dbeta = nans({c});
    kernels::backend().batch_norm_backward(x, f.mean, f.invstd, gamma, dy, training,
                                           GradOut{dx, false}, GradOut{dgamma, false},
                                           GradOut{dbeta, false});
    const double atol = 1e-5 * std::sqrt(static_cast<double>(s[0]));
    EXPECT_TRUE(tensors_close(dx, e.dx, 1e-3, atol)) << "dx, training " << training;
    EXPECT_TRUE(tensors_close(dgamma, e.dgamma, 1e-4, 10 * atol))
        << "dgamma, training " << training;
    EXPECT_TRUE(tensors_close(dbeta, e.dbeta, 1e-4, 10 * atol)) << "dbeta, training " << training;

    const Tensor dx2 = Tensor::full(s, 1.0f), dg2 = Tensor::full({c}, 1.0f),
                 db2 = Tensor::full({c}, 1.0f);
    kernels::backend().batch_norm_backward(x, f.mean, f.invstd, gamma, dy, training,
                                           GradOut{dx2, true}, GradOut{dg2, true},
                                           GradOut{db2, true});
    EXPECT_TRUE(tensors_close(dx2, plus(e.dx, 1.0f), 1e-3, atol)) << "accumulated dx";
    EXPECT_TRUE(tensors_close(dg2, plus(e.dgamma, 1.0f), 1e-4, 10 * atol)) << "accumulated dgamma";
    EXPECT_TRUE(tensors_close(db2, plus(e.dbeta, 1.0f), 1e-4, 10 * atol)) << "accumulated dbeta";
  }
}

TEST_P(NormKernelTest, LayerNormForwardAndBackward) {
  const Shape s = GetParam();
  const std::int64_t r = s[0], d = s[1];
  const Tensor x = uniform(s, 8, -2.0f, 3.0f);
  const Tensor gamma = uniform({d}, 9, 0.5f, 1.5f), beta = uniform({d}, 10);
  const float eps = 1e-5f;
  const auto e = testing::ref::layer_norm(x, gamma, beta, eps);
  const Tensor y = nans(s), mean = nans({r}), invstd = nans({r});
  kernels::backend().layer_norm_forward(x, gamma, beta, eps, y, mean, invstd);
  EXPECT_TRUE(tensors_close(y, e.y, 1e-4, 1e-5)) << "y";
  EXPECT_TRUE(tensors_close(mean, e.mean, 1e-5, 1e-5)) << "mean";
  EXPECT_TRUE(tensors_close(invstd, e.invstd, 1e-4, 1e-5)) << "invstd";

  const Tensor dy = uniform(s, 11);
  const auto g = testing::ref::layer_norm_backward(x, gamma, dy, eps);
  const Tensor dx = nans(s), dgamma = nans({d}), dbeta = nans({d});
  kernels::backend().layer_norm_backward(x, e.mean, e.invstd, gamma, dy, GradOut{dx, false},
                                         GradOut{dgamma, false}, GradOut{dbeta, false});
  const double atol = 1e-5 * std::sqrt(static_cast<double>(r));
  EXPECT_TRUE(tensors_close(dx, g.dx, 1e-3, 1e-5)) << "dx";
  EXPECT_TRUE(tensors_close(dgamma, g.dgamma, 1e-4, 10 * atol)) << "dgamma";
  EXPECT_TRUE(tensors_close(dbeta, g.dbeta, 1e-4, 10 * atol)) << "dbeta";

  kernels::backend().layer_norm_backward(x, e.mean, e.invstd, gamma, dy, GradOut{dx, true},
                                         GradOut{dgamma, true}, GradOut{dbeta, true});
  Tensor twice = g.dx.clone();
  for (std::int64_t i = 0; i < twice.numel(); ++i) twice.data<float>()[i] *= 2.0f;
  EXPECT_TRUE(tensors_close(dx, twice, 1e-3, 2e-5)) << "accumulated dx";
}

TEST_P(NormKernelTest, L2NormalizeForwardAndBackward) {
  const Shape s = GetParam();
  Tensor x = uniform(s, 12);
  // Row 0 is tiny: sum(x^2) < eps, so the denominator is sqrt(eps), a
  // constant, and the gradient there is dy / sqrt(eps).
  for (std::int64_t j = 0; j < s[1]; ++j) x.data<float>()[j] = 1e-5f;
  const float eps = 1e-6f;
  const auto e = testing::ref::l2_normalize(x, eps);
  const Tensor y = nans(s), norms = nans({s[0]});
  kernels::backend().l2_normalize_forward(x, eps, y, norms);
  EXPECT_TRUE(tensors_close(y, e.y, 1e-5, 1e-6)) << "y";
  EXPECT_TRUE(tensors_close(norms, e.norms, 1e-5, 1e-9)) << "norms";
  EXPECT_NEAR(norms.item(0), 1e-3, 1e-9) << "clamped row";

  const Tensor dy = uniform(s, 13);
  const Tensor expected = testing::ref::l2_normalize_backward(x, eps, dy);
  const Tensor dx = nans(s);
  kernels::backend().l2_normalize_backward(e.y, e.norms, eps, dy, GradOut{dx, false});
  EXPECT_TRUE(tensors_close(dx, expected, 1e-4, 1e-5)) << "dx";
  const Tensor acc = Tensor::full(s, 1.0f);
  kernels::backend().l2_normalize_backward(e.y, e.norms, eps, dy, GradOut{acc, true});
  EXPECT_TRUE(tensors_close(acc, plus(expected, 1.0f), 1e-4, 1e-5)) << "accumulated dx";
}

INSTANTIATE_TEST_SUITE_P(Sizes, NormKernelTest, ::testing::Values(Shape{4, 3}, Shape{1024, 64}),
                         [](const auto& info) { return info.index == 0 ? "4x3" : "1024x64"; });

}  // namespace
}  // namespace recblocks
