// Feature blocks: ContinuousFeatures, EmbeddingFeatures and
// SequenceEmbeddingFeatures on a batch with the seed's column layout,
// against naive references computed here.
#include "recblocks/blocks/features.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "blocks/seed_data.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/aggregation.h"
#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/blocks/transformations.h"
#include "testing/gradient_checker.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::ElementsAre;
using testing::error_of;
using ::testing::HasSubstr;
using testing::seed_batch;
using testing::seed_genres;
using testing::seed_schema;

std::vector<std::string> names_of(const std::vector<std::pair<std::string, ParameterPtr>>& params) {
  std::vector<std::string> names;
  for (const auto& [name, p] : params) names.push_back(name);
  return names;
}

// Row `id` of a float32 [rows, dim] table.
std::vector<float> row(const Tensor& table, std::int64_t id) {
  const std::int64_t d = table.shape()[1];
  const float* p = table.data<float>() + id * d;
  return {p, p + d};
}

std::vector<float> values(const Tensor& t) { return t.to_vector(); }

// [B, dim]: row b = combine(table rows of lists[b]), computed naively.
Tensor pooled(const Tensor& table, const std::vector<std::vector<std::int32_t>>& lists, bool mean) {
  const std::int64_t d = table.shape()[1];
  Tensor out = Tensor::zeros({static_cast<std::int64_t>(lists.size()), d});
  for (std::size_t b = 0; b < lists.size(); ++b) {
    for (std::int64_t j = 0; j < d; ++j) {
      double s = 0;
      for (std::int32_t id : lists[b]) s += table.data<float>()[id * d + j];
      if (mean && !lists[b].empty()) s /= static_cast<double>(lists[b].size());
      out.data<float>()[b * d + j] = static_cast<float>(s);
    }
  }
  return out;
}

// [ids.size(), dim]: the table rows of `ids`, computed naively.
Tensor gathered(const Tensor& table, const std::vector<std::int32_t>& ids) {
  std::vector<std::vector<std::int32_t>> lists;
  for (std::int32_t id : ids) lists.push_back({id});
  return pooled(table, lists, false);
}

// Concatenation of a dict output's tensors on the last axis, for the checker.
Var concat_dict(const Flow& out) {
  std::vector<Var> parts;
  for (const auto& [k, v] : out.dict())
    parts.push_back(ops::reshape(v, {v.shape()[0], v.value().numel() / v.shape()[0]}));
  return ops::concat(parts, -1);
}

// ---- ContinuousFeatures -------------------------------------------------------

TEST(FeatureBlocks, TheSeedNotebookCells) {
  // The notebook's cells on a batch of 4 rows from a Loader.
  const Dataset data = testing::seed_dataset();
  const Batch batch = *Loader(data, {.batch_size = 4, .shuffle = false}).begin();
  const Schema sub_schema =
      data.schema().select_by_name({"userId", "movieId", "title", "gender", "TE_zipcode_rating",
                                    "TE_movieId_rating", "rating_binary"});
  const ContinuousFeatures continuous =
      ContinuousFeatures::from_schema(sub_schema, Tags::CONTINUOUS);
  EXPECT_THAT(continuous(batch).keys(), ElementsAre("TE_zipcode_rating", "TE_movieId_rating"));
  const Block deep_continuous = continuous.connect(MLPBlock({64}));
  EXPECT_EQ(deep_continuous(batch).shape(), (Shape{4, 64}));
  const EmbeddingFeatures embeddings = EmbeddingFeatures::from_schema(sub_schema);
  const Output e = embeddings(batch);
  EXPECT_THAT(e.keys(), ElementsAre("userId", "movieId", "title", "gender"));
  EXPECT_EQ(e["userId"].shape(), (Shape{4, 64}));
}

TEST(ContinuousFeatures, ReturnsTheContinuousColumnsAsBx1InSchemaOrder) {
  const Batch batch = seed_batch();
  const ContinuousFeatures continuous = ContinuousFeatures::from_schema(seed_schema());
  const Output out = continuous(batch);
  EXPECT_THAT(out.keys(), ElementsAre("TE_zipcode_rating", "TE_movieId_rating"));
  EXPECT_EQ(continuous.output_spec(),
            FlowSpec::dict({{"TE_zipcode_rating", {Shape{1}, DType::kFloat32}},
                            {"TE_movieId_rating", {Shape{1}, DType::kFloat32}}}));
  EXPECT_EQ(out["TE_zipcode_rating"].shape(), (Shape{5, 1}));
  EXPECT_EQ(values(out["TE_zipcode_rating"]), std::vector<float>({0.5f, -1.25f, 2.0f, 0.0f, 3.5f}));
  EXPECT_EQ(values(out["TE_movieId_rating"]),
            std::vector<float>({-0.75f, 0.25f, 1.5f, -2.0f, 0.125f}));
}

