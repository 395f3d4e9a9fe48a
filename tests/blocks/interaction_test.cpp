// The interaction blocks: DotProductInteractionBlock (DLRM), FMPairwiseInteraction
// and CrossBlock (DCN-v2): shapes, values against naive references,
// gradients, JSON round trips and errors.
#include "recblocks/blocks/interaction.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/combinators.h"
#include "recblocks/core/error.h"
#include "testing/gradient_checker.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::HasSubstr;

// ---- helpers ------------------------------------------------------------------

using testing::error_of;

TensorSpec spec_of(Shape row) { return {row, DType::kFloat32}; }

// Named feature vectors [B, d] with distinct random values.
using Features = std::vector<std::pair<std::string, Tensor>>;

Features random_features(const std::vector<std::string>& names, std::int64_t batch,
                         std::int64_t dim, std::uint64_t seed) {
  Features out;
  for (const std::string& name : names)
    out.emplace_back(name, testing::uniform(Shape{batch, dim}, seed++));
  return out;
}

FlowSpec dict_spec(const Features& features) {
  FlowSpec::Dict dict;
  for (const auto& [name, t] : features) dict.emplace_back(name, spec_of(Shape{t.size(1)}));
  return FlowSpec::dict(dict);
}

Flow dict_flow(Tape& tape, const Features& features) {
  Flow::Dict dict;
  for (const auto& [name, t] : features) dict.emplace_back(name, tape.constant(t));
  return Flow::dict(dict);
}

// The features in key order, stacked: [B, n, d].
Tensor stacked(Features features) {
  std::sort(features.begin(), features.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::int64_t b = features[0].second.size(0), d = features[0].second.size(1);
  const auto n = static_cast<std::int64_t>(features.size());
  Tensor out = Tensor::empty(Shape{b, n, d});
  for (std::int64_t r = 0; r < b; ++r)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < d; ++k)
        out.data<float>()[(r * n + i) * d + k] = features[i].second.data<float>()[r * d + k];
  return out;
}

Tensor run_on(const Block& block, const std::function<Flow(Tape&)>& input, bool training = false) {
  Tape tape;
  static const Batch empty;
  RunContext run(tape, empty, training);
  return block.forward(input(tape), run).tensor().value().clone();
}

Tensor param(const Block& block, const std::string& name) { return block.state().at(name); }

void randomize(const Block& block, std::uint64_t seed) {
  for (const auto& [name, p] : block.parameters())
    p->value().copy_from(testing::uniform(p->value().shape(), seed++, -0.5f, 0.5f));
}

// ---- naive references ---------------------------------------------------------

// x [B, n, d] -> [B, pairs]: <x_i, x_j> for i > j (i >= j with self
// interaction), row i by row i: the DLRM reference's lower triangle.
Tensor dot_reference(const Tensor& x, bool self_interaction) {
  const std::int64_t b = x.size(0), n = x.size(1), d = x.size(2);
  std::vector<std::vector<double>> rows(static_cast<std::size_t>(b));
  for (std::int64_t r = 0; r < b; ++r) {
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < (self_interaction ? i + 1 : i); ++j) {
        double dot = 0;
        for (std::int64_t k = 0; k < d; ++k)
          dot += x.item((r * n + i) * d + k) * x.item((r * n + j) * d + k);
        rows[r].push_back(dot);
      }
    }
  }
  const auto p = static_cast<std::int64_t>(rows[0].size());
  Tensor out = Tensor::empty(Shape{b, p});
  for (std::int64_t r = 0; r < b; ++r)
    for (std::int64_t c = 0; c < p; ++c)
      out.data<float>()[r * p + c] = static_cast<float>(rows[r][c]);
  return out;
}

// x [B, n, d] -> [B, d]: sum over pairs i < j of x_i * x_j, per component.
Tensor fm_reference(const Tensor& x) {
  const std::int64_t b = x.size(0), n = x.size(1), d = x.size(2);
  Tensor out = Tensor::empty(Shape{b, d});
  for (std::int64_t r = 0; r < b; ++r) {
    for (std::int64_t k = 0; k < d; ++k) {
      double s = 0;
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = i + 1; j < n; ++j)
          s += x.item((r * n + i) * d + k) * x.item((r * n + j) * d + k);
      out.data<float>()[r * d + k] = static_cast<float>(s);
    }
  }
  return out;
}

