#include "recblocks/autograd/ops/norm.h"

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
using testing::tensors_close;
using testing::uniform;

struct BatchNormState {
  Parameter gamma{"bn/gamma", uniform({3}, 1, 0.5f, 1.5f)};
  Parameter beta{"bn/beta", uniform({3}, 2)};
  Parameter running_mean{"bn/running_mean", Tensor::from({3}, {0.1f, -0.2f, 0.3f}), false};
  Parameter running_var{"bn/running_var", Tensor::from({3}, {1.0f, 0.5f, 2.0f}), false};
};

TEST(BatchNormOp, TrainingNormalizesWithBatchStatisticsAndUpdatesRunningOnes) {
  BatchNormState s;
  const Tensor x = uniform({6, 3}, 3, -1.0f, 3.0f);
  const Tensor rm0 = s.running_mean.value().clone(), rv0 = s.running_var.value().clone();
  Tape tape;
  Var y = ops::batch_norm(tape.constant(x), tape.parameter(s.gamma), tape.parameter(s.beta),
                          s.running_mean, s.running_var,
                          {.training = true, .momentum = 0.1f, .eps = 1e-5f});
  const auto e = testing::ref::batch_norm_training(x, s.gamma.value(), s.beta.value(), 1e-5f);
  EXPECT_TRUE(tensors_close(y.value(), e.y, 1e-4, 1e-5));
  for (int c = 0; c < 3; ++c) {
    const double unbiased = e.var.item(c) * 6.0 / 5.0;
    EXPECT_NEAR(s.running_mean.value().item(c), 0.9 * rm0.item(c) + 0.1 * e.mean.item(c), 1e-6);
    EXPECT_NEAR(s.running_var.value().item(c), 0.9 * rv0.item(c) + 0.1 * unbiased, 1e-5);
  }
}

TEST(BatchNormOp, EvaluationUsesRunningStatistics) {
  BatchNormState s;
  const Tensor x = uniform({4, 3}, 4);
  const Tensor rm0 = s.running_mean.value().clone(), rv0 = s.running_var.value().clone();
  Tape tape;
  Var y = ops::batch_norm(tape.constant(x), tape.parameter(s.gamma), tape.parameter(s.beta),
                          s.running_mean, s.running_var, {.training = false});
  for (int i = 0; i < 4; ++i) {
    for (int c = 0; c < 3; ++c) {
      const double expected = (x.item(i * 3 + c) - rm0.item(c)) / std::sqrt(rv0.item(c) + 1e-5) *
                                  s.gamma.value().item(c) +
                              s.beta.value().item(c);
      EXPECT_NEAR(y.value().item(i * 3 + c), expected, 1e-5);
    }
  }
  EXPECT_TRUE(testing::tensors_bitwise_equal(s.running_mean.value(), rm0))
      << "evaluation must not update";
  EXPECT_TRUE(testing::tensors_bitwise_equal(s.running_var.value(), rv0));
}

TEST(BatchNormOp, GradientCheckTraining) {
  BatchNormState s;
  Parameter x("x", uniform({5, 3}, 5, -1.0f, 2.0f));
  EXPECT_TRUE(check_gradients("batch_norm", {&x, &s.gamma, &s.beta},
                              [&s](Tape&, std::span<const Var> in) {
                                return ops::batch_norm(in[0], in[1], in[2], s.running_mean,
                                                       s.running_var, {.training = true});
                              },
                              {.step = 3e-3}));
}

TEST(BatchNormOp, GradientCheckTrainingThreeDimensional) {
  BatchNormState s;
  Parameter x("x", uniform({2, 3, 3}, 6, -1.0f, 2.0f));
  EXPECT_TRUE(check_gradients("batch_norm", {&x, &s.gamma, &s.beta},
                              [&s](Tape&, std::span<const Var> in) {
                                return ops::batch_norm(in[0], in[1], in[2], s.running_mean,
                                                       s.running_var, {.training = true});
                              },
                              {.step = 3e-3}));
}

