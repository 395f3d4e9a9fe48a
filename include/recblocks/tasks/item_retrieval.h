// ItemRetrievalTask: in-batch retrieval of a two-tower body's candidates.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/schema/schema.h"
#include "recblocks/tasks/task.h"

namespace recblocks {

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

  // The task JSON's "retrieval" section (with "item_counts", the training
  // counts once known); metrics and task_name are the common TaskOptions
  // keys "metrics" and "name".
  static auto option_fields() {
    using O = ItemRetrievalOptions;
    return options::table<O>(
        "ItemRetrievalOptions",
        options::field("l2_normalization", &O::l2_normalization,
                       "L2-normalise the query and candidate vectors"),
        options::field("temperature", &O::temperature, "the scores are divided by it, > 0"),
        options::field("loss", &O::loss,
                       "categorical_crossentropy (or ce), bpr, logistic or hinge"),
        options::field("margin", &O::margin, "hinge: the margin"),
        options::field("logq_correction", &O::logq_correction,
                       "lower each candidate's score by log(its training frequency)"),
        options::field("remove_accidental_hits", &O::remove_accidental_hits,
                       "a candidate holding the row's own item is no negative of it"),
        options::field("num_sampled", &O::num_sampled,
                       "popularity-drawn negatives per training batch, in [0, 2^24]"));
  }
};

class ItemRetrievalTask : public PredictionTask {
 public:
  static constexpr std::string_view kKind = "item_retrieval_task";
  class Impl;

  explicit ItemRetrievalTask(std::string item_id_column, ItemRetrievalOptions options = {});
  // On the schema's one ITEM_ID column (throws listing them otherwise).
  static ItemRetrievalTask from_schema(const Schema& schema, ItemRetrievalOptions options = {});
  // The kind's part of PredictionTask::from_json: the "retrieval" section.
  static PredictionTask from_task_json(std::string target, TaskOptions options,
                                       const nlohmann::json& json);

  // The settings (the metrics and the name are the task's own).
  const ItemRetrievalOptions& options() const;
  // Whether the settings use the training counts (logq_correction,
  // num_sampled): item_counts_user() is then this task.
  bool needs_item_counts() const;
  // int64 [items]: how often each item id occurs in the training data
  // (Model::fit sets them; kept in the task's JSON).
  void set_item_counts(Tensor counts) const;
  // With num_sampled (NegativeDrawer): the items the sampler draws from,
  // each item's first row of `train` (Model::fit passes its training data).
  void set_item_catalogue(const Dataset& train) const;
  // The training step's num_sampled drawn catalogue rows (Model runs the
  // candidate tower on them), drawn from `tape`'s random state mixed with
  // `seed`; out of training (or without num_sampled) an empty batch.
  Batch sampled_candidates(Tape& tape, std::uint64_t seed, bool training) const;

 private:
  friend class PredictionTask;
  explicit ItemRetrievalTask(std::shared_ptr<Impl> impl);
  Impl& state() const;
};

}  // namespace recblocks
