// The prediction task's interface: TaskBase, what each task kind implements
// (binary_classification.h, regression.h, multi_class_classification.h,
// item_retrieval.h, next_item.h), and PredictionTask, the cheap copyable
// handle models hold. tasks.h gathers them all.
//
// A task turns the body's output into predictions, the loss and metrics
// through its head (a block, the task's parameters), and saves itself as
// JSON:
//   {"kind": ..., "target": ..., "name": ..., "num_classes": ...,
//    "metrics": [names], "task_block": Block JSON or null, "pre": ...}
// plus a section of the kind's own settings ("retrieval", "next_item").
// Metrics are saved by name: a non-default threshold is not kept.
//
// What only some tasks need is a narrow interface a task may offer
// (ItemCountsUser, NegativeDrawer); what only one kind has is reached by
// typed access (PredictionTask::as_item_retrieval, as_next_item).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/core/options.h"
#include "recblocks/metrics/metrics.h"

namespace recblocks {

class Dataset;
class ItemRetrievalTask;
class NextItemPredictionTask;

// The options common to the binary, regression and multi-class tasks.
struct TaskOptions {
  // Replace the default metrics; empty = the task's defaults.
  std::vector<Metric> metrics = {};
  // Applied to the task's input before the output layer; may be undefined.
  Block pre = {};
  // A block between the body and `pre` (a per-task tower); may be undefined.
  Block task_block = {};
  // Default "<target>/<snake_case class>".
  std::string task_name = {};

  // The JSON of the fields (task.cpp): metrics by name; a block's JSON, or
  // null for an undefined one.
  static options::FunctionCodec<std::vector<Metric>> metrics_codec();
  static options::FunctionCodec<Block> block_codec();
  // Every task's top-level keys besides kind, target and num_classes (a
  // task's JSON holds the values in use: its name and metrics defaulted).
  static auto option_fields() {
    using O = TaskOptions;
    return options::table<O>(
        "TaskOptions",
        options::field("name", &O::task_name, R"(the task's name; "": "<target>/<kind>")"),
        options::field("metrics", &O::metrics, "metric names; []: the kind's defaults",
                       metrics_codec()),
        options::field("task_block", &O::task_block,
                       "a block between the body and pre (Block JSON), or null", block_codec()),
        options::field("pre", &O::pre, "a block before the output layer (Block JSON), or null",
                       block_codec()));
  }
};

// A task that uses the items' frequencies in the training data (item
// retrieval with logQ correction or drawn negatives, next item with the
// popularity sampler): Model::fit counts the target column and sets them;
// they are kept in the task's JSON, so a loaded model evaluates the same
// loss.
class ItemCountsUser {
 public:
  // int64 [items]: how often each item id occurs in the training data.
  virtual void set_item_counts(Tensor counts) = 0;

 protected:
  ~ItemCountsUser() = default;
};

// A task that scores negatives drawn from the training items through the
// body's candidate tower (item retrieval with num_sampled).
class NegativeDrawer {
 public:
  // The items the sampler draws from: each item's first row of `train`
  // (Model::fit passes its training data).
  virtual void set_item_catalogue(const Dataset& train) = 0;
  // The training step's drawn negatives (Model runs the candidate tower on
  // them): catalogue rows, drawn from `tape`'s random state mixed with
  // `seed`; the loss then expects their columns after the in-batch ones.
  // Out of training an empty batch, and the loss expects none.
  virtual Batch sampled_candidates(Tape& tape, std::uint64_t seed, bool training) = 0;

 protected:
  ~NegativeDrawer() = default;
};

// What a task kind implements. The common parts (target, name, metrics,
// task_block, pre, the head) live here; each kind adds its loss, its
// predictions, its targets' checks and its JSON section.
class TaskBase {
 public:
  virtual ~TaskBase() = default;
  TaskBase(const TaskBase&) = delete;
  TaskBase& operator=(const TaskBase&) = delete;

  // The JSON "kind" and the default name's suffix ("regression_task").
  virtual std::string_view kind_name() const = 0;

  const std::string& target() const { return target_; }
  const std::string& name() const { return name_; }
  std::int64_t num_classes() const { return num_classes_; }
  const std::vector<Metric>& metrics() const { return metrics_; }
  const Block& task_block() const { return task_block_; }
  const Block& pre() const { return pre_; }
  const Block& head() const { return head_; }

  // The loss (a scalar on the tape) of the logits against the prepared
  // targets.
  virtual Var loss(const Var& logits, const Tensor& targets) const = 0;
  // Logits -> predictions (see PredictionTask::predictions).
  virtual Tensor predictions(const Tensor& logits) const = 0;
  // The targets as the loss expects them, checked: throws ValueError
  // naming the column and the first bad row.
  virtual Tensor prepare_targets(const Tensor& column) const = 0;
  // What the metrics see; by default {predictions(logits), prepared}.
  virtual std::pair<Tensor, Tensor> metric_inputs(const Tensor& logits,
                                                  const Tensor& prepared) const;
  // The shape of Model::predict's output for `rows` rows: [rows] by
  // default, [rows, classes] for a column per class or item.
  virtual Shape prediction_shape(std::int64_t rows) const { return Shape{rows}; }