TEST(BatchNormOp, GradientCheckEvaluation) {
  BatchNormState s;
  Parameter x("x", uniform({4, 3}, 7));
  EXPECT_TRUE(
      check_gradients("batch_norm", {&x, &s.gamma, &s.beta}, [&s](Tape&, std::span<const Var> in) {
        return ops::batch_norm(in[0], in[1], in[2], s.running_mean, s.running_var,
                               {.training = false});
      }));
}

TEST(BatchNormOp, ShapeMismatchThrows) {
  BatchNormState s;
  Tape tape;
  try {
    ops::batch_norm(tape.constant(Tensor::zeros({4, 5})), tape.parameter(s.gamma),
                    tape.parameter(s.beta), s.running_mean, s.running_var);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    // Names the op and the mismatching shapes: x has 5 channels, gamma 3.
    EXPECT_THAT(e.what(), HasSubstr("batch_norm"));
    EXPECT_THAT(e.what(), HasSubstr("[3]"));
    EXPECT_THAT(e.what(), HasSubstr("5"));
  }
}

TEST(LayerNormOp, ForwardMatchesReference) {
  const Tensor x = uniform({2, 3, 4}, 8, -1.0f, 2.0f);
  Parameter gamma("ln/gamma", uniform({4}, 9, 0.5f, 1.5f)), beta("ln/beta", uniform({4}, 10));
  Tape tape;
  Var y = ops::layer_norm(tape.constant(x), tape.parameter(gamma), tape.parameter(beta));
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_TRUE(tensors_close(
      y.value(), testing::ref::layer_norm(x, gamma.value(), beta.value(), 1e-5f).y, 1e-4, 1e-5));
}

TEST(LayerNormOp, GradientCheck) {
  Parameter gamma("ln/gamma", uniform({4}, 11, 0.5f, 1.5f)), beta("ln/beta", uniform({4}, 12));
  Parameter x("x", uniform({3, 4}, 13, -1.0f, 2.0f));
  EXPECT_TRUE(check_gradients(
      "layer_norm", {&x, &gamma, &beta},
      [](Tape&, std::span<const Var> in) { return ops::layer_norm(in[0], in[1], in[2]); },
      {.step = 3e-3}));
  Parameter x3("x", uniform({2, 2, 4}, 14, -1.0f, 2.0f));
  EXPECT_TRUE(check_gradients(
      "layer_norm", {&x3, &gamma, &beta},
      [](Tape&, std::span<const Var> in) { return ops::layer_norm(in[0], in[1], in[2]); },
      {.step = 3e-3}));
}

TEST(LayerNormOp, ShapeMismatchThrows) {
  Parameter gamma("ln/gamma", Tensor::zeros({4})), beta("ln/beta", Tensor::zeros({4}));
  Tape tape;
  try {
    ops::layer_norm(tape.constant(Tensor::zeros({2, 5})), tape.parameter(gamma),
                    tape.parameter(beta));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("layer_norm"));
    EXPECT_THAT(e.what(), HasSubstr("[4]"));
    EXPECT_THAT(e.what(), HasSubstr("5"));
  }
}

TEST(NormOps, GradientCheckWithConstantInputs) {
  Parameter gamma("ln/gamma", uniform({4}, 15, 0.5f, 1.5f)), beta("ln/beta", uniform({4}, 16));
  const Tensor x = uniform({3, 4}, 17, -1.0f, 2.0f);
  EXPECT_TRUE(
      check_gradients("layer_norm", {&gamma, &beta}, [x](Tape& tape, std::span<const Var> in) {
        return ops::layer_norm(tape.constant(x), in[0], in[1]);
      }));
  BatchNormState s;
  Parameter xp("x", uniform({5, 3}, 18, -1.0f, 2.0f));
  const Tensor g = s.gamma.value().clone(), b = s.beta.value().clone();
  EXPECT_TRUE(check_gradients("batch_norm", {&xp},
                              [&s, g, b](Tape& tape, std::span<const Var> in) {
                                return ops::batch_norm(in[0], tape.constant(g), tape.constant(b),
                                                       s.running_mean, s.running_var);
                              },
                              {.step = 3e-3}));
}

}  // namespace
}  // namespace recblocks
