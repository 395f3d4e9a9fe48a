// Transformations as blocks: AsDenseFeatures, L2Norm, ReduceSum,
// LogitsTemperatureScaler, Dropout, BatchNorm and LayerNorm, against naive
// references computed here.
#include "recblocks/blocks/transformations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "blocks/seed_data.h"
#include "recblocks/blocks/features.h"
#include "testing/gradient_checker.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::ElementsAre;
using testing::error_of;
using ::testing::HasSubstr;
using testing::seed_batch;
using testing::seed_schema;

const Batch& no_batch() {
  static const Batch empty;
  return empty;
}

// Builds `block` for a float tensor like `x` (if not built yet) and runs it.
Tensor run_on(const Block& block, const Tensor& x, bool training = false) {
  if (!block.built()) {
    BlockContext context;
    block.build(FlowSpec::tensor({x.shape().without(0), DType::kFloat32}), context);
  }
  Tape tape;
  recblocks::RunContext run(tape, no_batch(), training);
  return block.forward(Flow::tensor(tape.constant(x)), run).tensor().value().clone();
}

// The finite-difference check of `block` w.r.t. its input x and `params`.
::testing::AssertionResult check_block(const char* name, const Block& block, Parameter& x,
                                       std::vector<Parameter*> params, bool training) {
  if (!block.built()) {
    BlockContext context;
    block.build(FlowSpec::tensor({x.value().shape().without(0), DType::kFloat32}), context);
  }
  params.insert(params.begin(), &x);
  return testing::check_gradients(name, std::span<Parameter* const>(params),
                                  [&](Tape& tape, std::span<const Var> in) {
                                    recblocks::RunContext run(tape, no_batch(), training);
                                    return block.forward(Flow::tensor(in[0]), run).tensor();
                                  });
}

Parameter* param(const Block& block, const std::string& name) {
  for (const auto& [n, p] : block.parameters()) {
    if (n == name) return p.get();
  }
  ADD_FAILURE() << "no parameter " << name;
  return nullptr;
}

std::vector<std::string> param_names(const Block& block) {
  std::vector<std::string> names;
  for (const auto& [n, p] : block.parameters()) names.push_back(n);
  return names;
}

// to_json -> from_json -> same JSON; built for x with the same state it
// gives the same output.
void expect_json_round_trip(const Block& block, const Tensor& x) {
  const Tensor before = run_on(block, x);
  const nlohmann::json j = block.to_json();
  const Block again = Block::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(again.to_json(), j);
  BlockContext context(99);
  again.build(FlowSpec::tensor({x.shape().without(0), DType::kFloat32}), context);
  again.load_state(block.state());
  EXPECT_TRUE(testing::tensors_bitwise_equal(run_on(again, x), before)) << j.dump();
}

// ---- AsDenseFeatures ------------------------------------------------------------

TEST(AsDenseFeatures, PadsAndTruncatesRaggedListsToL) {
  const Batch batch = seed_batch();
  const AsDenseFeatures dense(3);
  const Output out = dense(batch);
  ASSERT_EQ(out["genres"].shape(), (Shape{5, 3}));
  EXPECT_EQ(out["genres"].dtype(), DType::kInt32);
  EXPECT_EQ(testing::to_doubles(out["genres"]),
            std::vector<double>({1, 2, 0, 0, 0, 0, 3, 0, 0, 4, 5, 6, 2, 2, 5}));
  // Other columns pass unchanged.
  EXPECT_TRUE(testing::tensors_bitwise_equal(out["userId"], batch.tensor("userId")));
  EXPECT_TRUE(
      testing::tensors_bitwise_equal(out["TE_zipcode_rating"], batch.tensor("TE_zipcode_rating")));
  // The output is again the raw inputs, the schema saying genres is a
  // fixed-length list.
  const ColumnSchema genres = dense.output_spec().schema().column("genres");
  EXPECT_TRUE(genres.is_list());
  EXPECT_FALSE(genres.is_ragged());
  EXPECT_EQ(genres.value_count(), (ValueCount{3, 3}));
  EXPECT_EQ(genres.domain(), seed_schema().column("genres").domain());
  EXPECT_EQ(dense.output_spec().schema().column("userId"), seed_schema().column("userId"));
}

