// HashedCrossFeatures: the bins against the documented rule computed here
// (mixed-radix index, or a splitmix64 chain mod num_bins, written out again
// independently of the block), the lookups, gradients, JSON and errors.
#include "recblocks/blocks/crosses.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "blocks/seed_data.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/aggregation.h"
#include "testing/gradient_checker.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::ElementsAre;
using testing::error_of;
using ::testing::HasSubstr;
using testing::seed_batch;
using testing::seed_schema;

// The rule of crosses.h, from its comment.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
std::int64_t expected_bin(const std::vector<std::int64_t>& ids,
                          const std::vector<std::int64_t>& cards, std::int64_t num_bins) {
  std::int64_t product = 1;
  for (std::int64_t n : cards) product *= n;
  if (product <= num_bins) {
    std::int64_t index = 0;
    for (std::size_t k = 0; k < ids.size(); ++k) index = index * cards[k] + ids[k];
    return index;
  }
  std::uint64_t h = 0x9E3779B97F4A7C15ull;
  for (std::int64_t x : ids) h = mix(h ^ static_cast<std::uint64_t>(x));
  return static_cast<std::int64_t>(h % static_cast<std::uint64_t>(num_bins));
}

// The seed batch's scalar columns (5 rows).
const std::vector<std::int64_t> kUser = {3, 1, 4, 1, 9};    // cardinality 10
const std::vector<std::int64_t> kMovie = {5, 0, 19, 7, 2};  // 20
const std::vector<std::int64_t> kGender = {0, 1, 2, 1, 0};  // 3

TEST(HashedCrossFeatures, EveryPairOfScalarColumnsByDefault) {
  const HashedCrossFeatures crosses = HashedCrossFeatures::from_schema(seed_schema());
  // genres is a list column: not crossed. Schema order, pairs in order.
  EXPECT_THAT(crosses.names(),
              ElementsAre("userId_x_movieId", "userId_x_title", "userId_x_gender",
                          "movieId_x_title", "movieId_x_gender", "title_x_gender"));
  EXPECT_EQ(crosses.bins("userId_x_movieId"), 200);  // 10 * 20 <= 10000: exact
  EXPECT_EQ(crosses.bins("title_x_gender"), 60);
  const HashedCrossFeatures three = HashedCrossFeatures::from_schema(
      seed_schema().select_by_name({"userId", "movieId", "gender"}), {.max_level = 3});
  EXPECT_THAT(three.names(), ElementsAre("userId_x_movieId", "userId_x_gender", "movieId_x_gender",
                                         "userId_x_movieId_x_gender"));
  EXPECT_EQ(three.bins("userId_x_movieId_x_gender"), 600);
}

TEST(HashedCrossFeatures, LooksUpTheBinOfEachRow) {
  const Batch batch = seed_batch();
  // 50 bins: userId x gender (30) is exact, the other two are hashed.
  const HashedCrossFeatures crosses = HashedCrossFeatures::from_schema(
      seed_schema(),
      {.crosses = {{"userId", "movieId"}, {"userId", "gender"}, {"gender", "movieId", "userId"}},
       .num_bins = 50,
       .dim = 2,
       .initializer = Initializer::uniform(-1, 1)});
  const Output out = crosses(batch);
  EXPECT_THAT(out.keys(),
              ElementsAre("userId_x_movieId", "userId_x_gender", "gender_x_movieId_x_userId"));
  EXPECT_EQ(crosses.bins("userId_x_gender"), 30);
  EXPECT_EQ(crosses.bins("userId_x_movieId"), 50);
  const auto params = crosses.parameters();
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[0].first, "userId_x_movieId");
  for (std::int64_t r = 0; r < 5; ++r) {
    const auto u = static_cast<std::size_t>(r);
    const std::vector<std::vector<std::int64_t>> ids = {
        {kUser[u], kMovie[u]}, {kUser[u], kGender[u]}, {kGender[u], kMovie[u], kUser[u]}};
    const std::vector<std::vector<std::int64_t>> cards = {{10, 20}, {10, 3}, {3, 20, 10}};
    for (std::size_t c = 0; c < 3; ++c) {
      const std::int64_t bin = expected_bin(ids[c], cards[c], 50);
      EXPECT_EQ(hashed_cross_bin(ids[c], cards[c], 50), bin);
      const Tensor& table = params[c].second->value();
      for (std::int64_t d = 0; d < 2; ++d) {
        EXPECT_EQ(out[out.keys()[c]].data<float>()[r * 2 + d], table.data<float>()[bin * 2 + d])
            << out.keys()[c] << " row " << r;
      }
    }
  }
  // The exact cross: user * 3 + gender.
  EXPECT_EQ(hashed_cross_bin({9, 0}, {10, 3}, 50), 27);
  // Tables start at zero by default.
  const HashedCrossFeatures zeros = HashedCrossFeatures::from_schema(seed_schema());
  zeros.build(seed_schema());
  for (const auto& [name, p] : zeros.parameters())
    EXPECT_EQ(p->value().to_vector(), std::vector<float>(p->value().numel(), 0.0f)) << name;
}

