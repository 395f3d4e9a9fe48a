#include "recblocks/metrics/metrics.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "io/test_files.h"
#include "recblocks/core/error.h"
#include "recblocks/io/npy.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
using ::recblocks::testing::read_bytes;
using ::recblocks::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

Tensor floats(std::vector<float> values) {
  return Tensor::from<float>({static_cast<std::int64_t>(values.size())}, values);
}
Tensor column(std::vector<float> values) {  // [B, 1]
  return Tensor::from<float>({static_cast<std::int64_t>(values.size()), 1}, values);
}
Tensor ints32(std::vector<std::int32_t> values) {
  return Tensor::from<std::int32_t>({static_cast<std::int64_t>(values.size())}, values);
}
Tensor ints64(std::vector<std::int64_t> values) {
  return Tensor::from<std::int64_t>({static_cast<std::int64_t>(values.size())}, values);
}

double once(Metric m, const Tensor& predictions, const Tensor& targets) {
  m.update(predictions, targets);
  return m.result();
}

// ---- hand-computed values ----------------------------------------------------------

TEST(AUC, HandComputed) {
  // sklearn's docstring example: 3 of the 4 (positive, negative) pairs ordered.
  EXPECT_DOUBLE_EQ(once(metrics::AUC(), floats({0.1f, 0.4f, 0.35f, 0.8f}), floats({0, 0, 1, 1})),
                   0.75);
  EXPECT_DOUBLE_EQ(once(metrics::AUC(), floats({0.1f, 0.2f, 0.9f}), floats({0, 1, 1})), 1.0);
  EXPECT_DOUBLE_EQ(once(metrics::AUC(), floats({0.9f, 0.2f, 0.1f}), floats({0, 1, 1})), 0.0);
}

TEST(AUC, TiesCountOneHalf) {
  EXPECT_DOUBLE_EQ(
      once(metrics::AUC(), floats({0.3f, 0.3f, 0.3f, 0.3f, 0.3f}), floats({0, 1, 1, 0, 1})), 0.5);
  // Positives 0.5 and 0.9, negatives 0.5 and 0.2: 0.5 beats 0.2 and ties
  // 0.5 (1.5), 0.9 beats both (2): 3.5 of 4.
  EXPECT_DOUBLE_EQ(once(metrics::AUC(), floats({0.5f, 0.5f, 0.2f, 0.9f}), floats({1, 0, 0, 1})),
                   0.875);
  // -0 and +0 are the same score.
  EXPECT_DOUBLE_EQ(once(metrics::AUC(), floats({-0.0f, 0.0f}), floats({1, 0})), 0.5);
}

TEST(AUC, RanksAnyScoresAndReadsSoftAndIntegerLabels) {
  // Logits, infinities included: only the order matters.
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_DOUBLE_EQ(
      once(metrics::AUC(), floats({-inf, -3.0f, -1.0f, 2.0f, inf}), floats({0, 1, 0, 1, 1})),
      5.0 / 6.0);
  // 0.7 counts as positive, 0.3 and 0.5 as negative.
  EXPECT_DOUBLE_EQ(once(metrics::AUC(), floats({0.1f, 0.2f, 0.3f}), floats({0.3f, 0.7f, 0.5f})),
                   0.5);
  EXPECT_DOUBLE_EQ(once(metrics::AUC(), column({0.1f, 0.4f, 0.35f, 0.8f}), ints32({0, 0, 1, 1})),
                   0.75);
  EXPECT_DOUBLE_EQ(once(metrics::AUC(), floats({0.1f, 0.4f, 0.35f, 0.8f}),
                        Tensor::from<std::int64_t>({4, 1}, std::vector<std::int64_t>{0, 0, 1, 1})),
                   0.75);
}