TEST(AsDenseFeatures, LengthFromTheSchemaAndFloatLists) {
  EXPECT_EQ(AsDenseFeatures()(seed_batch())["genres"].shape(), (Shape{5, 4}));  // value_count.max

  const Schema schema(
      {ColumnSchema("scores", DType::kFloat32, {Tags::CONTINUOUS}).with_list(true)});
  const Dataset data(
      schema,
      {{"scores", {Tensor::from({4}, {0.5f, 1.5f, 2.5f, 3.5f}), testing::seed_i64({0, 3, 3, 4})}}});
  // Dense float lists feed ContinuousFeatures.
  const Output out = AsDenseFeatures(2).connect(ContinuousFeatures({"scores"}))(Batch(data));
  EXPECT_EQ(out["scores"].shape(), (Shape{3, 2}));
  EXPECT_EQ(out["scores"].to_vector(), std::vector<float>({0.5f, 1.5f, 0, 0, 3.5f, 0}));
  EXPECT_THAT(error_of([&] { AsDenseFeatures()(Batch(data)); }),
              HasSubstr("AsDenseFeatures: list column 'scores' has no maximum length in the schema "
                        "(value_count.max); "
                        "give max_seq_length"));
}

TEST(AsDenseFeatures, ErrorsAndJson) {
  EXPECT_THAT(error_of([] { AsDenseFeatures(-1); }),
              HasSubstr("AsDenseFeatures: max_seq_length is -1, expected >= 0"));
  BlockContext context;
  EXPECT_THAT(error_of([&] { AsDenseFeatures(2).build(FlowSpec::tensor({Shape{3}}), context); }),
              HasSubstr("AsDenseFeatures: expected the raw inputs of a batch, got [3]"));
  const Batch batch = seed_batch();
  const AsDenseFeatures dense(2);
  const nlohmann::json j = dense.to_json();
  EXPECT_EQ(j, (nlohmann::json{{"type", "AsDenseFeatures"}, {"config", {{"max_seq_length", 2}}}}));
  const Block again = Block::from_json(j);
  EXPECT_TRUE(testing::tensors_bitwise_equal(again(batch)["genres"], dense(batch)["genres"]));
  EXPECT_THAT(error_of([] {
                Block::from_json({{"type", "AsDenseFeatures"}, {"config", {{"max_len", 2}}}});
              }),
              HasSubstr("AsDenseFeatures config: unknown key 'max_len' (known: max_seq_length)"));
}

// ---- L2Norm, LogitsTemperatureScaler --------------------------------------------

TEST(L2Norm, NormalisesRowsOfATensorOrEachDictEntry) {
  const Tensor x = testing::uniform({4, 5}, 1);
  const Tensor y = run_on(L2Norm(), x);
  for (std::int64_t r = 0; r < 4; ++r) {
    double norm = 0;
    for (std::int64_t j = 0; j < 5; ++j)
      norm += double(x.data<float>()[r * 5 + j]) * x.data<float>()[r * 5 + j];
    norm = std::sqrt(std::max(norm, 1e-12));
    for (std::int64_t j = 0; j < 5; ++j)
      EXPECT_NEAR(y.data<float>()[r * 5 + j], x.data<float>()[r * 5 + j] / norm, 1e-6);
  }
  // A zero row stays zero (the epsilon), a 3-D input normalises its last axis.
  EXPECT_EQ(run_on(L2Norm(), Tensor::zeros({2, 3})).to_vector(), std::vector<float>(6, 0.0f));
  const Tensor cube = run_on(L2Norm(), Tensor::from({1, 2, 2}, {3, 4, 0, -2}));
  EXPECT_THAT(cube.to_vector(), ElementsAre(0.6f, 0.8f, 0.0f, -1.0f));

  Tape tape;
  const L2Norm l2;
  BlockContext context;
  l2.build(FlowSpec::dict({{"a", {Shape{2}, DType::kFloat32}}, {"b", {Shape{1}, DType::kFloat32}}}),
           context);
  EXPECT_EQ(l2.output_spec().dict().size(), 2u);
  recblocks::RunContext run(tape, no_batch(), false);
  const Flow out = l2.forward(Flow::dict({{"a", tape.constant(Tensor::from({1, 2}, {6, 8}))},
                                          {"b", tape.constant(Tensor::from({1, 1}, {-3}))}}),
                              run);
  EXPECT_THAT(out.at("a").value().to_vector(), ElementsAre(0.6f, 0.8f));
  EXPECT_THAT(out.at("b").value().to_vector(), ElementsAre(-1.0f));
}

