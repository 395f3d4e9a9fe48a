// Prediction tasks: the heads of a model, as Merlin Models' V1 tasks.
//
//   auto task = rb::BinaryClassificationTask(
//       "rating_binary", {.metrics = {rb::metrics::AUC()}, .pre =
//       rb::LogitsTemperatureScaler(2.0)});
//   rb::Model model = deep.connect(task);
//
// A task turns the body's output x into predictions, the loss and metrics:
//   x = task_block(x)        optional (Merlin's task_block)
//   x = pre(x)               optional (Merlin's `pre`: the seed's temperature
//                            scaling divides x before the output layer)
//   logits = x @ kernel + bias        Keras Dense, glorot-uniform kernel,
//                                     zero bias: 1 unit, or num_classes
//   binary:      prediction = sigmoid(logits [B]),   loss binary cross-entropy
//   regression:  prediction = logits [B],            loss mean squared error
//   multi-class: prediction = softmax(logits [B, C]), loss categorical cross-entropy
//                on integer class ids (Keras' sparse form)
//   item retrieval (ItemRetrievalTask, below): no output layer; the head
//                scores the body's {query, candidate} dict in batch
//                (ItemRetrievalScorer), prediction = the scores [B, B],
//                loss ops::retrieval_loss with the diagonal as positives
//                (in training, [B, distinct items] under UniqueRows, and
//                the drawn negatives' columns after them with num_sampled)
//   next item (NextItemPredictionTask, below): logits over the whole item
//                catalogue [B, num_items] against the item table (tied to
//                the item id embeddings by default); sampled softmax in
//                training for large catalogues
// The losses are computed from the logits in one numerically stable op
// (bce_with_logits, log-softmax), which equals Keras' loss on the
// probabilities wherever Keras' 1e-7 clipping does not bite.
//
// Default metrics (Merlin's): binary precision, recall, binary_accuracy,
// auc; regression root_mean_squared_error; multi-class accuracy. Passing
// metrics replaces them. Metric keys in evaluate() are
// "<task name>/<metric>", the task name "<target>/<snake_case class>", for
// example "rating_binary/binary_classification_task/auc".
//
// Targets: binary targets are 0/1 (float32 or an integer column), a
// regression target any number, multi-class targets integer ids in
// [0, num_classes). A missing target column, or a value outside that range,
// is a ValueError naming the column, the row and the value.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "recblocks/autograd/ops/retrieval.h"
#include "recblocks/blocks/block.h"
#include "recblocks/metrics/metrics.h"
#include "recblocks/schema/schema.h"

