// Sparse gradients of a [5, 2] table: what each rule does to touched and
// untouched rows, merged segments, dense and sparse gradients together.
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

// ----- a [5, 2] table with sparse gradients -----
//
// Step 1: one segment, rows {1, 3}. Step 2: two segments (two lookups),
// rows {0, 3} and {3, 4}: row 3 is in both and its gradients add. Row 2 is
// never touched; row 1 only in step 1 (optim_testing.h).

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

TEST(OptimizerSparseTest, FtrlUpdatesTouchedRowsOnly) {
  const TableRun run = two_table_steps(optim::Ftrl({.learning_rate = 0.2f}));
  expect_near(run.after[1], reference(kTable0, kTableGrads, ftrl_ref(0.2), 0.1, kTouched), 1e-5);
  EXPECT_EQ(row(run.after[1], 2), row(kTable0, 2));
  EXPECT_EQ(run.state.at("emb/linear").item(4), 0.0f);  // row 2
}

}  // namespace
}  // namespace recblocks