TEST(L2Norm, GradientJsonAndErrors) {
  Parameter x("x", testing::away_from_zero({3, 4}, 2));
  EXPECT_TRUE(check_block("L2Norm", L2Norm(), x, {}, true));
  expect_json_round_trip(L2Norm(), x.value());
  EXPECT_THAT(error_of([] { L2Norm()(seed_batch()); }),
              HasSubstr("L2Norm: expected a tensor or a dict of tensors, got the raw inputs"));
  EXPECT_THAT(error_of([] {
                Block::from_json({{"type", "L2Norm"}, {"config", {{"axis", -1}}}});
              }),
              HasSubstr("L2Norm config: unknown key 'axis' (known: none)"));
}

TEST(ReduceSum, SumsTheLastAxisKeepingIt) {
  const Tensor x = Tensor::from({2, 3}, {1.0f, 2.0f, 3.5f, -1.0f, 0.25f, 4.0f});
  const Tensor y = run_on(ReduceSum(), x);
  EXPECT_EQ(y.shape(), (Shape{2, 1}));
  EXPECT_THAT(y.to_vector(), ElementsAre(6.5f, 3.25f));
  const Tensor z = run_on(ReduceSum(), testing::uniform({2, 3, 4}, 5));
  EXPECT_EQ(z.shape(), (Shape{2, 3, 1}));
}

TEST(ReduceSum, GradientJsonAndErrors) {
  Parameter x("x", testing::uniform({3, 4}, 6));
  EXPECT_TRUE(check_block("ReduceSum", ReduceSum(), x, {}, true));
  expect_json_round_trip(ReduceSum(), x.value());
  EXPECT_THAT(error_of([] { ReduceSum()(seed_batch()); }),
              HasSubstr("ReduceSum: expected a tensor, got"));
}

TEST(LogitsTemperatureScaler, DividesByTheTemperatureInTrainingAndEvaluation) {
  const Tensor x = Tensor::from({3, 1}, {2.0f, -1.0f, 0.5f});
  EXPECT_THAT(run_on(LogitsTemperatureScaler(2.0), x, false).to_vector(),
              ElementsAre(1.0f, -0.5f, 0.25f));
  EXPECT_THAT(run_on(LogitsTemperatureScaler(0.5), x, true).to_vector(),
              ElementsAre(4.0f, -2.0f, 1.0f));
  Parameter p("x", testing::uniform({4, 2}, 3));
  EXPECT_TRUE(check_block("LogitsTemperatureScaler", LogitsTemperatureScaler(3.0), p, {}, true));
  expect_json_round_trip(LogitsTemperatureScaler(2.5), x);
  EXPECT_EQ(LogitsTemperatureScaler(2.5).to_json()["config"]["temperature"], 2.5);
  EXPECT_THAT(error_of([] { LogitsTemperatureScaler(0.0); }),
              HasSubstr("LogitsTemperatureScaler: temperature is 0, expected > 0"));
  EXPECT_THAT(error_of([] { LogitsTemperatureScaler(-2.0); }),
              HasSubstr("LogitsTemperatureScaler: temperature is -2, expected > 0"));
  EXPECT_THAT(error_of([] {
                Block::from_json(
                    {{"type", "LogitsTemperatureScaler"}, {"config", nlohmann::json::object()}});
              }),
              HasSubstr("LogitsTemperatureScaler config"));
}

// ---- Dropout ------------------------------------------------------------------------

TEST(Dropout, DropsAndRescalesInTrainingOnly) {
  const Tensor x = Tensor::full({200, 50}, 2.0f);
  const Dropout dropout(0.3);
  EXPECT_TRUE(testing::tensors_bitwise_equal(run_on(dropout, x, /*training=*/false), x));
  const Tensor y = run_on(dropout, x, /*training=*/true);
  std::int64_t zeros = 0;
  for (float v : y.to_vector()) {
    if (v == 0.0f) {
      ++zeros;
    } else {
      EXPECT_FLOAT_EQ(v, 2.0f / 0.7f);
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros) / 10000.0, 0.3, 0.02);
  EXPECT_TRUE(testing::tensors_bitwise_equal(run_on(Dropout(0.0), x, true), x));
}

