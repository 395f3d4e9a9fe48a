// The block framework: combinators, aggregations, the connect methods,
// JSON save and rebuild, and the errors they give.
#include "recblocks/blocks/combinators.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/aggregation.h"
#include "recblocks/blocks/features.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/core/error.h"
#include "recblocks/data/dataset.h"
#include "recblocks/data/loader.h"
#include "testing/gradient_checker.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::int64_t kBatch = 3;

// A dict flow of float tensors [kBatch, dim] with distinct values.
struct DictInput {
  Tape tape;
  FlowSpec spec;
  Flow flow;
  std::map<std::string, Tensor> values;

  explicit DictInput(const std::vector<std::pair<std::string, std::int64_t>>& entries) {
    FlowSpec::Dict spec_entries;
    Flow::Dict flow_entries;
    std::uint64_t seed = 1;
    for (const auto& [name, dim] : entries) {
      Tensor t = testing::uniform(Shape{kBatch, dim}, seed++);
      values[name] = t;
      spec_entries.emplace_back(name, TensorSpec{Shape{dim}, DType::kFloat32});
      flow_entries.emplace_back(name, tape.constant(t));
    }
    spec = FlowSpec::dict(spec_entries);
    flow = Flow::dict(flow_entries);
  }

  // Builds `block` for this input and runs it.
  Flow run(const Block& block, std::uint64_t seed = 0) {
    BlockContext context(seed);
    block.build(spec, context);
    static const Batch empty;
    RunContext r(tape, empty, false);
    return block.forward(flow, r);
  }
};

using testing::error_of;

Tensor concat_rows(const std::vector<Tensor>& parts) {
  std::int64_t width = 0;
  for (const Tensor& p : parts) width += p.shape()[1];
  Tensor out = Tensor::empty(Shape{kBatch, width});
  for (std::int64_t r = 0; r < kBatch; ++r) {
    std::int64_t c = 0;
    for (const Tensor& p : parts) {
      for (std::int64_t j = 0; j < p.shape()[1]; ++j)
        out.data<float>()[r * width + c++] = p.data<float>()[r * p.shape()[1] + j];
    }
  }
  return out;
}

TEST(ConcatFeatures, ConcatenatesInKeyOrderLikeMerlin) {
  DictInput in({{"b", 3}, {"a", 2}});
  ConcatFeatures concat;
  const Flow out = in.run(concat);
  EXPECT_EQ(concat.output_spec(), FlowSpec::tensor({Shape{5}, DType::kFloat32}));
  EXPECT_TRUE(
      testing::tensors_close(out.tensor().value(), concat_rows({in.values["a"], in.values["b"]})));
}

TEST(StackFeatures, StacksOnTheGivenAxis) {
  DictInput in({{"y", 4}, {"x", 4}});
  StackFeatures stack1(1);
  const Flow out = in.run(stack1);
  EXPECT_EQ(stack1.output_spec().tensor().shape, (Shape{2, 4}));
  EXPECT_EQ(out.tensor().value().shape(), (Shape{kBatch, 2, 4}));
  // [b, 0, :] is x (key order), [b, 1, :] is y.
  EXPECT_FLOAT_EQ(out.tensor().value().data<float>()[0 * 8 + 0 * 4 + 1],
                  in.values["x"].data<float>()[1]);
  EXPECT_FLOAT_EQ(out.tensor().value().data<float>()[2 * 8 + 1 * 4 + 3],
                  in.values["y"].data<float>()[2 * 4 + 3]);

  StackFeatures last(-1);
  DictInput in2({{"y", 4}, {"x", 4}});
  EXPECT_EQ(in2.run(last).tensor().value().shape(), (Shape{kBatch, 4, 2}));
}

TEST(ElementwiseSum, AddsEntriesAndRejectsMismatchedShapes) {
  DictInput in({{"a", 3}, {"b", 3}, {"c", 3}});
  const Flow out = in.run(ElementwiseSum());
  for (std::int64_t i = 0; i < kBatch * 3; ++i) {
    const float want = in.values["a"].data<float>()[i] + in.values["b"].data<float>()[i] +
                       in.values["c"].data<float>()[i];
    EXPECT_NEAR(out.tensor().value().data<float>()[i], want, 1e-6f);
  }
  DictInput bad({{"a", 3}, {"b", 4}});
  EXPECT_THAT(
      error_of([&] { bad.run(ElementwiseSum()); }),
      HasSubstr("ElementwiseSum: every input must have the same shape; 'b' is [4] but 'a' is [3]"));
}

