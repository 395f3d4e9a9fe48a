// Optimizers against the documented formulas, evaluated here in double
// precision element by element (independently of the implementation's
// kernels), on a dense [2, 3] parameter and on a [5, 2] table with sparse
// gradients; fused against unfused updates through the real embedding op;
// checkpoint resume; error paths; JSON.
#include "recblocks/optim/optim.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "recblocks/autograd/ops.h"
#include "recblocks/autograd/tape.h"
#include "recblocks/core/error.h"
#include "recblocks/core/threads.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using Vec = std::vector<double>;
using Grads = std::vector<std::vector<float>>;

ParameterPtr make_param(const std::string& name, const Shape& shape,
                        const std::vector<float>& values) {
  return std::make_shared<Parameter>(name, Tensor::from<float>(shape, values));
}

void set_dense_grad(Parameter& p, const std::vector<float>& g) {
  const kernels::GradOut out = p.dense_grad_out();
  float* dst = out.tensor.data<float>();
  for (std::size_t i = 0; i < g.size(); ++i) dst[i] = out.accumulate ? dst[i] + g[i] : g[i];
}

void add_sparse_grad(Parameter& p, const std::vector<std::int64_t>& rows,
                     const std::vector<float>& values) {
  const auto n = static_cast<std::int64_t>(rows.size());
  const auto dim = static_cast<std::int64_t>(values.size()) / n;
  p.add_sparse_grad({Tensor::from<std::int64_t>({n}, rows), Tensor::from<float>({n, dim}, values)});
}

void expect_near(const std::vector<float>& actual, const Vec& expected, double rtol = 2e-6) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-7 + rtol * std::abs(expected[i])) << "element " << i;
  }
}

// ----- the reference: one formula per element, in double -----

struct ElementState {
  double a = 0, b = 0;  // momentum / m and v / accumulator
};
// update(t, g, w, state) with t the 1-based step.
using ElementUpdate = std::function<void(int t, double g, double& w, ElementState& s)>;

// Runs `update` over steps of dense gradients [steps][n]; elements with
// touched[step][i] == false are skipped (the lazy optimizers' untouched rows).
Vec reference(const std::vector<float>& w0, const Grads& grads, const ElementUpdate& update,
              double initial = 0, const std::vector<std::vector<bool>>& touched = {}) {
  Vec w(w0.begin(), w0.end());
  std::vector<ElementState> s(w.size(), ElementState{initial, 0});
  for (std::size_t step = 0; step < grads.size(); ++step) {
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (!touched.empty() && !touched[step][i]) continue;
      update(static_cast<int>(step) + 1, grads[step][i], w[i], s[i]);
    }
  }
  return w;
}

ElementUpdate sgd_ref(double lr, double wd = 0) {
  return [=](int, double g, double& w, ElementState&) { w -= lr * (g + wd * w); };
}
ElementUpdate momentum_ref(double lr, double momentum, bool nesterov, double wd = 0) {
  return [=](int, double g, double& w, ElementState& s) {
    g += wd * w;
    s.a = momentum * s.a - lr * g;
    w += nesterov ? momentum * s.a - lr * g : s.a;
  };
}
ElementUpdate adam_ref(double lr, double wd = 0, bool decoupled = false) {
  return [=](int t, double g, double& w, ElementState& s) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-7;
    if (!decoupled) g += wd * w;
    s.a = b1 * s.a + (1 - b1) * g;
    s.b = b2 * s.b + (1 - b2) * g * g;
    if (decoupled) w -= lr * wd * w;
    w -= lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t)) * s.a / (std::sqrt(s.b) + eps);
  };
}
ElementUpdate adagrad_ref(double lr, double wd = 0) {
  return [=](int, double g, double& w, ElementState& s) {
    g += wd * w;
    s.a += g * g;
    w -= lr * g / (std::sqrt(s.a) + 1e-7);
  };
}

// ----- a dense [2, 3] parameter, two steps -----

const std::vector<float> kW0 = {0.5f, -1.0f, 2.0f, 0.0f, 1.5f, -0.25f};
const Grads kGrads = {{0.1f, -0.2f, 0.3f, 0.4f, 0.0f, -0.6f},
                      {-0.3f, 0.1f, 0.2f, -0.1f, 0.5f, 0.05f}};

struct DenseRun {
  std::vector<float> weights;
  std::map<std::string, Tensor> state;
};

DenseRun two_dense_steps(const Optimizer& opt) {
  ParameterPtr w = make_param("w", {2, 3}, kW0);
  opt.init({{"w", w}});
  for (const std::vector<float>& g : kGrads) {
    set_dense_grad(*w, g);
    opt.step();
    EXPECT_FALSE(w->has_grad());  // step() zeroes the gradients
  }
  EXPECT_EQ(opt.iterations(), 2);
  return {w->value().to_vector(), opt.state()};
}

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

// ----- a [5, 2] table with sparse gradients -----
//
// Step 1: one segment, rows {1, 3}. Step 2: two segments (two lookups),
// rows {0, 3} and {3, 4}: row 3 is in both and its gradients add. Row 2 is
// never touched; row 1 only in step 1.

const std::vector<float> kTable0 = {0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f, -0.9f, 1.0f};

void feed_table_step(Parameter& table, int step) {
  if (step == 0) {
    add_sparse_grad(table, {1, 3}, {0.1f, -0.2f, 0.3f, 0.4f});
  } else {
    add_sparse_grad(table, {0, 3}, {0.5f, 0.6f, -0.2f, 0.1f});
    add_sparse_grad(table, {3, 4}, {0.3f, -0.4f, 0.2f, 0.2f});
  }
}
// The same gradients, dense, summed by hand.
const Grads kTableGrads = {{0, 0, 0.1f, -0.2f, 0, 0, 0.3f, 0.4f, 0, 0},
                           {0.5f, 0.6f, 0, 0, 0, 0, 0.1f, -0.3f, 0.2f, 0.2f}};
const std::vector<std::vector<bool>> kTouched = {
    {false, false, true, true, false, false, true, true, false, false},
    {true, true, false, false, false, false, true, true, true, true}};

struct TableRun {
  std::vector<std::vector<float>> after;  // the table after each step
  std::map<std::string, Tensor> state;
};

TableRun two_table_steps(const Optimizer& opt) {
  ParameterPtr table = make_param("emb", {5, 2}, kTable0);
  opt.init({{"emb", table}});
  TableRun run;
  for (int step = 0; step < 2; ++step) {
    feed_table_step(*table, step);
    opt.step();
    EXPECT_FALSE(table->has_grad());
    run.after.push_back(table->value().to_vector());
  }
  run.state = opt.state();
  return run;
}

std::vector<float> row(const std::vector<float>& table, int r) {
  return {table[2 * r], table[2 * r + 1]};
}