namespace recblocks {

struct TaskOptions {
  // Replace the default metrics; empty = the task's defaults.
  std::vector<Metric> metrics = {};
  // Applied to the task's input before the output layer; may be undefined.
  Block pre = {};
  // A block between the body and `pre` (a per-task tower); may be undefined.
  Block task_block = {};
  // Default "<target>/<snake_case class>".
  std::string task_name = {};
};

// Merlin's ItemRetrievalTask: the body gives a dict {"query": [B, d],
// "candidate": [B, d]} (TwoTowerModel, MatrixFactorizationModel); every
// query is scored against every candidate of the batch (in-batch
// negatives), its own item on the diagonal. In training the candidates may
// be [U, d], one per distinct item in order of first appearance
// (UniqueRows keyed by this task's item column, as the two models do): the
// loss then counts each as often as it occurs in the batch.
//   scores = q c^T / temperature   (q, c L2-normalised with l2_normalization)
//   loss   = ops::retrieval_loss(scores, diagonal, {loss, logQ, accidental hits})
// The target is the item id column (the candidates' ids): with
// remove_accidental_hits a candidate holding the row's own item is no
// negative of it; with logq_correction each candidate's score is lowered
// by log(its frequency in the training data) in the loss (Yi et al. 2019:
// in-batch negatives are sampled by popularity). The correction applies to
// the temperature-scaled scores, s / T - log q, where Merlin's task
// computes (s - log q) / T: the same at T = 1; at T = 0.1 with cosine
// scores Merlin's order collapsed training in the PyTorch reference and
// this one did not (bench/torch_ref/README.md). The training and
// evaluate() metrics are in batch (as Merlin's); retrieval::TopKRecommender
// evaluates over the whole catalogue.
//
// num_sampled > 0 adds that many negatives per training batch, drawn with
// replacement by popularity (each training item with its frequency, the
// counts Model::fit collects; Merlin's PopularityBasedSampler) from the
// training items: fit keeps each item's first training row, and the
// candidate tower scores the drawn items' rows, as columns after the
// in-batch ones. The logQ correction and accidental hits apply to them as
// to the in-batch columns (q is the same popularity). The draws follow the
// training tape's random state and the model's seed (a resumed fit draws
// the same); evaluate() and the metrics stay in batch. Needs a body whose
// candidate tower is the "candidate" branch of a ParallelBlock
// (TwoTowerModel, MatrixFactorizationModel).
struct ItemRetrievalOptions {
  // Default: RecallAt, MRRAt, NDCGAt, AvgPrecisionAt, PrecisionAt at 10.
  std::vector<Metric> metrics = {};
  // Default "<target>/item_retrieval_task".
  std::string task_name = {};
  bool l2_normalization = false;
  double temperature = 1.0;
  // "categorical_crossentropy" (or "ce"), "bpr", "logistic", "hinge".
  std::string loss = "categorical_crossentropy";
  float margin = 1.0f;  // hinge
  bool logq_correction = false;
  bool remove_accidental_hits = true;
  std::int64_t num_sampled = 0;  // popularity-drawn negatives per batch
};

// Merlin's NextItemPredictionTask: the body gives a query vector x [B, d]
// per row (a user's history pooled, an MLP: YoutubeDNNRetrievalModel) and
// the task scores it against every item of the catalogue:
//   logits = x W^T + b,   W [num_items, d] the item table, b [num_items]
// With weight_tying (Merlin's default) W is the model's embedding table of
// the item id domain (the table the item id and history columns look up:
// one set of item vectors in and out), so the body's output must be as
// wide as it; otherwise W is the task's own table "output/item_embeddings"
// (glorot-uniform, as Merlin's Dense output). b ("output/item_bias") starts
// at 0. With l2_normalization x and W's rows are L2-normalised first; the
// logits are divided by the temperature.
//
// Loss: categorical cross-entropy over the catalogue (the target is the
// item id). With sampled_softmax, training scores each row against its own
// item and num_sampled items drawn per batch (shared by its rows) from the
// sampler: "popularity" (by frequency in the training data, counted by
// Model::fit; items never seen are never drawn) or "uniform" (over
// [min_sampled_id, num_items)). The logits are then [B, 1 + num_sampled],
// the positive first; with logq_correction each column's logit is lowered
// by log q(item) (the positive's too, as TensorFlow's sampled softmax); with
// remove_accidental_hits a drawn item equal to the row's own is left out of
// the row's loss. evaluate() and predict() always score every id in [0,
// num_items), exactly (reserved and unseen ids included); the recommender
// scores the distinct item ids of its items dataset (retrieval/
// recommender.h). Model::predict_to refuses a next-item task (a column per
// item): write top-k lists with the recommender instead. The draws come
// from the training tape's random state, which checkpoints keep (a resumed
// fit draws the same). num_sampled + 1 must be below num_items
// (the two shapes of logits are told apart by their width).
//
// Metrics (default RecallAt, MRRAt, NDCGAt, AvgPrecisionAt, PrecisionAt at
// 10): over the whole catalogue in evaluate(); over the sampled columns in
// training with sampled_softmax (as Merlin's).
struct NextItemOptions {
  std::vector<Metric> metrics = {};
  // Default "<target>/next_item_prediction_task".
  std::string task_name = {};
  // A block between the body and the output (a per-task tower); may be undefined.
  Block task_block = {};
  bool weight_tying = true;
  bool l2_normalization = false;
  double temperature = 1.0;
  bool sampled_softmax = false;
  std::int64_t num_sampled = 100;
  // "popularity" or "uniform".
  std::string sampler = "popularity";
  std::int64_t min_sampled_id = 0;  // uniform sampler only (an error with popularity)
  bool logq_correction = true;      // sampled softmax
  bool remove_accidental_hits = true;
};

class PredictionTask {
 public:
  enum class Kind : std::uint8_t {
    kBinaryClassification,
    kRegression,
    kMultiClassClassification,
    kItemRetrieval,
    kNextItemPrediction
  };

  PredictionTask() = default;

  bool defined() const { return impl_ != nullptr; }
  Kind kind() const;
  const std::string& target() const;
  const std::string& name() const;
  std::int64_t num_classes() const;  // 1 for binary and regression
  // Fresh metric instances (clones of the configured or default ones).
  std::vector<Metric> make_metrics() const;
  // The head (task_block -> pre -> output layer) as one block: parameters
  // are named by its path, e.g. "output/dense_0/kernel".
  const Block& head() const;