TEST(ElementwiseProduct, MultipliesEntriesAndRejectsMismatchedShapes) {
  DictInput in({{"a", 3}, {"b", 3}, {"c", 3}});
  const Flow out = in.run(ElementwiseProduct());
  for (std::int64_t i = 0; i < kBatch * 3; ++i) {
    const double want = static_cast<double>(in.values["a"].data<float>()[i]) *
                        in.values["b"].data<float>()[i] * in.values["c"].data<float>()[i];
    EXPECT_NEAR(out.tensor().value().data<float>()[i], want, 1e-6);
  }
  EXPECT_EQ(aggregation_block("element-wise-multiply").type(), "ElementwiseProduct");
  DictInput bad({{"a", 3}, {"b", 4}});
  EXPECT_THAT(error_of([&] { bad.run(ElementwiseProduct()); }),
              HasSubstr("ElementwiseProduct: every input must have the same shape"));
}

TEST(CosineSimilarity, IsTheCosineOfTheTwoEntries) {
  DictInput in({{"q", 5}, {"c", 5}});
  const Flow out = in.run(CosineSimilarity());
  ASSERT_EQ(out.tensor().value().shape(), (Shape{kBatch, 1}));
  for (std::int64_t r = 0; r < kBatch; ++r) {
    double dot = 0, nq = 0, nc = 0;
    for (int j = 0; j < 5; ++j) {
      const double q = in.values["q"].data<float>()[r * 5 + j],
                   c = in.values["c"].data<float>()[r * 5 + j];
      dot += q * c, nq += q * q, nc += c * c;
    }
    EXPECT_NEAR(out.tensor().value().data<float>()[r], dot / std::sqrt(nq * nc), 1e-5);
  }
}

TEST(ParallelBlock, MergesBranchOutputsAndAggregates) {
  DictInput in({{"a", 2}, {"b", 3}, {"c", 4}});
  ParallelBlock parallel(
      {{"first", Filter("a")}, {"rest", Filter(std::vector<std::string>{"c", "b"})}});
  const Flow out = in.run(parallel);
  std::vector<std::string> keys;
  for (const auto& [k, v] : out.dict()) keys.push_back(k);
  EXPECT_THAT(keys, ElementsAre("a", "b", "c"));  // a Filter keeps its input's order

  DictInput in2({{"a", 2}, {"b", 3}});
  ParallelBlock concat({{"x", ConcatFeatures()}, {"a_only", Filter("a")}}, "concat");
  const Flow out2 = in2.run(concat);
  // Entries "a" (from the filter) and "x" (the tensor branch), in key order.
  const Tensor want =
      concat_rows({in2.values["a"], concat_rows({in2.values["a"], in2.values["b"]})});
  EXPECT_TRUE(testing::tensors_close(out2.tensor().value(), want));
}

TEST(ParallelBlock, RejectsCollidingOutputsAndBadNames) {
  DictInput in({{"a", 2}});
  EXPECT_THAT(error_of([&] {
                in.run(ParallelBlock({{"x", Filter("a")}, {"y", Filter("a")}}));
              }),
              HasSubstr("two branches produce the output 'a'"));
  EXPECT_THAT(error_of([] {
                ParallelBlock({{"x", Identity()}, {"x", Identity()}});
              }),
              HasSubstr("two branches named 'x'"));
  EXPECT_THAT(error_of([] {
                ParallelBlock({{"x", Identity()}}, "mean");
              }),
              HasSubstr("unknown aggregation 'mean'"));
}

TEST(Filter, SelectsDictEntriesAndNamesMissingOnes) {
  DictInput in({{"a", 2}, {"b", 3}});
  EXPECT_EQ(in.run(Filter("b")).dict().size(), 1u);
  DictInput in2({{"a", 2}, {"b", 3}});
  const Flow out = in2.run(Filter("b", {.exclude = true}));
  ASSERT_EQ(out.dict().size(), 1u);
  EXPECT_EQ(out.dict()[0].first, "a");
  DictInput in3({{"a", 2}, {"b", 3}});
  EXPECT_THAT(error_of([&] { in3.run(Filter("deep_continuous")); }),
              HasSubstr("Filter: no feature 'deep_continuous' in its input; available: a, b"));
}

