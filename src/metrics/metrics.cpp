#include "recblocks/metrics/metrics.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

#include "recblocks/core/error.h"

namespace recblocks {
namespace {

// Targets as they come: float32, int32 or int64, read as doubles and printed
// in their own type (so a float label 0.7 prints as 0.7, not 0.699999988).
class Targets {
 public:
  Targets(std::string_view metric, const Tensor& t) : data_(t.raw()), dtype_(t.dtype()) {
    RB_CHECK(dtype_ == DType::kFloat32 || is_integer(dtype_), ShapeError,
             "{}: targets must be float32, int32 or int64, got {}", metric, dtype_name(dtype_));
  }
  double operator[](std::int64_t i) const {
    switch (dtype_) {
      case DType::kInt32: return static_cast<const std::int32_t*>(data_)[i];
      case DType::kInt64: return static_cast<double>(static_cast<const std::int64_t*>(data_)[i]);
      default: return static_cast<const float*>(data_)[i];
    }
  }
  std::string str(std::int64_t i) const {
    switch (dtype_) {
      case DType::kInt32: return fmt::format("{}", static_cast<const std::int32_t*>(data_)[i]);
      case DType::kInt64: return fmt::format("{}", static_cast<const std::int64_t*>(data_)[i]);
      default: return fmt::format("{}", static_cast<const float*>(data_)[i]);
    }
  }