// x [B, d]: x_{l+1} = x0 * (x_l W + b) + x_l with W = kernel [d, d] or
// kernel_u [d, r] @ kernel [r, d].
Tensor cross_reference(const Tensor& x0, const Block& cross, int depth, bool low_rank,
                       bool use_bias) {
  const std::int64_t b = x0.size(0), d = x0.size(1);
  std::vector<double> x(static_cast<std::size_t>(b * d));
  for (std::int64_t i = 0; i < b * d; ++i) x[i] = x0.item(i);
  for (int l = 0; l < depth; ++l) {
    const std::string prefix = "cross_" + std::to_string(l) + "/";
    const Tensor kernel = param(cross, prefix + "kernel");
    std::vector<double> next(x.size());
    for (std::int64_t r = 0; r < b; ++r) {
      std::vector<double> in(x.begin() + r * d, x.begin() + (r + 1) * d);
      if (low_rank) {
        const Tensor u = param(cross, prefix + "kernel_u");
        const std::int64_t rank = u.size(1);
        std::vector<double> z(static_cast<std::size_t>(rank), 0.0);
        for (std::int64_t q = 0; q < rank; ++q)
          for (std::int64_t k = 0; k < d; ++k) z[q] += in[k] * u.item(k * rank + q);
        in = z;
      }
      for (std::int64_t o = 0; o < d; ++o) {
        double p = use_bias ? param(cross, prefix + "bias").item(o) : 0.0;
        for (std::size_t k = 0; k < in.size(); ++k)
          p += in[k] * kernel.item(static_cast<std::int64_t>(k) * d + o);
        next[r * d + o] = x0.item(r * d + o) * p + x[r * d + o];
      }
    }
    x = next;
  }
  Tensor out = Tensor::empty(Shape{b, d});
  for (std::int64_t i = 0; i < b * d; ++i) out.data<float>()[i] = static_cast<float>(x[i]);
  return out;
}

// Gradient check of `block` over dict inputs (Parameters) plus the block's
// own trainable parameters.
::testing::AssertionResult check_dict_gradients(const Block& block, const Features& features,
                                                const char* what) {
  std::vector<Parameter> values;
  values.reserve(features.size());
  for (const auto& [name, t] : features) values.emplace_back(name, t.clone());
  std::vector<Parameter*> inputs;
  for (Parameter& p : values) inputs.push_back(&p);
  for (const auto& [name, p] : block.parameters()) inputs.push_back(p.get());
  static const Batch empty;
  return testing::check_gradients(what, inputs,
                                  [&](Tape& tape, std::span<const Var> v) {
                                    Flow::Dict dict;
                                    for (std::size_t i = 0; i < features.size(); ++i)
                                      dict.emplace_back(features[i].first, v[i]);
                                    RunContext run(tape, empty, true);
                                    return block.forward(Flow::dict(dict), run).tensor();
                                  },
                                  {.step = 1e-3, .rtol = 1e-2, .atol = 1e-3});
}

::testing::AssertionResult check_tensor_gradients(const Block& block, const Tensor& x,
                                                  const char* what) {
  Parameter input("x", x.clone());
  std::vector<Parameter*> inputs{&input};
  for (const auto& [name, p] : block.parameters()) inputs.push_back(p.get());
  static const Batch empty;
  return testing::check_gradients(what, inputs,
                                  [&](Tape& tape, std::span<const Var> v) {
                                    RunContext run(tape, empty, true);
                                    return block.forward(Flow::tensor(v[0]), run).tensor();
                                  },
                                  {.step = 1e-3, .rtol = 1e-2, .atol = 1e-3});
}

// JSON -> rebuild -> same weights -> bitwise the same output.
void expect_json_round_trip(const Block& block, const FlowSpec& spec,
                            const std::function<Flow(Tape&)>& input) {
  const nlohmann::json j = block.to_json();
  const Block again = Block::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(again.to_json(), j);
  BlockContext other(999);
  EXPECT_EQ(again.build(spec, other), block.output_spec());
  again.load_state(block.state());
  EXPECT_TRUE(testing::tensors_bitwise_equal(run_on(block, input), run_on(again, input)));
}

const std::vector<std::string> kSeedFeatures = {"userId", "movieId", "title", "gender",
                                                "deep_continuous"};

// ---- DotProductInteractionBlock ----------------------------------------------------

