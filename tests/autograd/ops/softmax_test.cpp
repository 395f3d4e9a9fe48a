#include "recblocks/autograd/ops/softmax.h"

#include <gtest/gtest.h>

#include <cmath>

#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::check_gradients;
using testing::tensors_close;
using testing::uniform;

TEST(SoftmaxOp, RowsSumToOneAndMatchReference) {
  const Tensor x = uniform({3, 5}, 1, -3.0f, 3.0f);
  Tape tape;
  Var y = ops::softmax(tape.constant(x));
  EXPECT_TRUE(tensors_close(y.value(), testing::ref::softmax(x, false), 1e-5, 1e-7));
  for (int r = 0; r < 3; ++r) {
    double s = 0;
    for (int c = 0; c < 5; ++c) s += y.value().item(r * 5 + c);
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
  Var l = ops::log_softmax(tape.constant(x));
  EXPECT_TRUE(tensors_close(l.value(), testing::ref::softmax(x, true), 1e-5, 1e-6));
}

TEST(SoftmaxOp, LargeLogitsDoNotOverflow) {
  Tape tape;
  Var y = ops::softmax(tape.constant(Tensor::from({1, 3}, {1000.0f, 1000.0f, -1000.0f})));
  EXPECT_NEAR(y.value().item(0), 0.5, 1e-6);
  EXPECT_NEAR(y.value().item(2), 0.0, 1e-6);
  Var l = ops::log_softmax(tape.constant(Tensor::from({1, 2}, {1000.0f, 0.0f})));
  EXPECT_NEAR(l.value().item(0), 0.0, 1e-6);
  EXPECT_NEAR(l.value().item(1), -1000.0, 1e-3);
}

TEST(SoftmaxOp, GradientCheck) {
  Parameter x("x", uniform({3, 5}, 2, -2.0f, 2.0f));
  EXPECT_TRUE(check_gradients("softmax", {&x},
                              [](Tape&, std::span<const Var> in) { return ops::softmax(in[0]); }));
  EXPECT_TRUE(check_gradients(
      "log_softmax", {&x}, [](Tape&, std::span<const Var> in) { return ops::log_softmax(in[0]); }));
}

TEST(SoftmaxOp, ThreeDimensionalOverLastAxis) {
  const Tensor x = uniform({2, 3, 4}, 3, -2.0f, 2.0f);
  Tape tape;
  Var y = ops::softmax(tape.constant(x));
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_TRUE(tensors_close(y.value(), testing::ref::softmax(x, false), 1e-5, 1e-7));
  Parameter p("x", x.clone());
  EXPECT_TRUE(check_gradients("softmax", {&p},
                              [](Tape&, std::span<const Var> in) { return ops::softmax(in[0]); }));
  EXPECT_TRUE(check_gradients(
      "log_softmax", {&p}, [](Tape&, std::span<const Var> in) { return ops::log_softmax(in[0]); }));
}

}  // namespace
}  // namespace recblocks
