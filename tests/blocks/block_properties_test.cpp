// The properties the framework asks of a block type (BlockBase): each
// registered type's answer to row_independent, checked against what its
// forward really does, and the scaling fold of LogitsTemperatureScaler.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "blocks/seed_data.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/aggregation.h"
#include "recblocks/blocks/block.h"
#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/crosses.h"
#include "recblocks/blocks/experts.h"
#include "recblocks/blocks/features.h"
#include "recblocks/blocks/interaction.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/blocks/retrieval.h"
#include "recblocks/blocks/transformations.h"

namespace recblocks {
namespace {

using testing::seed_dataset;
using testing::seed_schema;

// The seed's four scalar id columns embedded 4 wide: a dict of [B, 4].
Block embeddings() {
  return EmbeddingFeatures::from_schema(
      seed_schema().select_by_name({"userId", "movieId", "title", "gender"}), {.dim = 4});
}
Block concatenated() { return embeddings().connect(ConcatFeatures()); }
// movieId's embedding -> `top` (what UniqueRows keyed by movieId feeds).
Block item_tower(const Block& top) {
  return EmbeddingFeatures::from_schema(seed_schema().select_by_name({"movieId"}), {.dim = 4})
      .connect(ConcatFeatures())
      .connect(top);
}

struct Case {
  std::string type;  // the registered type the case is of
  std::string label;
  Block block;       // the block whose answer is checked
  Block input = {};  // what feeds it (row-independent blocks), if not the raw batch
  bool expected = true;
};

std::vector<Case> cases() {
  const Schema schema = seed_schema();
  return {
      {"AsDenseFeatures", "", AsDenseFeatures(4)},
      {"BatchNorm", "batch statistics", BatchNorm(), concatenated(), false},
      // Row by row in principle, but it never declared so (not on the old
      // list of UniqueRows either): the safe answer stays.
      {"CGCBlock", "undeclared", CGCBlock({"a", "b"}, MLPBlock({4})), concatenated(), false},
      {"ConcatFeatures", "", ConcatFeatures(), embeddings()},
      {"ContinuousFeatures", "", ContinuousFeatures({"TE_zipcode_rating", "TE_movieId_rating"})},
      {"CosineSimilarity", "", CosineSimilarity(),
       EmbeddingFeatures::from_schema(schema.select_by_name({"userId", "movieId"}), {.dim = 4})},
      {"CrossBlock", "", CrossBlock(2), concatenated()},
      {"DotProductInteractionBlock", "", DotProductInteractionBlock(), embeddings()},
      {"Dropout", "rate 0", Dropout(0.0), concatenated()},
      {"Dropout", "rate 0.5", Dropout(0.5), concatenated(), false},
      {"ElementwiseProduct", "", ElementwiseProduct(), embeddings()},
      {"ElementwiseSum", "", ElementwiseSum(), embeddings()},
      {"EmbeddingFeatures", "", EmbeddingFeatures::from_schema(schema, {.dim = 4})},
      {"FMPairwiseInteraction", "", FMPairwiseInteraction(), embeddings()},
      {"Filter", "", Filter(std::vector<std::string>{"userId", "TE_zipcode_rating"})},
      {"HashedCrossFeatures", "", HashedCrossFeatures::from_schema(schema)},
      {"Identity", "", Identity()},
      {"ItemRetrievalScorer", "in-batch scores", ItemRetrievalScorer(),
       ParallelBlock({{"query", Filter("userId").connect(EmbeddingFeatures::from_schema(
                                    schema.select_by_name({"userId"}), {.dim = 4}))},
                      {"candidate", Filter("movieId").connect(EmbeddingFeatures::from_schema(
                                        schema.select_by_name({"movieId"}), {.dim = 4}))}},
                     ""),
       false},
      {"L2Norm", "", L2Norm(), embeddings()},
      {"LayerNorm", "", LayerNorm(), concatenated()},
      {"LogitsTemperatureScaler", "", LogitsTemperatureScaler(2.0), concatenated()},
      {"MLPBlock", "", MLPBlock({8, 4}), concatenated()},
      {"MLPBlock", "layer norm", MLPBlock({8}, {.normalization = "layer_norm"}), concatenated()},
      {"MLPBlock", "dropout", MLPBlock({8}, {.dropout = 0.5}), concatenated(), false},
      {"MLPBlock", "batch norm", MLPBlock({8}, {.normalization = "batch_norm"}), concatenated(),
       false},
      {"ParallelBlock", "",
       ParallelBlock({{"a", ContinuousFeatures({"TE_zipcode_rating"})},
                      {"b", EmbeddingFeatures::from_schema(schema, {.dim = 4})}},
                     "")},
      {"ParallelBlock",
       "a dropout branch",
       ParallelBlock({{"a", concatenated()}, {"b", concatenated().connect(Dropout(0.5))}}, ""),
       {},
       false},
      {"ReduceSum", "", ReduceSum(), concatenated()},
      {"SequenceEmbeddingFeatures", "",
       SequenceEmbeddingFeatures::from_schema(schema, {.dim = 4}, 4)},
      {"SequentialBlock", "", SequentialBlock({embeddings(), ConcatFeatures(), MLPBlock({4})})},
      {"SequentialBlock",
       "a batch norm step",
       SequentialBlock({embeddings(), ConcatFeatures(), BatchNorm()}),
       {},
       false},
      {"StackFeatures", "", StackFeatures(), embeddings()},
      {"UniqueRows", "", UniqueRows(item_tower(MLPBlock({4})), {.key = "movieId"})},
      {"UniqueRows",
       "a dropout tower",
       UniqueRows(item_tower(MLPBlock({4}, {.dropout = 0.5})), {.key = "movieId"}),
       {},
       false},
  };
}

// Row `row` of every output entry, flattened.
std::vector<std::vector<float>> row_of(const Output& out, std::int64_t row) {
  std::vector<Tensor> tensors;
  if (out.is_tensor()) {
    tensors.push_back(out.tensor());
  } else {
    for (const auto& [key, t] : out.dict()) tensors.push_back(t);
  }
  std::vector<std::vector<float>> rows;
  for (const Tensor& t : tensors) {
    const std::int64_t width = t.numel() / t.size(0);
    std::vector<float> values;
    for (std::int64_t j = 0; j < width; ++j) {
      const std::int64_t at = row * width + j;
      switch (t.dtype()) {
        case DType::kFloat32: values.push_back(t.data<float>()[at]); break;
        case DType::kInt32: values.push_back(static_cast<float>(t.data<std::int32_t>()[at])); break;
        case DType::kInt64: values.push_back(static_cast<float>(t.data<std::int64_t>()[at])); break;
        default: ADD_FAILURE() << "unexpected dtype " << dtype_name(t.dtype());
      }
    }
    rows.push_back(std::move(values));
  }
  return rows;
}

TEST(BlockProperties, EveryRegisteredTypeHasARowIndependenceCase) {
  std::set<std::string> covered;
  for (const Case& c : cases()) covered.insert(c.type);
  for (const std::string& type : registered_block_types()) {
    EXPECT_TRUE(covered.count(type))
        << "no row_independent case for block type " << type << ": add one to cases()";
  }
}

// A block answering true computes each training row from that row alone:
// its output on the whole batch, row by row, equals its output on each row
// alone.
TEST(BlockProperties, RowIndependentBlocksComputeEachRowAlone) {
  const Dataset data = seed_dataset();
  const Batch batch(data);
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.type + (c.label.empty() ? "" : " (" + c.label + ")"));
    EXPECT_EQ(c.block.type(), c.type);
    const bool answer = c.block.impl().row_independent();
    EXPECT_EQ(answer, c.expected);
    if (!answer) continue;
    const Block run = c.input.defined() ? c.input.connect(c.block) : c.block;
    if (c.input.defined()) {
      EXPECT_TRUE(c.input.impl().row_independent());
    }
    const Output all = run.call(batch, /*training=*/true);
    for (std::int64_t i = 0; i < batch.rows(); ++i) {
      const std::vector<std::int64_t> rows = {i};
      const Batch one(data.take(rows));
      const Output alone = run.call(one, /*training=*/true);
      const auto expected = row_of(all, i);
      const auto got = row_of(alone, 0);
      ASSERT_EQ(got.size(), expected.size());
      for (std::size_t e = 0; e < got.size(); ++e) {
        ASSERT_EQ(got[e].size(), expected[e].size()) << "entry " << e;
        for (std::size_t j = 0; j < got[e].size(); ++j) {
          EXPECT_NEAR(got[e][j], expected[e][j], 1e-5f * (1.0f + std::fabs(expected[e][j])))
              << "row " << i << ", entry " << e << ", value " << j;
        }
      }
    }
  }
}