TEST(Dropout, GradientJsonAndErrors) {
  Parameter x("x", testing::uniform({6, 5}, 4));
  EXPECT_TRUE(check_block("Dropout", Dropout(0.5), x, {}, /*training=*/true));
  expect_json_round_trip(Dropout(0.25), x.value());
  EXPECT_EQ(Dropout(0.25).to_json()["config"]["rate"], 0.25);
  EXPECT_THAT(error_of([] { Dropout(1.0); }), HasSubstr("Dropout: rate is 1, expected in [0, 1)"));
  EXPECT_THAT(error_of([] { Dropout(-0.1); }),
              HasSubstr("Dropout: rate is -0.1, expected in [0, 1)"));
}

// ---- BatchNorm ----------------------------------------------------------------------

struct NormRef {
  std::vector<double> mean, var;  // per channel (batch norm) or per row (layer norm); var biased
};

// Statistics over the rows of x viewed as [n, c].
NormRef column_stats(const Tensor& x) {
  const std::int64_t c = x.shape()[x.rank() - 1], n = x.numel() / c;
  NormRef s{std::vector<double>(c, 0), std::vector<double>(c, 0)};
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < c; ++j) s.mean[j] += x.data<float>()[i * c + j] / double(n);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < c; ++j)
      s.var[j] += std::pow(x.data<float>()[i * c + j] - s.mean[j], 2) / double(n);
  return s;
}

// (x - mean) / sqrt(var + eps) * gamma + beta, per channel.
Tensor normalized(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& var,
                  double eps, const Tensor& gamma, const Tensor& beta) {
  const std::int64_t c = x.shape()[x.rank() - 1];
  Tensor y = Tensor::empty(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const std::int64_t j = i % c;
    y.data<float>()[i] = static_cast<float>((x.data<float>()[i] - mean[j]) /
                                                std::sqrt(var[j] + eps) * gamma.data<float>()[j] +
                                            beta.data<float>()[j]);
  }
  return y;
}