TEST(OptimizerSparseTest, SgdUpdatesTouchedRowsOnly) {
  const TableRun run = two_table_steps(optim::SGD({.learning_rate = 0.1f}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, sgd_ref(0.1)));
  // Row 3, in both segments: 0.7 - 0.1 * 0.3 - 0.1 * (-0.2 + 0.3) = 0.66.
  EXPECT_NEAR(run.after[1][6], 0.66, 1e-7);
  EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));
}

TEST(OptimizerSparseTest, SgdWeightDecayOnlyOnTouchedRows) {
  const TableRun run = two_table_steps(optim::SGD({.learning_rate = 0.1f, .weight_decay = 0.5f}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, sgd_ref(0.1, 0.5), 0, kTouched));
  EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));
  EXPECT_EQ(row(run.after[1], 1), row(run.after[0], 1));
}

TEST(OptimizerSparseTest, SgdMomentumIsTheDenseUpdate) {
  const TableRun run =
      two_table_steps(optim::SGD({.learning_rate = 0.1f, .momentum = 0.9f, .weight_decay = 0.5f}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, momentum_ref(0.1, 0.9, false, 0.5)));
  EXPECT_NE(row(run.after[1], 1), row(run.after[0], 1));  // velocity carries on
  EXPECT_NE(row(run.after[1], 2), row(kTable0, 2));       // decayed, never looked up
}

TEST(OptimizerSparseTest, SgdNesterovIsTheDenseUpdate) {
  const TableRun run =
      two_table_steps(optim::SGD({.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, momentum_ref(0.1, 0.9, true)));
  EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));  // zero gradient, zero velocity
}

TEST(OptimizerSparseTest, AdamMovesEveryRowWithAMoment) {
  const TableRun run = two_table_steps(optim::Adam({.learning_rate = 0.01f}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, adam_ref(0.01)));
  EXPECT_NE(row(run.after[1], 1), row(run.after[0], 1));
  EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));  // m = v = 0
}

TEST(OptimizerSparseTest, AdamWDecaysUntouchedRows) {
  const TableRun run = two_table_steps(
      optim::Adam({.learning_rate = 0.01f, .weight_decay = 0.1f, .decoupled_weight_decay = true}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, adam_ref(0.01, 0.1, true)));
  EXPECT_NEAR(run.after[1][4], 0.5 * (1 - 0.001) * (1 - 0.001), 1e-7);
}

TEST(OptimizerSparseTest, LazyAdamUpdatesTouchedRowsWithTheGlobalStep) {
  const TableRun run = two_table_steps(optim::LazyAdam({.learning_rate = 0.01f}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, adam_ref(0.01), 0, kTouched));
  EXPECT_EQ(row(run.after[1], 1), row(run.after[0], 1));
  EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));
  // Row 1's moments kept their step-1 values.
  EXPECT_NEAR(run.state.at("emb/m").item(2), 0.01, 1e-8);
}

TEST(OptimizerSparseTest, LazyAdamWeightDecay) {
  for (bool decoupled : {false, true}) {
    const TableRun run = two_table_steps(optim::LazyAdam(
        {.learning_rate = 0.01f, .weight_decay = 0.2f, .decoupled_weight_decay = decoupled}));
    expect_near(run.after[1],
                reference(kTable0, kTableGrads, adam_ref(0.01, 0.2, decoupled), 0, kTouched));
    EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));
  }
}

TEST(OptimizerSparseTest, AdagradUpdatesTouchedRowsOnly) {
  const TableRun run =
      two_table_steps(optim::Adagrad({.learning_rate = 0.1f, .weight_decay = 0.1f}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, adagrad_ref(0.1, 0.1), 0.1, kTouched));
  EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));
  EXPECT_EQ(run.state.at("emb/accumulator").item(4), 0.1f);  // row 2
}

TEST(OptimizerSparseTest, RowWiseAdagradKeepsOneAccumulatorPerRow) {
  const TableRun run = two_table_steps(optim::RowWiseAdagrad({.learning_rate = 0.1f}));
  // Reference: acc[r] += mean over the row of g^2; w[r] -= lr g / (sqrt(acc[r]) + eps).
  Vec w(kTable0.begin(), kTable0.end());
  Vec acc(5, 0.1);
  for (int step = 0; step < 2; ++step) {
    for (int r = 0; r < 5; ++r) {
      if (!kTouched[step][2 * r]) continue;
      const double g0 = kTableGrads[step][2 * r], g1 = kTableGrads[step][2 * r + 1];
      acc[r] += (g0 * g0 + g1 * g1) / 2;
      w[2 * r] -= 0.1 * g0 / (std::sqrt(acc[r]) + 1e-7);
      w[2 * r + 1] -= 0.1 * g1 / (std::sqrt(acc[r]) + 1e-7);
    }
  }
  expect_near(run.after[1], w);
  const Tensor& accumulator = run.state.at("emb/accumulator");
  ASSERT_EQ(accumulator.shape(), Shape({5}));
  for (int r = 0; r < 5; ++r) EXPECT_NEAR(accumulator.item(r), acc[r], 1e-7) << r;
  EXPECT_EQ(accumulator.item(2), 0.1f);
  EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));
}

TEST(OptimizerSparseTest, DenseAndSparseGradientsOfOneParameterAdd) {
  const std::vector<float> dense = {0.05f, -0.1f, 0.2f, 0.0f, 0.3f, 0.1f, -0.2f, 0.1f, 0.0f, 0.4f};
  Grads total = kTableGrads;
  for (auto& g : total) {
    for (std::size_t i = 0; i < g.size(); ++i) g[i] += dense[i];
  }
  struct Case {
    Optimizer opt;
    ElementUpdate update;
    double initial;
  };
  for (const Case& c : {Case{optim::Adagrad({.learning_rate = 0.1f}), adagrad_ref(0.1), 0.1},
                        Case{optim::LazyAdam({.learning_rate = 0.01f}), adam_ref(0.01), 0.0},
                        Case{optim::SGD({.learning_rate = 0.1f}), sgd_ref(0.1), 0.0}}) {
    SCOPED_TRACE(std::string(c.opt.type()));
    ParameterPtr table = make_param("emb", {5, 2}, kTable0);
    c.opt.init({{"emb", table}});
    for (int step = 0; step < 2; ++step) {
      feed_table_step(*table, step);
      set_dense_grad(*table, dense);
      c.opt.step();
    }
    // The dense gradient touches every row: every element is updated.
    expect_near(table->value().to_vector(), reference(kTable0, total, c.update, c.initial));
  }
}