// The raw inputs of a tiny dataset: two continuous columns, one id, a target.
Dataset tiny_dataset() {
  const Schema schema{
      ColumnSchema("userId", DType::kInt32, {Tags::USER_ID, Tags::CATEGORICAL}).with_domain(0, 9),
      ColumnSchema("TE_a", DType::kFloat32, {Tags::CONTINUOUS}),
      ColumnSchema("TE_b", DType::kFloat32, {Tags::CONTINUOUS, Tags::ITEM}),
      ColumnSchema("rating_binary", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
  };
  std::map<std::string, Column> cols;
  cols["userId"].values =
      Tensor::from<std::int32_t>(Shape{4}, std::vector<std::int32_t>{3, 4, 5, 9});
  cols["TE_a"].values = Tensor::from(Shape{4}, {0.1f, 0.2f, 0.3f, 0.4f});
  cols["TE_b"].values = Tensor::from(Shape{4}, {1.f, 2.f, 3.f, 4.f});
  cols["rating_binary"].values =
      Tensor::from<std::int32_t>(Shape{4}, std::vector<std::int32_t>{0, 1, 1, 0});
  return Dataset(schema, std::move(cols));
}

TEST(Filter, SelectsRawInputsByTagAndByName) {
  const Batch batch(tiny_dataset());
  const Output by_tag = Filter(Tags::CONTINUOUS)(batch);
  EXPECT_THAT(by_tag.keys(), ElementsAre("TE_a", "TE_b"));
  EXPECT_THAT(Filter(Tags::ITEM)(batch).keys(), ElementsAre("TE_b"));
  EXPECT_THAT(Filter("userId")(batch).keys(), ElementsAre("userId"));
  // Targets are never model inputs.
  EXPECT_THAT(error_of([&] { Filter("rating_binary")(batch); }),
              HasSubstr("no feature 'rating_binary'"));
}

TEST(Connect, ShortcutConcatenatesTheBlockOutputAndTheShortcut) {
  DictInput in({{"x", 2}, {"y", 3}});
  const Block model = Identity().connect_with_shortcut(
      ConcatFeatures(), {.shortcut_filter = Filter("y"), .aggregation = "concat"});
  const Flow out = in.run(model);
  EXPECT_EQ(model.output_spec(), FlowSpec::tensor({Shape{8}, DType::kFloat32}));
  // "block" sorts before "y": the block's output first, then the shortcut.
  const Tensor want = concat_rows({concat_rows({in.values["x"], in.values["y"]}), in.values["y"]});
  EXPECT_TRUE(testing::tensors_close(out.tensor().value(), want));
}

TEST(Connect, ResidualAddsTheInput) {
  DictInput in({{"x", 4}, {"y", 4}});
  const Block model = ConcatFeatures().connect_with_residual(Identity());
  const Flow out = in.run(model);
  const Tensor both = concat_rows({in.values["x"], in.values["y"]});
  for (std::int64_t i = 0; i < both.numel(); ++i) {
    EXPECT_FLOAT_EQ(out.tensor().value().data<float>()[i], 2 * both.data<float>()[i]);
  }
}

TEST(Connect, BranchRunsEveryBranchOnTheSameInput) {
  DictInput in({{"x", 4}, {"y", 4}});
  const Block model = Identity().connect_branch({ConcatFeatures(), ElementwiseSum()}, "concat");
  EXPECT_EQ(in.run(model).tensor().value().shape(), (Shape{kBatch, 12}));
  EXPECT_THAT(model.summary(), HasSubstr("ParallelBlock -> [12]"));
}

TEST(Block, ABuiltBlockRefusesADifferentInput) {
  DictInput in({{"x", 4}});
  const Block concat = ConcatFeatures();
  in.run(concat);
  DictInput other({{"x", 5}});
  EXPECT_THAT(
      error_of([&] { other.run(concat); }),
      HasSubstr(
          "ConcatFeatures was built for input {x: [4]} and cannot be reused for input {x: [5]}"));
  EXPECT_THAT(error_of([] { (void)Block().type(); }), HasSubstr("empty Block"));
}

TEST(Json, ACompositionRoundTrips) {
  const Block model = Filter(std::vector<std::string>{"x", "y", "z"})
                          .connect_with_shortcut(StackFeatures(1).connect(Identity()),
                                                 {.shortcut_filter = Filter("z", {.exclude = true}),
                                                  .aggregation = ""})
                          .connect_branch({{"sum", Filter("x")}}, "");
  const nlohmann::json j = model.to_json();
  const Block back = Block::from_json(j);
  EXPECT_EQ(back.to_json(), j);

  DictInput a({{"x", 3}, {"y", 3}, {"z", 3}});
  DictInput b({{"x", 3}, {"y", 3}, {"z", 3}});
  const Flow out_a = a.run(model);
  const Flow out_b = b.run(back);
  ASSERT_EQ(out_a.dict().size(), out_b.dict().size());
  for (std::size_t i = 0; i < out_a.dict().size(); ++i) {
    EXPECT_EQ(out_a.dict()[i].first, out_b.dict()[i].first);
    EXPECT_TRUE(
        testing::tensors_close(out_a.dict()[i].second.value(), out_b.dict()[i].second.value()));
  }
}

TEST(Json, UnknownTypesAndKeysAreNamed) {
  EXPECT_THAT(error_of([] {
                (void)Block::from_json({{"type", "MLPBlok"}});
              }),
              AllOf(HasSubstr("unknown block type 'MLPBlok'"), HasSubstr("ConcatFeatures")));
  EXPECT_THAT(error_of([] {
                (void)Block::from_json({{"type", "StackFeatures"}, {"config", {{"axes", 1}}}});
              }),
              HasSubstr("StackFeatures config: unknown key 'axes' (known: axis)"));
  EXPECT_THAT(error_of([] {
                (void)Block::from_json({{"type", "Identity"}, {"confg", {}}});
              }),
              HasSubstr("unknown key 'confg'"));
}

// Each aggregation's gradient reaches every input entry (finite differences).
TEST(Aggregations, GradientsMatchFiniteDifferences) {
  const std::vector<std::pair<std::string, Block>> aggregations = {
      {"concat", ConcatFeatures()},      {"stack", StackFeatures(1)},
      {"stack_last", StackFeatures(-1)}, {"sum", ElementwiseSum()},
      {"product", ElementwiseProduct()}, {"cosine", CosineSimilarity()}};
  for (const auto& [name, block] : aggregations) {
    Parameter a("a", testing::uniform(Shape{kBatch, 4}, 11));
    Parameter b("b", testing::uniform(Shape{kBatch, 4}, 12));
    BlockContext context;
    block.build(
        FlowSpec::dict({{"b", {Shape{4}, DType::kFloat32}}, {"a", {Shape{4}, DType::kFloat32}}}),
        context);
    const Batch empty;
    EXPECT_TRUE(testing::check_gradients(name, {&a, &b}, [&](Tape& tape, std::span<const Var> in) {
      RunContext run(tape, empty, true);
      return block.forward(Flow::dict({{"b", in[1]}, {"a", in[0]}}), run).tensor();
    }));
  }
}

// A block used twice (one MLP on two branches) is saved once and shared
// again after rebuilding; weights move by name and outputs are identical.
TEST(Json, SharedBlocksStaySharedAndWeightsReload) {
  const Block mlp = MLPBlock({4});
  const Block model = ParallelBlock({{"left", Filter("x").connect(ConcatFeatures()).connect(mlp)},
                                     {"right", Filter("y").connect(ConcatFeatures()).connect(mlp)}},
                                    "concat")
                          .connect(MLPBlock({3}));
  DictInput in({{"x", 5}, {"y", 5}});
  const Flow out = in.run(model, /*seed=*/7);
  EXPECT_EQ(model.parameters().size(), 4u);  // the shared MLP once, the head once

  const nlohmann::json j = model.to_json();
  EXPECT_THAT(j.dump(), HasSubstr("\"ref\""));
  const Block back = Block::from_json(j);
  EXPECT_EQ(back.to_json(), j);
  DictInput in2({{"x", 5}, {"y", 5}});
  EXPECT_THAT(error_of([&] { back.load_state(model.state()); }), HasSubstr("not built yet"));
  in2.run(back, /*seed=*/99);  // other initial weights ...
  EXPECT_EQ(back.parameters().size(), 4u);
  back.load_state(model.state());  // ... replaced by the model's
  const Flow out2 = in2.run(back);
  EXPECT_TRUE(testing::tensors_bitwise_equal(out.tensor().value(), out2.tensor().value()));
}

TEST(Block, SeparateEagerBuildsGetDifferentWeights) {
  const Batch batch(tiny_dataset());
  const Block a = ContinuousFeatures::from_schema(batch.schema()).connect(MLPBlock({8}));
  const Block b = ContinuousFeatures::from_schema(batch.schema()).connect(MLPBlock({8}));
  (void)a(batch);
  (void)b(batch);
  EXPECT_FALSE(allclose(a.state().at("1/dense_0/kernel"), b.state().at("1/dense_0/kernel")));
  // An explicit seed reproduces the weights.
  const Block c = ContinuousFeatures::from_schema(batch.schema()).connect(MLPBlock({8}));
  const Block d = ContinuousFeatures::from_schema(batch.schema()).connect(MLPBlock({8}));
  c.build(batch.schema(), 5);
  d.build(batch.schema(), 5);
  EXPECT_TRUE(testing::tensors_bitwise_equal(c.state().at("1/dense_0/kernel"),
                                             d.state().at("1/dense_0/kernel")));
}

TEST(Output, PrintsTensorsAndDicts) {
  const Batch batch(tiny_dataset());
  const Output out = Filter(Tags::CONTINUOUS)(batch);
  EXPECT_THAT(out.str(), HasSubstr("'TE_a': tensor(shape=[4], dtype=float32)"));
  EXPECT_THAT(error_of([&] { (void)out.tensor(); }), HasSubstr("dict with keys TE_a, TE_b"));
  EXPECT_THAT(error_of([&] { (void)out["nope"]; }), HasSubstr("no key 'nope'"));
}

}  // namespace
}  // namespace recblocks