  // Whether a row's scores depend on the other rows of its batch (item
  // retrieval's in-batch scores): Model::predict cannot give them.
  virtual bool scores_within_batch() const { return false; }
  // Whether each row gets a score per catalogue item (next item):
  // Model::predict_to refuses (a column per item), the recommender writes
  // top-k lists instead.
  virtual bool scores_catalogue() const { return false; }
  // Whether the task ranks items for a query, so that
  // retrieval::TopKRecommender serves it.
  virtual bool recommends_items() const { return false; }

  // The optional interfaces: null unless the task's settings need them.
  virtual ItemCountsUser* item_counts_user() { return nullptr; }
  virtual NegativeDrawer* negative_drawer() { return nullptr; }

  // The common fields, then the kind's own (add_json).
  nlohmann::json to_json() const;

 protected:
  // Checks the common parts (the target's name, the metrics); the name
  // defaults to "<target>/<kind>".
  TaskBase(std::string_view kind, std::string target, std::int64_t num_classes, TaskOptions options,
           std::vector<Metric> default_metrics);
  virtual void add_json(nlohmann::json& /*out*/) const {}
  // Set by the kind's constructor.
  void set_head(Block head) { head_ = std::move(head); }

  // Shared target checks: the column is [rows] or [rows, 1]; one value of
  // it as a double (throws for a dtype other than float32, int32, int64).
  void check_target_shape(const Tensor& column) const;
  double target_value(const Tensor& column, std::int64_t row) const;
  // Number targets as float32 [rows, 1], each finite (and 0 or 1 with
  // zero_or_one).
  Tensor number_targets(const Tensor& column, bool zero_or_one) const;
  // Item id targets (int32 or int64 ids in [0, items); items < 0: any id
  // >= 0) as int64 [rows].
  Tensor item_id_targets(const Tensor& column, std::int64_t items) const;

 private:
  std::string target_;
  std::string name_;
  std::int64_t num_classes_;
  std::vector<Metric> metrics_;
  Block task_block_;
  Block pre_;
  Block head_;
};

// A task's head as one block, its parts in order (each a child, so its
// parameters are named by the path: "output/dense_0/kernel"). Not a
// registered block type: the task's JSON stores the parts.
Block task_head(std::vector<std::pair<std::string, Block>> parts);
// task_block -> pre -> a dense output layer of `units` (Keras Dense:
// glorot-uniform kernel, zero bias): the head of the binary, regression
// and multi-class tasks. A `pre` that only scales (LogitsTemperatureScaler)
// is folded into the output layer's GEMM (BlockBase::forward_scaled).
Block dense_task_head(const Block& task_block, const Block& pre, std::int64_t units);

class PredictionTask {
 public:
  PredictionTask() = default;
  explicit PredictionTask(std::shared_ptr<TaskBase> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TaskBase& impl() const;

  const std::string& target() const { return impl().target(); }
  const std::string& name() const { return impl().name(); }
  std::int64_t num_classes() const { return impl().num_classes(); }  // 1 for binary and regression
  // Fresh metric instances (clones of the configured or default ones).
  std::vector<Metric> make_metrics() const;
  // The head (task_block -> pre -> output layer) as one block: parameters
  // are named by its path, e.g. "output/dense_0/kernel".
  const Block& head() const { return impl().head(); }

  // The loss (a scalar on the tape) of the logits against the targets.
  Var loss(const Var& logits, const Tensor& targets) const { return impl().loss(logits, targets); }
  // Logits [B, 1] or [B, C] -> predictions: probabilities [B] (binary),
  // values [B] (regression), class probabilities [B, C] (multi-class),
  // the scores themselves (item retrieval: [B, B] out of training; next
  // item: [B, num_items]).
  Tensor predictions(const Tensor& logits) const { return impl().predictions(logits); }
  // The targets as the loss expects them (float32 [B, 1] for binary and
  // regression, int64 [B] for multi-class and item ids for retrieval),
  // checked: throws ValueError naming the column and the first bad row.
  Tensor prepare_targets(const Tensor& column) const { return impl().prepare_targets(column); }
  // What the metrics see: {predictions(logits), the prepared targets}, or
  // for retrieval {the scores with each row's accidental hits at -inf when
  // remove_accidental_hits is set, each row's positive column 0..B-1}.
  std::pair<Tensor, Tensor> metric_inputs(const Tensor& logits, const Tensor& prepared) const {
    return impl().metric_inputs(logits, prepared);
  }

  // The optional interfaces (TaskBase): null unless the task needs them.
  ItemCountsUser* item_counts_user() const { return impl().item_counts_user(); }
  NegativeDrawer* negative_drawer() const { return impl().negative_drawer(); }
  // Typed access: the task as its kind's handle, sharing its state, or
  // nullopt for another kind (include tasks.h, or the kind's header).
  std::optional<ItemRetrievalTask> as_item_retrieval() const;
  std::optional<NextItemPredictionTask> as_next_item() const;

  nlohmann::json to_json() const { return impl().to_json(); }
  // Each kind reads its own section; an unknown kind or key is reported by
  // name (tasks.cpp lists the kinds).
  static PredictionTask from_json(const nlohmann::json& json);

 protected:
  std::shared_ptr<TaskBase> impl_;
};

}  // namespace recblocks
