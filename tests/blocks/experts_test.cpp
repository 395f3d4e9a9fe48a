// MMOEBlock, CGCBlock and PLEBlock against the formulas computed here from
// their weights, their gradients (finite differences), JSON round trips,
// errors, and Models that train two tasks on them with loss weights.
#include "recblocks/blocks/experts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "io/test_files.h"
#include "model/model_testing.h"
#include "recblocks/blocks/mlp.h"
#include "testing/gradient_checker.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

const Batch& no_batch() {
  static const Batch empty;
  return empty;
}

// The block's outputs for x, copied out of the tape.
std::vector<std::pair<std::string, Tensor>> run_dict(const Block& block, const Tensor& x) {
  if (!block.built()) {
    BlockContext context(5);
    block.build(FlowSpec::tensor({x.shape().without(0), DType::kFloat32}), context);
  }
  Tape tape;
  RunContext run(tape, no_batch(), false);
  std::vector<std::pair<std::string, Tensor>> out;
  const Flow flow = block.forward(Flow::tensor(tape.constant(x)), run);
  for (const auto& [name, v] : flow.dict()) {
    out.emplace_back(name, v.value().clone());
  }
  return out;
}

const Tensor& param(const Block& block, const std::string& name) {
  for (const auto& [n, p] : block.parameters()) {
    if (n == name) return p->value();
  }
  ADD_FAILURE() << "no parameter " << name;
  static const Tensor none;
  return none;
}

// relu(x W + b) or x W + b for row r of x, in double.
std::vector<double> dense_row(const Tensor& x, std::int64_t r, const Tensor& w, const Tensor& b,
                              bool relu) {
  const std::int64_t n = w.size(0), m = w.size(1);
  std::vector<double> y(static_cast<std::size_t>(m));
  for (std::int64_t j = 0; j < m; ++j) {
    double s = b.data<float>()[j];
    for (std::int64_t i = 0; i < n; ++i)
      s += static_cast<double>(x.data<float>()[r * n + i]) * w.data<float>()[i * m + j];
    y[static_cast<std::size_t>(j)] = relu ? std::max(s, 0.0) : s;
  }
  return y;
}

TEST(MMOEBlock, EachOutputIsItsGatesMixtureOfTheExperts) {
  const MMOEBlock mmoe({"a", "b"}, MLPBlock({3}), 4, {.gate_softmax_temperature = 2.0});
  const Tensor x = testing::uniform({5, 6}, 1);
  const auto out = run_dict(mmoe, x);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].first, "a");
  EXPECT_EQ(out[1].first, "b");
  for (std::size_t k = 0; k < 2; ++k) {
    const std::string gate = "gate_" + std::to_string(k) + "/dense_0/";
    for (std::int64_t r = 0; r < 5; ++r) {
      std::vector<double> g =
          dense_row(x, r, param(mmoe, gate + "kernel"), param(mmoe, gate + "bias"), false);
      double total = 0;
      for (double& v : g) total += v = std::exp(v / 2.0);
      std::vector<double> want(3, 0.0);
      for (int e = 0; e < 4; ++e) {
        const std::string expert = "shared_expert_" + std::to_string(e) + "/dense_0/";
        const auto h =
            dense_row(x, r, param(mmoe, expert + "kernel"), param(mmoe, expert + "bias"), true);
        for (int d = 0; d < 3; ++d) want[d] += g[e] / total * h[d];
      }
      for (int d = 0; d < 3; ++d) {
        EXPECT_NEAR(out[k].second.data<float>()[r * 3 + d], want[d], 1e-6)
            << k << " " << r << " " << d;
      }
    }
  }
  // The experts are copies with their own weights.
  EXPECT_FALSE(testing::tensors_bitwise_equal(param(mmoe, "shared_expert_0/dense_0/kernel"),
                                              param(mmoe, "shared_expert_1/dense_0/kernel")));
}

TEST(MMOEBlock, Gradients) {
  const MMOEBlock mmoe({"a", "b"}, MLPBlock({3}, {.activation = "tanh"}), 3);
  Parameter x("x", testing::uniform({4, 5}, 2));
  BlockContext context(3);
  mmoe.build(FlowSpec::tensor({Shape{5}, DType::kFloat32}), context);
  std::vector<Parameter*> inputs{&x};
  for (const auto& [name, p] : mmoe.parameters()) inputs.push_back(p.get());
  EXPECT_TRUE(
      testing::check_gradients("MMOEBlock", inputs, [&](Tape& tape, std::span<const Var> v) {
        RunContext run(tape, no_batch(), true);
        const Flow out = mmoe.forward(Flow::tensor(v[0]), run);
        return out.as_tensor("test");
      }));
}