TEST(DotProductInteractionBlock, TheSeedsFiveVectorsGiveTenValues) {
  const Features features = random_features(kSeedFeatures, 4, 64, 1);
  DotProductInteractionBlock interaction;
  BlockContext context;
  EXPECT_EQ(interaction.build(dict_spec(features), context), FlowSpec::tensor(spec_of(Shape{10})));
  EXPECT_TRUE(interaction.parameters().empty());
  const Tensor y = run_on(interaction, [&](Tape& t) { return dict_flow(t, features); });
  EXPECT_TRUE(testing::tensors_close(y, dot_reference(stacked(features), false), 1e-5, 1e-5));

  DotProductInteractionBlock with_self(true);
  EXPECT_EQ(with_self.build(dict_spec(features), context), FlowSpec::tensor(spec_of(Shape{15})));
  EXPECT_TRUE(
      testing::tensors_close(run_on(with_self, [&](Tape& t) { return dict_flow(t, features); }),
                             dot_reference(stacked(features), true), 1e-5, 1e-5));
}

TEST(DotProductInteractionBlock, StacksTheDictInKeyOrder) {
  // Declared out of order: "a" < "b" < "c" is the stacking order.
  const Features features = random_features({"c", "a", "b"}, 3, 4, 7);
  DotProductInteractionBlock interaction;
  BlockContext context;
  interaction.build(dict_spec(features), context);
  const Tensor y = run_on(interaction, [&](Tape& t) { return dict_flow(t, features); });
  // Pair (1, 0) is <b, a>: rows of b and a.
  const Tensor& a = features[1].second;
  const Tensor& b = features[2].second;
  double ba = 0;
  for (int k = 0; k < 4; ++k) ba += a.item(k) * b.item(k);
  EXPECT_NEAR(y.item(0), ba, 1e-5);
  EXPECT_TRUE(testing::tensors_close(y, dot_reference(stacked(features), false), 1e-5, 1e-6));
}

TEST(DotProductInteractionBlock, TakesAStackedTensor) {
  const Tensor x = testing::uniform(Shape{5, 4, 3}, 3);
  for (const bool self_interaction : {false, true}) {
    DotProductInteractionBlock interaction(self_interaction);
    BlockContext context;
    EXPECT_EQ(interaction.build(FlowSpec::tensor(spec_of(Shape{4, 3})), context),
              FlowSpec::tensor(spec_of(Shape{self_interaction ? 10 : 6})));
    EXPECT_TRUE(testing::tensors_close(
        run_on(interaction, [&](Tape& t) { return Flow::tensor(t.constant(x)); }),
        dot_reference(x, self_interaction), 1e-5, 1e-6));
  }
}

TEST(DotProductInteractionBlock, WithTheDeepContinuousShortcutGives74) {
  const Features features = random_features(kSeedFeatures, 4, 64, 11);
  const Block interaction = Identity().connect_with_shortcut(
      DotProductInteractionBlock(),
      {.shortcut_filter = Filter("deep_continuous"), .aggregation = "concat"});
  BlockContext context;
  EXPECT_EQ(interaction.build(dict_spec(features), context), FlowSpec::tensor(spec_of(Shape{74})));
  const Tensor y = run_on(interaction, [&](Tape& t) { return dict_flow(t, features); });
  ASSERT_EQ(y.shape(), (Shape{4, 74}));
  // Concatenated in key order: "block" (the 10 interactions), then
  // "deep_continuous" (the 64-wide shortcut).
  const Tensor dots = dot_reference(stacked(features), false);
  const Tensor& shortcut = features[4].second;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 10; ++c) EXPECT_NEAR(y.item(r * 74 + c), dots.item(r * 10 + c), 1e-5);
    for (int c = 0; c < 64; ++c) EXPECT_EQ(y.item(r * 74 + 10 + c), shortcut.item(r * 64 + c));
  }
}

TEST(DotProductInteractionBlock, Gradients) {
  for (const bool self_interaction : {false, true}) {
    DotProductInteractionBlock interaction(self_interaction);
    const Features features = random_features({"x", "w", "v"}, 3, 4, 5);
    BlockContext context;
    interaction.build(dict_spec(features), context);
    EXPECT_TRUE(check_dict_gradients(interaction, features, "DotProductInteractionBlock(dict)"));
    DotProductInteractionBlock on_tensor(self_interaction);
    on_tensor.build(FlowSpec::tensor(spec_of(Shape{3, 4})), context);
    EXPECT_TRUE(check_tensor_gradients(on_tensor, testing::uniform(Shape{2, 3, 4}, 9),
                                       "DotProductInteractionBlock(tensor)"));
  }
}