TEST(OptimizerSparseTest, RowWiseAdagradWithDenseAndSparseStaysRowWise) {
  Optimizer opt = optim::RowWiseAdagrad({.learning_rate = 0.1f});
  ParameterPtr table = make_param("emb", {5, 2}, kTable0);
  opt.init({{"emb", table}});
  const std::vector<float> dense(10, 0.1f);
  add_sparse_grad(*table, {1}, {0.3f, -0.1f});
  set_dense_grad(*table, dense);
  opt.step();
  const Tensor acc = opt.state().at("emb/accumulator");
  ASSERT_EQ(acc.shape(), Shape({5}));
  EXPECT_NEAR(acc.item(0), 0.1 + 0.01, 1e-7);              // dense part only
  EXPECT_NEAR(acc.item(1), 0.1 + (0.16 + 0.0) / 2, 1e-7);  // (0.4^2 + 0^2) / 2
  EXPECT_NEAR(table->value().item(2), -0.3 - 0.1 * 0.4 / std::sqrt(0.18), 1e-6);
  EXPECT_EQ(table->value().item(3), 0.4f);  // g = -0.1 + 0.1 = 0
}

TEST(OptimizerSparseTest, NonLazyUpdatesEqualTheUpdateOfTheScatteredGradient) {
  // A larger table with long runs of untouched rows: sparse rows must give
  // what the same gradient gives as a dense tensor.
  for (const Optimizer& make :
       {optim::Adam({.learning_rate = 0.01f}),
        optim::Adam({.weight_decay = 0.1f, .decoupled_weight_decay = true}),
        optim::SGD(
            {.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true, .weight_decay = 0.01f})}) {
    SCOPED_TRACE(make.to_json().dump());
    const Tensor initial = testing::uniform({300, 8}, 3);
    auto sparse = std::make_shared<Parameter>("emb", initial.clone());
    auto dense = std::make_shared<Parameter>("emb", initial.clone());
    Optimizer a = Optimizer::from_json(make.to_json()), b = Optimizer::from_json(make.to_json());
    a.init({{"emb", sparse}});
    b.init({{"emb", dense}});
    const std::vector<std::vector<std::int64_t>> rows = {{3, 150, 299}, {0, 1, 2, 200}, {150}};
    for (std::size_t step = 0; step < rows.size(); ++step) {
      const auto n = static_cast<std::int64_t>(rows[step].size());
      const std::vector<float> values = testing::uniform({n, 8}, 40 + step).to_vector();
      add_sparse_grad(*sparse, rows[step], values);
      std::vector<float> full(300 * 8, 0.0f);
      for (std::int64_t i = 0; i < n; ++i) {
        for (int d = 0; d < 8; ++d) full[rows[step][i] * 8 + d] = values[i * 8 + d];
      }
      set_dense_grad(*dense, full);
      a.step();
      b.step();
    }
    EXPECT_TRUE(testing::tensors_close(sparse->value(), dense->value(), 1e-6, 1e-7));
    EXPECT_TRUE(
        testing::tensors_close(a.state().begin()->second, b.state().begin()->second, 1e-6, 1e-7));
  }
}

// ----- fused updates, through the real embedding op -----

struct Model {
  ParameterPtr table = std::make_shared<Parameter>("emb", testing::uniform({20, 4}, 1));
  ParameterPtr scale = std::make_shared<Parameter>("scale", testing::uniform({4}, 2, 0.5f, 1.5f));
  std::vector<std::pair<std::string, ParameterPtr>> named() const {
    return {{"emb", table}, {"scale", scale}};
  }
};

// mse(embedding(table, ids) * scale, targets): the table gets one sparse
// segment (duplicate ids merged by the op), scale a dense gradient.
void forward_backward(Tape& tape, Model& m, int step, int lookups = 1) {
  Var table = tape.parameter(*m.table);
  Var out = ops::embedding(table, testing::random_ids({8}, 20, 100 + step));
  for (int k = 1; k < lookups; ++k) {
    out = ops::add(out, ops::embedding(table, testing::random_ids({8}, 20, 200 + step)));
  }
  Var loss =
      ops::mse(ops::mul(out, tape.parameter(*m.scale)), testing::uniform({8, 4}, 300 + step));
  tape.backward(loss);
}

struct FusedRun {
  Tensor table, scale;
  std::map<std::string, Tensor> state;
};

FusedRun train(const std::function<Optimizer()>& make, bool fused, int steps = 6) {
  Model m;
  Optimizer opt = make();
  opt.init(m.named());
  opt.fuse_sparse_updates(fused);
  Tape tape;
  for (int step = 0; step < steps; ++step) {
    const Tensor before = m.table->value().clone();
    forward_backward(tape, m, step);
    const bool sink = fused && step > 0;
    EXPECT_EQ(m.table->has_sparse_sink(), sink) << step;
    // Fused: the table was updated in the backward, its rows not stored.
    EXPECT_EQ(m.table->sparse_grads().empty(), sink) << step;
    EXPECT_EQ(static_cast<bool>(testing::tensors_bitwise_equal(before, m.table->value())), !sink)
        << step;
    opt.step();
    tape.reset();
  }
  return {m.table->value().clone(), m.scale->value().clone(), opt.state()};
}

TEST(OptimizerFusedTest, FusedUpdatesAreBitIdenticalToStep) {
  const std::vector<std::function<Optimizer()>> makers = {
      [] {
        return optim::SGD(
            {.learning_rate = LearningRate::constant(0.5f).with_warmup(3), .weight_decay = 0.01f});
      },
      [] {
        return optim::Adagrad({.learning_rate = LearningRate::exponential_decay(0.3f, 2, 0.7f),
                               .weight_decay = 0.02f});
      },
      [] { return optim::RowWiseAdagrad({.learning_rate = 0.3f}); },
      [] {
        return optim::LazyAdam({.learning_rate = LearningRate::cosine_decay(0.05f, 10),
                                .weight_decay = 0.01f,
                                .decoupled_weight_decay = true});
      },
      [] { return optim::LazyAdam({.learning_rate = 0.05f, .weight_decay = 0.01f}); },
  };
  for (const auto& make : makers) {
    SCOPED_TRACE(std::string(make().type()));
    const FusedRun plain = train(make, false), fused = train(make, true);
    EXPECT_TRUE(testing::tensors_bitwise_equal(fused.table, plain.table));
    EXPECT_TRUE(testing::tensors_bitwise_equal(fused.scale, plain.scale));
    ASSERT_EQ(fused.state.size(), plain.state.size());
    for (const auto& [key, value] : plain.state) {
      EXPECT_TRUE(testing::tensors_bitwise_equal(fused.state.at(key), value)) << key;
    }
    EXPECT_EQ(fused.state.at("iterations").item(), 6);
    // And training did something.
    EXPECT_FALSE(testing::tensors_bitwise_equal(plain.table, Model().table->value()));
  }
}

