// Every update rule on a dense [2, 3] parameter for two steps, against the
// documented formulas evaluated in double.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "optim/optim_testing.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/autograd/tape.h"
#include "recblocks/core/error.h"
#include "recblocks/core/threads.h"
#include "recblocks/optim/optim.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using namespace optim_testing;  // NOLINT: the shared fixtures of this folder

TEST(OptimizerDenseTest, Sgd) {
  const DenseRun run = two_dense_steps(optim::SGD({.learning_rate = 0.1f}));
  EXPECT_NEAR(run.weights[0], 0.52, 1e-7);  // 0.5 - 0.1 * 0.1 - 0.1 * -0.3
  expect_near(run.weights, reference(kW0, kGrads, sgd_ref(0.1)));
  EXPECT_EQ(run.state.size(), 1u);  // iterations only: plain SGD has no slots
  EXPECT_EQ(run.state.at("iterations").item(), 2);
}

TEST(OptimizerDenseTest, SgdWeightDecay) {
  const DenseRun run = two_dense_steps(optim::SGD({.learning_rate = 0.1f, .weight_decay = 0.01f}));
  expect_near(run.weights, reference(kW0, kGrads, sgd_ref(0.1, 0.01)));
}

TEST(OptimizerDenseTest, SgdMomentumKerasConvention) {
  const DenseRun run = two_dense_steps(optim::SGD({.learning_rate = 0.1f, .momentum = 0.9f}));
  // Element 0: v = -0.01, w = 0.49; v = 0.9 * -0.01 + 0.03 = 0.021, w = 0.511.
  EXPECT_NEAR(run.weights[0], 0.511, 1e-7);
  expect_near(run.weights, reference(kW0, kGrads, momentum_ref(0.1, 0.9, false)));
  EXPECT_EQ(run.state.at("w/momentum").shape(), Shape({2, 3}));
  EXPECT_NEAR(run.state.at("w/momentum").item(0), 0.021, 1e-8);
}

TEST(OptimizerDenseTest, SgdNesterov) {
  const DenseRun run =
      two_dense_steps(optim::SGD({.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true}));
  // Element 0: v = -0.01, w = 0.5 - 0.009 - 0.01 = 0.481; v = 0.021,
  // w = 0.481 + 0.0189 + 0.03 = 0.5299.
  EXPECT_NEAR(run.weights[0], 0.5299, 1e-7);
  expect_near(run.weights, reference(kW0, kGrads, momentum_ref(0.1, 0.9, true)));
}

TEST(OptimizerDenseTest, SgdMomentumWeightDecay) {
  const DenseRun run =
      two_dense_steps(optim::SGD({.learning_rate = 0.1f, .momentum = 0.5f, .weight_decay = 0.1f}));
  expect_near(run.weights, reference(kW0, kGrads, momentum_ref(0.1, 0.5, false, 0.1)));
}

TEST(OptimizerDenseTest, Adam) {
  const DenseRun run = two_dense_steps(optim::Adam({.learning_rate = 0.01f}));
  expect_near(run.weights, reference(kW0, kGrads, adam_ref(0.01)));
  // The first step moves a weight by about lr against its gradient's sign.
  ParameterPtr w = make_param("w", {2, 3}, kW0);
  Optimizer adam = optim::Adam({.learning_rate = 0.01f});
  adam.init({{"w", w}});
  set_dense_grad(*w, kGrads[0]);
  adam.step();
  EXPECT_NEAR(w->value().item(0), 0.49, 1e-5);
  EXPECT_NEAR(w->value().item(1), -0.99, 1e-5);
  EXPECT_EQ(w->value().item(4), 1.5);                       // zero gradient: m = v = 0, no move
  EXPECT_NEAR(adam.state().at("w/m").item(0), 0.01, 1e-8);  // 0.1 * g
  EXPECT_NEAR(adam.state().at("w/v").item(0), 1e-5, 1e-9);  // 0.001 * g^2
}

TEST(OptimizerDenseTest, AdamWeightDecayIsL2) {
  const DenseRun run = two_dense_steps(optim::Adam({.learning_rate = 0.01f, .weight_decay = 0.1f}));
  expect_near(run.weights, reference(kW0, kGrads, adam_ref(0.01, 0.1)));
}

TEST(OptimizerDenseTest, AdamW) {
  const DenseRun run = two_dense_steps(
      optim::Adam({.learning_rate = 0.01f, .weight_decay = 0.1f, .decoupled_weight_decay = true}));
  expect_near(run.weights, reference(kW0, kGrads, adam_ref(0.01, 0.1, true)));
  // Element 4 has a zero gradient at step 1: only the decay moves it.
  const DenseRun l2 = two_dense_steps(optim::Adam({.learning_rate = 0.01f, .weight_decay = 0.1f}));
  EXPECT_NE(run.weights[4], l2.weights[4]);
}

TEST(OptimizerDenseTest, LazyAdamOnADenseParameterIsAdam) {
  const DenseRun run = two_dense_steps(optim::LazyAdam({.learning_rate = 0.01f}));
  expect_near(run.weights, reference(kW0, kGrads, adam_ref(0.01)));
}

