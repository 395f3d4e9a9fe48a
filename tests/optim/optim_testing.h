// Shared by the optimizer tests: parameters with hand-set gradients, the
// reference updates (one formula per element, in double, independent of the
// backend's kernels), a dense [2, 3] parameter and a [5, 2] table run for
// two steps, a small net with dense and sparse gradients, and a maker of
// every optimizer.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "recblocks/autograd/parameter.h"
#include "recblocks/optim/optim.h"
#include "testing/tensor_testing.h"

namespace recblocks::optim_testing {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using Vec = std::vector<double>;
using Grads = std::vector<std::vector<float>>;

inline ParameterPtr make_param(const std::string& name, const Shape& shape,
                               const std::vector<float>& values) {
  return std::make_shared<Parameter>(name, Tensor::from<float>(shape, values));
}

inline void set_dense_grad(Parameter& p, const std::vector<float>& g) {
  const kernels::GradOut out = p.dense_grad_out();
  float* dst = out.tensor.data<float>();
  for (std::size_t i = 0; i < g.size(); ++i) dst[i] = out.accumulate ? dst[i] + g[i] : g[i];
}

inline void add_sparse_grad(Parameter& p, const std::vector<std::int64_t>& rows,
                            const std::vector<float>& values) {
  const auto n = static_cast<std::int64_t>(rows.size());
  const auto dim = static_cast<std::int64_t>(values.size()) / n;
  p.add_sparse_grad({Tensor::from<std::int64_t>({n}, rows), Tensor::from<float>({n, dim}, values)});
}

inline void expect_near(const std::vector<float>& actual, const Vec& expected, double rtol = 2e-6) {
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
inline Vec reference(const std::vector<float>& w0, const Grads& grads, const ElementUpdate& update,
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

inline ElementUpdate sgd_ref(double lr, double wd = 0) {
  return [=](int, double g, double& w, ElementState&) { w -= lr * (g + wd * w); };
}
inline ElementUpdate momentum_ref(double lr, double momentum, bool nesterov, double wd = 0) {
  return [=](int, double g, double& w, ElementState& s) {
    g += wd * w;
    s.a = momentum * s.a - lr * g;
    w += nesterov ? momentum * s.a - lr * g : s.a;
  };
}
inline ElementUpdate adam_ref(double lr, double wd = 0, bool decoupled = false) {
  return [=](int t, double g, double& w, ElementState& s) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-7;
    if (!decoupled) g += wd * w;
    s.a = b1 * s.a + (1 - b1) * g;
    s.b = b2 * s.b + (1 - b2) * g * g;
    if (decoupled) w -= lr * wd * w;
    w -= lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t)) * s.a / (std::sqrt(s.b) + eps);
  };
}
inline ElementUpdate adagrad_ref(double lr, double wd = 0) {
  return [=](int, double g, double& w, ElementState& s) {
    g += wd * w;
    s.a += g * g;
    w -= lr * g / (std::sqrt(s.a) + 1e-7);
  };
}

// ----- a dense [2, 3] parameter, two steps -----

inline const std::vector<float> kW0 = {0.5f, -1.0f, 2.0f, 0.0f, 1.5f, -0.25f};
inline const Grads kGrads = {{0.1f, -0.2f, 0.3f, 0.4f, 0.0f, -0.6f},
                             {-0.3f, 0.1f, 0.2f, -0.1f, 0.5f, 0.05f}};

struct DenseRun {
  std::vector<float> weights;
  std::map<std::string, Tensor> state;
};

inline DenseRun two_dense_steps(const Optimizer& opt) {
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

// ----- a [5, 2] table with sparse gradients -----
//
// Step 1: one segment, rows {1, 3}. Step 2: two segments (two lookups),
// rows {0, 3} and {3, 4}: row 3 is in both and its gradients add. Row 2 is
// never touched; row 1 only in step 1.

inline const std::vector<float> kTable0 = {0.1f,  0.2f, -0.3f, 0.4f,  0.5f,
                                           -0.6f, 0.7f, 0.8f,  -0.9f, 1.0f};

inline void feed_table_step(Parameter& table, int step) {
  if (step == 0) {
    add_sparse_grad(table, {1, 3}, {0.1f, -0.2f, 0.3f, 0.4f});
  } else {
    add_sparse_grad(table, {0, 3}, {0.5f, 0.6f, -0.2f, 0.1f});
    add_sparse_grad(table, {3, 4}, {0.3f, -0.4f, 0.2f, 0.2f});
  }
}
// The same gradients, dense, summed by hand.
inline const Grads kTableGrads = {{0, 0, 0.1f, -0.2f, 0, 0, 0.3f, 0.4f, 0, 0},
                                  {0.5f, 0.6f, 0, 0, 0, 0, 0.1f, -0.3f, 0.2f, 0.2f}};
inline const std::vector<std::vector<bool>> kTouched = {
    {false, false, true, true, false, false, true, true, false, false},
    {true, true, false, false, false, false, true, true, true, true}};

struct TableRun {
  std::vector<std::vector<float>> after;  // the table after each step
  std::map<std::string, Tensor> state;
};

inline TableRun two_table_steps(const Optimizer& opt) {
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

inline std::vector<float> row(const std::vector<float>& table, int r) {
  return {table[2 * r], table[2 * r + 1]};
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

inline const std::vector<std::function<Optimizer()>>& all_optimizers() {
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

// TensorFlow's ApplyFtrlV2 with learning_rate_power -0.5, in double.
inline ElementUpdate ftrl_ref(double lr, double l1 = 0, double l2 = 0, double beta = 0) {
  return [=](int, double g, double& w, ElementState& s) {
    const double next = s.a + g * g;
    s.b += g - (std::sqrt(next) - std::sqrt(s.a)) / lr * w;
    s.a = next;
    const double quadratic = (beta + std::sqrt(next)) / lr + 2 * l2;
    w = std::abs(s.b) > l1 ? (std::copysign(l1, s.b) - s.b) / quadratic : 0.0;
  };
}

}  // namespace recblocks::optim_testing