TEST(OptimizerFusedTest, NonLazyOptimizersIgnoreFusing) {
  for (const Optimizer& opt : {optim::Adam(), optim::SGD({.momentum = 0.9f})}) {
    Model m;
    opt.init(m.named());
    opt.fuse_sparse_updates();
    Tape tape;
    for (int step = 0; step < 2; ++step) {
      forward_backward(tape, m, step);
      opt.step();
      tape.reset();
      EXPECT_FALSE(m.table->has_sparse_sink());
    }
  }
}

Optimizer fused_sgd_with_sink(Model& m, Tape& tape) {
  Optimizer opt = optim::SGD({.learning_rate = 0.1f});
  opt.init(m.named());
  opt.fuse_sparse_updates();
  forward_backward(tape, m, 0);
  opt.step();
  tape.reset();
  EXPECT_TRUE(m.table->has_sparse_sink());
  EXPECT_FALSE(m.scale->has_sparse_sink());  // dense parameters never get one
  return opt;
}

TEST(OptimizerFusedTest, TablesLookedUpTwiceAreNotFused) {
  Model m;
  Optimizer opt = optim::Adagrad();
  opt.init(m.named());
  opt.fuse_sparse_updates();
  Tape tape;
  for (int step = 0; step < 2; ++step) {
    forward_backward(tape, m, step, /*lookups=*/2);
    EXPECT_EQ(m.table->sparse_grads().size(), 2u);
    opt.step();
    tape.reset();
    EXPECT_FALSE(m.table->has_sparse_sink());
  }
}

TEST(OptimizerFusedTest, ASecondLookupInAFusedStepThrowsAndStopsFusing) {
  Model m;
  Tape tape;
  Optimizer opt = fused_sgd_with_sink(m, tape);
  EXPECT_THAT(
      [&] { forward_backward(tape, m, 1, /*lookups=*/2); },
      ThrowsMessage<Error>(AllOf(HasSubstr("'emb'"), HasSubstr("one lookup per table per step"))));
  tape.reset();
  opt.step();
  EXPECT_FALSE(m.table->has_sparse_sink());
  EXPECT_EQ(opt.iterations(), 2);
}

TEST(OptimizerFusedTest, ADenseGradientInAFusedStepThrowsBeforeChangingAnything) {
  Model m;
  Tape tape;
  Optimizer opt = fused_sgd_with_sink(m, tape);
  const Tensor before = m.table->value().clone();
  add_sparse_grad(*m.table, {2}, {1, 1, 1, 1});  // applied at once by the sink
  const Tensor after_sparse = m.table->value().clone();
  EXPECT_NEAR(after_sparse.item(8), before.item(8) - 0.1, 1e-6);
  EXPECT_EQ(after_sparse.item(0), before.item(0));
  set_dense_grad(*m.table, std::vector<float>(80, 1.0f));
  EXPECT_THAT([&] { opt.step(); },
              ThrowsMessage<Error>(AllOf(HasSubstr("'emb'"), HasSubstr("dense gradient"))));
  EXPECT_TRUE(testing::tensors_bitwise_equal(m.table->value(), after_sparse));
  EXPECT_FALSE(m.table->has_sparse_sink());
  opt.step();  // now applies the dense gradient alone
  EXPECT_NEAR(m.table->value().item(0), after_sparse.item(0) - 0.1, 1e-6);
  EXPECT_EQ(opt.iterations(), 2);
}

TEST(OptimizerFusedTest, NonFiniteRowsInTheSinkThrowBeforeChangingAnything) {
  Model m;
  Tape tape;
  Optimizer opt = fused_sgd_with_sink(m, tape);
  const Tensor before = m.table->value().clone();
  EXPECT_THAT(
      [&] {
        add_sparse_grad(*m.table, {1, 4}, {0, 0, 0, 0, 0, NAN, 0, 0});
      },
      ThrowsMessage<ValueError>(AllOf(HasSubstr("'emb'"), HasSubstr("nan at row 4, column 1"))));
  EXPECT_TRUE(testing::tensors_bitwise_equal(m.table->value(), before));
}

TEST(OptimizerFusedTest, SinksAreRemovedByDisablingInitAndDestruction) {
  Model m;
  Tape tape;
  {
    Optimizer opt = fused_sgd_with_sink(m, tape);
    opt.fuse_sparse_updates(false);
    EXPECT_FALSE(m.table->has_sparse_sink());
    opt.fuse_sparse_updates(true);  // the last step had one segment
    EXPECT_TRUE(m.table->has_sparse_sink());
    opt.init(m.named());
    EXPECT_FALSE(m.table->has_sparse_sink());
  }
  {
    Optimizer opt = fused_sgd_with_sink(m, tape);
    EXPECT_TRUE(m.table->has_sparse_sink());
  }
  EXPECT_FALSE(m.table->has_sparse_sink());
}

// ----- non-finite gradients -----

TEST(OptimizerErrorTest, NonFiniteGradientThrowsBeforeChangingAnything) {
  for (const Optimizer& opt : {optim::Adam(), optim::SGD(), optim::RowWiseAdagrad()}) {
    ParameterPtr a = make_param("dense/a", {2, 3}, kW0);
    ParameterPtr table = make_param("emb", {5, 2}, kTable0);
    opt.init({{"dense/a", a}, {"emb", table}});
    set_dense_grad(*a, kGrads[0]);
    add_sparse_grad(*table, {1}, {0.1f, 0.2f});
    add_sparse_grad(*table, {0, 3}, {0.1f, 0.2f, 0.3f, INFINITY});
    EXPECT_THAT([&] { opt.step(); }, ThrowsMessage<ValueError>(AllOf(
                                         HasSubstr("'emb'"), HasSubstr("inf at row 3, column 1"),
                                         HasSubstr("segment 1"))));
    table->zero_grad();
    std::vector<float> bad = kGrads[1];
    bad[5] = NAN;
    add_sparse_grad(*table, {1}, {0.1f, 0.2f});
    set_dense_grad(*a, bad);  // accumulates: [1, 2] becomes nan
    EXPECT_THAT([&] { opt.step(); }, ThrowsMessage<ValueError>(AllOf(HasSubstr("'dense/a'"),
                                                                     HasSubstr("nan at [1, 2]"))));
    EXPECT_EQ(a->value().to_vector(), kW0);
    EXPECT_EQ(table->value().to_vector(), kTable0);
    EXPECT_EQ(opt.iterations(), 0);
    EXPECT_EQ(opt.state().at("iterations").item(), 0);
  }
}

