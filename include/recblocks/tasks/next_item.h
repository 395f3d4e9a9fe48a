// NextItemPredictionTask: a query vector per row scored against the whole
// item catalogue.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recblocks/schema/schema.h"
#include "recblocks/tasks/task.h"

namespace recblocks {

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

  // The task JSON's "next_item" section (with "domain", the tied domain, and
  // "item_counts", the training counts once known); metrics, task_name and
  // task_block are the common TaskOptions keys "metrics", "name" and
  // "task_block".
  static auto option_fields() {
    using O = NextItemOptions;
    return options::table<O>(
        "NextItemOptions",
        options::field("weight_tying", &O::weight_tying,
                       "score against the item id embedding table (else a table of its own)"),
        options::field("l2_normalization", &O::l2_normalization,
                       "L2-normalise the query and the item vectors"),
        options::field("temperature", &O::temperature, "the logits are divided by it, > 0"),
        options::field("sampled_softmax", &O::sampled_softmax,
                       "train against num_sampled drawn items instead of the catalogue"),
        options::field("num_sampled", &O::num_sampled,
                       "sampled softmax: items drawn per batch, num_sampled + 1 < num_items"),
        options::field("sampler", &O::sampler, "sampled softmax: popularity or uniform"),
        options::field("min_sampled_id", &O::min_sampled_id,
                       "uniform sampler: the smallest id drawn"),
        options::field("logq_correction", &O::logq_correction,
                       "sampled softmax: lower each logit by log q(item)"),
        options::field("remove_accidental_hits", &O::remove_accidental_hits,
                       "sampled softmax: a drawn item equal to the row's own is left out"));
  }
};

class NextItemPredictionTask : public PredictionTask {
 public:
  static constexpr std::string_view kKind = "next_item_prediction_task";
  class Impl;

  // `domain`: the item id column's embedding domain (the table tied to);
  // num_items: its cardinality (domain max + 1), num_items >= 2.
  NextItemPredictionTask(std::string item_id_column, std::string domain, std::int64_t num_items,
                         NextItemOptions options = {});
  // On the schema's one ITEM_ID column (throws listing them otherwise).
  static NextItemPredictionTask from_schema(const Schema& schema, NextItemOptions options = {});
  // The kind's part of PredictionTask::from_json: the "next_item" section.
  static PredictionTask from_task_json(std::string target, TaskOptions options,
                                       const nlohmann::json& json);

  // The settings (the metrics are the task's own).
  const NextItemOptions& options() const;
  // The item id domain the output is tied to.
  const std::string& domain() const;
  // Whether the settings use the training counts (sampled softmax with the
  // popularity sampler): item_counts_user() is then this task.
  bool needs_item_counts() const;
  // int64 [<= num_items]: how often each item id occurs in the training
  // data (Model::fit sets them; kept in the task's JSON).
  void set_item_counts(Tensor counts) const;
  // The built output's item table W [num_items, d] and bias b [num_items]
  // (for the recommender); throws before the model is built.
  std::pair<ParameterPtr, ParameterPtr> item_weights() const;

 private:
  friend class PredictionTask;
  explicit NextItemPredictionTask(std::shared_ptr<Impl> impl);
  Impl& state() const;
};

}  // namespace recblocks
