#include "recblocks/autograd/ops/loss.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::check_gradients;
using ::testing::HasSubstr;
using testing::uniform;

Tensor binary_targets(const Shape& s, std::uint64_t seed) {
  Tensor t = uniform(s, seed, 0.0f, 1.0f);
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = t.data<float>()[i] < 0.5f ? 0.0f : 1.0f;
  return t;
}

TEST(BceWithLogitsOp, ValueMatchesReference) {
  for (const Shape& s : {Shape{6}, Shape{6, 1}}) {
    const Tensor logits = uniform(s, 1, -3.0f, 3.0f), targets = binary_targets(s, 2);
    Tape tape;
    Var loss = ops::bce_with_logits(tape.constant(logits), targets);
    EXPECT_EQ(loss.shape(), Shape({}));
    EXPECT_NEAR(loss.value().item(), testing::ref::bce_with_logits(logits, targets), 1e-6);
  }
  // Known value: logit 0 gives log 2 whatever the target.
  Tape tape;
  EXPECT_NEAR(ops::bce_with_logits(tape.constant(Tensor::zeros({2})), Tensor::from({2}, {0, 1}))
                  .value()
                  .item(),
              std::log(2.0), 1e-6);
  // Stable for extreme logits.
  Var extreme = ops::bce_with_logits(tape.constant(Tensor::from({2}, {100.0f, -100.0f})),
                                     Tensor::from({2}, {0, 1}));
  EXPECT_NEAR(extreme.value().item(), 100.0, 1e-3);
}

TEST(BceWithLogitsOp, GradientCheck) {
  for (const Shape& s : {Shape{6}, Shape{6, 1}}) {
    Parameter logits("logits", uniform(s, 3, -3.0f, 3.0f));
    const Tensor hard = binary_targets(s, 4), soft = uniform(s, 5, 0.0f, 1.0f);
    for (const Tensor& targets : {hard, soft}) {
      EXPECT_TRUE(check_gradients("bce_with_logits", {&logits},
                                  [targets](Tape&, std::span<const Var> in) {
                                    return ops::bce_with_logits(in[0], targets);
                                  },
                                  {.atol = 1e-4}));
    }
  }
}

TEST(BceWithLogitsOp, TargetShapeMismatchThrows) {
  Tape tape;
  try {
    ops::bce_with_logits(tape.constant(Tensor::zeros({8, 1})), Tensor::zeros({4, 1}));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bce_with_logits"));
    EXPECT_THAT(e.what(), HasSubstr("[8, 1]"));
    EXPECT_THAT(e.what(), HasSubstr("[4, 1]"));
  }
  EXPECT_THROW(
      ops::bce_with_logits(tape.constant(Tensor::zeros({4})), Tensor::zeros({4}, DType::kInt64)),
      ShapeError);
}

TEST(MseOp, ValueAndGradient) {
  const Tensor pred = uniform({4, 3}, 6), targets = uniform({4, 3}, 7);
  Tape tape;
  Var loss = ops::mse(tape.constant(pred), targets);
  EXPECT_EQ(loss.shape(), Shape({}));
  EXPECT_NEAR(loss.value().item(), testing::ref::mse(pred, targets), 1e-6);
  Parameter p("pred", pred.clone());
  EXPECT_TRUE(check_gradients(
      "mse", {&p}, [targets](Tape&, std::span<const Var> in) { return ops::mse(in[0], targets); },
      {.atol = 1e-4}));
  try {
    ops::mse(tape.constant(pred), Tensor::zeros({3, 4}));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("mse"));
    EXPECT_THAT(e.what(), HasSubstr("[3, 4]"));
  }
}

TEST(SoftmaxCrossEntropyOp, ValueAndGradient) {
  const Tensor logits = uniform({5, 4}, 8, -2.0f, 2.0f);
  for (DType dt : {DType::kInt32, DType::kInt64}) {
    const Tensor labels = testing::random_ids({5}, 4, 9, dt);
    Tape tape;
    Var loss = ops::softmax_cross_entropy(tape.constant(logits), labels);
    EXPECT_EQ(loss.shape(), Shape({}));
    EXPECT_NEAR(loss.value().item(), testing::ref::softmax_cross_entropy(logits, labels), 1e-5);
    Parameter p("logits", logits.clone());
    EXPECT_TRUE(check_gradients("softmax_cross_entropy", {&p},
                                [labels](Tape&, std::span<const Var> in) {
                                  return ops::softmax_cross_entropy(in[0], labels);
                                },
                                {.atol = 1e-4}));
  }
}

TEST(SoftmaxCrossEntropyOp, LabelOutOfRangeThrows) {
  Tape tape;
  Var logits = tape.constant(Tensor::zeros({3, 4}));
  try {
    ops::softmax_cross_entropy(logits, testing::ids64({0, 4, 1}));
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("softmax_cross_entropy"));
    EXPECT_THAT(e.what(), HasSubstr("4"));
  }
  EXPECT_THROW(ops::softmax_cross_entropy(logits, testing::ids32({0, -1, 1})), ValueError);
  EXPECT_THROW(ops::softmax_cross_entropy(logits, testing::ids64({0, 1})), ShapeError);
  EXPECT_THROW(ops::softmax_cross_entropy(logits, Tensor::zeros({3})), ShapeError);  // float labels
}

}  // namespace
}  // namespace recblocks
