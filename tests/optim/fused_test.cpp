// Fused sparse updates (in the backward) against the unfused step, through
// the real embedding op, and their misuse.
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
      ThrowsMessage<NonFiniteError>(
          AllOf(HasSubstr("'emb'"), HasSubstr("nan at row 4, column 1"))));
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

}  // namespace
}  // namespace recblocks