TEST(DotProductInteractionBlock, JsonRoundTrip) {
  const Features features = random_features({"a", "b", "c"}, 2, 3, 1);
  DotProductInteractionBlock interaction(true);
  BlockContext context;
  interaction.build(dict_spec(features), context);
  EXPECT_EQ(interaction.to_json(), (nlohmann::json{{"type", "DotProductInteractionBlock"},
                                                   {"config", {{"self_interaction", true}}}}));
  expect_json_round_trip(interaction, dict_spec(features),
                         [&](Tape& t) { return dict_flow(t, features); });
}

TEST(DotProductInteractionBlock, ErrorsNameTheShapes) {
  BlockContext context;
  EXPECT_THAT(
      error_of([&] {
        DotProductInteractionBlock().build(
            FlowSpec::dict({{"a", spec_of(Shape{64})}, {"b", spec_of(Shape{32})}}), context);
      }),
      HasSubstr("DotProductInteractionBlock: every feature vector must have the same width; 'b' is "
                "[batch, 32] but 'a' is [batch, 64]"));
  EXPECT_THAT(error_of([&] {
                DotProductInteractionBlock().build(FlowSpec::tensor(spec_of(Shape{64})), context);
              }),
              HasSubstr("DotProductInteractionBlock: input tensor has shape [batch, 64] (float32), "
                        "expected float32 "
                        "[batch, n_features, dim] (rank 3)"));
  EXPECT_THAT(
      error_of([&] {
        DotProductInteractionBlock().build(FlowSpec::dict({{"seq", spec_of(Shape{5, 8})}}),
                                           context);
      }),
      HasSubstr(
          "DotProductInteractionBlock: feature 'seq' has shape [batch, 5, 8] (float32), expected "
          "float32 [batch, dim] (rank 2)"));
  EXPECT_THAT(
      error_of([&] {
        DotProductInteractionBlock().build(FlowSpec::dict({{"only", spec_of(Shape{8})}}), context);
      }),
      HasSubstr("DotProductInteractionBlock: 1 feature vector(s) have no pairs to interact"));
  EXPECT_THAT(
      error_of([] {
        Block::from_json({{"type", "DotProductInteractionBlock"}, {"config", {{"self", true}}}});
      }),
      HasSubstr("DotProductInteractionBlock config: unknown key 'self' (known: self_interaction)"));
}

// ---- FMPairwiseInteraction ---------------------------------------------------------

TEST(FMPairwiseInteraction, IsTheSumOverPairsPerComponent) {
  const Features features = random_features({"item", "user", "category", "brand"}, 5, 6, 21);
  FMPairwiseInteraction fm;
  BlockContext context;
  EXPECT_EQ(fm.build(dict_spec(features), context), FlowSpec::tensor(spec_of(Shape{6})));
  const Tensor want = fm_reference(stacked(features));
  EXPECT_TRUE(testing::tensors_close(run_on(fm, [&](Tape& t) { return dict_flow(t, features); }),
                                     want, 1e-5, 1e-5));

  FMPairwiseInteraction on_tensor;
  EXPECT_EQ(on_tensor.build(FlowSpec::tensor(spec_of(Shape{4, 6})), context),
            FlowSpec::tensor(spec_of(Shape{6})));
  const Tensor x = stacked(features);
  EXPECT_TRUE(testing::tensors_close(
      run_on(on_tensor, [&](Tape& t) { return Flow::tensor(t.constant(x)); }), want, 1e-5, 1e-5));
  // Summed over the components: the sum of the DLRM pairwise dot products.
  const Tensor y = run_on(fm, [&](Tape& t) { return dict_flow(t, features); });
  const Tensor dots = dot_reference(x, false);
  for (int r = 0; r < 5; ++r) {
    double fm_sum = 0, dot_sum = 0;
    for (int k = 0; k < 6; ++k) fm_sum += y.item(r * 6 + k);
    for (int p = 0; p < 6; ++p) dot_sum += dots.item(r * 6 + p);
    EXPECT_NEAR(fm_sum, dot_sum, 1e-4);
  }
}

TEST(FMPairwiseInteraction, Gradients) {
  FMPairwiseInteraction fm;
  const Features features = random_features({"a", "b", "c"}, 3, 4, 2);
  BlockContext context;
  fm.build(dict_spec(features), context);
  EXPECT_TRUE(check_dict_gradients(fm, features, "FMPairwiseInteraction(dict)"));
  FMPairwiseInteraction on_tensor;
  on_tensor.build(FlowSpec::tensor(spec_of(Shape{3, 4})), context);
  EXPECT_TRUE(check_tensor_gradients(on_tensor, testing::uniform(Shape{2, 3, 4}, 4),
                                     "FMPairwiseInteraction(tensor)"));
}

