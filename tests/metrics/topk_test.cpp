// The top-k ranking metrics (metrics.h) against a hand-computed example and
// against a naive reference written here (a full sort of every row, the
// formulas as Merlin's topk.py states them), with ties and masked items.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/metrics/metrics.h"

namespace recblocks {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

constexpr float kMasked = -std::numeric_limits<float>::infinity();

Tensor floats(const Shape& shape, const std::vector<float>& values) {
  return Tensor::from<float>(shape, values);
}
Tensor ints(const Shape& shape, const std::vector<std::int32_t>& values) {
  return Tensor::from<std::int32_t>(shape, values);
}

std::vector<double> results(std::vector<Metric> metrics, const Tensor& p, const Tensor& t) {
  std::vector<double> out;
  for (Metric& m : metrics) {
    m.update(p, t);
    out.push_back(m.result());
  }
  return out;
}

TEST(TopKMetrics, HandComputedWithOneTargetPerRow) {
  // Row 0 ranks items 1, 3 (a tie with 1: the lower id first), 4, 2, 0, and
  // 5 (masked) last; its target 4 is third. Row 1 ranks 2, 3, 4 first and
  // its target 0 is outside the top 3.
  const Tensor p = floats({2, 6}, {0.1f, 0.9f, 0.3f, 0.9f, 0.5f, kMasked,  //
                                   0.2f, 0.1f, 0.8f, 0.4f, 0.3f, 0.0f});
  const Tensor t = ints({2}, {4, 0});
  const std::vector<double> r = results(metrics::ranking_metrics({3}), p, t);
  // recall 1/1 and 0; precision 1/3 and 0; map (1/3)/1; mrr 1/3; ndcg 1/log2(4) = 0.5.
  EXPECT_DOUBLE_EQ(r[0], 0.5);
  EXPECT_DOUBLE_EQ(r[1], 1.0 / 6);
  EXPECT_DOUBLE_EQ(r[2], 1.0 / 6);
  EXPECT_DOUBLE_EQ(r[3], 1.0 / 6);
  EXPECT_DOUBLE_EQ(r[4], 0.25);
  std::vector<std::string> names;
  for (const Metric& m : metrics::ranking_metrics({3, 10})) names.push_back(m.name());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "recall_at_3", "precision_at_3", "map_at_3", "mrr_at_3", "ndcg_at_3",
                       "recall_at_10", "precision_at_10", "map_at_10", "mrr_at_10", "ndcg_at_10"}));
}

TEST(TopKMetrics, HandComputedWithRelevancePerItem) {
  // Row 0 as above, relevant items 2, 3, 5 (R = 3): the top 3 (1, 3, 4) has
  // one hit, at position 2. Row 1 has no relevant item.
  const Tensor p = floats({2, 6}, {0.1f, 0.9f, 0.3f, 0.9f, 0.5f, kMasked,  //
                                   0.2f, 0.1f, 0.8f, 0.4f, 0.3f, 0.0f});
  const Tensor t = floats({2, 6}, {0, 0, 1, 1, 0, 1,  //
                                   0, 0, 0, 0, 0, 0});
  const std::vector<double> r = results(metrics::ranking_metrics({3}), p, t);
  const double ideal = 1 + 1 / std::log2(3.0) + 0.5;
  EXPECT_DOUBLE_EQ(r[0], (1.0 / 3) / 2);                     // recall: 1 / min(3, 3)
  EXPECT_DOUBLE_EQ(r[1], (1.0 / 3) / 2);                     // precision
  EXPECT_DOUBLE_EQ(r[2], (0.5 / 3) / 2);                     // map: (1/2) / 3
  EXPECT_DOUBLE_EQ(r[3], 0.5 / 2);                           // mrr
  EXPECT_DOUBLE_EQ(r[4], (1 / std::log2(3.0)) / ideal / 2);  // ndcg
}

