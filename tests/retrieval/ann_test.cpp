// retrieval::AnnIndex (FAISS HNSW and IVF, inner product) against the exact
// scan retrieval::top_k: recall on a clustered catalogue, an IVF probing
// every list equal to the exact answer, exclusions, k capped, errors, and a
// Recommender serving from one (as its retrieval::ItemIndex).
#include "recblocks/retrieval/ann.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "recblocks/core/rng.h"
#include "recblocks/retrieval/recommender.h"
#include "recblocks/retrieval/topk.h"

namespace recblocks {
namespace {

using retrieval::AnnIndex;
using retrieval::AnnKind;
using ::testing::HasSubstr;

// n items in 50 clusters in d dimensions (plus noise), like trained item
// embeddings; queries near the clusters.
Tensor clustered(std::int64_t n, std::int64_t d, std::uint64_t seed) {
  Rng centers_rng(99);
  std::vector<float> centers(static_cast<std::size_t>(50 * d));
  for (float& c : centers) c = centers_rng.normal();
  Rng rng(seed);
  Tensor t = Tensor::empty({n, d});
  for (std::int64_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::int64_t>(rng.next_u64() % 50);
    for (std::int64_t j = 0; j < d; ++j) {
      t.data<float>()[i * d + j] =
          centers[static_cast<std::size_t>(c * d + j)] + 0.5f * rng.normal();
    }
  }
  return t;
}

TEST(AnnIndex, HnswFindsAlmostAllOfTheExactTopK) {
  const Tensor items = clustered(5000, 32, 1), queries = clustered(200, 32, 2);
  const AnnIndex index(items, {.kind = AnnKind::kHnsw});
  EXPECT_EQ(index.size(), 5000);
  const auto approx = index.search(queries, 10);
  const auto exact = retrieval::top_k(queries, items, 10);
  EXPECT_GT(retrieval::recall_against(approx, exact), 0.95);
  // recall_against itself: a row missing half of the exact answer is 0.5.
  retrieval::TopK half{exact.ids.clone(), exact.scores.clone()};
  for (std::int64_t j = 5; j < 10; ++j) half.ids.data<std::int64_t>()[j] = -1;
  EXPECT_DOUBLE_EQ(retrieval::recall_against(half, exact), (0.5 + 199.0) / 200.0);
  // Scores are the inner products, best first.
  for (std::int64_t r = 0; r < 200; ++r) {
    for (std::int64_t j = 0; j < 10; ++j) {
      const std::int64_t id = approx.ids.data<std::int64_t>()[r * 10 + j];
      ASSERT_GE(id, 0);
      double dot = 0;
      for (std::int64_t c = 0; c < 32; ++c) {
        dot += static_cast<double>(queries.data<float>()[r * 32 + c]) *
               items.data<float>()[id * 32 + c];
      }
      EXPECT_NEAR(approx.scores.data<float>()[r * 10 + j], dot,
                  1e-3 * std::max(1.0, std::abs(dot)));
      if (j > 0) {
        EXPECT_LE(approx.scores.data<float>()[r * 10 + j],
                  approx.scores.data<float>()[r * 10 + j - 1]);
      }
    }
  }
}

TEST(AnnIndex, IvfProbingEveryListIsExact) {
  const Tensor items = clustered(2000, 16, 3), queries = clustered(50, 16, 4);
  const AnnIndex index(items, {.kind = AnnKind::kIvf, .nlist = 20, .nprobe = 20});
  const auto approx = index.search(queries, 7);
  const auto exact = retrieval::top_k(queries, items, 7);
  EXPECT_DOUBLE_EQ(retrieval::recall_against(approx, exact), 1.0);
  // A single probe finds less, but still most.
  const AnnIndex one(items, {.kind = AnnKind::kIvf, .nlist = 20, .nprobe = 1});
  EXPECT_GT(retrieval::recall_against(one.search(queries, 7), exact), 0.3);
}

TEST(AnnIndex, ExcludedItemsNeverComeBackAndKIsCapped) {
  const Tensor items = clustered(300, 8, 5), queries = clustered(4, 8, 6);
  const AnnIndex index(items, {.kind = AnnKind::kHnsw});
  const auto first = index.search(queries, 5);
  // Exclude each query's first answer (and item 0).
  std::vector<std::int64_t> values, offsets{0};
  for (std::int64_t r = 0; r < 4; ++r) {
    values.push_back(first.ids.data<std::int64_t>()[r * 5]);
    values.push_back(0);
    offsets.push_back(static_cast<std::int64_t>(values.size()));
  }
  const RaggedTensor exclude(
      Tensor::from<std::int64_t>({static_cast<std::int64_t>(values.size())}, values),
      Tensor::from<std::int64_t>({5}, offsets));
  const auto again = index.search(queries, 5, &exclude);
  for (std::int64_t r = 0; r < 4; ++r) {
    for (std::int64_t j = 0; j < 5; ++j) {
      const std::int64_t id = again.ids.data<std::int64_t>()[r * 5 + j];
      EXPECT_GE(id, 0);  // rows stay full: the search went deeper
      EXPECT_NE(id, first.ids.data<std::int64_t>()[r * 5]);
      EXPECT_NE(id, 0);
    }
  }
  EXPECT_EQ(index.search(queries, 1000).ids.size(1), 300);
}

std::vector<std::int64_t> ids_of(const retrieval::TopK& top) {
  const std::int64_t* p = top.ids.data<std::int64_t>();
  return {p, p + top.ids.numel()};
}

// A Recommender takes any ItemIndex over its item vectors; an HNSW graph of
// five items finds what the exact scan finds.
TEST(AnnIndex, RecommenderServesFromItAsItsItemIndex) {
  // movieId 40 seen 5 times, 10 four times, 30 three, 20 twice, 50 once.
  const std::vector<std::int64_t> movies = {40, 10, 30, 40, 20, 10, 40, 30,
                                            10, 40, 50, 30, 10, 20, 40};
  const auto rows = static_cast<std::int64_t>(movies.size());
  const std::vector<std::int64_t> users(movies.size(), 7);
  const Dataset train(Schema({ColumnSchema("userId", DType::kInt64, {Tags::USER_ID}),
                              ColumnSchema("movieId", DType::kInt64, {Tags::ITEM_ID})}),
                      {{"userId", Column{Tensor::from<std::int64_t>({rows}, users), {}}},
                       {"movieId", Column{Tensor::from<std::int64_t>({rows}, movies), {}}}});
  retrieval::PopularityRecommender top(train, "movieId");
  const retrieval::TopK exact = top.recommend(train.slice_rows(0, 2), 3);
  EXPECT_EQ(ids_of(exact), (std::vector<std::int64_t>{40, 10, 30, 40, 10, 30}));

  auto index = std::make_shared<AnnIndex>(top.item_vectors());  // HNSW: exact at this size
  top.use_index(index);
  EXPECT_TRUE(top.has_index());
  const retrieval::TopK served = top.recommend(train.slice_rows(0, 2), 3);
  EXPECT_EQ(ids_of(served), ids_of(exact));
  EXPECT_DOUBLE_EQ(top.index_recall(train.slice_rows(0, 2), 3), 1.0);

  // An index over other vectors is refused, naming both sizes.
  auto other = std::make_shared<AnnIndex>(Tensor::full({6, 1}, 1.0f));
  try {
    top.use_index(other);
    ADD_FAILURE() << "use_index took an index of 6 items for a catalogue of 5";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("use_index: an index of 6 items of dim 1, expected the catalogue's 5"));
  }
  EXPECT_TRUE(top.has_index()) << "a refused index leaves the one in use";
  top.use_index(nullptr);
  EXPECT_FALSE(top.has_index());
}

TEST(AnnIndex, Errors) {
  const Tensor items = clustered(100, 8, 7);
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(message([] {
                AnnIndex(Tensor::zeros({0, 4}));
              }),
              HasSubstr("expected float32 [N >= 1, d >= 1]"));
  Tensor bad = items.clone();
  bad.data<float>()[8 * 3 + 2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(message([&] { AnnIndex{bad}; }), HasSubstr("item 3 holds nan at dimension 2"));
  const AnnIndex index(items);
  EXPECT_THAT(message([&] {
                index.search(Tensor::zeros({2, 5}), 3);
              }),
              HasSubstr("expected float32 [Q, 8]"));
  EXPECT_THAT(message([&] { index.search(Tensor::zeros({2, 8}), 0); }), HasSubstr("k is 0"));
  EXPECT_THAT(message([] { retrieval::ann_kind_from_name("lsh"); }),
              HasSubstr("expected hnsw or ivf"));
  EXPECT_THAT(message([&] {
                index.search(Tensor::full({1, 8}, std::numeric_limits<float>::infinity()), 3);
              }),
              HasSubstr("query 0 holds inf at dimension 0"));
  const RaggedTensor out_of_range(Tensor::from<std::int64_t>({1}, std::vector<std::int64_t>{100}),
                                  Tensor::from<std::int64_t>({2}, std::vector<std::int64_t>{0, 1}));
  EXPECT_THAT(message([&] {
                index.search(Tensor::zeros({1, 8}), 3, &out_of_range);
              }),
              HasSubstr("query 0 excludes item 100, outside [0, 100)"));
  EXPECT_THAT(message([&] { AnnIndex(items, {.kind = AnnKind::kIvf, .nlist = 500}); }),
              HasSubstr("nlist 500 must be in [1, 100]"));
}

}  // namespace
}  // namespace recblocks