TEST(MMOEBlock, JsonRoundTripGivesTheSameOutputs) {
  const MMOEBlock mmoe({"a", "b"}, MLPBlock({3}), 2,
                       {.gate_block = MLPBlock({4}), .gate_softmax_temperature = 0.5});
  const Tensor x = testing::uniform({3, 6}, 4);
  const auto before = run_dict(mmoe, x);
  const nlohmann::json j = mmoe.to_json();
  const Block again = Block::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(again.to_json(), j);
  BlockContext context(77);
  again.build(FlowSpec::tensor({Shape{6}, DType::kFloat32}), context);
  again.load_state(mmoe.state());
  const auto after = run_dict(again, x);
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_TRUE(testing::tensors_bitwise_equal(after[k].second, before[k].second));
  }
}

TEST(MMOEBlock, ErrorsNameTheProblem) {
  EXPECT_THAT(error_of([] { MMOEBlock({}, MLPBlock({3}), 2); }),
              HasSubstr("MMOEBlock: no outputs"));
  EXPECT_THAT(error_of([] {
                MMOEBlock({"a", "a"}, MLPBlock({3}), 2);
              }),
              HasSubstr("an output is named twice"));
  EXPECT_THAT(error_of([] { MMOEBlock({"a"}, MLPBlock({3}), 0); }),
              HasSubstr("num_experts is 0, expected >= 1"));
  EXPECT_THAT(error_of([] { MMOEBlock({"a"}, MLPBlock({3}), 2, {.gate_softmax_temperature = 0}); }),
              HasSubstr("gate_softmax_temperature is 0, expected > 0"));
}

const std::string kBinary = "rating_binary/binary_classification_task";
const std::string kRegression = "rating/regression_task";

// Embeddings and continuous columns concatenated, then `experts` (outputs
// named after the two tasks), compiled with loss weights 1 and 0.5.
Model two_task_model(const Dataset& data, const Block& experts) {
  const Block inputs =
      ParallelBlock({{"categorical", EmbeddingFeatures::from_schema(data.schema(), {.dim = 8})},
                     {"continuous", ContinuousFeatures::from_schema(data.schema())}});
  Model model(inputs.connect(ConcatFeatures()).connect(experts),
              {BinaryClassificationTask("rating_binary"), RegressionTask("rating")});
  model.build(data.schema(), 1);
  model.compile(optim::Adam({.learning_rate = 0.01f}), {.loss_weights = {1.0f, 0.5f}});
  return model;
}

// Two tasks on one dataset: each reads its own mixture, the losses weighted.
TEST(MMOEBlock, AModelTrainsTwoTasksWithLossWeights) {
  const Dataset data = testing::planted_dataset(3000, 11);
  const std::string binary = kBinary, regression = kRegression;
  Model model = two_task_model(data, MMOEBlock({binary, regression}, MLPBlock({16}), 3));
  const Logs before = model.evaluate(data, {.progress = false});
  model.fit(data, {.batch_size = 128, .epochs = 4, .progress = false});
  const Logs after = model.evaluate(data, {.progress = false});
  EXPECT_GT(after.at(binary + "/auc"), 0.75);
  EXPECT_LT(after.at(regression + "/root_mean_squared_error"),
            0.8 * before.at(regression + "/root_mean_squared_error"));
  // The heads read different inputs: each task's output layer is [16, 1].
  for (const auto& [name, p] : model.parameters()) {
    if (name.ends_with("output/dense_0/kernel")) {
      EXPECT_EQ(p->value().shape(), (Shape{16, 1})) << name;
    }
  }
  testing::TempDir dir;
  model.save(dir / "m");
  const Model again = Model::load(dir / "m");
  EXPECT_TRUE(testing::tensors_bitwise_equal(again.predict(data).at(binary),
                                             model.predict(data).at(binary)));
  EXPECT_TRUE(testing::tensors_bitwise_equal(again.predict(data).at(regression),
                                             model.predict(data).at(regression)));
}

// softmax(gate(x_r)) . experts(x_r) in double; `experts` name dense layers.
std::vector<double> mix(const Block& block, const Tensor& x, std::int64_t r,
                        const std::string& gate, const std::vector<std::string>& experts) {
  std::vector<double> g = dense_row(x, r, param(block, gate + "/dense_0/kernel"),
                                    param(block, gate + "/dense_0/bias"), false);
  EXPECT_EQ(g.size(), experts.size());
  double total = 0;
  for (double& v : g) total += v = std::exp(v);
  std::vector<double> out;
  for (std::size_t e = 0; e < experts.size(); ++e) {
    const auto h = dense_row(x, r, param(block, experts[e] + "/dense_0/kernel"),
                             param(block, experts[e] + "/dense_0/bias"), true);
    out.resize(h.size(), 0.0);
    for (std::size_t d = 0; d < h.size(); ++d) out[d] += g[e] / total * h[d];
  }
  return out;
}