TEST(ContinuousFeatures, ConvertsIntColumnsAndKeepsFixedLengthLists) {
  const Schema schema({
      ColumnSchema("age", DType::kInt32, {Tags::CONTINUOUS}),
      ColumnSchema("pair", DType::kFloat32, {Tags::CONTINUOUS})
          .with_list(true, false, ValueCount{2, 2}),
      ColumnSchema("big", DType::kInt64, {Tags::CONTINUOUS}),
  });
  const Dataset data(schema, {{"age", {testing::seed_i32({18, 25, 56}), Tensor()}},
                              {"pair", {Tensor::from({3, 2}, {1, 2, 3, 4, 5, 6}), Tensor()}},
                              {"big", {testing::seed_i64({-3, 0, 7}), Tensor()}}});
  const Output out = ContinuousFeatures::from_schema(schema)(Batch(data));
  EXPECT_EQ(out["age"].dtype(), DType::kFloat32);
  EXPECT_EQ(out["age"].shape(), (Shape{3, 1}));
  EXPECT_EQ(values(out["age"]), std::vector<float>({18, 25, 56}));
  EXPECT_EQ(out["pair"].shape(), (Shape{3, 2}));
  EXPECT_EQ(values(out["pair"]), std::vector<float>({1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(values(out["big"]), std::vector<float>({-3, 0, 7}));
}

TEST(ContinuousFeatures, FromNamesAndConnectedThroughConcat) {
  const Batch batch = seed_batch();
  // Names in the order given; a following block gets them concatenated in
  // name order (Merlin's ConcatFeatures): TE_movieId_rating first.
  const Block block =
      ContinuousFeatures({"TE_zipcode_rating", "TE_movieId_rating"}).connect(ConcatFeatures());
  const Output out = block(batch);
  ASSERT_EQ(out.shape(), (Shape{5, 2}));
  EXPECT_FLOAT_EQ(out.tensor().data<float>()[0], -0.75f);
  EXPECT_FLOAT_EQ(out.tensor().data<float>()[1], 0.5f);
  EXPECT_FLOAT_EQ(out.tensor().data<float>()[9], 3.5f);
}

TEST(ContinuousFeatures, Errors) {
  EXPECT_THAT(error_of([] { ContinuousFeatures::from_schema(seed_schema(), Tags::TEXT); }),
              HasSubstr("ContinuousFeatures.from_schema: no feature column has the tag 'text' "
                        "(columns: userId,"));
  const Batch batch = seed_batch();
  EXPECT_THAT(error_of([&] { ContinuousFeatures({"TE_age_rating"})(batch); }),
              HasSubstr("ContinuousFeatures: the inputs have no column 'TE_age_rating'; they have: "
                        "userId, movieId"));
  EXPECT_THAT(
      error_of([&] { ContinuousFeatures({"genres"})(batch); }),
      HasSubstr("ContinuousFeatures: column 'genres' is a ragged list; make it dense first"));
  EXPECT_THAT(error_of([] { ContinuousFeatures(std::vector<std::string>{}); }),
              HasSubstr("ContinuousFeatures needs at least one feature name"));
  // Targets are not features, even when tagged continuous.
  const Schema with_target = seed_schema().with_column(
      ColumnSchema("rating", DType::kFloat32, {Tags::CONTINUOUS, Tags::TARGET, Tags::REGRESSION}));
  EXPECT_THAT(ContinuousFeatures::from_schema(with_target)
                  .to_json()["config"]["features"]
                  .get<std::vector<std::string>>(),
              ElementsAre("TE_zipcode_rating", "TE_movieId_rating"));
}

TEST(ContinuousFeatures, JsonRoundTrip) {
  const Batch batch = seed_batch();
  for (const Block& block : {Block(ContinuousFeatures::from_schema(seed_schema())),
                             Block(ContinuousFeatures({"TE_movieId_rating"}))}) {
    const nlohmann::json j = block.to_json();
    const Block again = Block::from_json(j);
    EXPECT_EQ(again.to_json(), j);
    const Output a = block(batch), b = again(batch);
    ASSERT_EQ(a.keys(), b.keys());
    for (const std::string& k : a.keys()) EXPECT_TRUE(testing::tensors_bitwise_equal(a[k], b[k]));
  }
  EXPECT_TRUE(
      ContinuousFeatures::from_schema(seed_schema()).to_json()["config"].contains("schema"));
  nlohmann::json bad = ContinuousFeatures({"a"}).to_json();
  bad["config"]["tags"] = "continuous";
  EXPECT_THAT(error_of([&] { Block::from_json(bad); }),
              HasSubstr("ContinuousFeatures config: unknown key 'tags' (known: features, schema)"));
}

// ---- EmbeddingFeatures --------------------------------------------------------

TEST(EmbeddingFeatures, LooksUpOneTablePerCategoricalColumnDim64) {
  const Batch batch = seed_batch();
  const EmbeddingFeatures embeddings = EmbeddingFeatures::from_schema(seed_schema());
  const Output out = embeddings(batch);
  // Schema order; the target is left out.
  EXPECT_THAT(out.keys(), ElementsAre("userId", "movieId", "title", "gender", "genres"));
  for (const std::string& k : out.keys()) EXPECT_EQ(out[k].shape(), (Shape{5, 64})) << k;
  EXPECT_EQ(embeddings.output_spec().dict().size(), 5u);
  EXPECT_EQ(embeddings.output_spec().dict()[0].second, (TensorSpec{Shape{64}, DType::kFloat32}));

  EXPECT_THAT(names_of(embeddings.parameters()),
              ElementsAre("userId", "movieId", "title", "gender", "genres"));
  EXPECT_EQ(embeddings.table("userId")->value().shape(), (Shape{10, 64}));
  EXPECT_EQ(embeddings.table("movieId")->value().shape(), (Shape{20, 64}));
  EXPECT_EQ(embeddings.table("gender")->value().shape(), (Shape{3, 64}));
  EXPECT_EQ(embeddings.table("genres")->value().shape(), (Shape{8, 64}));

  EXPECT_TRUE(testing::tensors_bitwise_equal(
      out["userId"], gathered(embeddings.table("userId")->value(), {3, 1, 4, 1, 9})));
  EXPECT_TRUE(testing::tensors_bitwise_equal(
      out["movieId"], gathered(embeddings.table("movieId")->value(), {5, 0, 19, 7, 2})));
  EXPECT_TRUE(testing::tensors_bitwise_equal(
      out["gender"], gathered(embeddings.table("gender")->value(), {0, 1, 2, 1, 0})));
  // genres: mean of the rows of each list; the empty list gives zeros.
  EXPECT_TRUE(testing::tensors_close(
      out["genres"], pooled(embeddings.table("genres")->value(), seed_genres(), true)));
  EXPECT_EQ(row(out["genres"], 1), std::vector<float>(64, 0.0f));
}

TEST(EmbeddingFeatures, SumCombiner) {
  const Batch batch = seed_batch();
  const EmbeddingFeatures embeddings =
      EmbeddingFeatures::from_schema(seed_schema(), {.dim = 8, .combiner = "sum"});
  const Output out = embeddings(batch);
  EXPECT_TRUE(testing::tensors_close(
      out["genres"], pooled(embeddings.table("genres")->value(), seed_genres(), false)));
}

TEST(EmbeddingFeatures, PoolsFixedLengthListsOverAllTheirValues) {
  // AsDenseFeatures turns genres into [B, 4] padded with 0: the pooled
  // vector then averages over the 4 values, padding rows included.
  const Batch batch = seed_batch();
  const Schema schema = seed_schema().select_by_name({"genres"});
  const EmbeddingFeatures embeddings = EmbeddingFeatures::from_schema(schema, {.dim = 4});
  const Output out = AsDenseFeatures(4).connect(embeddings)(batch);
  const std::vector<std::vector<std::int32_t>> padded = {
      {1, 2, 0, 0}, {0, 0, 0, 0}, {3, 0, 0, 0}, {4, 5, 6, 7}, {2, 2, 5, 0}};
  EXPECT_TRUE(testing::tensors_close(out["genres"],
                                     pooled(embeddings.table("genres")->value(), padded, true)));
}

TEST(EmbeddingFeatures, DefaultInitializerIsTruncatedNormal005) {
  const Schema schema(
      {ColumnSchema("item", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 999)});
  const EmbeddingFeatures embeddings = EmbeddingFeatures::from_schema(schema);
  embeddings.build(schema);
  const Tensor t = embeddings.table("item")->value();
  double sum = 0, sq = 0, max_abs = 0;
  for (float v : t.to_vector())
    sum += v, sq += double(v) * v, max_abs = std::max(max_abs, std::fabs(double(v)));
  const double n = static_cast<double>(t.numel()), mean = sum / n,
               sd = std::sqrt(sq / n - mean * mean);
  EXPECT_LE(max_abs, 0.1 + 1e-6);  // truncated at 2 stddev
  EXPECT_NEAR(mean, 0.0, 0.002);
  // A normal truncated at +-2 sd has sd 0.8796 * 0.05 = 0.044.
  EXPECT_NEAR(sd, 0.044, 0.002);
}

TEST(EmbeddingFeatures, ConfigurableInitializersAndSeededBuild) {
  const Schema schema = seed_schema();
  const EmbeddingFeatures e =
      EmbeddingFeatures::from_schema(schema, {.dim = 4,
                                              .initializer = Initializer::constant(0.5),
                                              .initializers = {{"gender", Initializer::zeros()}}});
  e.build(schema);
  EXPECT_EQ(values(e.table("userId")->value()), std::vector<float>(40, 0.5f));
  EXPECT_EQ(values(e.table("gender")->value()), std::vector<float>(12, 0.0f));
  // The same seed gives the same tables; another seed others.
  const auto a = EmbeddingFeatures::from_schema(schema, {.dim = 4}),
             b = EmbeddingFeatures::from_schema(schema, {.dim = 4}),
             c = EmbeddingFeatures::from_schema(schema, {.dim = 4});
  a.build(schema, 7);
  b.build(schema, 7);
  c.build(schema, 8);
  EXPECT_TRUE(testing::tensors_bitwise_equal(a.table("title")->value(), b.table("title")->value()));
  EXPECT_FALSE(testing::tensors_close(a.table("title")->value(), c.table("title")->value()));
  // Tables of different columns are not copies of each other.
  EXPECT_NE(row(a.table("movieId")->value(), 0), row(a.table("title")->value(), 0));
}

TEST(EmbeddingFeatures, DimsFromOptionsSchemaOrInference) {
  const Schema schema =
      seed_schema().with_column(seed_schema().column("title").with_embedding_dim(12));
  auto dims = [&](EmbeddingOptions o) { return EmbeddingFeatures::from_schema(schema, o).dims(); };
  EXPECT_EQ(dims({}).at("title"), 64);
  EXPECT_EQ(dims({.dim = 16}).at("userId"), 16);
  EXPECT_EQ(dims({.dims = {{"userId", 5}}}).at("userId"), 5);
  EXPECT_EQ(dims({.dims = {{"userId", 5}}}).at("movieId"), 64);
  EXPECT_EQ(dims({.use_schema_dims = true}).at("title"), 12);
  EXPECT_EQ(dims({.use_schema_dims = true}).at("userId"), 64);
  // ceil(card^0.25 * 2): userId 10 -> 4, movieId 20 -> 5, gender 3 -> 3, genres 8 -> 4.
  const auto inferred = dims({.infer_dims = true});
  EXPECT_EQ(inferred.at("userId"), 4);
  EXPECT_EQ(inferred.at("movieId"), 5);
  EXPECT_EQ(inferred.at("gender"), 3);
  EXPECT_EQ(inferred.at("genres"), 4);
  EXPECT_EQ(dims({.infer_dims = true, .ensure_multiple_of_8 = true}).at("movieId"), 8);
  EXPECT_EQ(dims({.infer_dims = true, .infer_multiplier = 4.0}).at("movieId"), 9);
  // Precedence: explicit dims, then schema dims, then inferred.
  const auto mixed = dims({.dims = {{"userId", 7}}, .use_schema_dims = true, .infer_dims = true});
  EXPECT_EQ(mixed.at("userId"), 7);
  EXPECT_EQ(mixed.at("title"), 12);
  EXPECT_EQ(mixed.at("movieId"), 5);
  // The tables have those dims.
  const auto e = EmbeddingFeatures::from_schema(schema, {.infer_dims = true});
  EXPECT_EQ(e(seed_batch())["movieId"].shape(), (Shape{5, 5}));
}

TEST(EmbeddingFeatures, InferEmbeddingDimForMovieLens1m) {
  // Merlin's rule on the ml-1m cardinalities of its committed schema: userId
  // -> 24, movieId / title / zipcode -> 16, genres / gender / age /
  // occupation -> 8 (multiple of 8; without it ceil(card^0.25 * 2)).
  struct Case {
    const char* name;
    std::int64_t cardinality, dim, dim_unrounded;
  };
  for (const Case& c :
       {Case{"userId", 6041, 24, 18}, Case{"movieId", 3953, 16, 16}, Case{"title", 3884, 16, 16},
        Case{"zipcode", 3440, 16, 16}, Case{"genres", 19, 8, 5}, Case{"gender", 3, 8, 3},
        Case{"age", 8, 8, 4}, Case{"occupation", 22, 8, 5}}) {
    const ColumnSchema col =
        ColumnSchema(c.name, DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, c.cardinality - 1);
    EXPECT_EQ(infer_embedding_dim(col), c.dim) << c.name;
    EXPECT_EQ(infer_embedding_dim(col, 2.0, false), c.dim_unrounded) << c.name;
  }
  const ColumnSchema users =
      ColumnSchema("u", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 6040);
  EXPECT_EQ(infer_embedding_dim(users, 10.0, false), 89);  // ceil(8.8161 * 10)
}

TEST(EmbeddingFeatures, SharesTablesByDomainName) {
  const Schema schema({
      ColumnSchema("movieId", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 19),
      ColumnSchema("prev_movieId", DType::kInt32, {Tags::CATEGORICAL})
          .with_domain(0, 19, "movieId"),
      ColumnSchema("userId", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 9),
  });
  const Dataset data(schema, {{"movieId", {testing::seed_i32({1, 2}), Tensor()}},
                              {"prev_movieId", {testing::seed_i32({2, 19}), Tensor()}},
                              {"userId", {testing::seed_i32({0, 9}), Tensor()}}});
  const EmbeddingFeatures e = EmbeddingFeatures::from_schema(schema, {.dim = 4});
  const Output out = e(Batch(data));
  EXPECT_EQ(e.table("movieId"), e.table("prev_movieId"));
  EXPECT_THAT(names_of(e.parameters()), ElementsAre("movieId", "userId"));
  EXPECT_EQ(row(out["prev_movieId"], 0), row(out["movieId"], 1));
  EXPECT_EQ(row(out["prev_movieId"], 1), row(e.table("movieId")->value(), 19));

  // Across the blocks of one model: the second block reuses the table and
  // parameters() lists it once, under the first block's path.
  const auto first = EmbeddingFeatures::from_schema(schema.select_by_name({"movieId"}), {.dim = 4});
  const auto second =
      EmbeddingFeatures::from_schema(schema.select_by_name({"prev_movieId", "userId"}), {.dim = 4});
  const ParallelBlock both({{"embeddings", first}, {"history", second}});
  both(Batch(data));
  EXPECT_EQ(first.table("movieId"), second.table("prev_movieId"));
  EXPECT_THAT(names_of(both.parameters()), ElementsAre("embeddings/movieId", "history/userId"));

  // A domain's columns must agree on the table's shape.
  const Schema clash({schema[0], schema[1].with_domain(0, 29, "movieId")});
  EXPECT_THAT(error_of([&] { EmbeddingFeatures::from_schema(clash); }),
              HasSubstr("EmbeddingFeatures: columns 'movieId' and 'prev_movieId' share the domain "
                        "'movieId' but need "
                        "different tables: [20, 64] and [30, 64]"));
  const auto wider =
      EmbeddingFeatures::from_schema(schema.select_by_name({"prev_movieId"}), {.dim = 8});
  const ParallelBlock mismatch(
      {{"a", EmbeddingFeatures::from_schema(schema.select_by_name({"movieId"}), {.dim = 4})},
       {"b", wider}});
  EXPECT_THAT(
      error_of([&] { mismatch(Batch(data)); }),
      HasSubstr(
          "EmbeddingFeatures: the model already has a table for domain 'movieId' of shape [20, 4], "
          "column 'prev_movieId' needs [20, 8]"));
}

TEST(EmbeddingFeatures, IdsOutOfRangeNameColumnIdAndCardinality) {
  auto columns = testing::seed_columns();
  columns["userId"].values = testing::seed_i32({3, 1, 10, 1, 9});
  const Batch batch(Dataset(seed_schema(), columns));
  const EmbeddingFeatures e = EmbeddingFeatures::from_schema(seed_schema(), {.dim = 4});
  const std::string message = error_of([&] { e(batch); });
  EXPECT_THAT(message, HasSubstr("EmbeddingFeatures: column 'userId' (cardinality 10)"));
  EXPECT_THAT(message, HasSubstr("id 10"));
  EXPECT_THAT(message, HasSubstr("[0, 10)"));

  columns = testing::seed_columns();
  columns["genres"].values = testing::seed_i32({1, 2, 3, 4, 5, 6, 7, 2, -1, 5});
  const std::string negative = error_of([&] { e(Batch(Dataset(seed_schema(), columns))); });
  EXPECT_THAT(negative, HasSubstr("EmbeddingFeatures: column 'genres' (cardinality 8)"));
  EXPECT_THAT(negative, HasSubstr("id -1"));
}

TEST(EmbeddingFeatures, SchemaErrors) {
  EXPECT_THAT(error_of([] { EmbeddingFeatures::from_schema(seed_schema(), {}, Tags::TEXT); }),
              HasSubstr("EmbeddingFeatures.from_schema: no feature column has the tag 'text'"));
  const Schema no_domain({ColumnSchema("city", DType::kInt32, {Tags::CATEGORICAL})});
  EXPECT_THAT(error_of([&] { EmbeddingFeatures::from_schema(no_domain); }),
              HasSubstr("EmbeddingFeatures: column 'city' has no integer domain in the schema"));
  EXPECT_THAT(
      error_of([] { EmbeddingFeatures::from_schema(seed_schema(), {.combiner = "max"}); }),
      HasSubstr("EmbeddingFeatures: combiner 'max' is not supported (use \"mean\" or \"sum\")"));
  EXPECT_THAT(error_of([] {
                EmbeddingFeatures::from_schema(seed_schema(), {.dims = {{"gender", 0}}});
              }),
              HasSubstr("EmbeddingFeatures: column 'gender' has embedding dim 0, expected > 0"));
  // Built on inputs that lack a column.
  const EmbeddingFeatures e = EmbeddingFeatures::from_schema(seed_schema());
  EXPECT_THAT(error_of([&] { e.build(seed_schema().without({"gender"})); }),
              HasSubstr("EmbeddingFeatures: the inputs have no column 'gender'; they have: userId, "
                        "movieId, title, "
                        "TE_zipcode_rating"));
  // On a tensor instead of the raw inputs.
  BlockContext context;
  EXPECT_THAT(
      error_of([&] {
        EmbeddingFeatures::from_schema(seed_schema()).build(FlowSpec::tensor({Shape{4}}), context);
      }),
      HasSubstr("EmbeddingFeatures: expected the raw inputs of a batch, got [4]"));
}

TEST(EmbeddingFeatures, GradientsReachTheTouchedRows) {
  const Batch batch = seed_batch();
  const Schema schema = seed_schema();
  const EmbeddingFeatures e = EmbeddingFeatures::from_schema(schema, {.dim = 3});
  e.build(schema, 3);
  std::vector<Parameter*> tables;
  for (const auto& [name, p] : e.parameters()) tables.push_back(p.get());
  EXPECT_TRUE(testing::check_gradients("EmbeddingFeatures", std::span<Parameter* const>(tables),
                                       [&](Tape& tape, std::span<const Var>) {
                                         recblocks::RunContext run(tape, batch, /*training=*/true);
                                         return concat_dict(e.forward(Flow::inputs(batch), run));
                                       }));
  // Sum combiner too, and only the touched rows get a gradient.
  const EmbeddingFeatures s = EmbeddingFeatures::from_schema(schema.select_by_name({"genres"}),
                                                             {.dim = 2, .combiner = "sum"});
  s.build(schema, 3);
  Parameter* genres = s.table("genres").get();
  EXPECT_TRUE(testing::check_gradients("EmbeddingFeatures sum", {genres},
                                       [&](Tape& tape, std::span<const Var>) {
                                         recblocks::RunContext run(tape, batch, true);
                                         return concat_dict(s.forward(Flow::inputs(batch), run));
                                       }));
  Tape tape;
  recblocks::RunContext run(tape, batch, true);
  genres->zero_grad();
  tape.backward(ops::sum_all(concat_dict(s.forward(Flow::inputs(batch), run))));
  const Tensor g = genres->grad_as_dense();
  // Ids used: 1..7 (2 three times); id 0 is not.
  EXPECT_EQ(row(g, 0), std::vector<float>(2, 0.0f));
  EXPECT_EQ(row(g, 2), std::vector<float>(2, 3.0f));
  EXPECT_EQ(row(g, 7), std::vector<float>(2, 1.0f));
}

TEST(EmbeddingFeatures, L2RegularizationIsReportedPerTable) {
  const Schema schema({
      ColumnSchema("movieId", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 19),
      ColumnSchema("prev_movieId", DType::kInt32, {Tags::CATEGORICAL})
          .with_domain(0, 19, "movieId"),
      ColumnSchema("userId", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 9),
  });
  EXPECT_TRUE(EmbeddingFeatures::from_schema(schema).regularizers().empty());
  const EmbeddingFeatures e = EmbeddingFeatures::from_schema(schema, {.dim = 4, .l2_reg = 0.01f});
  e.build(schema);
  const auto regs = e.regularizers();
  ASSERT_EQ(regs.size(), 2u);
  EXPECT_EQ(regs[0].first, e.table("movieId"));
  EXPECT_EQ(regs[1].first, e.table("userId"));
  EXPECT_FLOAT_EQ(regs[0].second, 0.01f);
  EXPECT_THAT(error_of([&] { EmbeddingFeatures::from_schema(schema, {.l2_reg = -1}); }),
              HasSubstr("l2_reg is -1, expected >= 0"));
}

TEST(EmbeddingFeatures, JsonRoundTripGivesIdenticalOutputs) {
  const Batch batch = seed_batch();
  const EmbeddingFeatures e = EmbeddingFeatures::from_schema(
      seed_schema(), {.dims = {{"userId", 6}},
                      .infer_dims = true,
                      .initializers = {{"gender", Initializer::uniform(-1, 1)}},
                      .l2_reg = 0.5f,
                      .combiner = "sum"});
  const Output a = e(batch);
  const nlohmann::json j = e.to_json();
  EXPECT_EQ(j["type"], "EmbeddingFeatures");
  EXPECT_EQ(Schema::from_json(j["config"]["schema"]),
            seed_schema().select_by_tag(Tags::CATEGORICAL).remove_by_tag(Tags::TARGET));
  const Block again = Block::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(again.to_json(), j);
  again.build(batch.schema(), 12345);  // other weights ...
  again.load_state(e.state());         // ... then the same
  const Output b = again(batch);
  ASSERT_EQ(a.keys(), b.keys());
  for (const std::string& k : a.keys())
    EXPECT_TRUE(testing::tensors_bitwise_equal(a[k], b[k])) << k;
  EXPECT_EQ(again.regularizers().size(), 5u);

  nlohmann::json bad = j;
  bad["config"]["options"]["dimension"] = 3;
  EXPECT_THAT(error_of([&] { Block::from_json(bad); }),
              HasSubstr("EmbeddingOptions: unknown key 'dimension' (known: dim, dims,"));
  bad = j;
  bad["config"]["tags"] = "categorical";
  EXPECT_THAT(error_of([&] { Block::from_json(bad); }),
              HasSubstr("EmbeddingFeatures config: unknown key 'tags' (known: schema, options)"));
}

TEST(EmbeddingOptions, JsonRoundTripAndDefaults) {
  const EmbeddingOptions defaults;
  EXPECT_EQ(defaults.dim, 64);
  EXPECT_EQ(defaults.combiner, "mean");
  EXPECT_EQ(defaults.initializer, Initializer::truncated_normal(0.0, 0.05));
  EXPECT_FALSE(defaults.infer_dims);
  EXPECT_FALSE(defaults.ensure_multiple_of_8);
  EXPECT_DOUBLE_EQ(defaults.infer_multiplier, 2.0);
  const EmbeddingOptions o{.dim = 3,
                           .dims = {{"a", 2}},
                           .use_schema_dims = true,
                           .infer_dims = true,
                           .infer_multiplier = 3.5,
                           .ensure_multiple_of_8 = true,
                           .initializer = Initializer::ones(),
                           .initializers = {{"b", Initializer::normal(1, 2)}},
                           .l2_reg = 0.25f,
                           .combiner = "sum"};
  const EmbeddingOptions back = EmbeddingOptions::from_json(o.to_json());
  EXPECT_EQ(back.to_json(), o.to_json());
  EXPECT_EQ(back.dims, o.dims);
  EXPECT_EQ(back.initializers.at("b"), Initializer::normal(1, 2));
  EXPECT_EQ(EmbeddingOptions::from_json(nlohmann::json::object()).to_json(), defaults.to_json());
}

// ---- SequenceEmbeddingFeatures ------------------------------------------------

TEST(SequenceEmbeddingFeatures, PadsOrTruncatesToLAndMasksPadding) {
  const Batch batch = seed_batch();
  for (const std::int64_t L : {3, 5}) {
    const SequenceEmbeddingFeatures seq =
        SequenceEmbeddingFeatures::from_schema(seed_schema(), {.dim = 4}, L);
    const Output out = seq(batch);
    EXPECT_THAT(out.keys(), ElementsAre("genres", "genres__mask"));
    EXPECT_EQ(seq.output_spec(), FlowSpec::dict({{"genres", {Shape{L, 4}, DType::kFloat32}},
                                                 {"genres__mask", {Shape{L}, DType::kFloat32}}}));
    ASSERT_EQ(out["genres"].shape(), (Shape{5, L, 4}));
    ASSERT_EQ(out["genres__mask"].shape(), (Shape{5, L}));
    const Tensor table = seq.table("genres")->value();
    const auto lists = seed_genres();
    for (std::int64_t b = 0; b < 5; ++b) {
      for (std::int64_t p = 0; p < L; ++p) {
        const bool real = p < static_cast<std::int64_t>(lists[b].size());
        const std::int32_t id = real ? lists[b][p] : 0;  // padding looks up row 0, as in Merlin
        const float* got = out["genres"].data<float>() + (b * L + p) * 4;
        EXPECT_EQ(std::vector<float>(got, got + 4), row(table, id))
            << "row " << b << " position " << p;
        EXPECT_EQ(out["genres__mask"].data<float>()[b * L + p], real ? 1.0f : 0.0f)
            << b << ", " << p;
      }
    }
  }
}

TEST(SequenceEmbeddingFeatures, LengthFromTheSchemaAndWithoutMask) {
  const Batch batch = seed_batch();
  const auto seq = SequenceEmbeddingFeatures::from_schema(seed_schema(), {.dim = 2}, 0,
                                                          Tags::CATEGORICAL, false);
  const Output out = seq(batch);
  EXPECT_THAT(out.keys(), ElementsAre("genres"));
  EXPECT_EQ(out["genres"].shape(), (Shape{5, 4, 2}));  // value_count.max = 4

  const Schema unbounded = seed_schema().with_column(
      seed_schema().column("genres").with_list(true, true, ValueCount{0, 0}));
  EXPECT_THAT(
      error_of([&] { SequenceEmbeddingFeatures::from_schema(unbounded); }),
      HasSubstr("SequenceEmbeddingFeatures: column 'genres' has no maximum length in the schema "
                "(value_count.max); give max_sequence_length"));
  EXPECT_THAT(
      error_of([] { SequenceEmbeddingFeatures::from_schema(seed_schema(), {}, 0, Tags::USER_ID); }),
      HasSubstr(
          "SequenceEmbeddingFeatures.from_schema: no list column has the tag 'user_id' (tagged "
          "columns: userId)"));
}

TEST(SequenceEmbeddingFeatures, ReadsDenseListsAndSharesTheirTables) {
  // After AsDenseFeatures(4) genres is [B, 4]: the same values as from the
  // ragged column, and the sequence block shares the table of a plain
  // embedding block on the same domain.
  const Batch batch = seed_batch();
  const auto seq = SequenceEmbeddingFeatures::from_schema(seed_schema(), {.dim = 4}, 4);
  const Output direct = seq(batch);
  const Output via_dense = AsDenseFeatures(4).connect(seq)(batch);
  EXPECT_TRUE(testing::tensors_bitwise_equal(direct["genres"], via_dense["genres"]));
  EXPECT_TRUE(testing::tensors_bitwise_equal(direct["genres__mask"], via_dense["genres__mask"]));
  // Dense lists longer than L are truncated.
  const auto short_seq = SequenceEmbeddingFeatures::from_schema(seed_schema(), {.dim = 4}, 2);
  const Output truncated = AsDenseFeatures(4).connect(short_seq)(batch);
  EXPECT_EQ(truncated["genres"].shape(), (Shape{5, 2, 4}));
  EXPECT_EQ(values(truncated["genres__mask"]), std::vector<float>({1, 1, 0, 0, 1, 0, 1, 1, 1, 1}));

  const auto plain =
      EmbeddingFeatures::from_schema(seed_schema().select_by_name({"genres"}), {.dim = 4});
  const auto seq2 = SequenceEmbeddingFeatures::from_schema(seed_schema(), {.dim = 4}, 4,
                                                           Tags::CATEGORICAL, false);
  const ParallelBlock both({{"pooled", plain}, {"sequence", seq2.connect(ConcatFeatures())}});
  const Output out = both(batch);
  EXPECT_THAT(out.keys(), ElementsAre("genres", "sequence"));
  EXPECT_EQ(out["sequence"].shape(), (Shape{5, 4, 4}));
  EXPECT_EQ(plain.table("genres"), seq2.table("genres"));
  EXPECT_THAT(names_of(both.parameters()), ElementsAre("pooled/genres"));
}

TEST(SequenceEmbeddingFeatures, GradientsAndJsonRoundTrip) {
  const Batch batch = seed_batch();
  const auto seq = SequenceEmbeddingFeatures::from_schema(seed_schema(), {.dim = 3}, 5);
  seq.build(seed_schema(), 11);
  EXPECT_TRUE(testing::check_gradients("SequenceEmbeddingFeatures", {seq.table("genres").get()},
                                       [&](Tape& tape, std::span<const Var>) {
                                         recblocks::RunContext run(tape, batch, true);
                                         return seq.forward(Flow::inputs(batch), run).at("genres");
                                       }));
  const nlohmann::json j = seq.to_json();
  EXPECT_EQ(j["config"]["max_sequence_length"], 5);
  EXPECT_EQ(j["config"]["mask_zero"], true);
  const Block again = Block::from_json(j);
  EXPECT_EQ(again.to_json(), j);
  again.build(batch.schema());
  again.load_state(seq.state());
  const Output a = seq(batch), b = again(batch);
  EXPECT_TRUE(testing::tensors_bitwise_equal(a["genres"], b["genres"]));
  EXPECT_TRUE(testing::tensors_bitwise_equal(a["genres__mask"], b["genres__mask"]));
  nlohmann::json bad = j;
  bad["config"]["max_seq_length"] = 3;
  EXPECT_THAT(error_of([&] { Block::from_json(bad); }),
              HasSubstr("SequenceEmbeddingFeatures config: unknown key 'max_seq_length'"));
}

}  // namespace
}  // namespace recblocks