TEST(OptimizerDenseTest, Adagrad) {
  const DenseRun run = two_dense_steps(optim::Adagrad({.learning_rate = 0.1f}));
  // Element 0: acc = 0.11, w = 0.5 - 0.01 / sqrt(0.11) = 0.469849...
  expect_near(run.weights, reference(kW0, kGrads, adagrad_ref(0.1), 0.1));
  EXPECT_NEAR(run.state.at("w/accumulator").item(0), 0.1 + 0.01 + 0.09, 1e-7);
}

TEST(OptimizerDenseTest, AdagradWeightDecay) {
  const DenseRun run =
      two_dense_steps(optim::Adagrad({.learning_rate = 0.1f, .weight_decay = 0.05f}));
  expect_near(run.weights, reference(kW0, kGrads, adagrad_ref(0.1, 0.05), 0.1));
}

TEST(OptimizerDenseTest, RowWiseAdagradGivesDenseParametersElementWiseAdagrad) {
  Optimizer opt = optim::RowWiseAdagrad({.learning_rate = 0.1f});
  ParameterPtr w = make_param("w", {2, 3}, kW0);
  opt.init({{"w", w}});
  EXPECT_EQ(opt.state().at("w/accumulator").shape(), Shape({2}));  // row-wise until known
  const DenseRun run = two_dense_steps(opt);
  expect_near(run.weights, reference(kW0, kGrads, adagrad_ref(0.1), 0.1));
  EXPECT_EQ(run.state.at("w/accumulator").shape(), Shape({2, 3}));
}

TEST(OptimizerDenseTest, LearningRateScheduleIsReadAtEachStep) {
  Optimizer opt = optim::SGD({.learning_rate = LearningRate::exponential_decay(0.1f, 1, 0.5f)});
  ParameterPtr w = make_param("w", {2, 3}, kW0);
  opt.init({{"w", w}});
  EXPECT_FLOAT_EQ(opt.current_learning_rate(), 0.1f);
  set_dense_grad(*w, kGrads[0]);
  opt.step();
  EXPECT_FLOAT_EQ(opt.current_learning_rate(), 0.05f);
  set_dense_grad(*w, kGrads[1]);
  opt.step();
  Vec expected(6);
  for (std::size_t i = 0; i < 6; ++i)
    expected[i] = kW0[i] - 0.1 * kGrads[0][i] - 0.05 * kGrads[1][i];
  expect_near(w->value().to_vector(), expected);
}

TEST(OptimizerDenseTest, ParametersWithoutGradientAreLeftAlone) {
  Optimizer opt = optim::Adam();
  ParameterPtr a = make_param("a", {2, 3}, kW0);
  ParameterPtr b = make_param("b", {2, 3}, kW0);
  auto buffer = std::make_shared<Parameter>("buffer", Tensor::zeros({3}), /*trainable=*/false);
  opt.init({{"a", a}, {"b", b}, {"buffer", buffer}});
  EXPECT_FALSE(opt.state().contains("buffer/m"));  // not trainable: skipped
  set_dense_grad(*a, kGrads[0]);
  opt.step();
  EXPECT_EQ(b->value().to_vector(), kW0);
  EXPECT_EQ(opt.state().at("b/m").item(0), 0.0);  // no decay of b's moments
  EXPECT_NE(a->value().to_vector(), kW0);
}

TEST(OptimizerDenseTest, Ftrl) {
  const DenseRun run = two_dense_steps(optim::Ftrl({.learning_rate = 0.1f}));
  // Element 0, step 1: n = 0.11, z = 0.1 - (sqrt(0.11) - sqrt(0.1)) / 0.1 * 0.5,
  // w = -z * 0.1 / sqrt(0.11).
  const double z = 0.1 - (std::sqrt(0.11) - std::sqrt(0.1)) / 0.1 * 0.5;
  const DenseRun one = [] {
    ParameterPtr w = make_param("w", {2, 3}, kW0);
    Optimizer opt = optim::Ftrl({.learning_rate = 0.1f});
    opt.init({{"w", w}});
    set_dense_grad(*w, kGrads[0]);
    opt.step();
    return DenseRun{w->value().to_vector(), opt.state()};
  }();
  EXPECT_NEAR(one.weights[0], -z * 0.1 / std::sqrt(0.11), 1e-6);
  expect_near(run.weights, reference(kW0, kGrads, ftrl_ref(0.1), 0.1), 1e-5);
  EXPECT_NEAR(run.state.at("w/accumulator").item(0), 0.1 + 0.01 + 0.09, 1e-7);
  EXPECT_TRUE(run.state.contains("w/linear"));
}

TEST(OptimizerDenseTest, FtrlRegularisation) {
  const auto optimizer = [] {
    return optim::Ftrl({.learning_rate = 0.5f, .l1 = 0.05f, .l2 = 0.2f, .beta = 0.3f});
  };
  const DenseRun run = two_dense_steps(optimizer());
  expect_near(run.weights, reference(kW0, kGrads, ftrl_ref(0.5, 0.05, 0.2, 0.3), 0.1), 1e-5);
  // l1 makes exact zeros: |z| <= l1 gives w = 0.
  const DenseRun sparse = two_dense_steps(optim::Ftrl({.learning_rate = 0.1f, .l1 = 100.0f}));
  EXPECT_EQ(sparse.weights, std::vector<float>(6, 0.0f));
}

}  // namespace
}  // namespace recblocks