 private:
  const void* data_;
  DType dtype_;
};

// Values per row: 1 for [B], k for [B, k]; ShapeError for anything else.
std::int64_t row_width(std::string_view metric, std::string_view what, const Tensor& t,
                       bool allow_columns) {
  RB_CHECK(t.rank() == 1 || t.rank() == 2, ShapeError, "{}: {} must be [batch]{}, got {}", metric,
           what, allow_columns ? " or [batch, k]" : " or [batch, 1]", t.shape());
  const std::int64_t width = t.rank() == 1 ? 1 : t.size(1);
  RB_CHECK(allow_columns || width == 1, ShapeError, "{}: {} must be [batch] or [batch, 1], got {}",
           metric, what, t.shape());
  return width;
}

void check_rows(std::string_view metric, const Tensor& predictions, const Tensor& targets) {
  RB_CHECK(predictions.size(0) == targets.size(0), ValueError,
           "{}: predictions have {} rows ({}) but targets have {} ({})", metric,
           predictions.size(0), predictions.shape(), targets.size(0), targets.shape());
}

const float* float_predictions(std::string_view metric, const Tensor& predictions) {
  RB_CHECK(predictions.dtype() == DType::kFloat32, ShapeError,
           "{}: predictions must be float32, got {}", metric, dtype_name(predictions.dtype()));
  return predictions.data<float>();
}

// "row 3 of the batch (row 1027 since reset)": the first finds it in the
// batch at hand, the second in the dataset being evaluated.
std::string where(std::int64_t row, std::int64_t seen) {
  return fmt::format("row {} of the batch (row {} since reset)", row, seen + row);
}

[[noreturn]] void throw_nan(std::string_view metric, std::int64_t row, std::int64_t seen) {
  throw ValueError(fmt::format("{}: prediction is NaN at {}", metric, where(row, seen)));
}

// Walks a binary update: predictions float32 [B] / [B, 1], labels in [0, 1]
// (a soft label is kept as is for the log loss; the others count > 0.5 as
// positive). A bad row throws after fn has seen the rows before it, so
// callers accumulate into locals and commit only after it returns.
template <class Fn>
std::int64_t for_each_binary(std::string_view metric, const Tensor& predictions,
                             const Tensor& targets, std::int64_t seen, Fn&& fn) {
  const float* p = float_predictions(metric, predictions);
  const Targets t(metric, targets);
  row_width(metric, "predictions", predictions, false);
  row_width(metric, "targets", targets, false);
  check_rows(metric, predictions, targets);
  const std::int64_t n = predictions.size(0);
  for (std::int64_t i = 0; i < n; ++i) {
    if (std::isnan(p[i])) throw_nan(metric, i, seen);
    const double label = t[i];
    RB_CHECK(label >= 0.0 && label <= 1.0, ValueError,
             "{}: label {} at {} is outside [0, 1] (binary labels; > 0.5 counts as positive)",
             metric, t.str(i), where(i, seen));
    fn(p[i], label);
  }
  return n;
}

// ---- AUC ------------------------------------------------------------------------

// A (score, label) pair as one integer whose order is the score's order:
// the score's bits made monotone (negative floats reversed) above, the
// label in the lowest bit. Sorting these sorts by score and puts equal
// scores next to each other.
std::uint64_t auc_key(float score, bool positive) {
  if (score == 0.0f) score = 0.0f;  // -0 and +0 are one score
  std::uint32_t bits = std::bit_cast<std::uint32_t>(score);
  bits = (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
  return (static_cast<std::uint64_t>(bits) << 32) | static_cast<std::uint64_t>(positive);
}

// Mann-Whitney U over sorted keys: each positive counts the negatives below
// it plus half those with the same score. Counted twice over in integers,
// so it is exact up to ~6e9 rows; one division at the end.
double auc_of_sorted(const std::vector<std::uint64_t>& keys, std::uint64_t positives,
                     std::uint64_t negatives) {
  std::uint64_t twice_u = 0;
  std::uint64_t negatives_below = 0;
  const std::size_t n = keys.size();
  for (std::size_t i = 0; i < n;) {
    const std::uint64_t score = keys[i] >> 32;
    std::uint64_t pos = 0;
    std::size_t j = i;
    for (; j < n && (keys[j] >> 32) == score; ++j) pos += keys[j] & 1;
    const std::uint64_t neg = (j - i) - pos;
    twice_u += pos * (2 * negatives_below + neg);
    negatives_below += neg;
    i = j;
  }
  return static_cast<double>(twice_u) /
         (2.0 * static_cast<double>(positives) * static_cast<double>(negatives));
}

void check_two_classes(std::string_view metric, std::uint64_t positives, std::uint64_t negatives) {
  RB_CHECK(positives + negatives > 0, ValueError, "{}: no rows seen; call update() first", metric);
  RB_CHECK(positives > 0 && negatives > 0, ValueError,
           "{}: undefined with one class: saw {} positive and {} negative rows", metric, positives,
           negatives);
}

class AucImpl final : public MetricBase {
 public:
  std::string name() const override { return "auc"; }
  void reset() override {
    keys_.clear();
    positives_ = negatives_ = 0;
  }
  void update(const Tensor& predictions, const Tensor& targets) override {
    const std::size_t before = keys_.size();
    std::uint64_t pos = 0;
    try {
      for_each_binary("auc", predictions, targets, rows(), [&](float p, double t) {
        keys_.push_back(auc_key(p, t > 0.5));
        pos += t > 0.5;
      });
    } catch (...) {
      keys_.resize(before);  // a rejected batch leaves no trace
      throw;
    }
    positives_ += pos;
    negatives_ += (keys_.size() - before) - pos;
  }
  double result() const override {
    check_two_classes("auc", positives_, negatives_);
    // Sorted in place: the pairs' order carries no meaning, and a copy would
    // double the memory of a large evaluation.
    std::sort(keys_.begin(), keys_.end());
    return auc_of_sorted(keys_, positives_, negatives_);
  }
  std::unique_ptr<MetricBase> clone() const override { return std::make_unique<AucImpl>(); }
  void reserve(std::int64_t rows) override {
    if (rows > 0) keys_.reserve(keys_.size() + static_cast<std::size_t>(rows));
  }

 private:
  std::int64_t rows() const { return static_cast<std::int64_t>(keys_.size()); }

  mutable std::vector<std::uint64_t> keys_;
  std::uint64_t positives_ = 0;
  std::uint64_t negatives_ = 0;
};

// ---- thresholded binary metrics --------------------------------------------------

enum class Confusion { kPrecision, kRecall, kBinaryAccuracy };

class ConfusionImpl final : public MetricBase {
 public:
  ConfusionImpl(Confusion kind, float threshold) : kind_(kind), threshold_(threshold) {
    RB_CHECK(threshold >= 0.0f && threshold <= 1.0f, ValueError,
             "{}: threshold {} is outside [0, 1]", name(), threshold);
  }
  std::string name() const override {
    switch (kind_) {
      case Confusion::kPrecision: return "precision";
      case Confusion::kRecall: return "recall";
      case Confusion::kBinaryAccuracy: return "binary_accuracy";
    }
    return "?";
  }
  void reset() override { counts_ = {}; }
  void update(const Tensor& predictions, const Tensor& targets) override {
    // [predicted positive][actually positive]
    std::array<std::array<std::int64_t, 2>, 2> c{};
    const std::string metric = name();
    for_each_binary(metric, predictions, targets, rows(),
                    [&](float p, double t) { ++c[p > threshold_][t > 0.5]; });
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) counts_[a][b] += c[a][b];
  }
  double result() const override {
    RB_CHECK(rows() > 0, ValueError, "{}: no rows seen; call update() first", name());
    const double tp = static_cast<double>(counts_[1][1]);
    const double fp = static_cast<double>(counts_[1][0]);
    const double fn = static_cast<double>(counts_[0][1]);
    const double tn = static_cast<double>(counts_[0][0]);
    // Keras' divide_no_nan: 0 rather than NaN when nothing was predicted
    // positive (precision) or nothing was positive (recall).
    switch (kind_) {
      case Confusion::kPrecision: return tp + fp > 0 ? tp / (tp + fp) : 0.0;
      case Confusion::kRecall: return tp + fn > 0 ? tp / (tp + fn) : 0.0;
      case Confusion::kBinaryAccuracy: return (tp + tn) / (tp + fp + fn + tn);
    }
    return 0.0;
  }
  std::unique_ptr<MetricBase> clone() const override {
    return std::make_unique<ConfusionImpl>(kind_, threshold_);
  }

 private:
  std::int64_t rows() const {
    return counts_[0][0] + counts_[0][1] + counts_[1][0] + counts_[1][1];
  }

  Confusion kind_;
  float threshold_;
  std::array<std::array<std::int64_t, 2>, 2> counts_{};
};

// ---- log loss --------------------------------------------------------------------

class LogLossImpl final : public MetricBase {
 public:
  std::string name() const override { return "logloss"; }
  void reset() override {
    sum_ = 0.0;
    rows_ = 0;
  }
  void update(const Tensor& predictions, const Tensor& targets) override {
    constexpr double kEpsilon = 1e-7;  // Keras' backend epsilon
    double sum = 0.0;
    const std::int64_t n =
        for_each_binary("logloss", predictions, targets, rows_, [&](float p, double t) {
          const double q = std::clamp(static_cast<double>(p), kEpsilon, 1.0 - kEpsilon);
          sum -= t * std::log(q) + (1.0 - t) * std::log(1.0 - q);
        });
    sum_ += sum;
    rows_ += n;
  }
  double result() const override {
    RB_CHECK(rows_ > 0, ValueError, "logloss: no rows seen; call update() first");
    return sum_ / static_cast<double>(rows_);
  }
  std::unique_ptr<MetricBase> clone() const override { return std::make_unique<LogLossImpl>(); }