TEST(FMPairwiseInteraction, JsonRoundTripAndErrors) {
  const Features features = random_features({"a", "b"}, 2, 3, 1);
  FMPairwiseInteraction fm;
  BlockContext context;
  fm.build(dict_spec(features), context);
  expect_json_round_trip(fm, dict_spec(features), [&](Tape& t) { return dict_flow(t, features); });

  EXPECT_THAT(
      error_of(
          [&] { FMPairwiseInteraction().build(FlowSpec::tensor(spec_of(Shape{12})), context); }),
      HasSubstr(
          "FMPairwiseInteraction: input tensor has shape [batch, 12] (float32), expected float32 "
          "[batch, n_features, dim] (rank 3)"));
  EXPECT_THAT(
      error_of([&] {
        FMPairwiseInteraction().build(
            FlowSpec::dict({{"a", spec_of(Shape{4})}, {"b", spec_of(Shape{5})}}), context);
      }),
      HasSubstr(
          "FMPairwiseInteraction: every feature vector must have the same width; 'b' is [batch, 5] "
          "but 'a' is [batch, 4]"));
  EXPECT_THAT(error_of([] {
                Block::from_json({{"type", "FMPairwiseInteraction"}, {"config", {{"dim", 4}}}});
              }),
              HasSubstr("FMPairwiseInteraction config: unknown key 'dim'"));
}

// ---- CrossBlock -------------------------------------------------------------------

TEST(CrossBlock, ParametersPerLayerInKerasLayout) {
  CrossBlock full(2);
  BlockContext context(1);
  EXPECT_EQ(full.build(FlowSpec::tensor(spec_of(Shape{6})), context),
            FlowSpec::tensor(spec_of(Shape{6})));
  std::map<std::string, Shape> shapes;
  for (const auto& [name, p] : full.parameters()) shapes[name] = p->value().shape();
  EXPECT_EQ(shapes, (std::map<std::string, Shape>{{"cross_0/kernel", Shape{6, 6}},
                                                  {"cross_0/bias", Shape{6}},
                                                  {"cross_1/kernel", Shape{6, 6}},
                                                  {"cross_1/bias", Shape{6}}}));
  // Keras' TruncatedNormal(stddev 0.05): within two standard deviations.
  const Tensor kernel = param(full, "cross_0/kernel");
  for (std::int64_t i = 0; i < kernel.numel(); ++i)
    EXPECT_LE(std::fabs(kernel.item(i)), 0.1 + 1e-6);
  EXPECT_TRUE(testing::tensors_bitwise_equal(param(full, "cross_0/bias"), Tensor::zeros(Shape{6})));

  CrossBlock low(1, {.low_rank_dim = 2, .use_bias = false});
  low.build(FlowSpec::tensor(spec_of(Shape{6})), context);
  shapes.clear();
  for (const auto& [name, p] : low.parameters()) shapes[name] = p->value().shape();
  EXPECT_EQ(shapes, (std::map<std::string, Shape>{{"cross_0/kernel_u", Shape{6, 2}},
                                                  {"cross_0/kernel", Shape{2, 6}}}));
}

TEST(CrossBlock, MatchesNaiveReference) {
  const Tensor x = testing::uniform(Shape{5, 6}, 3);
  struct Case {
    int depth;
    CrossOptions options;
  };
  for (const Case& c :
       {Case{1, {}}, Case{3, {}}, Case{2, {.low_rank_dim = 3}}, Case{2, {.use_bias = false}},
        Case{2, {.low_rank_dim = 2, .use_bias = false}}}) {
    CrossBlock cross(c.depth, c.options);
    BlockContext context(4);
    cross.build(FlowSpec::tensor(spec_of(Shape{6})), context);
    randomize(cross, 10);
    const Tensor y = run_on(cross, [&](Tape& t) { return Flow::tensor(t.constant(x)); });
    EXPECT_TRUE(testing::tensors_close(
        y, cross_reference(x, cross, c.depth, c.options.low_rank_dim > 0, c.options.use_bias), 1e-5,
        1e-6))
        << "depth " << c.depth << " low_rank_dim " << c.options.low_rank_dim << " use_bias "
        << c.options.use_bias;
  }
}