TEST(AUC, RocAucMatchesTheMetric) {
  const std::vector<float> scores{0.5f, 0.5f, 0.2f, 0.9f, 0.2f};
  const std::vector<float> labels{1, 0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(metrics::roc_auc(scores.data(), labels.data(), scores.size()),
                   once(metrics::AUC(), floats(scores), floats(labels)));
  EXPECT_DOUBLE_EQ(metrics::roc_auc(scores.data(), labels.data(), scores.size()), 4.0 / 6.0);
}

// predictions 0.2 0.5 0.6 0.9 0.7 against labels 0 1 1 0 1. At 0.5 (0.5 is
// not > 0.5): predicted positive 0.6 0.9 0.7 -> tp 2, fp 1, fn 1, tn 1.
// At 0.1 everything is predicted positive: tp 3, fp 2.
TEST(ThresholdMetrics, HandComputed) {
  const Tensor p = floats({0.2f, 0.5f, 0.6f, 0.9f, 0.7f});
  const Tensor t = floats({0, 1, 1, 0, 1});
  EXPECT_DOUBLE_EQ(once(metrics::Precision(), p, t), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(once(metrics::Recall(), p, t), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(once(metrics::BinaryAccuracy(), p, t), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(once(metrics::Precision(0.1f), p, t), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(once(metrics::Recall(0.1f), p, t), 1.0);
  EXPECT_DOUBLE_EQ(once(metrics::BinaryAccuracy(0.1f), p, t), 3.0 / 5.0);
  // Threshold 1: nothing is > 1, so nothing is predicted positive.
  EXPECT_DOUBLE_EQ(once(metrics::BinaryAccuracy(1.0f), p, t), 2.0 / 5.0);
  // [B, 1] predictions, integer and soft labels (0.8 -> 1, 0.4 -> 0).
  EXPECT_DOUBLE_EQ(
      once(metrics::Precision(), column({0.2f, 0.5f, 0.6f, 0.9f, 0.7f}), ints64({0, 1, 1, 0, 1})),
      2.0 / 3.0);
  EXPECT_DOUBLE_EQ(once(metrics::Recall(), p, floats({0.4f, 0.8f, 0.8f, 0.0f, 1.0f})), 2.0 / 3.0);
}

TEST(ThresholdMetrics, EmptyDenominatorsGiveZeroAsKeras) {
  // Nothing predicted positive: precision 0 (not NaN); recall 0 of 2.
  EXPECT_EQ(once(metrics::Precision(), floats({0.1f, 0.2f, 0.5f}), floats({1, 0, 1})), 0.0);
  EXPECT_EQ(once(metrics::Recall(), floats({0.1f, 0.2f, 0.5f}), floats({1, 0, 1})), 0.0);
  // No positive labels: recall 0; precision 0 of 1.
  EXPECT_EQ(once(metrics::Recall(), floats({0.9f, 0.2f}), floats({0, 0})), 0.0);
  EXPECT_EQ(once(metrics::Precision(), floats({0.9f, 0.2f}), floats({0, 0})), 0.0);
}

TEST(LogLoss, HandComputedWithKerasClipping) {
  // -log(0.8) and -log(1 - 0.4) for p = 0.8, t = 1 and p = 0.4, t = 0.
  EXPECT_NEAR(once(metrics::LogLoss(), floats({0.8f, 0.4f}), floats({1, 0})),
              (0.22314355131420976 + 0.51082562376599072) / 2, 1e-7);
  // p = 0 with t = 1 is clipped to 1e-7: -log(1e-7) = 16.118..., not inf.
  EXPECT_NEAR(once(metrics::LogLoss(), floats({0.0f}), floats({1})), 16.11809565095832, 1e-9);
  EXPECT_NEAR(once(metrics::LogLoss(), floats({1.0f}), floats({0})), 16.11809565095832, 1e-9);
  // Right answers with certainty cost -log(1 - 1e-7) ~ 1e-7.
  EXPECT_NEAR(once(metrics::LogLoss(), floats({0.0f, 1.0f}), floats({0, 1})), 1.00000005e-7, 1e-15);
  // Soft label 0.3 at p = 0.6: -(0.3 log 0.6 + 0.7 log 0.4).
  EXPECT_NEAR(once(metrics::LogLoss(), column({0.6f}), floats({0.3f})),
              0.3 * 0.51082562376599072 + 0.7 * 0.91629073187415511, 1e-7);
}

TEST(Regression, HandComputed) {
  // Differences -1, 0, -2.
  const Tensor p = floats({1, 2, 3});
  const Tensor t = floats({2, 2, 5});
  EXPECT_DOUBLE_EQ(once(metrics::MSE(), p, t), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(once(metrics::RMSE(), p, t), std::sqrt(5.0 / 3.0));
  EXPECT_DOUBLE_EQ(once(metrics::MAE(), p, t), 1.0);
  // [B, 1] against [B] and integer targets.
  EXPECT_DOUBLE_EQ(once(metrics::MSE(), column({1, 2, 3}), ints32({2, 2, 5})), 5.0 / 3.0);
  // [B, 2]: the mean over all four values (differences 1, -1, 0.5, 1.5).
  const Tensor p2 = Tensor::from({2, 2}, {1.0f, 2.0f, 3.5f, 4.5f});
  const Tensor t2 = Tensor::from({2, 2}, {0.0f, 3.0f, 3.0f, 3.0f});
  EXPECT_DOUBLE_EQ(once(metrics::MSE(), p2, t2), (1 + 1 + 0.25 + 2.25) / 4);
  EXPECT_DOUBLE_EQ(once(metrics::MAE(), p2, t2), (1 + 1 + 0.5 + 1.5) / 4);
}

TEST(Accuracy, ArgmaxFirstOnTies) {
  // argmax 1, 0 (0.5 ties: the first), 2, 0.
  const Tensor scores = Tensor::from({4, 3}, {0.1f, 0.7f, 0.2f,  //
                                              0.5f, 0.5f, 0.0f,  //
                                              0.3f, 0.3f, 0.4f,  //
                                              1.0f, 0.0f, 0.0f});
  EXPECT_DOUBLE_EQ(once(metrics::Accuracy(), scores, ints64({1, 0, 2, 1})), 0.75);
  EXPECT_DOUBLE_EQ(once(metrics::Accuracy(), scores, ints32({1, 1, 2, 0})), 0.75);
  EXPECT_DOUBLE_EQ(once(metrics::Accuracy(), scores, floats({1, 0, 2, 0})), 1.0);
  EXPECT_DOUBLE_EQ(once(metrics::Accuracy(), scores,
                        Tensor::from<std::int64_t>({4, 1}, std::vector<std::int64_t>{2, 2, 0, 2})),
                   0.0);
}

// ---- streaming, reset, clone --------------------------------------------------------

struct Data {
  Tensor predictions;
  Tensor targets;
};

// Inputs every metric of `name` accepts: probabilities rounded to 2
// decimals (ties) with 0/1 labels; normal regression values; [n, 4] scores
// with int64 labels.
Data random_data(const Metric& m, std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::string name = m.name();
  if (name == "accuracy") {
    std::vector<float> scores(static_cast<std::size_t>(n * 4));
    for (float& s : scores) s = std::round(u(rng) * 10) / 10;
    std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
    for (auto& l : labels) l = static_cast<std::int64_t>(rng() % 4);
    return {Tensor::from<float>({n, 4}, scores), Tensor::from<std::int64_t>({n}, labels)};
  }
  std::vector<float> p(static_cast<std::size_t>(n)), t(static_cast<std::size_t>(n));
  const bool regression = name.find("error") != std::string::npos;
  for (std::int64_t i = 0; i < n; ++i) {
    if (regression) {
      p[i] = normal(rng);
      t[i] = p[i] + 0.5f * normal(rng);
    } else {
      p[i] = std::round(u(rng) * 100) / 100;
      t[i] = u(rng) < p[i] ? 1.0f : 0.0f;
    }
  }
  return {floats(p), floats(t)};
}

TEST(Streaming, UnevenBatchesEqualOneShot) {
  const std::int64_t n = 5000;
  const std::vector<std::int64_t> cuts{0, 1, 1, 8, 308, 2999, 3000, n};  // an empty batch too
  for (const std::string& name : metrics::names()) {
    SCOPED_TRACE(name);
    Metric whole = metrics::by_name(name);
    Metric streamed = metrics::by_name(name);
    const Data d = random_data(whole, n, 42);
    whole.update(d.predictions, d.targets);
    for (std::size_t b = 0; b + 1 < cuts.size(); ++b)
      streamed.update(d.predictions.slice_rows(cuts[b], cuts[b + 1]),
                      d.targets.slice_rows(cuts[b], cuts[b + 1]));
    // Counts are exact; sums differ only in their order of addition.
    EXPECT_NEAR(streamed.result(), whole.result(), 1e-12 * std::abs(whole.result()));
    // result() does not consume anything: asking again, and going on, works.
    EXPECT_EQ(streamed.result(), streamed.result());
  }
}

TEST(Streaming, AReservationChangesNoResult) {
  for (const std::string& name : metrics::names()) {
    SCOPED_TRACE(name);
    Metric reserved = metrics::by_name(name);
    const Data d = random_data(reserved, 700, 3);
    reserved.reserve(10);  // fewer rows than the updates bring, then more
    reserved.update(d.predictions.slice_rows(0, 300), d.targets.slice_rows(0, 300));
    reserved.reserve(100000);
    reserved.update(d.predictions.slice_rows(300, 700), d.targets.slice_rows(300, 700));
    const double whole = once(metrics::by_name(name), d.predictions, d.targets);
    EXPECT_NEAR(reserved.result(), whole, 1e-12 * std::abs(whole));  // sums' order differs
  }
}

TEST(Streaming, ResultThenMoreUpdatesCountsEverything) {
  Metric auc = metrics::AUC();
  auc.update(floats({0.1f, 0.4f}), floats({0, 0}));
  auc.update(floats({0.35f, 0.8f}), floats({1, 1}));
  EXPECT_DOUBLE_EQ(auc.result(), 0.75);  // sorts the kept pairs
  auc.update(floats({0.05f, 0.95f}), floats({1, 0}));
  // Positives 0.35, 0.8, 0.05 against negatives 0.1, 0.4, 0.95: they beat
  // 1, 2 and 0 of them, 3 of 9 pairs.
  EXPECT_DOUBLE_EQ(auc.result(), 3.0 / 9.0);
}

TEST(Streaming, ResetEmptiesTheState) {
  for (const std::string& name : metrics::names()) {
    SCOPED_TRACE(name);
    Metric m = metrics::by_name(name);
    const Data a = random_data(m, 300, 1);
    const Data b = random_data(m, 200, 2);
    m.update(a.predictions, a.targets);
    m.reset();
    EXPECT_THAT([&] { m.result(); }, ThrowsMessage<ValueError>(HasSubstr("no rows seen")));
    m.update(b.predictions, b.targets);
    EXPECT_EQ(m.result(), once(metrics::by_name(name), b.predictions, b.targets));
  }
}

TEST(Clone, EmptyStateSameConfigurationIndependent) {
  const Tensor p = floats({0.2f, 0.5f, 0.6f, 0.9f, 0.7f});
  const Tensor t = floats({0, 1, 1, 0, 1});
  Metric prototype = metrics::Precision(0.1f);
  prototype.update(p, t);
  Metric copy = prototype.clone();
  EXPECT_EQ(copy.name(), "precision");
  EXPECT_THAT([&] { copy.result(); }, ThrowsMessage<ValueError>(HasSubstr("no rows seen")));
  copy.update(p, t);
  copy.update(p, t);
  EXPECT_DOUBLE_EQ(copy.result(), 3.0 / 5.0);  // threshold 0.1 kept (0.5 would give 2/3)
  // At 0.95 nothing is predicted positive (2 of 5 right); at 0.5, 3 of 5.
  EXPECT_DOUBLE_EQ(once(metrics::BinaryAccuracy(0.95f).clone(), p, t), 2.0 / 5.0);
  // The prototype saw only its own update.
  prototype.update(floats({0.9f}), floats({0}));
  EXPECT_DOUBLE_EQ(prototype.result(), 3.0 / 6.0);
  EXPECT_DOUBLE_EQ(copy.result(), 3.0 / 5.0);
  // A copy of the handle shares the state; clone() does not.
  Metric handle = prototype;
  handle.reset();
  EXPECT_THAT([&] { prototype.result(); }, ThrowsMessage<ValueError>(HasSubstr("no rows seen")));

  for (const std::string& name : metrics::names()) {
    SCOPED_TRACE(name);
    Metric m = metrics::by_name(name);
    const Data d = random_data(m, 100, 3);
    m.update(d.predictions, d.targets);
    Metric c = m.clone();
    EXPECT_EQ(c.name(), name);
    EXPECT_THAT([&] { c.result(); }, ThrowsMessage<ValueError>(HasSubstr("no rows seen")));
    c.update(d.predictions, d.targets);
    EXPECT_EQ(c.result(), m.result());
  }
}

// ---- names ----------------------------------------------------------------------------

TEST(ByName, NamesAndAliases) {
  EXPECT_EQ(metrics::names(),
            (std::vector<std::string>{"auc", "precision", "recall", "binary_accuracy", "logloss",
                                      "root_mean_squared_error", "mean_squared_error",
                                      "mean_absolute_error", "accuracy"}));
  for (const std::string& name : metrics::names()) EXPECT_EQ(metrics::by_name(name).name(), name);
  const std::vector<std::pair<std::string, std::string>> aliases{
      {"rmse", "root_mean_squared_error"},
      {"mse", "mean_squared_error"},
      {"mae", "mean_absolute_error"},
      {"log_loss", "logloss"},
      {"binary_crossentropy", "logloss"},
      {"acc", "accuracy"},
      {"AUC", "auc"}};
  for (const auto& [alias, name] : aliases) EXPECT_EQ(metrics::by_name(alias).name(), name);
  // Named metrics use the default threshold 0.5.
  EXPECT_DOUBLE_EQ(once(metrics::by_name("precision"), floats({0.2f, 0.5f, 0.6f, 0.9f, 0.7f}),
                        floats({0, 1, 1, 0, 1})),
                   2.0 / 3.0);
  EXPECT_FALSE(Metric().defined());
  EXPECT_TRUE(metrics::by_name("auc").defined());
}

// ---- errors ----------------------------------------------------------------------------

TEST(Errors, ResultWithoutRowsOrWithOneClass) {
  for (const std::string& name : metrics::names()) {
    SCOPED_TRACE(name);
    EXPECT_THAT([&] { metrics::by_name(name).result(); },
                ThrowsMessage<ValueError>(HasSubstr(name + ": no rows seen")));
  }
  Metric auc = metrics::AUC();
  auc.update(floats({}), floats({}));
  EXPECT_THAT([&] { auc.result(); }, ThrowsMessage<ValueError>(HasSubstr("auc: no rows seen")));
  auc.update(floats({0.1f, 0.9f, 0.4f}), floats({1, 1, 1}));
  EXPECT_THAT([&] { auc.result(); },
              ThrowsMessage<ValueError>(
                  HasSubstr("auc: undefined with one class: saw 3 positive and 0 negative rows")));
  const std::vector<float> s{0.1f, 0.2f}, l{0, 0};
  EXPECT_THAT([&] { metrics::roc_auc(s.data(), l.data(), 2); },
              ThrowsMessage<ValueError>(HasSubstr("roc_auc: undefined with one class: saw 0 "
                                                  "positive and 2 negative rows")));
  EXPECT_THAT([&] { metrics::roc_auc(s.data(), l.data(), 0); },
              ThrowsMessage<ValueError>(HasSubstr("roc_auc: no rows seen")));
}

TEST(Errors, RowMismatchNaNAndLabelsOutOfRangeNameMetricRowAndValue) {
  EXPECT_THAT(
      [] {
        metrics::AUC().update(floats({0.1f, 0.2f, 0.3f}), floats({0, 1}));
      },
      ThrowsMessage<ValueError>(
          HasSubstr("auc: predictions have 3 rows ([3]) but targets have 2 ([2])")));
  EXPECT_THAT(
      [] {
        metrics::MSE().update(column({0.1f, 0.2f}), floats({0, 1, 3}));
      },
      ThrowsMessage<ValueError>(
          HasSubstr("mean_squared_error: predictions have 2 rows ([2, 1]) but targets have 3")));
  EXPECT_THAT(
      [] {
        metrics::Accuracy().update(Tensor::zeros({2, 3}), ints64({0}));
      },
      ThrowsMessage<ValueError>(HasSubstr("accuracy: predictions have 2 rows ([2, 3])")));

  // The row in the batch and since reset().
  Metric precision = metrics::Precision();
  precision.update(floats({0.1f, 0.2f}), floats({0, 1}));
  EXPECT_THAT(
      [&] {
        precision.update(floats({0.1f, NAN}), floats({0, 1}));
      },
      ThrowsMessage<ValueError>(
          HasSubstr("precision: prediction is NaN at row 1 of the batch (row 3 since reset)")));
  EXPECT_THAT(
      [&] {
        precision.update(floats({0.1f, 0.2f, 0.3f}), floats({0, 1, 2}));
      },
      ThrowsMessage<ValueError>(HasSubstr(
          "precision: label 2 at row 2 of the batch (row 4 since reset) is outside [0, 1]")));
  EXPECT_THAT([] { metrics::LogLoss().update(floats({0.5f}), floats({-0.5f})); },
              ThrowsMessage<ValueError>(HasSubstr("logloss: label -0.5 at row 0")));
  EXPECT_THAT([] { metrics::AUC().update(floats({0.5f}), floats({NAN})); },
              ThrowsMessage<ValueError>(HasSubstr("auc: label nan at row 0")));
  EXPECT_THAT([] { metrics::Recall().update(floats({0.5f}), ints32({-1})); },
              ThrowsMessage<ValueError>(HasSubstr("recall: label -1 at row 0")));
  EXPECT_THAT(
      [] {
        metrics::MAE().update(floats({1, 2}), floats({1, NAN}));
      },
      ThrowsMessage<ValueError>(HasSubstr("mean_absolute_error: target is NaN at row 1")));
  EXPECT_THAT([] { metrics::RMSE().update(floats({NAN}), floats({1})); },
              ThrowsMessage<ValueError>(HasSubstr("root_mean_squared_error: prediction is NaN")));
  const Tensor scores = Tensor::zeros({2, 3});
  EXPECT_THAT(
      [&] {
        metrics::Accuracy().update(scores, ints64({0, 3}));
      },
      ThrowsMessage<ValueError>(
          HasSubstr("accuracy: label 3 at row 1 of the batch (row 1 since reset) is not a "
                    "class id in [0, 3)")));
  EXPECT_THAT(
      [&] {
        metrics::Accuracy().update(scores, floats({0.5f, 1}));
      },
      ThrowsMessage<ValueError>(HasSubstr("accuracy: label 0.5 at row 0")));
  const std::vector<float> s{0.1f, NAN}, l{0, 1}, bad{0, 7};
  EXPECT_THAT([&] { metrics::roc_auc(s.data(), l.data(), 2); },
              ThrowsMessage<ValueError>(HasSubstr("roc_auc: score is NaN at row 1")));
  EXPECT_THAT([&] { metrics::roc_auc(l.data(), bad.data(), 2); },
              ThrowsMessage<ValueError>(HasSubstr("roc_auc: label 7 at row 1 is outside [0, 1]")));
}

TEST(Errors, ARejectedBatchLeavesTheStateAsItWas) {
  for (const std::string& name : metrics::names()) {
    SCOPED_TRACE(name);
    Metric m = metrics::by_name(name);
    const Data d = random_data(m, 50, 7);
    m.update(d.predictions, d.targets);
    const double before = m.result();
    // The bad row is the last one: the rows before it are not kept.
    Data bad = random_data(m, 20, 8);
    bad.predictions = bad.predictions.clone();
    bad.predictions.data<float>()[bad.predictions.numel() - 1] = NAN;
    EXPECT_THROW(m.update(bad.predictions, bad.targets), ValueError);
    EXPECT_EQ(m.result(), before);
  }
}

TEST(Errors, ShapesDtypesThresholdsAndNames) {
  EXPECT_THAT(
      [] {
        metrics::AUC().update(Tensor::zeros({4, 2}), floats({0, 1, 0, 1}));
      },
      ThrowsMessage<ShapeError>(
          HasSubstr("auc: predictions must be [batch] or [batch, 1], got [4, 2]")));
  EXPECT_THAT(
      [] {
        metrics::AUC().update(ints32({0, 1}), floats({0, 1}));
      },
      ThrowsMessage<ShapeError>(HasSubstr("auc: predictions must be float32, got int32")));
  EXPECT_THAT([] { metrics::Accuracy().update(floats({0.1f}), ints32({0})); },
              ThrowsMessage<ShapeError>(
                  HasSubstr("accuracy: predictions must be [batch, classes], got [1]")));
  EXPECT_THAT(
      [] {
        metrics::MSE().update(Tensor::zeros({2, 3}), Tensor::zeros({2, 2}));
      },
      ThrowsMessage<ShapeError>(HasSubstr("mean_squared_error: predictions [2, 3] and "
                                          "targets [2, 2] differ in width")));
  EXPECT_THAT([] { metrics::Precision(1.5f); },
              ThrowsMessage<ValueError>(HasSubstr("precision: threshold 1.5 is outside [0, 1]")));
  EXPECT_THAT([] { metrics::BinaryAccuracy(NAN); },
              ThrowsMessage<ValueError>(HasSubstr("binary_accuracy: threshold nan")));
  EXPECT_THAT([] { metrics::by_name("f1"); },
              ThrowsMessage<ValueError>(HasSubstr(
                  "unknown metric 'f1'; known: auc, precision, recall, binary_accuracy, logloss, "
                  "root_mean_squared_error, mean_squared_error, mean_absolute_error, accuracy")));
}

// ---- scikit-learn ----------------------------------------------------------------------

constexpr std::array<float, 2> kThresholds{0.25f, 0.5f};  // sklearn_reference.py's

// Runs sklearn_reference.py on `dir` and returns its JSON; fails the test
// (with Python's stderr) if it fails.
nlohmann::json sklearn_reference(const fs::path& dir) {
  const fs::path script =
      fs::path(RECBLOCKS_SOURCE_DIR) / "tests" / "metrics" / "sklearn_reference.py";
  const fs::path out = dir / "reference.json";
  const fs::path err = dir / "reference.err";
  const std::string command =
      fmt::format("'{}' '{}' '{}' > '{}' 2> '{}'", RECBLOCKS_TEST_PYTHON, script.string(),
                  dir.string(), out.string(), err.string());
  const int status = std::system(command.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  EXPECT_EQ(code, 0) << command << "\n" << read_bytes(err);
  if (code != 0) return nullptr;
  return nlohmann::json::parse(read_bytes(out));
}

// Feeds `m` in uneven batches (a third, then batches of 977 rows) and
// returns result().
double streamed(Metric m, const Tensor& predictions, const Tensor& targets) {
  const std::int64_t n = predictions.size(0);
  std::int64_t begin = 0;
  for (std::int64_t end = n / 3; begin < n; end = std::min(n, begin + 977)) {
    m.update(predictions.slice_rows(begin, end), targets.slice_rows(begin, end));
    begin = end;
  }
  return m.result();
}

void expect_relative(double actual, const nlohmann::json& expected, double rtol,
                     const std::string& what) {
  ASSERT_TRUE(expected.is_number()) << what << ": " << expected.dump();
  const double e = expected.get<double>();
  EXPECT_NEAR(actual, e, rtol * std::max(std::abs(e), 1e-300)) << what;
}

TEST(SklearnReference, AllMetricsOnRandomArraysWithHeavyTies) {
  TempDir dir;
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::normal_distribution<float> normal(0.0f, 1.0f);

  struct BinaryCase {
    std::string name;
    Tensor scores, labels;
  };
  std::vector<BinaryCase> binary;
  // Labels are 1 with probability positive_scale * score: informative, not
  // perfect.
  const auto make_binary = [&](const std::string& name, std::int64_t n, double positive_scale,
                               auto score) {
    std::vector<float> s(static_cast<std::size_t>(n)), l(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      s[i] = score();
      l[i] = u(rng) < positive_scale * s[i] ? 1.0f : 0.0f;
    }
    binary.push_back({name, floats(s), floats(l)});
  };
  make_binary("continuous", 100'000, 1.0, [&] { return u(rng); });
  // Two decimals: ~1000 rows per score, and exactly 0.25 and 0.5 sit on
  // the thresholds.
  make_binary("rounded2", 100'000, 1.0, [&] { return std::round(u(rng) * 100) / 100; });
  // Three scores only, 0 and 1 among them (clipping), ~3% positives.
  make_binary("three_values", 20'000, 0.06, [&] { return std::round(u(rng) * 2) / 2; });
  make_binary("small", 37, 1.0, [&] { return std::round(u(rng) * 10) / 10; });

  struct RegressionCase {
    std::string name;
    Tensor pred, target;
  };
  std::vector<RegressionCase> regression;
  for (const auto& [name, n, scale] : {std::tuple{"normal", std::int64_t{100'000}, 1.0f},
                                       std::tuple{"large", std::int64_t{999}, 1e3f}}) {
    std::vector<float> p(static_cast<std::size_t>(n)), t(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      t[i] = scale * normal(rng);
      p[i] = 0.8f * t[i] + scale * 0.3f * normal(rng);
    }
    regression.push_back({name, floats(p), floats(t)});
  }

  // Scores rounded to one decimal: argmax ties are common.
  const std::int64_t n_multi = 100'000, classes = 5;
  std::vector<float> multi_scores(static_cast<std::size_t>(n_multi * classes));
  std::vector<std::int64_t> multi_labels(static_cast<std::size_t>(n_multi));
  for (std::int64_t i = 0; i < n_multi; ++i) {
    multi_labels[i] = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(classes));
    for (std::int64_t c = 0; c < classes; ++c)
      multi_scores[i * classes + c] =
          std::round((u(rng) + (c == multi_labels[i] ? 0.3f : 0.0f)) * 10) / 10;
  }
  const Tensor multi_p = Tensor::from<float>({n_multi, classes}, multi_scores);
  const Tensor multi_t = Tensor::from<std::int64_t>({n_multi}, multi_labels);

  for (const auto& c : binary) {
    io::write_npy(dir / ("binary_" + c.name + "_scores.npy"), c.scores);
    io::write_npy(dir / ("binary_" + c.name + "_labels.npy"), c.labels);
  }
  for (const auto& c : regression) {
    io::write_npy(dir / ("regression_" + c.name + "_pred.npy"), c.pred);
    io::write_npy(dir / ("regression_" + c.name + "_target.npy"), c.target);
  }
  io::write_npy(dir / "multiclass_tied_scores.npy", multi_p);
  io::write_npy(dir / "multiclass_tied_labels.npy", multi_t);

  const nlohmann::json ref = sklearn_reference(dir.path());
  ASSERT_FALSE(ref.is_null());

  for (const auto& c : binary) {
    SCOPED_TRACE("binary " + c.name);
    const nlohmann::json& r = ref.at("binary").at(c.name);
    const double auc = streamed(metrics::AUC(), c.scores, c.labels);
    expect_relative(auc, r.at("auc"), 1e-12, "auc");
    expect_relative(metrics::roc_auc(c.scores.data<float>(), c.labels.data<float>(),
                                     static_cast<std::size_t>(c.scores.numel())),
                    r.at("auc"), 1e-12, "roc_auc");
    expect_relative(streamed(metrics::LogLoss(), c.scores, c.labels), r.at("logloss"), 1e-6,
                    "logloss");
    for (float t : kThresholds) {
      const std::string at = fmt::format("@{}", t);
      expect_relative(streamed(metrics::Precision(t), c.scores, c.labels), r.at("precision" + at),
                      1e-6, "precision" + at);
      expect_relative(streamed(metrics::Recall(t), c.scores, c.labels), r.at("recall" + at), 1e-6,
                      "recall" + at);
      expect_relative(streamed(metrics::BinaryAccuracy(t), c.scores, c.labels),
                      r.at("binary_accuracy" + at), 1e-6, "binary_accuracy" + at);
    }
  }
  for (const auto& c : regression) {
    SCOPED_TRACE("regression " + c.name);
    const nlohmann::json& r = ref.at("regression").at(c.name);
    for (const char* name :
         {"mean_squared_error", "root_mean_squared_error", "mean_absolute_error"})
      expect_relative(streamed(metrics::by_name(name), c.pred, c.target), r.at(name), 1e-6, name);
  }
  expect_relative(streamed(metrics::Accuracy(), multi_p, multi_t),
                  ref.at("multiclass").at("tied").at("accuracy"), 1e-6, "accuracy");
}

// ---- speed ----------------------------------------------------------------------------

TEST(AUC, ResultOnAMillionRowsIsFast) {
  const std::int64_t n = 1'000'000;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> s(static_cast<std::size_t>(n)), l(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    s[i] = u(rng);
    l[i] = u(rng) < s[i] ? 1.0f : 0.0f;
  }
  Metric auc = metrics::AUC();
  auc.update(floats(s), floats(l));
  // This thread's CPU time: other processes on a loaded machine do not count.
  const auto cpu_seconds = [] {
    timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  };
  const double start = cpu_seconds();
  const double value = auc.result();
  const double seconds = cpu_seconds() - start;
  // P(positive | score) = score with uniform scores: the AUC is 5/6.
  EXPECT_NEAR(value, 5.0 / 6.0, 2e-3);
  RecordProperty("auc_result_cpu_seconds", std::to_string(seconds));
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  // ~0.07 s (std::sort of 1M 8-byte keys) on the development machine.
  EXPECT_LT(seconds, 0.2);
#endif
}

}  // namespace
}  // namespace recblocks
