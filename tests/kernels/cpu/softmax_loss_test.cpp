// Softmax and loss kernels against the naive reference.
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

class SoftmaxKernelTest : public ::testing::TestWithParam<std::tuple<Shape, bool>> {};

TEST_P(SoftmaxKernelTest, ForwardAndBackward) {
  const auto [s, log] = GetParam();
  Tensor x = uniform(s, 1, -5.0f, 5.0f);
  x.data<float>()[0] = 80.0f;  // must not overflow
  const Tensor y = nans(s);
  kernels::backend().softmax_forward(x, log, y);
  const Tensor expected = testing::ref::softmax(x, log);
  EXPECT_TRUE(tensors_close(y, expected, 1e-5, 1e-6));

  const Tensor dy = uniform(s, 2);
  const Tensor dx = nans(s);
  kernels::backend().softmax_backward(expected, log, dy, GradOut{dx, false});
  const Tensor e = testing::ref::softmax_backward(x, log, dy);
  EXPECT_TRUE(tensors_close(dx, e, 1e-4, 1e-5));
  const Tensor acc = Tensor::full(s, 1.0f);
  kernels::backend().softmax_backward(expected, log, dy, GradOut{acc, true});
  EXPECT_TRUE(tensors_close(acc, plus(e, 1.0f), 1e-4, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(All, SoftmaxKernelTest,
                         ::testing::Combine(::testing::Values(Shape{3, 5}, Shape{1024, 100}),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)[0] == 3 ? "3x5"
                                                                              : "1024x100") +
                                  (std::get<1>(info.param) ? "_Log" : "_Softmax");
                         });

TEST(LossKernel, BceWithLogits) {
  for (std::int64_t n : {6, 1024}) {
    Tensor logits = uniform({n}, 3, -6.0f, 6.0f);
    logits.data<float>()[0] = 100.0f;  // stable form: no overflow
    logits.data<float>()[1] = -100.0f;
    Tensor targets = uniform({n}, 4, 0.0f, 1.0f);
    targets.data<float>()[0] = 0.0f;
    targets.data<float>()[1] = 1.0f;
    const Tensor loss = nans({});
    kernels::backend().bce_with_logits_forward(logits, targets, loss);
    const double expected = testing::ref::bce_with_logits(logits, targets);
    EXPECT_NEAR(loss.item(), expected, 1e-5 * std::fabs(expected)) << n;

    const Tensor g = nans({n});
    kernels::backend().bce_with_logits_backward(logits, targets, 0.5f, GradOut{g, false});
    const Tensor e = testing::ref::bce_with_logits_backward(logits, targets, 0.5f);
    EXPECT_TRUE(tensors_close(g, e, 1e-5, 1e-8));
    const Tensor acc = Tensor::full({n}, 1.0f);
    kernels::backend().bce_with_logits_backward(logits, targets, 0.5f, GradOut{acc, true});
    EXPECT_TRUE(tensors_close(acc, plus(e, 1.0f), 1e-5, 1e-7));
  }
}

TEST(LossKernel, Mse) {
  for (const Shape& s : {Shape{4, 3}, Shape{1024, 1}}) {
    const Tensor pred = uniform(s, 5), targets = uniform(s, 6);
    const Tensor loss = nans({});
    kernels::backend().mse_forward(pred, targets, loss);
    EXPECT_NEAR(loss.item(), testing::ref::mse(pred, targets), 1e-6);
    const Tensor g = nans(s);
    kernels::backend().mse_backward(pred, targets, 2.0f, GradOut{g, false});
    const Tensor e = testing::ref::mse_backward(pred, targets, 2.0f);
    EXPECT_TRUE(tensors_close(g, e, 1e-5, 1e-8));
    const Tensor acc = Tensor::full(s, -1.0f);
    kernels::backend().mse_backward(pred, targets, 2.0f, GradOut{acc, true});
    EXPECT_TRUE(tensors_close(acc, plus(e, -1.0f), 1e-5, 1e-7));
  }
}

TEST(LossKernel, SoftmaxCrossEntropy) {
  for (DType dt : {DType::kInt32, DType::kInt64}) {
    for (const Shape& s : {Shape{5, 4}, Shape{1024, 100}}) {
      const Tensor logits = uniform(s, 7, -4.0f, 4.0f);
      const Tensor labels = testing::random_ids({s[0]}, s[1], 8, dt);
      const Tensor log_probs = nans(s), loss = nans({});
      kernels::backend().softmax_cross_entropy_forward(logits, labels, log_probs, loss);
      EXPECT_TRUE(tensors_close(log_probs, testing::ref::softmax(logits, true), 1e-5, 1e-5));
      const double expected = testing::ref::softmax_cross_entropy(logits, labels);
      EXPECT_NEAR(loss.item(), expected, 1e-5 * std::fabs(expected));

      const Tensor g = nans(s);
      kernels::backend().softmax_cross_entropy_backward(log_probs, labels, 0.5f, GradOut{g, false});
      const Tensor e = testing::ref::softmax_cross_entropy_backward(logits, labels, 0.5f);
      EXPECT_TRUE(tensors_close(g, e, 1e-4, 1e-8));
      const Tensor acc = Tensor::full(s, 1.0f);
      kernels::backend().softmax_cross_entropy_backward(log_probs, labels, 0.5f,
                                                        GradOut{acc, true});
      EXPECT_TRUE(tensors_close(acc, plus(e, 1.0f), 1e-5, 1e-7));
    }
  }
}

}  // namespace
}  // namespace recblocks