  // The loss (a scalar on the tape) of the logits against the targets.
  Var loss(const Var& logits, const Tensor& targets) const;
  // Logits [B, 1] or [B, C] -> predictions: probabilities [B] (binary),
  // values [B] (regression), class probabilities [B, C] (multi-class),
  // the scores themselves (item retrieval: [B, B] out of training).
  Tensor predictions(const Tensor& logits) const;
  // The targets as the loss expects them (float32 [B, 1] for binary and
  // regression, int64 [B] for multi-class and item ids for retrieval),
  // checked: throws ValueError naming the column and the first bad row.
  Tensor prepare_targets(const Tensor& column) const;
  // What the metrics see: {predictions(logits), the prepared targets}, or
  // for retrieval {the scores with each row's accidental hits at -inf when
  // remove_accidental_hits is set, each row's positive column 0..B-1}.
  std::pair<Tensor, Tensor> metric_inputs(const Tensor& logits, const Tensor& prepared) const;

  // Retrieval with logQ correction, and sampled softmax by popularity,
  // need the items' frequencies in the training data: Model::fit counts the
  // target column and sets them (kept in the task's JSON, so a loaded model
  // evaluates the same loss).
  bool needs_item_counts() const;
  // The retrieval settings (item retrieval tasks; throws for the others).
  const ItemRetrievalOptions& retrieval_options() const;
  // The next-item settings (next-item tasks; throws for the others).
  const NextItemOptions& next_item_options() const;
  // int64 [items]: how often each item id occurs in the training data.
  void set_item_counts(Tensor counts) const;
  // Item retrieval with num_sampled: the items the sampler draws from,
  // each item's first row of `train` (Model::fit passes its training data).
  bool needs_item_catalogue() const;
  void set_item_catalogue(const Dataset& train) const;
  // The training step's drawn negatives (Model runs the candidate tower on
  // them): num_sampled catalogue rows, drawn from `tape`'s random state
  // mixed with `seed`; the loss then expects their columns after the
  // in-batch ones. Out of training (or without num_sampled) an empty batch,
  // and the loss expects none.
  Batch sampled_candidates(Tape& tape, std::uint64_t seed, bool training) const;

  // {"kind": ..., "target": ..., "name": ..., "num_classes": ...,
  //  "metrics": [names], "task_block": Block JSON or null, "pre": ...}.
  // Metrics are saved by name: a non-default threshold is not kept.
  nlohmann::json to_json() const;
  static PredictionTask from_json(const nlohmann::json& json);

 protected:
  struct Impl;
  explicit PredictionTask(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  static PredictionTask make(Kind kind, std::string target, std::int64_t num_classes,
                             TaskOptions options, ItemRetrievalOptions retrieval = {});
  static PredictionTask make_next_item(std::string target, std::string domain,
                                       std::int64_t num_items, NextItemOptions options);
  static PredictionTask from_json_checked(const nlohmann::json& json);

 private:
  std::shared_ptr<Impl> impl_;
};

class BinaryClassificationTask : public PredictionTask {
 public:
  explicit BinaryClassificationTask(std::string target, TaskOptions options = {});
};

class RegressionTask : public PredictionTask {
 public:
  explicit RegressionTask(std::string target, TaskOptions options = {});
};

class MultiClassClassificationTask : public PredictionTask {
 public:
  // num_classes >= 2; the schema's cardinality of the target, usually.
  MultiClassClassificationTask(std::string target, std::int64_t num_classes,
                               TaskOptions options = {});
};

class ItemRetrievalTask : public PredictionTask {
 public:
  explicit ItemRetrievalTask(std::string item_id_column, ItemRetrievalOptions options = {});
  // On the schema's one ITEM_ID column (throws listing them otherwise).
  static ItemRetrievalTask from_schema(const Schema& schema, ItemRetrievalOptions options = {});
};

class NextItemPredictionTask : public PredictionTask {
 public:
  // `domain`: the item id column's embedding domain (the table tied to);
  // num_items: its cardinality (domain max + 1), num_items >= 2.
  NextItemPredictionTask(std::string item_id_column, std::string domain, std::int64_t num_items,
                         NextItemOptions options = {});
  // On the schema's one ITEM_ID column (throws listing them otherwise).
  static NextItemPredictionTask from_schema(const Schema& schema, NextItemOptions options = {});
};

// One task per TARGET column of the schema, in schema order (Merlin's
// parse_prediction_tasks / OutputBlock): a column tagged
// binary_classification (or BINARY) -> BinaryClassificationTask,
// regression -> RegressionTask, multi_class -> MultiClassClassificationTask
// over its cardinality. A target without one of these tags throws,
// naming it and its tags; no target column throws too.
std::vector<PredictionTask> prediction_tasks(const Schema& schema);

}  // namespace recblocks
