// Metrics: streaming over batches, exact over the whole dataset.
//
//   rb::Metric auc = rb::metrics::AUC();
//   for (batch ...) auc.update(probabilities, labels);   // float32 [B] or [B, 1]
//   double value = auc.result();                         // exact ROC AUC
//   auc.reset();
//
// A Metric is a handle (shared implementation); clone() gives an
// independent one with the same configuration and empty state, which is how
// a task makes its per-run metrics from the prototypes a user passes.
//
// Inputs of update():
//   - binary metrics (AUC, Precision, Recall, BinaryAccuracy, LogLoss):
//     predictions are probabilities in [0, 1] (the task's sigmoid output;
//     only NaN is rejected, so AUC also ranks logits), targets are labels in
//     [0, 1], float32 or int32/int64, [B] or [B, 1]; > 0.5 counts as
//     positive, and LogLoss uses soft labels as they are (as Keras does);
//   - regression metrics (RMSE, MSE, MAE): predictions and targets, any
//     non-NaN float, [B] or [B, k] of the same width; the mean is over all
//     values;
//   - Accuracy (multi-class): predictions [B, C] (scores or probabilities;
//     the argmax, first on ties, is the class) and targets int32/int64 [B]
//     class ids, or float32 [B] holding integral ids.
// Predictions and targets must have the same number of rows; a mismatch,
// a NaN prediction or a label outside its range throws ValueError naming
// the metric, the row (in the batch and since reset()) and the value, e.g.
//   auc: label 2 at row 3 of the batch (row 1027 since reset) is outside [0, 1] ...
// and the rejected batch leaves the state as it was. A wrong dtype or rank
// throws ShapeError. result() of a metric that saw no rows throws
// ValueError (AUC also when only one class was seen: it is undefined).
// Precision with no predicted positives and Recall with no positives are
// 0, as Keras' divide_no_nan gives.
//
// AUC is exact: all (score, label) pairs are kept (8 bytes a row), sorted
// once in result(), and the AUC is the Mann-Whitney statistic with ties
// counted as one half (the same number as sklearn.metrics.roc_auc_score),
// not Keras' 200-threshold approximation. result() sorts the kept pairs in
// place (1M rows: a few tens of milliseconds), so one AUC must not have
// result() called from two threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/core/tensor.h"

namespace recblocks {

class MetricBase {
 public:
  virtual ~MetricBase() = default;
  // The key part: "auc", "precision", "recall", "binary_accuracy",
  // "logloss", "root_mean_squared_error", "mean_squared_error",
  // "mean_absolute_error", "accuracy" (Keras/Merlin names).
  virtual std::string name() const = 0;
  virtual void reset() = 0;
  virtual void update(const Tensor& predictions, const Tensor& targets) = 0;
  virtual double result() const = 0;
  virtual std::unique_ptr<MetricBase> clone() const = 0;  // same config, empty state
  // A hint: about `rows` more rows will be updated before result(). A
  // metric that keeps every row (AUC) allocates once instead of growing,
  // which halves its peak memory on a large epoch.
  virtual void reserve(std::int64_t /*rows*/) {}
};

class Metric {
 public:
  Metric() = default;
  explicit Metric(std::shared_ptr<MetricBase> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  std::string name() const { return impl_->name(); }
  void reset() { impl_->reset(); }
  void update(const Tensor& predictions, const Tensor& targets) {
    impl_->update(predictions, targets);
  }
  double result() const { return impl_->result(); }
  void reserve(std::int64_t rows) { impl_->reserve(rows); }
  Metric clone() const { return Metric(std::shared_ptr<MetricBase>(impl_->clone())); }

 private:
  std::shared_ptr<MetricBase> impl_;
};

namespace metrics {

// Binary, on probabilities. threshold, in [0, 1] (else ValueError): a
// prediction > threshold is predicted positive, as in Keras (default 0.5).
Metric AUC();
Metric Precision(float threshold = 0.5f);
Metric Recall(float threshold = 0.5f);
Metric BinaryAccuracy(float threshold = 0.5f);
// Mean of -[t log p + (1 - t) log(1 - p)], p clipped to [1e-7, 1 - 1e-7]
// as Keras 3 does (Keras 2 also added 1e-7 inside the logs).
Metric LogLoss();
// Regression.
Metric RMSE();
Metric MSE();
Metric MAE();
// Multi-class, on [B, C] scores.
Metric Accuracy();

// Top-k ranking metrics (Merlin's RecallAt, PrecisionAt, AvgPrecisionAt,
// MRRAt, NDCGAt), exact over every item: predictions are float32 [B, N]
// scores of all N items (the whole catalogue for retrieval; NaN is an error,
// -inf ranks last, e.g. for items masked as already seen); targets are
// either one relevant item per row (int32/int64 [B] or [B, 1], an id in
// [0, N)) or a relevance per item (float32 [B, N] in [0, 1], > 0.5
// relevant). Each row's top k items are its k highest scores, ties going to
// the lower item id (Merlin shuffles ties at random; a fixed order makes the
// metric reproducible). With hits h_1..h_k (1 where the i-th item is
// relevant), R the row's number of relevant items and c = clamp(R, 1, k):
//   recall_at_k     sum h / c           (Merlin divides by min(R, k) too)
//   precision_at_k  sum h / k
//   map_at_k        sum_i h_i (h_1 + ... + h_i) / i / c
//   mrr_at_k        1 / (the first i with h_i = 1), 0 if none
//   ndcg_at_k       sum_i h_i / log2(i + 1) over the same sum for the ideal
//                   order (min(R, k) hits first); 0 when R = 0
// result() is the mean over the rows seen. k must be >= 1 (ValueError);
// with fewer items than k (N < k, e.g. the in-batch scores of a short last
// batch) all N are the row's top, the formulas unchanged.
Metric RecallAt(int k = 10);
Metric PrecisionAt(int k = 10);
Metric AvgPrecisionAt(int k = 10);
Metric MRRAt(int k = 10);
Metric NDCGAt(int k = 10);
// All five at each of `ks`, in that order for each k.
std::vector<Metric> ranking_metrics(const std::vector<int>& ks = {10});

// By name: any name() above, "<recall|precision|map|mrr|ndcg>_at_<k>",
// plus the aliases "rmse", "mse", "mae",
// "log_loss"/"binary_crossentropy", "acc" and Keras' "AUC"; thresholds are
// the default 0.5. Unknown names throw ValueError listing the known ones.
// names() gives the nine name()s, without the aliases.
Metric by_name(std::string_view name);
std::vector<std::string> names();

// The exact ROC AUC of scores against 0/1 labels (ties count one half):
// the function under metrics::AUC, for callers with whole arrays. Throws
// ValueError as AUC does (NaN score, label outside [0, 1], one class).
double roc_auc(const float* scores, const float* labels, std::size_t n);

}  // namespace metrics
}  // namespace recblocks