TEST(OptimizerErrorTest, BadSparseRowsAreNamed) {
  Optimizer opt = optim::Adagrad();
  ParameterPtr table = make_param("emb", {5, 2}, kTable0);
  opt.init({{"emb", table}});
  add_sparse_grad(*table, {2, 7}, {0, 0, 0, 0});
  EXPECT_THAT([&] { opt.step(); }, ThrowsMessage<ValueError>(HasSubstr("row 7 at position 1")));
}

TEST(OptimizerErrorTest, MisuseIsReported) {
  EXPECT_THAT([] { Optimizer().step(); }, ThrowsMessage<Error>(HasSubstr("undefined")));
  EXPECT_THAT([] { optim::Adam().step(); }, ThrowsMessage<Error>(HasSubstr("init")));
  ParameterPtr w = make_param("w", {2, 3}, kW0);
  EXPECT_THAT(
      [&] {
        optim::Adam().init({{"w", w}, {"w", make_param("w", {1}, {0})}});
      },
      ThrowsMessage<ValueError>(HasSubstr("two parameters are named 'w'")));
  EXPECT_THAT(
      [&] {
        optim::Adam().init({{"w", w}, {"w2", w}});
      },
      ThrowsMessage<ValueError>(HasSubstr("listed twice")));
  EXPECT_THAT([] { (void)optim::SGD({.nesterov = true}); },
              ThrowsMessage<ValueError>(HasSubstr("nesterov needs momentum > 0")));
  EXPECT_THAT([] { (void)optim::Adam({.beta_1 = 1.0f}); },
              ThrowsMessage<ValueError>(HasSubstr("beta_1 1 is outside [0, 1)")));
  EXPECT_THAT([] { (void)optim::Adagrad({.weight_decay = -1.0f}); },
              ThrowsMessage<ValueError>(HasSubstr("weight_decay -1")));
}

// ----- checkpoints: state() / load_state() -----

struct Net {
  ParameterPtr table = std::make_shared<Parameter>("emb", testing::uniform({6, 3}, 5));
  ParameterPtr kernel = std::make_shared<Parameter>("kernel", testing::uniform({3, 2}, 6));
  ParameterPtr bias = std::make_shared<Parameter>("bias", testing::uniform({2}, 7));
  std::vector<std::pair<std::string, ParameterPtr>> named() const {
    return {{"emb", table}, {"kernel", kernel}, {"bias", bias}};
  }
  // Gradients that depend only on the step: the table's rows vary, with
  // two segments on odd steps.
  void feed(int step) const {
    set_dense_grad(*kernel, testing::uniform({3, 2}, 50 + step).to_vector());
    set_dense_grad(*bias, testing::uniform({2}, 60 + step).to_vector());
    add_sparse_grad(*table, {step % 6, 5}, testing::uniform({2, 3}, 70 + step).to_vector());
    if (step % 2 == 1)
      add_sparse_grad(*table, {1, 2}, testing::uniform({2, 3}, 80 + step).to_vector());
  }
};

const std::vector<std::function<Optimizer()>>& all_optimizers() {
  static const std::vector<std::function<Optimizer()>> makers = {
      [] { return optim::SGD({.learning_rate = 0.1f}); },
      [] { return optim::SGD({.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true}); },
      [] { return optim::Adam({.learning_rate = LearningRate::cosine_decay(0.01f, 5)}); },
      [] { return optim::Adam({.weight_decay = 0.1f, .decoupled_weight_decay = true}); },
      [] { return optim::LazyAdam({.learning_rate = 0.01f}); },
      [] { return optim::Adagrad({.learning_rate = 0.1f}); },
      [] { return optim::RowWiseAdagrad({.learning_rate = 0.1f}); },
      [] { return optim::Ftrl({.learning_rate = 0.1f, .l1 = 0.001f}); },
      // The table by FTRL, the rest by Adam.
      [] {
        return optim::MultiOptimizer(optim::Adam(),
                                     {{"emb", optim::Ftrl({.learning_rate = 0.1f})}});
      },
  };
  return makers;
}

TEST(OptimizerStateTest, ResumeIsBitIdentical) {
  for (const auto& make : all_optimizers()) {
    const Optimizer probe = make();
    SCOPED_TRACE(probe.to_json().dump());
    Net straight;
    Optimizer a = make();
    a.init(straight.named());
    for (int step = 0; step < 5; ++step) {
      straight.feed(step);
      a.step();
    }

    Net first;
    Optimizer b = make();
    b.init(first.named());
    for (int step = 0; step < 2; ++step) {
      first.feed(step);
      b.step();
    }
    const std::map<std::string, Tensor> checkpoint = b.state();
    // A fresh process: new parameters holding the saved weights, a new optimizer.
    Net resumed;
    resumed.table->value().copy_from(first.table->value());
    resumed.kernel->value().copy_from(first.kernel->value());
    resumed.bias->value().copy_from(first.bias->value());
    Optimizer c = make();
    c.init(resumed.named());
    c.load_state(checkpoint);
    EXPECT_EQ(c.iterations(), 2);
    for (int step = 2; step < 5; ++step) {
      resumed.feed(step);
      c.step();
    }
    for (const auto& [name, p] : straight.named()) {
      const Parameter& q = *(name == "emb"      ? resumed.table
                             : name == "kernel" ? resumed.kernel
                                                : resumed.bias);
      EXPECT_TRUE(testing::tensors_bitwise_equal(q.value(), p->value())) << name;
    }
    const auto sa = a.state(), sc = c.state();
    ASSERT_EQ(sa.size(), sc.size());
    for (const auto& [key, value] : sa)
      EXPECT_TRUE(testing::tensors_bitwise_equal(sc.at(key), value)) << key;
  }
}

TEST(OptimizerStateTest, SlotsAreCreatedAtInit) {
  Net net;
  std::map<std::string, std::vector<std::pair<std::string, Shape>>> expected = {
      {"sgd", {}},
      {"adam", {{"emb/m", {6, 3}}, {"emb/v", {6, 3}}, {"kernel/m", {3, 2}}, {"bias/v", {2}}}},
      {"adagrad", {{"emb/accumulator", {6, 3}}, {"bias/accumulator", {2}}}},
      {"rowwise_adagrad",
       {{"emb/accumulator", {6}}, {"kernel/accumulator", {3}}, {"bias/accumulator", {2}}}},
      {"ftrl", {{"emb/accumulator", {6, 3}}, {"emb/linear", {6, 3}}, {"bias/linear", {2}}}},
  };
  for (const auto& [type, slots] : expected) {
    Optimizer opt = optim::by_name(type);
    opt.init(net.named());
    const auto state = opt.state();
    for (const auto& [key, shape] : slots) {
      ASSERT_TRUE(state.contains(key)) << type << " " << key;
      EXPECT_EQ(state.at(key).shape(), shape) << type << " " << key;
    }
  }
  Optimizer momentum = optim::SGD({.momentum = 0.5f});
  momentum.init(net.named());
  EXPECT_EQ(momentum.state().size(), 4u);  // three "momentum" slots + iterations
  EXPECT_EQ(momentum.state().at("kernel/momentum").shape(), Shape({3, 2}));
  Optimizer adagrad = optim::Adagrad();
  adagrad.init(net.named());
  EXPECT_FLOAT_EQ(adagrad.state().at("kernel/accumulator").item(5), 0.1f);
}