TEST(BatchNorm, KerasDefaultsAndParameters) {
  const BatchNorm bn;
  EXPECT_EQ(
      bn.to_json()["config"],
      (nlohmann::json{{"momentum", 0.99}, {"epsilon", 0.001}, {"center", true}, {"scale", true}}));
  BlockContext context;
  bn.build(FlowSpec::tensor({Shape{3}}), context);
  EXPECT_THAT(param_names(bn), ElementsAre("gamma", "beta", "moving_mean", "moving_variance"));
  EXPECT_EQ(param(bn, "gamma")->value().to_vector(), std::vector<float>(3, 1.0f));
  EXPECT_EQ(param(bn, "beta")->value().to_vector(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(param(bn, "moving_mean")->value().to_vector(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(param(bn, "moving_variance")->value().to_vector(), std::vector<float>(3, 1.0f));
  EXPECT_TRUE(param(bn, "gamma")->trainable());
  EXPECT_FALSE(param(bn, "moving_mean")->trainable());
  EXPECT_FALSE(param(bn, "moving_variance")->trainable());
  EXPECT_EQ(bn.output_spec(), FlowSpec::tensor({Shape{3}}));
}

TEST(BatchNorm, TrainingUsesBatchStatisticsAndUpdatesTheMovingOnesKerasStyle) {
  const Tensor x = testing::uniform({6, 3}, 5, -2.0f, 3.0f);
  const BatchNorm bn;
  BlockContext context;
  bn.build(FlowSpec::tensor({Shape{3}}), context);
  const Tensor gamma = testing::uniform({3}, 6, 0.5f, 1.5f), beta = testing::uniform({3}, 7);
  param(bn, "gamma")->value().copy_from(gamma);
  param(bn, "beta")->value().copy_from(beta);

  const NormRef s = column_stats(x);
  EXPECT_TRUE(testing::tensors_close(run_on(bn, x, /*training=*/true),
                                     normalized(x, s.mean, s.var, 1e-3, gamma, beta), 1e-5, 1e-5));
  // moving = 0.99 * moving + 0.01 * batch (Keras' momentum 0.99); the
  // variance update takes the unbiased batch variance.
  const Tensor mm = param(bn, "moving_mean")->value(), mv = param(bn, "moving_variance")->value();
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(mm.data<float>()[j], 0.01 * s.mean[j], 1e-6);
    EXPECT_NEAR(mv.data<float>()[j], 0.99 + 0.01 * s.var[j] * 6.0 / 5.0, 1e-6);
  }
  // Evaluation normalises with the moving statistics and leaves them alone.
  const std::vector<float> mm_values = mm.to_vector(), mv_values = mv.to_vector();
  const std::vector<double> mean(mm_values.begin(), mm_values.end()),
      var(mv_values.begin(), mv_values.end());
  const Tensor x2 = testing::uniform({4, 3}, 8);
  EXPECT_TRUE(testing::tensors_close(run_on(bn, x2, false),
                                     normalized(x2, mean, var, 1e-3, gamma, beta), 1e-5, 1e-5));
  EXPECT_EQ(mm.to_vector()[0], static_cast<float>(mean[0]));
}

TEST(BatchNorm, SequencesDictsAndNoAffine) {
  // [B, S, C] is normalised over B * S per channel.
  const Tensor x = testing::uniform({3, 4, 2}, 9);
  const NormRef s = column_stats(x);
  const Tensor ones = Tensor::full({2}, 1.0f), zeros = Tensor::zeros({2});
  EXPECT_TRUE(testing::tensors_close(run_on(BatchNorm(), x, true),
                                     normalized(x, s.mean, s.var, 1e-3, ones, zeros), 1e-5, 1e-5));
  // Without center and scale there is no gamma or beta.
  const BatchNorm plain({.center = false, .scale = false});
  EXPECT_TRUE(testing::tensors_close(run_on(plain, x, true),
                                     normalized(x, s.mean, s.var, 1e-3, ones, zeros), 1e-5, 1e-5));
  EXPECT_THAT(param_names(plain), ElementsAre("moving_mean", "moving_variance"));
  // A dict is concatenated (in key order) first.
  const BatchNorm on_dict;
  BlockContext context;
  EXPECT_EQ(on_dict.build(FlowSpec::dict({{"b", {Shape{2}}}, {"a", {Shape{3}}}}), context),
            FlowSpec::tensor({Shape{5}}));
  EXPECT_EQ(param(on_dict, "gamma")->value().shape(), (Shape{5}));
}

TEST(BatchNorm, Gradients) {
  Parameter x("x", testing::uniform({6, 3}, 10));
  const BatchNorm bn;
  BlockContext context;
  bn.build(FlowSpec::tensor({Shape{3}}), context);
  param(bn, "gamma")->value().copy_from(testing::uniform({3}, 11, 0.5f, 1.5f));
  param(bn, "beta")->value().copy_from(testing::uniform({3}, 12));
  EXPECT_TRUE(
      check_block("BatchNorm training", bn, x, {param(bn, "gamma"), param(bn, "beta")}, true));
  EXPECT_TRUE(
      check_block("BatchNorm evaluation", bn, x, {param(bn, "gamma"), param(bn, "beta")}, false));
  Parameter seq("seq", testing::uniform({2, 3, 2}, 13));
  EXPECT_TRUE(check_block("BatchNorm 3-D", BatchNorm(), seq, {}, true));
}

TEST(BatchNorm, JsonRoundTripKeepsTheMovingStatistics) {
  const BatchNorm bn({.momentum = 0.9, .epsilon = 0.01, .center = false});
  run_on(bn, testing::uniform({5, 4}, 14), /*training=*/true);  // moves the statistics
  EXPECT_NE(param(bn, "moving_mean")->value().to_vector(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(
      bn.to_json()["config"],
      (nlohmann::json{{"momentum", 0.9}, {"epsilon", 0.01}, {"center", false}, {"scale", true}}));
  expect_json_round_trip(bn, testing::uniform({3, 4}, 15));
}

TEST(BatchNorm, Errors) {
  EXPECT_THAT(error_of([] { BatchNorm({.momentum = 1.5}); }),
              HasSubstr("BatchNorm: momentum is 1.5, expected in [0, 1]"));
  EXPECT_THAT(error_of([] { BatchNorm({.epsilon = 0}); }),
              HasSubstr("BatchNorm: epsilon is 0, expected > 0"));
  BlockContext context;
  EXPECT_THAT(error_of([&] {
                BatchNorm().build(FlowSpec::tensor({Shape{2, 3, 4}}), context);
              }),
              HasSubstr("BatchNorm: the input is [batch, 2, 3, 4] float32, expected float32 "
                        "[batch, C] or [batch, seq, C]"));
  EXPECT_THAT(error_of([&] { BatchNorm().build(FlowSpec::inputs(seed_schema()), context); }),
              HasSubstr("BatchNorm: expected a tensor or a dict of tensors, got inputs{"));
  EXPECT_THAT(
      error_of([] {
        Block::from_json({{"type", "BatchNorm"}, {"config", {{"axis", -1}}}});
      }),
      HasSubstr("BatchNorm config: unknown key 'axis' (known: momentum, epsilon, center, scale)"));
  // A built block refuses another width.
  const BatchNorm bn;
  run_on(bn, testing::uniform({4, 3}, 1), true);
  EXPECT_THAT(error_of([&] { bn.build(FlowSpec::tensor({Shape{5}}), context); }),
              HasSubstr("BatchNorm was built for input [3] and cannot be reused for input [5]"));
}

// ---- LayerNorm -----------------------------------------------------------------------

TEST(LayerNorm, NormalisesEachRowWithKerasEpsilon) {
  // The second row's variance (~1e-4) is below epsilon, so the result shows
  // whether epsilon is Keras' 1e-3.
  const Tensor x = Tensor::from({2, 4}, {1.0f, -2.0f, 0.5f, 3.0f, 0.01f, -0.01f, 0.02f, 0.0f});
  const LayerNorm ln;
  EXPECT_EQ(ln.to_json()["config"],
            (nlohmann::json{{"epsilon", 0.001}, {"center", true}, {"scale", true}}));
  BlockContext context;
  ln.build(FlowSpec::tensor({Shape{4}}), context);
  EXPECT_THAT(param_names(ln), ElementsAre("gamma", "beta"));
  const Tensor gamma = testing::uniform({4}, 16, 0.5f, 1.5f), beta = testing::uniform({4}, 17);
  param(ln, "gamma")->value().copy_from(gamma);
  param(ln, "beta")->value().copy_from(beta);
  const Tensor y = run_on(ln, x);
  for (std::int64_t r = 0; r < 2; ++r) {
    // One row's statistics = the channel statistics of the row as a [4, 1] column.
    const Tensor column = x.slice_rows(r, r + 1).view({4, 1});
    const NormRef s = column_stats(column);
    const Tensor want =
        normalized(column, s.mean, s.var, 1e-3, Tensor::full({1}, 1.0f), Tensor::zeros({1}));
    for (std::int64_t j = 0; j < 4; ++j) {
      EXPECT_NEAR(y.data<float>()[r * 4 + j],
                  want.data<float>()[j] * gamma.data<float>()[j] + beta.data<float>()[j], 1e-5)
          << r << ", " << j;
    }
  }
  // 3-D inputs normalise the last axis; no center / scale leaves no parameters.
  const LayerNorm plain({.center = false, .scale = false});
  const Tensor cube = run_on(plain, Tensor::from({1, 2, 2}, {1, 3, 10, 10}));
  EXPECT_NEAR(cube.data<float>()[0], -1.0 / std::sqrt(1.0 + 1e-3), 1e-6);
  EXPECT_NEAR(cube.data<float>()[2], 0.0, 1e-6);
  EXPECT_TRUE(plain.parameters().empty());
}

TEST(LayerNorm, GradientsJsonAndErrors) {
  Parameter x("x", testing::uniform({4, 5}, 18));
  const LayerNorm ln;
  BlockContext context;
  ln.build(FlowSpec::tensor({Shape{5}}), context);
  param(ln, "gamma")->value().copy_from(testing::uniform({5}, 19, 0.5f, 1.5f));
  param(ln, "beta")->value().copy_from(testing::uniform({5}, 20));
  EXPECT_TRUE(check_block("LayerNorm", ln, x, {param(ln, "gamma"), param(ln, "beta")}, true));
  expect_json_round_trip(ln, x.value());
  expect_json_round_trip(LayerNorm({.epsilon = 1e-5, .scale = false}), x.value());
  EXPECT_THAT(error_of([] { LayerNorm({.epsilon = -1}); }),
              HasSubstr("LayerNorm: epsilon is -1, expected > 0"));
  EXPECT_THAT(error_of([] {
                Block::from_json({{"type", "LayerNorm"}, {"config", {{"eps", 0.1}}}});
              }),
              HasSubstr("LayerNorm config: unknown key 'eps' (known: epsilon, center, scale)"));
}

}  // namespace
}  // namespace recblocks