TEST(HashedCrossFeatures, HashedBinsSpreadAndAreStable) {
  // 1000 x 1000 ids into 97 bins: every bin used, none with more than twice
  // its share; and fixed values (a saved model must keep its bins).
  std::vector<std::int64_t> counts(97, 0);
  for (std::int64_t a = 0; a < 1000; ++a) {
    for (std::int64_t b = 0; b < 1000; b += 7) ++counts[hashed_cross_bin({a, b}, {1000, 1000}, 97)];
  }
  const double share = 1000.0 * 143 / 97;
  for (std::int64_t c : counts) {
    EXPECT_GT(c, 0.5 * share);
    EXPECT_LT(c, 1.5 * share);
  }
  EXPECT_EQ(hashed_cross_bin({1, 2}, {1000, 1000}, 97), expected_bin({1, 2}, {1000, 1000}, 97));
  EXPECT_NE(hashed_cross_bin({1, 2}, {1000, 1000}, 97), hashed_cross_bin({2, 1}, {1000, 1000}, 97));
}

TEST(HashedCrossFeatures, GradientsReachTheBinsOfTheBatch) {
  const Batch batch = seed_batch();
  const Schema schema = seed_schema();
  const HashedCrossFeatures crosses = HashedCrossFeatures::from_schema(
      schema, {.crosses = {{"userId", "gender"}, {"movieId", "title"}},
               .num_bins = 40,
               .dim = 3,
               .initializer = Initializer::uniform(-1, 1)});
  const Block summed = crosses.connect(ElementwiseSum());
  summed.build(schema, 5);
  std::vector<Parameter*> tables;
  for (const auto& [name, p] : summed.parameters()) tables.push_back(p.get());
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_TRUE(testing::check_gradients("HashedCrossFeatures", std::span<Parameter* const>(tables),
                                       [&](Tape& tape, std::span<const Var>) {
                                         RunContext run(tape, batch, /*training=*/true);
                                         return summed.forward(Flow::inputs(batch), run).tensor();
                                       }));
  // Only the rows' bins get a gradient: userId x gender rows 1 and 3 share
  // a bin (user 1, gender 1).
  Tape tape;
  RunContext run(tape, batch, true);
  tables[0]->zero_grad();
  tape.backward(ops::sum_all(summed.forward(Flow::inputs(batch), run).tensor()));
  const Tensor g = tables[0]->grad_as_dense();
  EXPECT_EQ(g.data<float>()[(1 * 3 + 1) * 3], 2.0f);
  EXPECT_EQ(g.data<float>()[(3 * 3 + 0) * 3], 1.0f);  // user 3, gender 0
  EXPECT_EQ(g.data<float>()[(0 * 3 + 0) * 3], 0.0f);
}

TEST(HashedCrossFeatures, JsonRoundTripGivesIdenticalOutputs) {
  const Batch batch = seed_batch();
  const HashedCrossFeatures crosses = HashedCrossFeatures::from_schema(
      seed_schema(),
      {.num_bins = 64, .initializer = Initializer::uniform(-1, 1), .table_prefix = "wide_"});
  const Output a = crosses(batch);
  EXPECT_EQ(crosses.parameters()[0].first, "wide_userId_x_movieId");
  const nlohmann::json j = crosses.to_json();
  EXPECT_EQ(j["type"], "HashedCrossFeatures");
  const Block again = Block::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(again.to_json(), j);
  again.build(batch.schema(), 777);
  again.load_state(crosses.state());
  const Output b = again(batch);
  ASSERT_EQ(a.keys(), b.keys());
  for (const std::string& k : a.keys())
    EXPECT_TRUE(testing::tensors_bitwise_equal(a[k], b[k])) << k;
  nlohmann::json bad = j;
  bad["config"]["options"]["buckets"] = 3;
  EXPECT_THAT(error_of([&] { Block::from_json(bad); }),
              HasSubstr("HashedCrossOptions: unknown key 'buckets' (known: crosses, max_level"));
}

TEST(HashedCrossFeatures, ErrorsNameTheProblem) {
  const Schema schema = seed_schema();
  EXPECT_THAT(error_of([&] {
                HashedCrossFeatures::from_schema(schema, {.crosses = {{"userId", "genres"}}});
              }),
              HasSubstr("the cross [userId, genres] names the list column 'genres'; only scalar "
                        "columns can be crossed"));
  EXPECT_THAT(
      error_of([&] {
        HashedCrossFeatures::from_schema(schema, {.crosses = {{"userId", "zip"}}});
      }),
      HasSubstr("the cross [userId, zip] names 'zip', which is not one of the scalar categorical "
                "columns [userId, movieId, title, gender]"));
  EXPECT_THAT(
      error_of([&] { HashedCrossFeatures::from_schema(schema, {.crosses = {{"userId"}}}); }),
      HasSubstr("a cross needs two or more columns, got [userId]"));
  EXPECT_THAT(
      error_of([&] { HashedCrossFeatures::from_schema(schema.select_by_name({"userId"})); }),
      HasSubstr("nothing to cross: the scalar columns are [userId]"));
  EXPECT_THAT(error_of([&] { HashedCrossFeatures::from_schema(schema, {.num_bins = 0}); }),
              HasSubstr("num_bins is 0, expected > 0"));
  EXPECT_THAT(error_of([&] { HashedCrossFeatures::from_schema(schema, {.max_level = 1}); }),
              HasSubstr("max_level is 1, expected >= 2"));

  auto columns = testing::seed_columns();
  columns["gender"].values = testing::seed_i32({0, 1, 3, 1, 0});
  const Batch batch(Dataset(schema, columns));
  const HashedCrossFeatures crosses = HashedCrossFeatures::from_schema(schema);
  EXPECT_THAT(error_of([&] { crosses(batch); }),
              HasSubstr("column 'gender' (cardinality 3): id 3 at row 2 is outside [0, 3)"));
}

}  // namespace
}  // namespace recblocks