TEST(CrossBlock, ConcatenatesADictInKeyOrder) {
  const Features features = {{"z", testing::uniform(Shape{3, 2}, 1)},
                             {"a", testing::uniform(Shape{3, 3}, 2)}};
  CrossBlock cross(2);
  BlockContext context;
  EXPECT_EQ(cross.build(dict_spec(features), context), FlowSpec::tensor(spec_of(Shape{5})));
  randomize(cross, 3);
  Tensor x0 = Tensor::empty(Shape{3, 5});
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c)
      x0.data<float>()[r * 5 + c] = features[1].second.data<float>()[r * 3 + c];
    for (int c = 0; c < 2; ++c)
      x0.data<float>()[r * 5 + 3 + c] = features[0].second.data<float>()[r * 2 + c];
  }
  EXPECT_TRUE(testing::tensors_close(run_on(cross, [&](Tape& t) { return dict_flow(t, features); }),
                                     cross_reference(x0, cross, 2, false, true), 1e-5, 1e-6));
}

TEST(CrossBlock, Gradients) {
  const Tensor x = testing::uniform(Shape{3, 4}, 5);
  for (const CrossOptions& options :
       {CrossOptions{}, CrossOptions{.low_rank_dim = 2}, CrossOptions{.use_bias = false}}) {
    CrossBlock cross(2, options);
    BlockContext context(6);
    cross.build(FlowSpec::tensor(spec_of(Shape{4})), context);
    randomize(cross, 7);
    EXPECT_TRUE(check_tensor_gradients(cross, x, "CrossBlock"))
        << "low_rank_dim " << options.low_rank_dim;
  }
}

TEST(CrossBlock, RegularizersAndJsonRoundTrip) {
  CrossBlock cross(2, {.low_rank_dim = 3,
                       .kernel_initializer = Initializer::glorot_normal(),
                       .bias_initializer = Initializer::constant(0.5),
                       .kernel_regularizer_l2 = 1e-4,
                       .bias_regularizer_l2 = 1e-5});
  const FlowSpec spec = FlowSpec::tensor(spec_of(Shape{5}));
  BlockContext context(8);
  cross.build(spec, context);
  EXPECT_TRUE(
      testing::tensors_bitwise_equal(param(cross, "cross_1/bias"), Tensor::full(Shape{5}, 0.5f)));
  randomize(cross, 2);
  std::map<std::string, float> factors;
  for (const auto& [p, f] : cross.regularizers()) factors[p->name()] = f;
  EXPECT_EQ(factors, (std::map<std::string, float>{{"cross_0/kernel_u", 1e-4f},
                                                   {"cross_0/kernel", 1e-4f},
                                                   {"cross_0/bias", 1e-5f},
                                                   {"cross_1/kernel_u", 1e-4f},
                                                   {"cross_1/kernel", 1e-4f},
                                                   {"cross_1/bias", 1e-5f}}));
  CrossBlock plain(1);
  plain.build(spec, context);
  EXPECT_TRUE(plain.regularizers().empty());

  const Tensor x = testing::uniform(Shape{4, 5}, 1);
  expect_json_round_trip(cross, spec, [&](Tape& t) { return Flow::tensor(t.constant(x)); });
  EXPECT_EQ(
      Block::from_json({{"type", "CrossBlock"}, {"config", nlohmann::json::object()}}).to_json(),
      CrossBlock().to_json());
}

TEST(CrossBlock, ErrorsAreNamed) {
  EXPECT_THAT(error_of([] { CrossBlock(0); }),
              HasSubstr("CrossBlock: number of cross layers (depth) should be positive but is 0"));
  EXPECT_THAT(error_of([] { CrossBlock(1, {.low_rank_dim = -1}); }),
              HasSubstr("CrossBlock: low_rank_dim is -1"));
  BlockContext context;
  EXPECT_THAT(
      error_of([&] {
        CrossBlock().build(FlowSpec::tensor(spec_of(Shape{3, 4})), context);
      }),
      HasSubstr("CrossBlock: input has shape [batch, 3, 4], expected [batch, features] (rank 2)"));
  EXPECT_THAT(error_of([] {
                Block::from_json({{"type", "CrossBlock"}, {"config", {{"low_rank", 4}}}});
              }),
              HasSubstr("CrossBlock config: unknown key 'low_rank'"));
}

TEST(LayersRegistry, EveryTypeIsRegistered) {
  const auto types = registered_block_types();
  for (const char* name :
       {"MLPBlock", "DotProductInteractionBlock", "FMPairwiseInteraction", "CrossBlock"}) {
    EXPECT_NE(std::find(types.begin(), types.end(), name), types.end()) << name;
  }
}

}  // namespace
}  // namespace recblocks
