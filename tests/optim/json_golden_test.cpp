// The JSON of every optimizer and learning-rate schedule, with non-default
// options, as the code before options reflection wrote it (commit 31ce016,
// Optimizer::to_json().dump()). Checkpoints and model.json files keep
// loading and saving byte for byte the same.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "recblocks/optim/optim.h"

namespace recblocks {
namespace {

struct GoldenOptimizer {
  std::string name;
  Optimizer optimizer;
  std::string json;
};

// clang-format off
std::vector<GoldenOptimizer> golden_optimizers() {
  return {
      {"sgd", optim::SGD({.learning_rate = 0.05f, .momentum = 0.9f, .nesterov = true,
                          .weight_decay = 1e-4f}),
       R"({"learning_rate":{"decay":"constant","initial":0.05000000074505806},"momentum":0.89999)"
       R"(99761581421,"nesterov":true,"type":"sgd","weight_decay":9.999999747378752e-05})"},
      {"sgd defaults", optim::by_name("sgd"),
       R"({"learning_rate":{"decay":"constant","initial":0.009999999776482582},"momentum":0.0,"n)"
       R"(esterov":false,"type":"sgd","weight_decay":0.0})"},
      {"adam", optim::Adam({.learning_rate =
                                LearningRate::exponential_decay(0.01f, 100, 0.5f, true),
                            .beta_1 = 0.8f, .beta_2 = 0.99f, .epsilon = 1e-6f,
                            .weight_decay = 0.01f, .decoupled_weight_decay = true}),
       R"({"beta_1":0.800000011920929,"beta_2":0.9900000095367432,"decoupled_weight_decay":true,)"
       R"("epsilon":9.999999974752427e-07,"learning_rate":{"decay":"exponential","decay_steps":1)"
       R"(00,"initial":0.009999999776482582,"rate":0.5,"staircase":true},"type":"adam","weight_d)"
       R"(ecay":0.009999999776482582})"},
      {"adam defaults", optim::by_name("adam"),
       R"({"beta_1":0.8999999761581421,"beta_2":0.9990000128746033,"decoupled_weight_decay":fals)"
       R"(e,"epsilon":1.0000000116860974e-07,"learning_rate":{"decay":"constant","initial":0.001)"
       R"(0000000474974513},"type":"adam","weight_decay":0.0})"},
      {"lazy_adam", optim::LazyAdam({.learning_rate =
                                     LearningRate::cosine_decay(0.02f, 50, 0.1f).with_warmup(10),
                                     .beta_1 = 0.5f, .weight_decay = 0.125f}),
       R"({"beta_1":0.5,"beta_2":0.9990000128746033,"decoupled_weight_decay":false,"epsilon":1.0)"
       R"(000000116860974e-07,"learning_rate":{"alpha":0.10000000149011612,"decay":"cosine","dec)"
       R"(ay_steps":50,"initial":0.019999999552965164,"warmup_steps":10},"type":"lazy_adam","wei)"
       R"(ght_decay":0.125})"},
      {"adagrad", optim::Adagrad({.learning_rate = 0.1f, .initial_accumulator_value = 0.2f,
                                  .epsilon = 1e-5f, .weight_decay = 0.001f}),
       R"({"epsilon":9.999999747378752e-06,"initial_accumulator_value":0.20000000298023224,"lear)"
       R"(ning_rate":{"decay":"constant","initial":0.10000000149011612},"type":"adagrad","weight)"
       R"(_decay":0.0010000000474974513})"},
      {"rowwise_adagrad", optim::RowWiseAdagrad({.learning_rate =
                                                     LearningRate::constant(0.3f).with_warmup(5),
                                                 .initial_accumulator_value = 0.0f}),
       R"({"epsilon":1.0000000116860974e-07,"initial_accumulator_value":0.0,"learning_rate":{"de)"
       R"(cay":"constant","initial":0.30000001192092896,"warmup_steps":5},"type":"rowwise_adagra)"
       R"(d","weight_decay":0.0})"},
      {"ftrl", optim::Ftrl({.learning_rate = LearningRate::exponential_decay(0.05f, 20, 0.9f),
                            .initial_accumulator_value = 0.3f, .l1 = 0.01f, .l2 = 0.02f,
                            .beta = 0.5f}),
       R"({"beta":0.5,"initial_accumulator_value":0.30000001192092896,"l1":0.009999999776482582,)"
       R"("l2":0.019999999552965164,"learning_rate":{"decay":"exponential","decay_steps":20,"ini)"
       R"(tial":0.05000000074505806,"rate":0.8999999761581421,"staircase":false},"type":"ftrl"})"},
      {"ftrl defaults", optim::by_name("ftrl"),
       R"({"beta":0.0,"initial_accumulator_value":0.10000000149011612,"l1":0.0,"l2":0.0,"learnin)"
       R"(g_rate":{"decay":"constant","initial":0.0010000000474974513},"type":"ftrl"})"},
      {"multi", optim::MultiOptimizer(optim::Adam({.learning_rate = 0.002f}),
                                      {{"wide/", optim::Ftrl({.learning_rate = 0.05f, .l1 = 0.1f})},
                                       {"deep/", optim::SGD({.momentum = 0.5f})}}),
       R"({"default":{"beta_1":0.8999999761581421,"beta_2":0.9990000128746033,"decoupled_weight_)"
       R"(decay":false,"epsilon":1.0000000116860974e-07,"learning_rate":{"decay":"constant","ini)"
       R"(tial":0.0020000000949949026},"type":"adam","weight_decay":0.0},"groups":[{"optimizer":)"
       R"({"beta":0.0,"initial_accumulator_value":0.10000000149011612,"l1":0.10000000149011612,")"
       R"(l2":0.0,"learning_rate":{"decay":"constant","initial":0.05000000074505806},"type":"ftr)"
       R"(l"},"prefix":"wide/"},{"optimizer":{"learning_rate":{"decay":"constant","initial":0.00)"
       R"(9999999776482582},"momentum":0.5,"nesterov":false,"type":"sgd","weight_decay":0.0},"pr)"
       R"(efix":"deep/"}],"type":"multi"})"},
  };
}
// clang-format on

TEST(OptimizerJsonGolden, WritesTheSameJsonAsBefore) {
  for (const GoldenOptimizer& g : golden_optimizers()) {
    EXPECT_EQ(g.optimizer.to_json().dump(), g.json) << g.name;
  }
}

TEST(OptimizerJsonGolden, ReadsAndWritesTheGoldenJsonByteForByte) {
  for (const GoldenOptimizer& g : golden_optimizers()) {
    const Optimizer loaded = Optimizer::from_json(nlohmann::json::parse(g.json));
    EXPECT_EQ(loaded.type(), g.optimizer.type()) << g.name;
    EXPECT_EQ(loaded.to_json().dump(), g.json) << g.name;
  }
}

}  // namespace
}  // namespace recblocks
