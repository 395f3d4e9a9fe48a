#include "recblocks/autograd/ops/dropout.h"

#include <gtest/gtest.h>

#include "recblocks/autograd/ops/reduce.h"
#include "recblocks/core/threads.h"
#include "testing/gradient_checker.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::check_gradients;

TEST(DropoutOp, TrainingZeroesOrScales) {
  const Tensor x = testing::away_from_zero({64, 32}, 1);
  Tape tape;
  Var y = ops::dropout(tape.constant(x), 0.3f, true);
  ASSERT_EQ(y.shape(), x.shape());
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const float v = y.value().data<float>()[i];
    if (v == 0.0f) continue;
    ++kept;
    ASSERT_NEAR(v, x.data<float>()[i] / 0.7f, 1e-6);
  }
  EXPECT_NEAR(static_cast<double>(kept) / static_cast<double>(x.numel()), 0.7, 0.03);
}

TEST(DropoutOp, EachCallDrawsANewMask) {
  const Tensor x = Tensor::full({16, 16}, 1.0f);
  Tape tape;
  Var a = ops::dropout(tape.constant(x), 0.5f, true);
  Var b = ops::dropout(tape.constant(x), 0.5f, true);
  EXPECT_FALSE(testing::tensors_bitwise_equal(a.value(), b.value()));
}

TEST(DropoutOp, SameRngStateSameMask) {
  const Tensor x = Tensor::full({16, 16}, 1.0f);
  Tape tape;
  const std::uint64_t state = tape.rng().state();
  const Tensor first = ops::dropout(tape.constant(x), 0.5f, true).value().clone();
  tape.reset();
  tape.rng().set_state(state);
  EXPECT_TRUE(
      testing::tensors_bitwise_equal(ops::dropout(tape.constant(x), 0.5f, true).value(), first));
}

TEST(DropoutOp, MaskDoesNotDependOnThreadCount) {
  const Tensor x = Tensor::full({256, 128}, 1.0f);  // above the parallel grain
  const int saved = num_threads();
  Tensor results[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tape tape;
    results[threads - 1] = ops::dropout(tape.constant(x), 0.2f, true).value().clone();
  }
  set_num_threads(saved);
  EXPECT_TRUE(testing::tensors_bitwise_equal(results[0], results[1]));
}

TEST(DropoutOp, EvaluationIsIdentity) {
  const Tensor x = testing::uniform({4, 5}, 2);
  Tape tape;
  Var y = ops::dropout(tape.constant(x), 0.5f, false);
  EXPECT_TRUE(testing::tensors_bitwise_equal(y.value(), x));
  Parameter p("x", x.clone());
  EXPECT_TRUE(check_gradients("dropout", {&p}, [](Tape&, std::span<const Var> in) {
    return ops::dropout(in[0], 0.5f, false);
  }));
}

TEST(DropoutOp, RateZeroInTrainingIsIdentity) {
  const Tensor x = testing::uniform({4, 5}, 3);
  Tape tape;
  EXPECT_TRUE(
      testing::tensors_bitwise_equal(ops::dropout(tape.constant(x), 0.0f, true).value(), x));
}

TEST(DropoutOp, GradientCheckInTraining) {
  // The checker restores the tape's Rng before every evaluation, so the
  // mask is the same each time and the op is differentiable.
  Parameter x("x", testing::away_from_zero({6, 8}, 4));
  const testing::GradCheckReport r = testing::run_gradient_check(
      "dropout", std::vector<Parameter*>{&x},
      [](Tape&, std::span<const Var> in) { return ops::dropout(in[0], 0.4f, true); });
  EXPECT_TRUE(r.ok()) << r.message;
  // The gradient is the mask scaled by 1 / (1 - rate).
  Tape tape;
  Var y = ops::dropout(tape.parameter(x), 0.4f, true);
  x.zero_grad();
  tape.backward(ops::sum_all(y));
  const Tensor g = x.grad_as_dense();
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < g.numel(); ++i) {
    const bool keep = y.value().data<float>()[i] != 0.0f;
    kept += keep;
    EXPECT_NEAR(g.item(i), keep ? 1.0 / 0.6 : 0.0, 1e-6) << i;
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, g.numel());
}

TEST(DropoutOp, InvalidRateThrows) {
  Tape tape;
  Var x = tape.constant(Tensor::zeros({2}));
  EXPECT_THROW(ops::dropout(x, 1.0f, true), ValueError);
  EXPECT_THROW(ops::dropout(x, -0.1f, true), ValueError);
}

}  // namespace
}  // namespace recblocks