 private:
  double sum_ = 0.0;
  std::int64_t rows_ = 0;
};

// ---- regression ------------------------------------------------------------------

enum class Regression { kRmse, kMse, kMae };

class RegressionImpl final : public MetricBase {
 public:
  explicit RegressionImpl(Regression kind) : kind_(kind) {}
  std::string name() const override {
    switch (kind_) {
      case Regression::kRmse: return "root_mean_squared_error";
      case Regression::kMse: return "mean_squared_error";
      case Regression::kMae: return "mean_absolute_error";
    }
    return "?";
  }
  void reset() override {
    sum_ = 0.0;
    values_ = 0;
    rows_ = 0;
  }
  // [B] or [B, k] against the same width; the mean is over all values, as
  // Keras' mean over the last axis then over the batch.
  void update(const Tensor& predictions, const Tensor& targets) override {
    const std::string metric = name();
    const float* p = float_predictions(metric, predictions);
    const Targets t(metric, targets);
    const std::int64_t width = row_width(metric, "predictions", predictions, true);
    check_rows(metric, predictions, targets);
    RB_CHECK(row_width(metric, "targets", targets, true) == width, ShapeError,
             "{}: predictions {} and targets {} differ in width", metric, predictions.shape(),
             targets.shape());
    const std::int64_t n = predictions.numel();
    double sum = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (std::isnan(p[i])) throw_nan(metric, i / width, rows_);
      const double target = t[i];
      RB_CHECK(!std::isnan(target), ValueError, "{}: target is NaN at {}", metric,
               where(i / width, rows_));
      const double d = static_cast<double>(p[i]) - target;
      sum += kind_ == Regression::kMae ? std::abs(d) : d * d;
    }
    sum_ += sum;
    values_ += n;
    rows_ += predictions.size(0);
  }
  double result() const override {
    RB_CHECK(values_ > 0, ValueError, "{}: no rows seen; call update() first", name());
    const double mean = sum_ / static_cast<double>(values_);
    return kind_ == Regression::kRmse ? std::sqrt(mean) : mean;
  }
  std::unique_ptr<MetricBase> clone() const override {
    return std::make_unique<RegressionImpl>(kind_);
  }

