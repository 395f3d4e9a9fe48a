// Exact top-k retrieval (retrieval/topk.h) against a naive reference here:
// every score computed in double, a full stable sort per query.
#include "recblocks/retrieval/topk.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/core/threads.h"

namespace recblocks::retrieval {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

Tensor i64(const Shape& shape, const std::vector<std::int64_t>& values) {
  return Tensor::from<std::int64_t>(shape, values);
}

// Small integers: every score is exact in float and ties are common.
Tensor integer_matrix(std::int64_t rows, std::int64_t dim, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(static_cast<std::size_t>(rows * dim));
  for (float& x : v) x = static_cast<float>(static_cast<int>(rng() % 5) - 2);
  return Tensor::from<float>({rows, dim}, v);
}

// The first k of every item by (score desc, id asc), skipping `skip`.
std::vector<std::int64_t> naive(const Tensor& queries, const Tensor& items, std::int64_t q,
                                std::int64_t k, const std::set<std::int64_t>& skip) {
  const std::int64_t n = items.size(0), d = items.size(1);
  std::vector<double> score(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::int64_t j = 0; j < d; ++j)
      s += static_cast<double>(queries.data<float>()[q * d + j]) * items.data<float>()[i * d + j];
    score[static_cast<std::size_t>(i)] = s;
  }
  std::vector<std::int64_t> order;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!skip.contains(i)) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return score[static_cast<std::size_t>(a)] > score[static_cast<std::size_t>(b)];
  });
  order.resize(static_cast<std::size_t>(std::min<std::int64_t>(k, n)), -1);
  return order;
}

std::vector<std::int64_t> row(const Tensor& ids, std::int64_t q) {
  const std::int64_t k = ids.size(1);
  return {ids.data<std::int64_t>() + q * k, ids.data<std::int64_t>() + (q + 1) * k};
}

TEST(TopK, MatchesTheNaiveRankingAcrossBlocksWithTies) {
  // 9,000 items: two full blocks of 4,096 and a partial one.
  const Tensor queries = integer_matrix(37, 6, 1);
  const Tensor items = integer_matrix(9000, 6, 2);
  for (std::int64_t k : {1, 7, 100}) {
    SCOPED_TRACE(k);
    const TopK top = top_k(queries, items, k);
    ASSERT_EQ(top.ids.shape(), (Shape{37, k}));
    for (std::int64_t q = 0; q < 37; ++q) {
      EXPECT_EQ(row(top.ids, q), naive(queries, items, q, k, {})) << "query " << q;
      for (std::int64_t i = 0; i < k; ++i) {
        const std::int64_t id = top.ids.data<std::int64_t>()[q * k + i];
        double s = 0;
        for (std::int64_t j = 0; j < 6; ++j)
          s += queries.data<float>()[q * 6 + j] * items.data<float>()[id * 6 + j];
        EXPECT_EQ(top.scores.data<float>()[q * k + i], static_cast<float>(s));
      }
    }
  }
}

TEST(TopK, ExcludesSeenItemsAndPadsWhenFewRemain) {
  const Tensor queries = integer_matrix(3, 4, 3);
  const Tensor items = integer_matrix(10, 4, 4);
  // Query 0 excludes its naive top 3; query 1 nothing; query 2 all but two.
  const std::vector<std::int64_t> top3 = naive(queries, items, 0, 3, {});
  std::vector<std::int64_t> values = top3;
  for (std::int64_t i = 0; i < 8; ++i) values.push_back(i);
  const RaggedTensor exclude(i64({11}, values), i64({4}, {0, 3, 3, 11}));
  const TopK top = top_k(queries, items, 5, &exclude);
  EXPECT_EQ(row(top.ids, 0), naive(queries, items, 0, 5, {top3.begin(), top3.end()}));
  EXPECT_EQ(row(top.ids, 1), naive(queries, items, 1, 5, {}));
  const std::vector<std::int64_t> last = row(top.ids, 2);
  EXPECT_EQ(std::vector<std::int64_t>(last.begin() + 2, last.end()),
            (std::vector<std::int64_t>{-1, -1, -1}));
  EXPECT_EQ(std::set<std::int64_t>(last.begin(), last.begin() + 2), (std::set<std::int64_t>{8, 9}));
  EXPECT_EQ(top.scores.data<float>()[2 * 5 + 4], -std::numeric_limits<float>::infinity());
}

TEST(TopK, KIsCappedAtTheCatalogueAndThreadsDoNotChangeTheAnswer) {
  const Tensor queries = integer_matrix(50, 8, 5);
  const Tensor items = integer_matrix(300, 8, 6);
  const TopK all = top_k(queries, items, 1000);
  EXPECT_EQ(all.ids.shape(), (Shape{50, 300}));
  for (std::int64_t q = 0; q < 50; ++q) {
    std::vector<std::int64_t> ids = row(all.ids, q);
    std::sort(ids.begin(), ids.end());
    std::vector<std::int64_t> every(300);
    std::iota(every.begin(), every.end(), 0);
    ASSERT_EQ(ids, every);  // a permutation of the catalogue
  }
  const int saved = num_threads();
  set_num_threads(1);
  const TopK one = top_k(queries, items, 20);
  set_num_threads(2);
  const TopK two = top_k(queries, items, 20);
  set_num_threads(saved);
  for (std::int64_t q = 0; q < 50; ++q) EXPECT_EQ(row(one.ids, q), row(two.ids, q));
}

TEST(TopK, ErrorsNameTheProblem) {
  const Tensor queries = integer_matrix(2, 4, 7);
  const Tensor items = integer_matrix(5, 4, 8);
  EXPECT_THAT(
      [&] { top_k(queries, integer_matrix(5, 3, 9), 2); },
      ThrowsMessage<ShapeError>(HasSubstr("queries [2, 4] and items [5, 3] differ in dim")));
  EXPECT_THAT([&] { top_k(queries, items, 0); },
              ThrowsMessage<ValueError>(HasSubstr("k is 0, expected >= 1")));
  EXPECT_THAT(
      [&] {
        top_k(queries, Tensor::zeros({0, 4}), 2);
      },
      ThrowsMessage<ValueError>(HasSubstr("no items to rank")));
  const RaggedTensor one_list(i64({1}, {2}), i64({2}, {0, 1}));
  EXPECT_THAT(
      [&] { top_k(queries, items, 2, &one_list); },
      ThrowsMessage<ValueError>(HasSubstr("exclude has 1 lists, expected one per query (2)")));
  const RaggedTensor bad_id(i64({1}, {5}), i64({3}, {0, 1, 1}));
  EXPECT_THAT([&] { top_k(queries, items, 2, &bad_id); },
              ThrowsMessage<ValueError>(HasSubstr("query 0 excludes item 5, outside [0, 5)")));
  std::vector<float> v = items.to_vector();
  v[3 * 4 + 1] = NAN;
  EXPECT_THAT(
      [&] {
        top_k(queries, Tensor::from<float>({5, 4}, v), 2);
      },
      ThrowsMessage<ValueError>(HasSubstr("the score of query 0 for item 3 is NaN")));
}

}  // namespace
}  // namespace recblocks::retrieval