// A block that mixes rows must not claim otherwise: the check above would
// catch BatchNorm answering true (it refuses a single training row, and a
// row's output changes with the other rows of its batch).
TEST(BlockProperties, TheRowCheckSeesBatchStatistics) {
  const Dataset data = seed_dataset();
  const Block run = concatenated().connect(BatchNorm());
  const auto all = row_of(run.call(Batch(data), true), 0);
  const std::vector<std::int64_t> first_two = {0, 1};
  const auto alone = row_of(run.call(Batch(data.take(first_two)), true), 0);
  ASSERT_EQ(all.size(), 1u);
  float largest = 0;
  for (std::size_t j = 0; j < all[0].size(); ++j)
    largest = std::max(largest, std::fabs(all[0][j] - alone[0][j]));
  EXPECT_GT(largest, 1e-3f);
}

// A type that declares nothing gets the safe answers.
class PlainImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "Plain"; }
  nlohmann::json config() const override { return nlohmann::json::object(); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override { return input; }
  Flow forward(const Flow& input, RunContext&) const override { return input; }
};

TEST(BlockProperties, AnUndeclaredTypeGetsTheSafeDefaults) {
  const PlainImpl plain;
  EXPECT_FALSE(plain.row_independent());
  EXPECT_FALSE(plain.merges_rows());
  EXPECT_FALSE(plain.parallel_branches());
  EXPECT_FALSE(plain.input_scale().has_value());
  // And a composite holding one is not row-independent.
  const Block composite = SequentialBlock({Identity(), Block(std::make_shared<PlainImpl>())});
  EXPECT_FALSE(composite.impl().row_independent());
}