TEST(OptimizerStateTest, LoadStateErrorsNameTheSlot) {
  Net net;
  Optimizer opt = optim::Adam();
  opt.init(net.named());
  const std::map<std::string, Tensor> good = opt.state();

  auto without = good;
  without.erase("kernel/v");
  EXPECT_THAT([&] { opt.load_state(without); },
              ThrowsMessage<ValueError>(HasSubstr("'kernel/v' is missing")));
  without = good;
  without.erase("iterations");
  EXPECT_THAT([&] { opt.load_state(without); },
              ThrowsMessage<ValueError>(HasSubstr("'iterations' is missing")));
  auto extra = good;
  extra["decoder/m"] = Tensor::zeros({2});
  EXPECT_THAT([&] { opt.load_state(extra); },
              ThrowsMessage<ValueError>(HasSubstr("unknown key(s) 'decoder/m'")));
  auto wrong = good;
  wrong["emb/m"] = Tensor::zeros({6, 4});
  EXPECT_THAT([&] { opt.load_state(wrong); },
              ThrowsMessage<ValueError>(
                  AllOf(HasSubstr("'emb/m'"), HasSubstr("[6, 4]"), HasSubstr("[6, 3]"))));
  // Nothing changed on error.
  for (const auto& [key, value] : opt.state())
    EXPECT_TRUE(testing::tensors_bitwise_equal(value, good.at(key))) << key;

  Optimizer rowwise = optim::RowWiseAdagrad();
  rowwise.init(net.named());
  auto full = rowwise.state();
  full["emb/accumulator"] = Tensor::full({6, 3}, 0.5f);  // element-wise: accepted
  rowwise.load_state(full);
  EXPECT_EQ(rowwise.state().at("emb/accumulator").shape(), Shape({6, 3}));
  full["emb/accumulator"] = Tensor::full({3}, 0.5f);
  EXPECT_THAT([&] { rowwise.load_state(full); },
              ThrowsMessage<ValueError>(HasSubstr("'emb/accumulator'")));
}

// ----- threads -----

TEST(OptimizerThreadsTest, LargeUpdatesAreTheSameOnAnyThreadCount) {
  const int saved = num_threads();
  auto run = [](int threads, const std::function<Optimizer()>& make) {
    set_num_threads(threads);
    auto w = std::make_shared<Parameter>("w", testing::uniform({400, 300}, 1));
    auto table = std::make_shared<Parameter>("emb", testing::uniform({5000, 16}, 2));
    Optimizer opt = make();
    opt.init({{"w", w}, {"emb", table}});
    for (int step = 0; step < 2; ++step) {
      set_dense_grad(*w, testing::uniform({400, 300}, 10 + step).to_vector());
      std::vector<std::int64_t> rows;
      for (std::int64_t r = step; r < 5000; r += 3) rows.push_back(r);
      add_sparse_grad(
          *table, rows,
          testing::uniform({static_cast<std::int64_t>(rows.size()), 16}, 20 + step).to_vector());
      opt.step();
    }
    return std::make_pair(w->value().clone(), table->value().clone());
  };
  for (const auto& make : all_optimizers()) {
    const auto one = run(1, make), two = run(2, make), four = run(4, make);
    EXPECT_TRUE(testing::tensors_bitwise_equal(one.first, two.first));
    EXPECT_TRUE(testing::tensors_bitwise_equal(one.second, two.second));
    EXPECT_TRUE(testing::tensors_bitwise_equal(one.first, four.first));
    EXPECT_TRUE(testing::tensors_bitwise_equal(one.second, four.second));
  }
  set_num_threads(saved);
}

// ----- JSON -----

TEST(OptimizerJsonTest, RoundTrip) {
  const std::vector<Optimizer> optimizers = {
      optim::SGD(
          {.learning_rate = 0.2f, .momentum = 0.8f, .nesterov = true, .weight_decay = 1e-4f}),
      optim::Adam({.learning_rate = LearningRate::cosine_decay(0.01f, 100, 0.1f).with_warmup(10),
                   .beta_1 = 0.8f,
                   .beta_2 = 0.99f,
                   .epsilon = 1e-8f,
                   .weight_decay = 0.01f,
                   .decoupled_weight_decay = true}),
      optim::LazyAdam({.learning_rate = LearningRate::exponential_decay(0.01f, 10, 0.9f, true)}),
      optim::Adagrad({.learning_rate = 0.05f, .initial_accumulator_value = 0.2f, .epsilon = 1e-6f}),
      optim::RowWiseAdagrad({.weight_decay = 0.001f}),
  };
  for (const Optimizer& opt : optimizers) {
    const nlohmann::json j = opt.to_json();
    const Optimizer back = Optimizer::from_json(j);
    EXPECT_EQ(back.type(), opt.type());
    EXPECT_EQ(back.to_json(), j) << j.dump();
    EXPECT_EQ(Optimizer::from_json(nlohmann::json::parse(j.dump())).to_json(), j);
  }
  const nlohmann::json sgd = optimizers[0].to_json();
  EXPECT_EQ(sgd["type"], "sgd");
  EXPECT_EQ(sgd["nesterov"], true);
  EXPECT_FLOAT_EQ(sgd["momentum"].get<float>(), 0.8f);
  EXPECT_EQ(optimizers[1].to_json()["learning_rate"]["decay"], "cosine");
}

TEST(OptimizerJsonTest, DefaultsByNameFollowKeras) {
  const nlohmann::json adam = optim::by_name("adam").to_json();
  EXPECT_EQ(adam["learning_rate"], LearningRate::constant(1e-3f).to_json());
  EXPECT_EQ(adam["beta_1"].get<float>(), 0.9f);
  EXPECT_EQ(adam["beta_2"].get<float>(), 0.999f);
  EXPECT_EQ(adam["epsilon"].get<float>(), 1e-7f);
  const nlohmann::json adagrad = optim::by_name("adagrad").to_json();
  EXPECT_EQ(adagrad["initial_accumulator_value"].get<float>(), 0.1f);
  EXPECT_EQ(optim::by_name("sgd").to_json()["learning_rate"]["initial"].get<float>(), 0.01f);
  EXPECT_EQ(optim::by_name("lazyadam").type(), "lazy_adam");
  EXPECT_EQ(optim::by_name("Lazy_Adam").type(), "lazy_adam");
  EXPECT_EQ(optim::by_name("rowwise_adagrad").type(), "rowwise_adagrad");
  EXPECT_EQ(Optimizer::from_json({{"type", "sgd"}, {"learning_rate", 0.3}}).current_learning_rate(),
            0.3f);
}

