// MultiOptimizer: a rule per group of parameters.
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
  EXPECT_THAT([&] { opt.step(); }, ThrowsMessage<NonFiniteError>(HasSubstr("'wide/emb'")));
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
  EXPECT_THAT([&] { other.step(); }, ThrowsMessage<NonFiniteError>(HasSubstr("'deep/w'")));
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