TEST(CGCBlock, EachOutputMixesItsOwnAndTheSharedExperts) {
  const CGCBlock cgc({"a", "b"}, MLPBlock({3}),
                     {.num_task_experts = 2, .num_shared_experts = 1, .add_shared_gate = true});
  const Tensor x = testing::uniform({4, 5}, 6);
  const auto out = run_dict(cgc, x);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].first, "shared");
  const std::vector<std::vector<std::string>> experts = {
      {"task_0_expert_0", "task_0_expert_1", "shared_expert_0"},
      {"task_1_expert_0", "task_1_expert_1", "shared_expert_0"},
      {"task_0_expert_0", "task_0_expert_1", "task_1_expert_0", "task_1_expert_1",
       "shared_expert_0"}};
  const std::vector<std::string> gates = {"gate_0", "gate_1", "shared_gate"};
  for (std::size_t k = 0; k < 3; ++k) {
    for (std::int64_t r = 0; r < 4; ++r) {
      const auto want = mix(cgc, x, r, gates[k], experts[k]);
      for (int d = 0; d < 3; ++d)
        EXPECT_NEAR(out[k].second.data<float>()[r * 3 + d], want[d], 1e-6) << k << " " << r;
    }
  }
}

TEST(PLEBlock, GradientsAndJsonRoundTrip) {
  const PLEBlock ple(2, {"a", "b"}, MLPBlock({3}, {.activation = "tanh"}),
                     {.num_task_experts = 1, .num_shared_experts = 2});
  Parameter x("x", testing::uniform({4, 5}, 7));
  BlockContext context(8);
  const FlowSpec spec = ple.build(FlowSpec::tensor({Shape{5}, DType::kFloat32}), context);
  EXPECT_EQ(spec.str(), "{a: [3], b: [3]}");
  std::vector<Parameter*> inputs{&x};
  for (const auto& [name, p] : ple.parameters()) inputs.push_back(p.get());
  EXPECT_TRUE(testing::check_gradients("PLEBlock", inputs, [&](Tape& tape, std::span<const Var> v) {
    RunContext run(tape, no_batch(), true);
    return ple.forward(Flow::tensor(v[0]), run).as_tensor("test");
  }));
  const auto before = run_dict(ple, x.value());
  const nlohmann::json j = ple.to_json();
  const Block again = Block::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(again.to_json(), j);
  BlockContext other(99);
  again.build(FlowSpec::tensor({Shape{5}, DType::kFloat32}), other);
  again.load_state(ple.state());
  const auto after = run_dict(again, x.value());
  for (std::size_t k = 0; k < 2; ++k)
    EXPECT_TRUE(testing::tensors_bitwise_equal(after[k].second, before[k].second));
}

TEST(PLEBlock, ErrorsNameTheProblem) {
  EXPECT_THAT(error_of([] { PLEBlock(0, {"a"}, MLPBlock({3})); }),
              HasSubstr("PLEBlock: num_layers is 0"));
  EXPECT_THAT(error_of([] {
                CGCBlock({"a"}, MLPBlock({3}), {.num_task_experts = 0, .num_shared_experts = 0});
              }),
              HasSubstr("CGCBlock: no experts"));
  EXPECT_THAT(error_of([] { CGCBlock({"shared"}, MLPBlock({3})); }),
              HasSubstr("may not be named 'shared'"));
}

TEST(PLEBlock, AModelTrainsTwoTasksWithLossWeights) {
  const Dataset data = testing::planted_dataset(3000, 12);
  const std::string binary = kBinary, regression = kRegression;
  Model model = two_task_model(data, PLEBlock(2, {binary, regression}, MLPBlock({16})));
  model.fit(data, {.batch_size = 128, .epochs = 4, .progress = false});
  const Logs logs = model.evaluate(data, {.progress = false});
  EXPECT_GT(logs.at(binary + "/auc"), 0.75);
  EXPECT_LT(logs.at(regression + "/root_mean_squared_error"), 1.0);
  testing::TempDir dir;
  model.save(dir / "m");
  EXPECT_TRUE(testing::tensors_bitwise_equal(Model::load(dir / "m").predict(data).at(regression),
                                             model.predict(data).at(regression)));
}

}  // namespace
}  // namespace recblocks