 private:
  Regression kind_;
  double sum_ = 0.0;
  std::int64_t values_ = 0;
  std::int64_t rows_ = 0;
};

// ---- multi-class accuracy ----------------------------------------------------------

class AccuracyImpl final : public MetricBase {
 public:
  std::string name() const override { return "accuracy"; }
  void reset() override { correct_ = rows_ = 0; }
  void update(const Tensor& predictions, const Tensor& targets) override {
    const float* p = float_predictions("accuracy", predictions);
    const Targets t("accuracy", targets);
    RB_CHECK(predictions.rank() == 2 && predictions.size(1) > 0, ShapeError,
             "accuracy: predictions must be [batch, classes], got {}", predictions.shape());
    row_width("accuracy", "targets", targets, false);
    check_rows("accuracy", predictions, targets);
    const std::int64_t n = predictions.size(0);
    const std::int64_t classes = predictions.size(1);
    std::int64_t correct = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const float* row = p + i * classes;
      std::int64_t best = 0;  // the first maximum, as numpy's argmax
      for (std::int64_t c = 0; c < classes; ++c) {
        if (std::isnan(row[c])) throw_nan("accuracy", i, rows_);
        if (row[c] > row[best]) best = c;
      }
      const double label = t[i];
      RB_CHECK(label >= 0.0 && label < static_cast<double>(classes) && label == std::floor(label),
               ValueError, "accuracy: label {} at {} is not a class id in [0, {}) ({} columns)",
               t.str(i), where(i, rows_), classes, predictions.shape());
      correct += static_cast<std::int64_t>(label) == best;
    }
    correct_ += correct;
    rows_ += n;
  }
  double result() const override {
    RB_CHECK(rows_ > 0, ValueError, "accuracy: no rows seen; call update() first");
    return static_cast<double>(correct_) / static_cast<double>(rows_);
  }
  std::unique_ptr<MetricBase> clone() const override { return std::make_unique<AccuracyImpl>(); }

 private:
  std::int64_t correct_ = 0;
  std::int64_t rows_ = 0;
};