TEST(OptimizerJsonTest, ErrorsNameTheProblem) {
  EXPECT_THAT(
      [] { (void)optim::by_name("rmsprop"); },
      ThrowsMessage<ValueError>(AllOf(HasSubstr("'rmsprop'"), HasSubstr("sgd, adam, lazy_adam"))));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "adamax"}});
      },
      ThrowsMessage<ValueError>(HasSubstr("unknown type 'adamax'")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"learning_rate", 0.1}});
      },
      ThrowsMessage<ValueError>(HasSubstr("'type' must be a string")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "sgd"}, {"momentun", 0.9}});
      },
      ThrowsMessage<ValueError>(
          AllOf(HasSubstr("unknown option 'momentun'"), HasSubstr("momentum"))));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "adam"}, {"momentum", 0.9}});
      },
      ThrowsMessage<ValueError>(HasSubstr("adam: unknown option 'momentum'")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "sgd"}, {"nesterov", 1}});
      },
      ThrowsMessage<ValueError>(HasSubstr("'nesterov' must be true or false")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "adam"}, {"beta_1", "high"}});
      },
      ThrowsMessage<ValueError>(HasSubstr("'beta_1' must be a number")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "adam"}, {"learning_rate", {{"decay", "step"}}}});
      },
      ThrowsMessage<ValueError>(HasSubstr("unknown decay 'step'")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "adagrad"}, {"epsilon", -1}});
      },
      ThrowsMessage<ValueError>(HasSubstr("epsilon -1")));
}

// ----- FTRL -----

// TensorFlow's ApplyFtrlV2 with learning_rate_power -0.5, in double.
ElementUpdate ftrl_ref(double lr, double l1 = 0, double l2 = 0, double beta = 0) {
  return [=](int, double g, double& w, ElementState& s) {
    const double next = s.a + g * g;
    s.b += g - (std::sqrt(next) - std::sqrt(s.a)) / lr * w;
    s.a = next;
    const double quadratic = (beta + std::sqrt(next)) / lr + 2 * l2;
    w = std::abs(s.b) > l1 ? (std::copysign(l1, s.b) - s.b) / quadratic : 0.0;
  };
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

TEST(OptimizerSparseTest, FtrlUpdatesTouchedRowsOnly) {
  const TableRun run = two_table_steps(optim::Ftrl({.learning_rate = 0.2f}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, ftrl_ref(0.2), 0.1, kTouched), 1e-5);
  EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));
  EXPECT_EQ(run.state.at("emb/linear").item(4), 0.0f);  // row 2
}

TEST(OptimizerErrorTest, FtrlOptionsAreChecked) {
  EXPECT_THAT([] { (void)optim::Ftrl({.learning_rate = 0.0f}); },
              ThrowsMessage<ValueError>(HasSubstr("ftrl: learning_rate 0 must be > 0")));
  EXPECT_THAT([] { (void)optim::Ftrl({.l1 = -1.0f}); },
              ThrowsMessage<ValueError>(HasSubstr("ftrl: l1 -1 must be finite and >= 0")));
  EXPECT_THAT([] { (void)optim::Ftrl({.learning_rate = LearningRate::cosine_decay(0.1f, 10)}); },
              ThrowsMessage<ValueError>(HasSubstr("alpha > 0")));
  EXPECT_THAT([] { (void)optim::Ftrl({.initial_accumulator_value = 0.0f}); },
              ThrowsMessage<ValueError>(HasSubstr("divide by 0")));
}

// ----- MultiOptimizer -----

struct TwoGroups {
  ParameterPtr wide = make_param("wide/emb", {5, 2}, kTable0);
  ParameterPtr deep = make_param("deep/w", {2, 3}, kW0);
  ParameterPtr bias = make_param("head/b", {2}, {0.5f, -0.5f});

  std::vector<std::pair<std::string, ParameterPtr>> all() const {
    return {{"deep/w", deep}, {"wide/emb", wide}, {"head/b", bias}};
  }
  void feed(int step) const {
    feed_table_step(*wide, step);
    set_dense_grad(*deep, kGrads[static_cast<std::size_t>(step)]);
    set_dense_grad(*bias, {0.25f, static_cast<float>(step) - 0.5f});
  }
};

Optimizer wide_ftrl_rest_adam() {
  return optim::MultiOptimizer(optim::Adam({.learning_rate = 0.05f}),
                               {{"wide/", optim::Ftrl({.learning_rate = 0.2f})},
                                {"head/", optim::SGD({.learning_rate = 0.1f})}});
}

TEST(MultiOptimizerTest, EachGroupIsUpdatedByItsOwnOptimizer) {
  // Against each optimizer run alone on its parameters: bit-identical.
  TwoGroups multi, alone;
  const Optimizer opt = wide_ftrl_rest_adam();
  opt.init(multi.all());
  const Optimizer ftrl = optim::Ftrl({.learning_rate = 0.2f});
  const Optimizer adam = optim::Adam({.learning_rate = 0.05f});
  const Optimizer sgd = optim::SGD({.learning_rate = 0.1f});
  ftrl.init({{"wide/emb", alone.wide}});
  adam.init({{"deep/w", alone.deep}});
  sgd.init({{"head/b", alone.bias}});
  for (int step = 0; step < 2; ++step) {
    multi.feed(step);
    alone.feed(step);
    opt.step();
    ftrl.step();
    adam.step();
    sgd.step();
  }
  EXPECT_EQ(multi.wide->value().to_vector(), alone.wide->value().to_vector());
  EXPECT_EQ(multi.deep->value().to_vector(), alone.deep->value().to_vector());
  EXPECT_EQ(multi.bias->value().to_vector(), alone.bias->value().to_vector());
  expect_near(multi.wide->value().to_vector(),
              reference(kTable0, kTableGrads, ftrl_ref(0.2), 0.1, kTouched), 1e-5);
  EXPECT_EQ(opt.iterations(), 2);
  EXPECT_EQ(opt.type(), "multi");
  EXPECT_FLOAT_EQ(opt.current_learning_rate(), 0.05f);
  // The state: every group's slots and one iterations.
  const auto state = opt.state();
  std::vector<std::string> keys;
  for (const auto& [key, value] : state) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"deep/w/m", "deep/w/v", "iterations",
                                            "wide/emb/accumulator", "wide/emb/linear"}));
}