TEST(BlockProperties, StructuralAnswers) {
  EXPECT_TRUE(UniqueRows(MLPBlock({4}), {.key = "movieId"}).impl().merges_rows());
  EXPECT_FALSE(MLPBlock({4}).impl().merges_rows());
  EXPECT_TRUE(ParallelBlock({{"a", Identity()}}, "").impl().parallel_branches());
  EXPECT_FALSE(SequentialBlock({Identity()}).impl().parallel_branches());
  EXPECT_EQ(LogitsTemperatureScaler(2.0).impl().input_scale(), 0.5f);
  EXPECT_FALSE(L2Norm().impl().input_scale().has_value());
}

// forward_scaled(x, s) is forward(x * s): folded by MLPBlock, scaled first
// by the default.
TEST(BlockProperties, ForwardScaledIsTheForwardOfTheScaledInput) {
  const Batch batch(seed_dataset());
  const Block features = concatenated();
  features.build(batch.schema(), 3);
  for (const Block& block : {Block(MLPBlock({3})), Block(LayerNorm())}) {
    SCOPED_TRACE(std::string(block.type()));
    BlockContext context(5);
    block.build(features.output_spec(), context);
    NoGradGuard no_grad;
    Tape tape;
    RunContext run(tape, batch, false);
    const Flow x = features.forward(Flow::inputs(batch), run);
    const Tensor folded = block.impl().forward_scaled(x, run, 0.25f).tensor().value();
    const Tensor scaled =
        block.forward(Flow::tensor(ops::scale(x.tensor(), 0.25f)), run).tensor().value();
    ASSERT_EQ(folded.shape(), scaled.shape());
    for (std::int64_t i = 0; i < folded.numel(); ++i)
      EXPECT_NEAR(folded.data<float>()[i], scaled.data<float>()[i], 1e-6f) << i;
  }
}

}  // namespace
}  // namespace recblocks
