// The rule engine shared by every optimizer: non-finite and malformed
// gradients, option checks, checkpoints (state / load_state) and threads.
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

// ----- non-finite gradients -----

TEST(OptimizerErrorTest, NonFiniteGradientThrowsBeforeChangingAnything) {
  for (const Optimizer& opt : {optim::Adam(), optim::SGD(), optim::RowWiseAdagrad()}) {
    ParameterPtr a = make_param("dense/a", {2, 3}, kW0);
    ParameterPtr table = make_param("emb", {5, 2}, kTable0);
    opt.init({{"dense/a", a}, {"emb", table}});
    set_dense_grad(*a, kGrads[0]);
    add_sparse_grad(*table, {1}, {0.1f, 0.2f});
    add_sparse_grad(*table, {0, 3}, {0.1f, 0.2f, 0.3f, INFINITY});
    // A NonFiniteError, which Model::fit catches to name the op behind it.
    EXPECT_THAT([&] { opt.step(); }, ThrowsMessage<NonFiniteError>(AllOf(
                                         HasSubstr("'emb'"), HasSubstr("inf at row 3, column 1"),
                                         HasSubstr("segment 1"))));
    table->zero_grad();
    std::vector<float> bad = kGrads[1];
    bad[5] = NAN;
    add_sparse_grad(*table, {1}, {0.1f, 0.2f});
    set_dense_grad(*a, bad);  // accumulates: [1, 2] becomes nan
    EXPECT_THAT([&] { opt.step(); }, ThrowsMessage<NonFiniteError>(AllOf(
                                         HasSubstr("'dense/a'"), HasSubstr("nan at [1, 2]"))));
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

// ----- checkpoints: state() / load_state() -----

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

}  // namespace
}  // namespace recblocks