TEST(MultiOptimizerTest, ResumeIsBitIdentical) {
  TwoGroups straight, resumed;
  const Optimizer a = wide_ftrl_rest_adam();
  a.init(straight.all());
  straight.feed(0);
  a.step();
  // Resume after step 1 from the weights and the optimizer state.
  resumed.wide->value().copy_from(straight.wide->value());
  resumed.deep->value().copy_from(straight.deep->value());
  resumed.bias->value().copy_from(straight.bias->value());
  const Optimizer b = Optimizer::from_json(a.to_json());
  b.init(resumed.all());
  b.load_state(a.state());
  straight.feed(1);
  resumed.feed(1);
  a.step();
  b.step();
  EXPECT_EQ(resumed.wide->value().to_vector(), straight.wide->value().to_vector());
  EXPECT_EQ(resumed.deep->value().to_vector(), straight.deep->value().to_vector());
  EXPECT_EQ(resumed.bias->value().to_vector(), straight.bias->value().to_vector());
  EXPECT_EQ(b.iterations(), 2);
}

TEST(MultiOptimizerTest, NonFiniteGradientInOneGroupChangesNoGroup) {
  TwoGroups p;
  const Optimizer opt = wide_ftrl_rest_adam();
  opt.init(p.all());
  p.feed(0);
  add_sparse_grad(*p.wide, {2}, {NAN, 0.0f});  // the FTRL group, the first one checked
  EXPECT_THAT([&] { opt.step(); }, ThrowsMessage<ValueError>(HasSubstr("'wide/emb'")));
  EXPECT_EQ(p.deep->value().to_vector(), kW0);
  EXPECT_EQ(p.wide->value().to_vector(), kTable0);
  EXPECT_EQ(opt.iterations(), 0);
  // A NaN in the last group (the default's Adam) leaves the groups that
  // step before it unchanged too.
  TwoGroups q;
  const Optimizer other = wide_ftrl_rest_adam();
  other.init(q.all());
  q.feed(0);
  std::vector<float> bad = kGrads[1];
  bad[4] = NAN;
  set_dense_grad(*q.deep, bad);  // accumulates: element 4 becomes nan
  EXPECT_THAT([&] { other.step(); }, ThrowsMessage<ValueError>(HasSubstr("'deep/w'")));
  EXPECT_EQ(q.wide->value().to_vector(), kTable0);
  EXPECT_EQ(q.bias->value().to_vector(), (std::vector<float>{0.5f, -0.5f}));
  EXPECT_EQ(other.iterations(), 0);
}

TEST(MultiOptimizerTest, LoadStateChecksEverythingFirst) {
  TwoGroups p;
  const Optimizer opt = wide_ftrl_rest_adam();
  opt.init(p.all());
  p.feed(0);
  opt.step();
  const auto good = opt.state();
  auto unknown = good;
  unknown.emplace("tower/w/m", Tensor::zeros({1}));
  EXPECT_THAT([&] { opt.load_state(unknown); },
              ThrowsMessage<ValueError>(HasSubstr("unknown key(s) 'tower/w/m'")));
  // A bad slot in the last group (the default's) leaves the first group's
  // state as it was, though that group loads first.
  auto bad = good;
  bad.at("deep/w/v") = Tensor::zeros({3});
  bad.at("wide/emb/linear") = Tensor::full({5, 2}, 7.0f);
  EXPECT_THAT([&] { opt.load_state(bad); },
              ThrowsMessage<ValueError>(HasSubstr("slot 'deep/w/v'")));
  EXPECT_TRUE(testing::tensors_bitwise_equal(opt.state().at("wide/emb/linear"),
                                             good.at("wide/emb/linear")));
}

TEST(MultiOptimizerTest, MisuseIsReported) {
  TwoGroups p;
  EXPECT_THAT(
      [&] {
        optim::MultiOptimizer(optim::Adam(), {{"tower/", optim::SGD()}}).init(p.all());
      },
      ThrowsMessage<ValueError>(HasSubstr("no parameter's name starts with the group prefix "
                                          "'tower/' (parameters: deep/w, wide/emb, head/b)")));
  EXPECT_THAT(
      [] {
        (void)optim::MultiOptimizer(optim::Adam(), {{"", optim::SGD()}});
      },
      ThrowsMessage<ValueError>(HasSubstr("empty prefix")));
  EXPECT_THAT(
      [] {
        (void)optim::MultiOptimizer(optim::Adam(), {{"a/", optim::SGD()}, {"a/", optim::SGD()}});
      },
      ThrowsMessage<ValueError>(HasSubstr("two groups have the prefix 'a/'")));
  EXPECT_THAT(
      [] {
        const Optimizer shared = optim::SGD();
        (void)optim::MultiOptimizer(optim::Adam(), {{"a/", shared}, {"b/", shared}});
      },
      ThrowsMessage<ValueError>(HasSubstr("one optimizer object is given to two groups")));
  EXPECT_THAT([] { (void)optim::MultiOptimizer(Optimizer(), {}); },
              ThrowsMessage<ValueError>(HasSubstr("the default has no optimizer")));
  EXPECT_THAT(
      [] {
        (void)optim::MultiOptimizer(optim::Adam(),
                                    {{"a/", optim::MultiOptimizer(optim::SGD(), {})}});
      },
      ThrowsMessage<ValueError>(HasSubstr("cannot itself be a MultiOptimizer")));
}

TEST(MultiOptimizerTest, JsonRoundTripAndErrors) {
  const Optimizer opt = wide_ftrl_rest_adam();
  const nlohmann::json j = opt.to_json();
  EXPECT_EQ(j["type"], "multi");
  EXPECT_EQ(j["default"]["type"], "adam");
  EXPECT_EQ(j["groups"][0]["prefix"], "wide/");
  EXPECT_EQ(j["groups"][0]["optimizer"]["type"], "ftrl");
  EXPECT_EQ(Optimizer::from_json(nlohmann::json::parse(j.dump())).to_json(), j);
  const nlohmann::json ftrl =
      optim::Ftrl({.learning_rate = 0.3f, .l1 = 0.01f, .l2 = 0.02f, .beta = 1.0f}).to_json();
  EXPECT_EQ(Optimizer::from_json(ftrl).to_json(), ftrl);
  EXPECT_EQ(optim::by_name("FTRL").type(), "ftrl");
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "multi"}});
      },
      ThrowsMessage<ValueError>(HasSubstr("'default' (the default optimizer) is missing")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json(
            {{"type", "multi"}, {"default", {{"type", "adam"}}}, {"groups", {{{"prefix", "a/"}}}}});
      },
      ThrowsMessage<ValueError>(HasSubstr("a group must be {\"prefix\": string")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "multi"}, {"default", {{"type", "adam"}}}, {"x", 1}});
      },
      ThrowsMessage<ValueError>(HasSubstr("multi: unknown option 'x'")));
}

}  // namespace
}  // namespace recblocks