template <class Impl, class... Args>
Metric make(Args&&... args) {
  return Metric(std::make_shared<Impl>(std::forward<Args>(args)...));
}

}  // namespace

namespace metrics {

Metric AUC() { return make<AucImpl>(); }
Metric Precision(float threshold) { return make<ConfusionImpl>(Confusion::kPrecision, threshold); }
Metric Recall(float threshold) { return make<ConfusionImpl>(Confusion::kRecall, threshold); }
Metric BinaryAccuracy(float threshold) {
  return make<ConfusionImpl>(Confusion::kBinaryAccuracy, threshold);
}
Metric LogLoss() { return make<LogLossImpl>(); }
Metric RMSE() { return make<RegressionImpl>(Regression::kRmse); }
Metric MSE() { return make<RegressionImpl>(Regression::kMse); }
Metric MAE() { return make<RegressionImpl>(Regression::kMae); }
Metric Accuracy() { return make<AccuracyImpl>(); }

namespace {

struct Named {
  std::string_view name;
  Metric (*make)();
};

// Canonical names first (names() lists those), then the aliases.
constexpr std::size_t kCanonical = 9;
constexpr std::array<Named, 16> kByName{{
    {"auc", [] { return AUC(); }},
    {"precision", [] { return Precision(); }},
    {"recall", [] { return Recall(); }},
    {"binary_accuracy", [] { return BinaryAccuracy(); }},
    {"logloss", [] { return LogLoss(); }},
    {"root_mean_squared_error", [] { return RMSE(); }},
    {"mean_squared_error", [] { return MSE(); }},
    {"mean_absolute_error", [] { return MAE(); }},
    {"accuracy", [] { return Accuracy(); }},
    {"rmse", [] { return RMSE(); }},
    {"mse", [] { return MSE(); }},
    {"mae", [] { return MAE(); }},
    {"log_loss", [] { return LogLoss(); }},
    {"binary_crossentropy", [] { return LogLoss(); }},
    {"acc", [] { return Accuracy(); }},
    // Keras' metrics=["AUC"] spelling; other names are matched as given.
    {"AUC", [] { return AUC(); }},
}};

}  // namespace

// topk.cpp: "<recall|precision|map|mrr|ndcg>_at_<k>".
std::optional<Metric> topk_by_name(std::string_view name);

Metric by_name(std::string_view name) {
  for (const Named& n : kByName)
    if (n.name == name) return n.make();
  if (std::optional<Metric> topk = topk_by_name(name)) return *topk;
  std::vector<std::string_view> aliases;
  for (std::size_t i = kCanonical; i < kByName.size(); ++i) aliases.push_back(kByName[i].name);
  throw ValueError(fmt::format(
      "unknown metric '{}'; known: {}, <recall|precision|map|mrr|ndcg>_at_<k> (aliases: {})", name,
      fmt::join(names(), ", "), fmt::join(aliases, ", ")));
}

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < kCanonical; ++i) out.emplace_back(kByName[i].name);
  return out;
}

double roc_auc(const float* scores, const float* labels, std::size_t n) {
  std::vector<std::uint64_t> keys(n);
  std::uint64_t positives = 0;
  for (std::size_t i = 0; i < n; ++i) {
    RB_CHECK(!std::isnan(scores[i]), ValueError, "roc_auc: score is NaN at row {}", i);
    RB_CHECK(labels[i] >= 0.0f && labels[i] <= 1.0f, ValueError,
             "roc_auc: label {} at row {} is outside [0, 1] (binary labels; > 0.5 counts as "
             "positive)",
             labels[i], i);
    const bool positive = labels[i] > 0.5f;
    keys[i] = auc_key(scores[i], positive);
    positives += positive;
  }
  check_two_classes("roc_auc", positives, n - positives);
  std::sort(keys.begin(), keys.end());
  return auc_of_sorted(keys, positives, n - positives);
}

}  // namespace metrics
}  // namespace recblocks
