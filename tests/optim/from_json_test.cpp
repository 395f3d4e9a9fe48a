// Optimizers in JSON: round trips, defaults by name, errors.
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

}  // namespace
}  // namespace recblocks