// The formulas, from a full sort of the row.
std::vector<double> naive(const std::vector<float>& scores, const std::vector<bool>& relevant,
                          int k) {
  std::vector<int> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  const auto r = static_cast<double>(std::count(relevant.begin(), relevant.end(), true));
  const double c = std::clamp(r, 1.0, static_cast<double>(k));
  double hits = 0, map = 0, mrr = 0, dcg = 0, ideal = 0;
  for (int i = 0; i < k; ++i) {
    if (i < r) ideal += 1 / std::log2(i + 2.0);
    if (!relevant[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]) continue;
    hits += 1;
    map += hits / (i + 1);
    dcg += 1 / std::log2(i + 2.0);
    if (mrr == 0) mrr = 1.0 / (i + 1);
  }
  return {hits / c, hits / k, map / c, mrr, r == 0 ? 0.0 : dcg / ideal};
}

TEST(TopKMetrics, MatchTheNaiveReferenceWithTiesAndBatches) {
  std::mt19937 rng(7);
  const int rows = 60, items = 40;
  std::vector<float> scores(rows * items), relevance(rows * items);
  std::vector<std::int64_t> ids(rows);
  for (float& s : scores) s = static_cast<float>(rng() % 12) / 4.0f;  // many ties
  for (float& v : relevance) v = rng() % 7 == 0 ? 1.0f : 0.0f;
  for (std::int64_t& id : ids) id = static_cast<std::int64_t>(rng() % items);
  for (int r = 0; r < rows; r += 9) scores[static_cast<std::size_t>(r * items + 3)] = kMasked;
  for (int k : {1, 5, 40}) {
    SCOPED_TRACE(k);
    std::vector<double> expect_ids(5, 0.0), expect_rel(5, 0.0);
    for (int r = 0; r < rows; ++r) {
      const std::vector<float> row(scores.begin() + r * items, scores.begin() + (r + 1) * items);
      std::vector<bool> one(items, false), rel(items, false);
      one[static_cast<std::size_t>(ids[static_cast<std::size_t>(r)])] = true;
      for (int i = 0; i < items; ++i)
        rel[static_cast<std::size_t>(i)] =
            relevance[static_cast<std::size_t>(r * items + i)] > 0.5f;
      const auto a = naive(row, one, k), b = naive(row, rel, k);
      for (int m = 0; m < 5; ++m) {
        expect_ids[static_cast<std::size_t>(m)] += a[static_cast<std::size_t>(m)] / rows;
        expect_rel[static_cast<std::size_t>(m)] += b[static_cast<std::size_t>(m)] / rows;
      }
    }
    // In two batches of 30 rows: the mean is over every row seen.
    std::vector<Metric> by_id = metrics::ranking_metrics({k});
    std::vector<Metric> by_relevance = metrics::ranking_metrics({k});
    for (int half = 0; half < 2; ++half) {
      const auto first = scores.begin() + half * 30 * items;
      const Tensor p = floats({30, items}, std::vector<float>(first, first + 30 * items));
      const Tensor t = Tensor::from<std::int64_t>(
          {30}, std::vector<std::int64_t>(ids.begin() + half * 30, ids.begin() + (half + 1) * 30));
      const auto rel_first = relevance.begin() + half * 30 * items;
      const Tensor rel = floats({30, items}, std::vector<float>(rel_first, rel_first + 30 * items));
      for (Metric& m : by_id) m.update(p, t);
      for (Metric& m : by_relevance) m.update(p, rel);
    }
    for (int m = 0; m < 5; ++m) {
      EXPECT_NEAR(by_id[static_cast<std::size_t>(m)].result(),
                  expect_ids[static_cast<std::size_t>(m)], 1e-12)
          << by_id[static_cast<std::size_t>(m)].name();
      EXPECT_NEAR(by_relevance[static_cast<std::size_t>(m)].result(),
                  expect_rel[static_cast<std::size_t>(m)], 1e-12)
          << by_relevance[static_cast<std::size_t>(m)].name();
    }
    if (k == 40) {
      EXPECT_DOUBLE_EQ(by_id[0].result(), 1.0);  // every item is in the top 40
    }
  }
}

TEST(TopKMetrics, ByNameResetAndClone) {
  Metric m = metrics::by_name("ndcg_at_20");
  EXPECT_EQ(m.name(), "ndcg_at_20");
  EXPECT_EQ(metrics::by_name("map_at_5").name(), "map_at_5");
  const Tensor p = floats({1, 3}, {0.3f, 0.2f, 0.1f});
  Metric recall = metrics::RecallAt(1);
  recall.update(p, ints({1}, {0}));
  EXPECT_EQ(recall.result(), 1.0);
  Metric copy = recall.clone();
  EXPECT_THAT([&] { (void)copy.result(); }, ThrowsMessage<ValueError>(HasSubstr("no rows seen")));
  recall.reset();
  recall.update(p, ints({1}, {2}));
  EXPECT_EQ(recall.result(), 0.0);
}

TEST(TopKMetrics, FewerItemsThanKAreAllTheTop) {
  // Three items scored, k = 4: every item is in the top; the formulas keep
  // their k (precision divides by 4).
  const Tensor p = floats({2, 3}, {0.3f, 0.2f, 0.1f, 0.5f, 0.4f, 0.0f});
  const Tensor t = ints({2}, {2, 1});
  Metric ndcg = metrics::NDCGAt(4), recall = metrics::RecallAt(4),
         precision = metrics::PrecisionAt(4);
  for (Metric* m : {&ndcg, &recall, &precision}) m->update(p, t);
  EXPECT_DOUBLE_EQ(ndcg.result(), (1.0 / std::log2(4.0) + 1.0 / std::log2(3.0)) / 2);
  EXPECT_DOUBLE_EQ(recall.result(), 1.0);
  EXPECT_DOUBLE_EQ(precision.result(), 0.25);
  // The same through the relevance form.
  Metric by_relevance = metrics::NDCGAt(4);
  by_relevance.update(p, floats({2, 3}, {0, 0, 1, 0, 1, 0}));
  EXPECT_DOUBLE_EQ(by_relevance.result(), ndcg.result());
}

TEST(TopKMetrics, ErrorsNameTheProblem) {
  const Tensor p = floats({2, 3}, {0.3f, 0.2f, 0.1f, 0.5f, NAN, 0.0f});
  const Tensor t = ints({2}, {0, 1});
  EXPECT_THAT([] { metrics::RecallAt(0); },
              ThrowsMessage<ValueError>(HasSubstr("recall_at_k: k is 0, expected >= 1")));
  EXPECT_THAT(
      [&] { metrics::MRRAt(2).update(p, t); },
      ThrowsMessage<ValueError>(HasSubstr(
          "mrr_at_2: prediction is NaN at row 1 of the batch (row 1 since reset), item 1")));
  const Tensor ok = floats({2, 3}, {0.3f, 0.2f, 0.1f, 0.5f, 0.4f, 0.0f});
  EXPECT_THAT(
      [&] {
        metrics::RecallAt(2).update(ok, ints({2}, {0, 3}));
      },
      ThrowsMessage<ValueError>(
          HasSubstr("target item 3 at row 1 of the batch (row 1 since reset) is outside [0, 3)")));
  EXPECT_THAT(
      [&] {
        metrics::RecallAt(2).update(ok, floats({2, 2}, {0, 1, 1, 0}));
      },
      ThrowsMessage<ShapeError>(
          HasSubstr("targets must be int32/int64 item ids [2] or float32 relevance [2, 3]")));
  EXPECT_THAT(
      [&] {
        metrics::RecallAt(2).update(ok, floats({2, 3}, {0, 2, 0, 0, 0, 1}));
      },
      ThrowsMessage<ValueError>(HasSubstr(
          "relevance 2 at row 0 of the batch (row 0 since reset), item 1 is outside [0, 1]")));
  EXPECT_THAT(
      [&] {
        metrics::RecallAt(2).update(floats({3}, {1, 2, 3}), t);
      },
      ThrowsMessage<ShapeError>(HasSubstr("predictions must be float32 [batch, items]")));
  EXPECT_THAT(
      [] { metrics::by_name("recall_at_ten"); },
      ThrowsMessage<ValueError>(HasSubstr("metric 'recall_at_ten': expected recall_at_<k>")));
}

}  // namespace
}  // namespace recblocks
