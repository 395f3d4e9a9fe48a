#include "recblocks/tasks/tasks.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "blocks/mlp_internal.h"
#include "blocks/unique_rows.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/blocks/retrieval.h"
#include "recblocks/core/error.h"
#include "tasks/next_item_internal.h"

namespace recblocks {

using json = nlohmann::json;

namespace {

const char* kind_name(PredictionTask::Kind kind) {
  switch (kind) {
    case PredictionTask::Kind::kBinaryClassification: return "binary_classification_task";
    case PredictionTask::Kind::kRegression: return "regression_task";
    case PredictionTask::Kind::kMultiClassClassification: return "multi_class_classification_task";
    case PredictionTask::Kind::kItemRetrieval: return "item_retrieval_task";
    case PredictionTask::Kind::kNextItemPrediction: return "next_item_prediction_task";
  }
  return "";
}

PredictionTask::Kind kind_from_name(const std::string& name) {
  for (auto k : {PredictionTask::Kind::kBinaryClassification, PredictionTask::Kind::kRegression,
                 PredictionTask::Kind::kMultiClassClassification,
                 PredictionTask::Kind::kItemRetrieval, PredictionTask::Kind::kNextItemPrediction}) {
    if (name == kind_name(k)) return k;
  }
  throw ValueError(fmt::format(
      "task kind '{}' is unknown (expected binary_classification_task, regression_task, "
      "multi_class_classification_task, item_retrieval_task or next_item_prediction_task)",
      name));
}

// The item counts of a retrieval or next-item task in its JSON: an array,
// or null before fit counted them.
json counts_json(const Tensor& counts) {
  if (!counts.defined()) return nullptr;
  const auto* c = counts.data<std::int64_t>();
  return std::vector<std::int64_t>(c, c + counts.numel());
}

void restore_item_counts(const PredictionTask& task, const json& section) {
  if (!section.contains("item_counts") || section["item_counts"].is_null()) return;
  const auto counts = section["item_counts"].get<std::vector<std::int64_t>>();
  Tensor t = Tensor::empty({static_cast<std::int64_t>(counts.size())}, DType::kInt64);
  std::copy(counts.begin(), counts.end(), t.data<std::int64_t>());
  task.set_item_counts(std::move(t));
}

std::vector<Metric> default_metrics(PredictionTask::Kind kind) {
  switch (kind) {
    case PredictionTask::Kind::kBinaryClassification:
      return {metrics::Precision(), metrics::Recall(), metrics::BinaryAccuracy(), metrics::AUC()};
    case PredictionTask::Kind::kRegression: return {metrics::RMSE()};
    case PredictionTask::Kind::kMultiClassClassification: return {metrics::Accuracy()};
    case PredictionTask::Kind::kItemRetrieval:
    case PredictionTask::Kind::kNextItemPrediction:
      return {metrics::RecallAt(10), metrics::MRRAt(10), metrics::NDCGAt(10),
              metrics::AvgPrecisionAt(10), metrics::PrecisionAt(10)};
  }
  return {};
}

// task_block -> pre -> output, each optional but the output. Not a
// registered block type: the task's JSON stores the parts, and this only
// gives the head's parameters their names ("output/dense_0/kernel").
class HeadImpl final : public BlockBase {
 public:
  // fold_scale: 1 / temperature when the parts end with a
  // LogitsTemperatureScaler and the output layer, else 0.
  HeadImpl(std::vector<std::pair<std::string, Block>> parts, float fold_scale)
      : parts_(std::move(parts)), fold_scale_(fold_scale) {}
  std::string_view type() const override { return "PredictionHead"; }
  json config() const override { return json::object(); }
  std::vector<std::pair<std::string, Block>> children() const override { return parts_; }
  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    FlowSpec spec = input;
    for (const auto& [key, block] : parts_) spec = block.build(spec, context);
    return spec;
  }
  // A LogitsTemperatureScaler right before the output layer is folded into
  // the output layer's GEMM: the scaled [batch, width] copy and its
  // gradient pass are never made (bit-identical for a power-of-two
  // temperature such as the seed's 2, within rounding otherwise).
  Flow forward(const Flow& input, RunContext& run) const override {
    Flow flow = input;
    const std::size_t unfused = fold_scale_ > 0 ? parts_.size() - 2 : parts_.size();
    for (std::size_t i = 0; i < unfused; ++i) flow = parts_[i].second.forward(flow, run);
    if (fold_scale_ > 0) return mlp_forward_scaled(parts_.back().second, flow, run, fold_scale_);
    return flow;
  }

 private:
  std::vector<std::pair<std::string, Block>> parts_;
  float fold_scale_;
};

}  // namespace

struct PredictionTask::Impl {
  Kind kind = Kind::kBinaryClassification;
  std::string target;
  std::string name;
  std::int64_t num_classes = 1;
  std::vector<Metric> metrics;
  Block task_block;
  Block pre;
  Block head;
  // Item retrieval only.
  ItemRetrievalOptions retrieval;
  ops::RetrievalLoss retrieval_loss = ops::RetrievalLoss::kCategoricalCrossEntropy;
  Tensor item_counts;  // int64 [items], with logq_correction once known
  Tensor log_q;        // float32 [items]: -log(frequency), from item_counts
  // With num_sampled: each training item's first row, the row of each id
  // in it (-1: none), and the current training step's drawn ids (int64
  // [num_sampled]; undefined out of training).
  Batch catalogue;
  std::vector<std::int64_t> catalogue_row;
  Tensor step_sampled;
  // Next-item prediction only.
  NextItemOptions next_item;
  std::string domain;
  std::shared_ptr<detail::ItemSampler> sampler;
  Block output;  // the head's NextItemOutput
};

PredictionTask PredictionTask::make(Kind kind, std::string target, std::int64_t num_classes,
                                    TaskOptions options, ItemRetrievalOptions retrieval) {
  RB_CHECK(!target.empty(), ValueError, "{}: the target name is empty", kind_name(kind));
  auto impl = std::make_shared<Impl>();
  impl->kind = kind;
  impl->name =
      options.task_name.empty() ? fmt::format("{}/{}", target, kind_name(kind)) : options.task_name;
  impl->target = std::move(target);
  impl->num_classes = num_classes;
  impl->metrics = options.metrics.empty() ? default_metrics(kind) : std::move(options.metrics);
  for (const Metric& m : impl->metrics) {
    RB_CHECK(m.defined(), ValueError, "task '{}': a metric is empty", impl->name);
  }
  impl->task_block = options.task_block;
  impl->pre = options.pre;
  std::vector<std::pair<std::string, Block>> parts;
  if (kind == Kind::kItemRetrieval) {
    parts.emplace_back("scorer",
                       ItemRetrievalScorer({.l2_normalization = retrieval.l2_normalization,
                                            .temperature = retrieval.temperature}));
    impl->retrieval = std::move(retrieval);
    impl->retrieval_loss = ops::retrieval_loss_from_name(impl->retrieval.loss);
    RB_CHECK(
        impl->retrieval.num_sampled >= 0 && impl->retrieval.num_sampled <= (std::int64_t{1} << 24),
        ValueError, "task '{}': num_sampled is {}, expected 0 (in-batch negatives only) to 2^24",
        impl->name, impl->retrieval.num_sampled);
    RB_CHECK(std::isfinite(impl->retrieval.margin), ValueError,
             "task '{}': margin is {}, expected a finite number", impl->name,
             impl->retrieval.margin);
    impl->head = Block(std::make_shared<HeadImpl>(std::move(parts), 0.0f));
    return PredictionTask(std::move(impl));
  }
  if (impl->task_block.defined()) parts.emplace_back("task_block", impl->task_block);
  if (impl->pre.defined()) parts.emplace_back("pre", impl->pre);
  parts.emplace_back("output", MLPBlock({num_classes}, {.activation = "linear"}));
  float fold_scale = 0;
  if (impl->pre.defined() && impl->pre.type() == "LogitsTemperatureScaler") {
    const double temperature = impl->pre.impl().config().at("temperature").get<double>();
    fold_scale = static_cast<float>(1.0 / temperature);
  }
  impl->head = Block(std::make_shared<HeadImpl>(std::move(parts), fold_scale));
  return PredictionTask(std::move(impl));
}

BinaryClassificationTask::BinaryClassificationTask(std::string target, TaskOptions options)
    : PredictionTask(make(Kind::kBinaryClassification, std::move(target), 1, std::move(options))) {}

RegressionTask::RegressionTask(std::string target, TaskOptions options)
    : PredictionTask(make(Kind::kRegression, std::move(target), 1, std::move(options))) {}

MultiClassClassificationTask::MultiClassClassificationTask(std::string target,
                                                           std::int64_t num_classes,
                                                           TaskOptions options)
    : PredictionTask([&] {
        RB_CHECK(num_classes >= 2, ValueError,
                 "MultiClassClassificationTask '{}': num_classes is {}, expected at least 2",
                 target, num_classes);
        return make(Kind::kMultiClassClassification, std::move(target), num_classes,
                    std::move(options));
      }()) {}

ItemRetrievalTask::ItemRetrievalTask(std::string item_id_column, ItemRetrievalOptions options)
    : PredictionTask([&] {
        TaskOptions base{.metrics = std::move(options.metrics),
                         .task_name = std::move(options.task_name)};
        return make(Kind::kItemRetrieval, std::move(item_id_column), 1, std::move(base),
                    std::move(options));
      }()) {}

ItemRetrievalTask ItemRetrievalTask::from_schema(const Schema& schema,
                                                 ItemRetrievalOptions options) {
  const Schema ids = schema.select_by_tag(Tags::ITEM_ID).remove_by_tag(Tags::TARGET);
  RB_CHECK(ids.size() == 1, ValueError,
           "ItemRetrievalTask: expected one ITEM_ID column in the schema, got [{}]",
           fmt::join(ids.column_names(), ", "));
  return ItemRetrievalTask(ids.column_names().front(), std::move(options));
}

PredictionTask PredictionTask::make_next_item(std::string target, std::string domain,
                                              std::int64_t num_items, NextItemOptions options) {
  RB_CHECK(!target.empty(), ValueError, "NextItemPredictionTask: the item id column name is empty");
  RB_CHECK(num_items >= 2, ValueError,
           "NextItemPredictionTask '{}': num_items is {}, expected at least 2", target, num_items);
  RB_CHECK(std::isfinite(options.temperature) && options.temperature > 0, ValueError,
           "NextItemPredictionTask '{}': temperature is {}, expected a number > 0", target,
           options.temperature);
  RB_CHECK(options.sampler == "popularity" || options.sampler == "uniform", ValueError,
           "NextItemPredictionTask '{}': sampler '{}' is unknown (expected popularity or uniform)",
           target, options.sampler);
  if (options.sampled_softmax) {
    RB_CHECK(options.num_sampled >= 1 && options.num_sampled < num_items - 1, ValueError,
             "NextItemPredictionTask '{}': num_sampled is {}, expected [1, {}) for a catalogue of "
             "{} items (or "
             "sampled_softmax = false)",
             target, options.num_sampled, num_items - 1, num_items);
  }
  RB_CHECK(options.min_sampled_id >= 0 && options.min_sampled_id < num_items - 1, ValueError,
           "NextItemPredictionTask '{}': min_sampled_id is {}, expected [0, {})", target,
           options.min_sampled_id, num_items - 1);
  RB_CHECK(options.min_sampled_id == 0 || options.sampler == "uniform", ValueError,
           "NextItemPredictionTask '{}': min_sampled_id is {}; it bounds the uniform sampler, the "
           "popularity sampler "
           "never draws an item absent from the training data",
           target, options.min_sampled_id);
  auto impl = std::make_shared<Impl>();
  impl->kind = Kind::kNextItemPrediction;
  impl->name = options.task_name.empty() ? fmt::format("{}/{}", target, kind_name(impl->kind))
                                         : options.task_name;
  impl->metrics = options.metrics.empty() ? default_metrics(impl->kind) : options.metrics;
  for (const Metric& m : impl->metrics) {
    RB_CHECK(m.defined(), ValueError, "task '{}': a metric is empty", impl->name);
  }
  impl->num_classes = num_items;
  impl->domain = domain.empty() ? target : std::move(domain);
  impl->target = std::move(target);
  impl->task_block = options.task_block;
  impl->sampler = std::make_shared<detail::ItemSampler>(options.sampler == "popularity", num_items,
                                                        options.min_sampled_id);
  impl->output =
      detail::next_item_output(impl->target, impl->domain, num_items, options, impl->sampler);
  options.metrics.clear();
  impl->next_item = std::move(options);
  std::vector<std::pair<std::string, Block>> parts;
  if (impl->task_block.defined()) parts.emplace_back("task_block", impl->task_block);
  parts.emplace_back("output", impl->output);
  impl->head = Block(std::make_shared<HeadImpl>(std::move(parts), 0.0f));
  return PredictionTask(std::move(impl));
}

NextItemPredictionTask::NextItemPredictionTask(std::string item_id_column, std::string domain,
                                               std::int64_t num_items, NextItemOptions options)
    : PredictionTask(make_next_item(std::move(item_id_column), std::move(domain), num_items,
                                    std::move(options))) {}

NextItemPredictionTask NextItemPredictionTask::from_schema(const Schema& schema,
                                                           NextItemOptions options) {
  const Schema ids = schema.select_by_tag(Tags::ITEM_ID).remove_by_tag(Tags::TARGET);
  RB_CHECK(ids.size() == 1, ValueError,
           "NextItemPredictionTask: expected one ITEM_ID column in the schema, got [{}]",
           fmt::join(ids.column_names(), ", "));
  const ColumnSchema& column = *ids.begin();
  RB_CHECK(
      column.domain().has_value(), ValueError,
      "NextItemPredictionTask: item id column '{}' has no integer domain (categorify it first)",
      column.name());
  return NextItemPredictionTask(
      column.name(), column.domain()->name.empty() ? column.name() : column.domain()->name,
      column.cardinality(), std::move(options));
}

PredictionTask::Kind PredictionTask::kind() const { return impl_->kind; }
const std::string& PredictionTask::target() const { return impl_->target; }
const std::string& PredictionTask::name() const { return impl_->name; }
std::int64_t PredictionTask::num_classes() const { return impl_->num_classes; }
const Block& PredictionTask::head() const { return impl_->head; }

std::vector<Metric> PredictionTask::make_metrics() const {
  std::vector<Metric> out;
  out.reserve(impl_->metrics.size());
  for (const Metric& m : impl_->metrics) out.push_back(m.clone());
  return out;
}

Tensor PredictionTask::prepare_targets(const Tensor& column) const {
  const std::int64_t rows = column.rank() == 0 ? 0 : column.size(0);
  RB_CHECK(column.rank() == 1 || (column.rank() == 2 && column.size(1) == 1), ShapeError,
           "task '{}': target column '{}' has shape {}, expected [rows]", impl_->name,
           impl_->target, column.shape());
  auto value_at = [&](std::int64_t i) -> double {
    switch (column.dtype()) {
      case DType::kFloat32: return column.data<float>()[i];
      case DType::kInt32: return column.data<std::int32_t>()[i];
      case DType::kInt64: return static_cast<double>(column.data<std::int64_t>()[i]);
      default:
        throw ValueError(fmt::format(
            "task '{}': target column '{}' has dtype {}, expected float32, int32 or int64",
            impl_->name, impl_->target, dtype_name(column.dtype())));
    }
  };
  if (impl_->kind == Kind::kItemRetrieval || impl_->kind == Kind::kNextItemPrediction) {
    RB_CHECK(is_integer(column.dtype()), ValueError,
             "task '{}': item id column '{}' has dtype {}, expected int32 or int64", impl_->name,
             impl_->target, dtype_name(column.dtype()));
    // Next-item ids index the catalogue; retrieval ids the logQ counts
    // once known (any id >= 0 before).
    const std::int64_t items = impl_->kind == Kind::kNextItemPrediction ? impl_->num_classes
                               : impl_->log_q.defined()                 ? impl_->log_q.numel()
                                                                        : -1;
    Tensor out = Tensor::empty({rows}, DType::kInt64);
    auto* o = out.data<std::int64_t>();
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::int64_t v = column.dtype() == DType::kInt64 ? column.data<std::int64_t>()[i]
                                                             : column.data<std::int32_t>()[i];
      RB_CHECK(v >= 0 && (items < 0 || v < items), ValueError,
               "task '{}': item id column '{}' row {} is {}, expected an id in [0, {})",
               impl_->name, impl_->target, i, v,
               items < 0 ? std::string("inf") : std::to_string(items));
      o[i] = v;
    }
    return out;
  }
  if (impl_->kind == Kind::kMultiClassClassification) {
    Tensor out = Tensor::empty({rows}, DType::kInt64);
    auto* o = out.data<std::int64_t>();
    for (std::int64_t i = 0; i < rows; ++i) {
      const double v = value_at(i);
      RB_CHECK(v >= 0 && v < static_cast<double>(impl_->num_classes) && v == std::floor(v),
               ValueError,
               "task '{}': target column '{}' row {} is {}, expected a class id in [0, {})",
               impl_->name, impl_->target, i, v, impl_->num_classes);
      o[i] = static_cast<std::int64_t>(v);
    }
    return out;
  }
  Tensor out = Tensor::empty({rows, 1});
  float* o = out.data<float>();
  const bool binary = impl_->kind == Kind::kBinaryClassification;
  for (std::int64_t i = 0; i < rows; ++i) {
    const double v = value_at(i);
    RB_CHECK(std::isfinite(v), ValueError,
             "task '{}': target column '{}' row {} is {}, expected a finite number", impl_->name,
             impl_->target, i, v);
    RB_CHECK(!binary || v == 0 || v == 1, ValueError,
             "task '{}': target column '{}' row {} is {}, expected 0 or 1", impl_->name,
             impl_->target, i, v);
    o[i] = static_cast<float>(v);
  }
  return out;
}

Var PredictionTask::loss(const Var& logits, const Tensor& targets) const {
  switch (impl_->kind) {
    case Kind::kBinaryClassification: return ops::bce_with_logits(logits, targets);
    case Kind::kRegression: return ops::mse(logits, targets);
    case Kind::kMultiClassClassification: return ops::softmax_cross_entropy(logits, targets);
    case Kind::kItemRetrieval: {
      RB_CHECK(targets.dtype() == DType::kInt64 && targets.rank() == 1, ShapeError,
               "task '{}': targets are {} {}, expected the int64 item ids of prepare_targets",
               impl_->name, dtype_name(targets.dtype()), targets.shape());
      const std::int64_t rows = targets.numel();
      RB_CHECK(logits.shape().rank() == 2 && logits.shape()[0] == rows, ShapeError,
               "task '{}': the scores have shape {}, expected [{}, {}] (in-batch), or [{}, "
               "distinct items] in "
               "training, each plus the drawn negatives' columns with num_sampled",
               impl_->name, logits.shape(), rows, rows, rows);
      RB_CHECK(
          !impl_->retrieval.logq_correction || impl_->log_q.defined(), ValueError,
          "task '{}': logq_correction needs the items' training frequencies: fit the model (or "
          "set_item_counts) first",
          impl_->name);
      // Tensors from the step's arena (the distinct-item mapping below
      // allocates a few vectors of the batch's size).
      Arena& arena = logits.tape().arena();
      Tensor positives = arena.tensor({rows}, DType::kInt64);
      Tensor column_ids = targets;
      ops::RetrievalLossOptions options{.kind = impl_->retrieval_loss,
                                        .margin = impl_->retrieval.margin};
      // The step's drawn negatives come after the in-batch columns.
      const std::int64_t sampled = impl_->step_sampled.defined() ? impl_->step_sampled.numel() : 0;
      const std::int64_t in_batch = logits.shape()[1] - sampled;
      if (in_batch == rows) {
        // One column per row: row i's positive is column i.
        for (std::int64_t i = 0; i < rows; ++i) positives.data<std::int64_t>()[i] = i;
      } else {
        // One column per distinct item (UniqueRows ran the candidate tower
        // once per item, in order of first appearance): each row's positive
        // is its item's column, which stands for every row holding it.
        const detail::UniqueIds u = detail::unique_in_order(targets);
        const auto distinct = static_cast<std::int64_t>(u.ids.size());
        RB_CHECK(
            in_batch == distinct, ShapeError,
            "task '{}': the scores have shape {}, expected [{}, {}] (in-batch) or [{}, {}] (one "
            "column per "
            "distinct item of the batch){}",
            impl_->name, logits.shape(), rows, rows + sampled, rows, distinct + sampled,
            sampled > 0 ? fmt::format(", each with {} drawn negatives", sampled) : std::string());
        std::copy(u.inverse.begin(), u.inverse.end(), positives.data<std::int64_t>());
        column_ids = arena.tensor({distinct}, DType::kInt64);
        std::copy(u.ids.begin(), u.ids.end(), column_ids.data<std::int64_t>());
        options.column_counts = arena.tensor({distinct + sampled}, DType::kInt64);
        std::copy(u.counts.begin(), u.counts.end(), options.column_counts.data<std::int64_t>());
        std::fill_n(options.column_counts.data<std::int64_t>() + distinct, sampled,
                    std::int64_t{1});
      }
      if (sampled > 0) {
        // Every column's item: the batch's, then the drawn ones.
        Tensor all = arena.tensor({in_batch + sampled}, DType::kInt64);
        std::copy_n(column_ids.data<std::int64_t>(), in_batch, all.data<std::int64_t>());
        std::copy_n(impl_->step_sampled.data<std::int64_t>(), sampled,
                    all.data<std::int64_t>() + in_batch);
        column_ids = all;
      }
      if (impl_->retrieval.remove_accidental_hits) options.column_ids = column_ids;
      if (impl_->retrieval.logq_correction) {
        const std::int64_t cols = column_ids.numel();
        Tensor bias = arena.tensor({cols});
        const auto* id = column_ids.data<std::int64_t>();
        const std::int64_t items = impl_->log_q.numel();
        for (std::int64_t j = 0; j < cols; ++j) {
          RB_CHECK(id[j] >= 0 && id[j] < items, ValueError,
                   "task '{}': item id {} at column {} is outside [0, {})", impl_->name, id[j], j,
                   items);
          bias.data<float>()[j] = impl_->log_q.data<float>()[id[j]];
        }
        options.column_bias = std::move(bias);
      }
      return ops::retrieval_loss(logits, positives, options);
    }
    case Kind::kNextItemPrediction: {
      RB_CHECK(targets.dtype() == DType::kInt64 && targets.rank() == 1, ShapeError,
               "task '{}': targets are {} {}, expected the int64 item ids of prepare_targets",
               impl_->name, dtype_name(targets.dtype()), targets.shape());
      const std::int64_t rows = targets.numel();
      if (logits.shape() == Shape({rows, impl_->num_classes})) {
        // The whole catalogue: the positive of row i is column targets[i].
        return ops::retrieval_loss(logits, targets);
      }
      const std::int64_t sampled = impl_->next_item.num_sampled;
      RB_CHECK(impl_->next_item.sampled_softmax && logits.shape() == Shape({rows, 1 + sampled}),
               ShapeError,
               "task '{}': the logits have shape {}, expected [{}, {}] (the catalogue){}",
               impl_->name, logits.shape(), rows, impl_->num_classes,
               impl_->next_item.sampled_softmax
                   ? fmt::format(" or [{}, {}] (sampled)", rows, 1 + sampled)
                   : "");
      // The sampled softmax's positive is column 0; the output has applied
      // logQ and masked the accidental hits.
      return ops::retrieval_loss(logits, logits.tape().arena().zeros({rows}, DType::kInt64));
    }
  }
  return {};
}

std::pair<Tensor, Tensor> PredictionTask::metric_inputs(const Tensor& logits,
                                                        const Tensor& prepared) const {
  if (impl_->kind == Kind::kNextItemPrediction && logits.rank() == 2 &&
      logits.size(1) != impl_->num_classes) {
    // Sampled softmax in training: the positive is column 0.
    return {logits.clone(), Tensor::zeros({prepared.numel()}, DType::kInt64)};
  }
  if (impl_->kind != Kind::kItemRetrieval) return {predictions(logits), prepared};
  const std::int64_t rows = prepared.numel();
  Tensor scores = predictions(logits);
  const std::int64_t sampled = impl_->step_sampled.defined() ? impl_->step_sampled.numel() : 0;
  if (sampled > 0 && scores.rank() == 2 && scores.size(1) > sampled) {
    // The in-batch metrics: without the step's drawn negatives.
    const std::int64_t cols = scores.size(1), kept = cols - sampled;
    Tensor in_batch = Tensor::empty({scores.size(0), kept});
    for (std::int64_t i = 0; i < scores.size(0); ++i) {
      std::copy_n(scores.data<float>() + i * cols, kept, in_batch.data<float>() + i * kept);
    }
    scores = std::move(in_batch);
  }
  if (scores.rank() == 2 && scores.size(0) == rows && scores.size(1) != rows) {
    // One column per distinct item (UniqueRows): back to one per row, so
    // the metrics rank each row's item among the batch's rows as before.
    const detail::UniqueIds u = detail::unique_in_order(prepared);
    const std::int64_t cols = scores.size(1);
    RB_CHECK(static_cast<std::int64_t>(u.ids.size()) == cols, ShapeError,
             "task '{}': the scores have shape {}, expected [{}, {}] or [{}, {}]", impl_->name,
             scores.shape(), rows, rows, rows, u.ids.size());
    Tensor full = Tensor::empty({rows, rows});
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < rows; ++j) {
        full.data<float>()[i * rows + j] =
            scores.data<float>()[i * cols + u.inverse[static_cast<std::size_t>(j)]];
      }
    }
    scores = std::move(full);
  }
  Tensor diagonal = Tensor::empty({rows}, DType::kInt64);
  const auto* id = prepared.data<std::int64_t>();
  for (std::int64_t i = 0; i < rows; ++i) diagonal.data<std::int64_t>()[i] = i;
  if (impl_->retrieval.remove_accidental_hits && scores.rank() == 2 && scores.size(1) == rows) {
    // The row's own item elsewhere in the batch is no candidate: as in the
    // loss, it does not compete with the positive.
    float* s = scores.data<float>();
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < rows; ++j) {
        if (j != i && id[j] == id[i]) s[i * rows + j] = -std::numeric_limits<float>::infinity();
      }
    }
  }
  return {std::move(scores), std::move(diagonal)};
}

const ItemRetrievalOptions& PredictionTask::retrieval_options() const {
  RB_CHECK(impl_->kind == Kind::kItemRetrieval, ValueError,
           "task '{}' is not an item retrieval task", impl_->name);
  return impl_->retrieval;
}

const NextItemOptions& PredictionTask::next_item_options() const {
  RB_CHECK(impl_->kind == Kind::kNextItemPrediction, ValueError,
           "task '{}' is not a next-item prediction task", impl_->name);
  return impl_->next_item;
}

bool PredictionTask::needs_item_counts() const {
  if (impl_->kind == Kind::kNextItemPrediction) {
    const NextItemOptions& o = impl_->next_item;
    // The uniform sampler's log q is one constant: no counts needed.
    return o.sampled_softmax && o.sampler == "popularity";
  }
  return impl_->kind == Kind::kItemRetrieval &&
         (impl_->retrieval.logq_correction || impl_->retrieval.num_sampled > 0);
}

bool PredictionTask::needs_item_catalogue() const {
  return impl_->kind == Kind::kItemRetrieval && impl_->retrieval.num_sampled > 0;
}

void PredictionTask::set_item_catalogue(const Dataset& train) const {
  RB_CHECK(needs_item_catalogue(), ValueError,
           "task '{}': only an item retrieval task with num_sampled draws items", impl_->name);
  RB_CHECK(train.num_rows() > 0, ValueError, "task '{}': the training data has no rows",
           impl_->name);
  const detail::UniqueIds u = detail::unique_in_order(train.column(impl_->target).values);
  std::int64_t items = 0;
  for (std::int64_t id : u.ids) {
    RB_CHECK(id >= 0, ValueError, "task '{}': column '{}' holds id {}, expected ids >= 0",
             impl_->name, impl_->target, id);
    items = std::max(items, id + 1);
  }
  impl_->catalogue = Batch(train.take(u.first));
  impl_->catalogue_row.assign(static_cast<std::size_t>(items), -1);
  for (std::size_t r = 0; r < u.ids.size(); ++r)
    impl_->catalogue_row[static_cast<std::size_t>(u.ids[r])] = r;
}

Batch PredictionTask::sampled_candidates(Tape& tape, std::uint64_t seed, bool training) const {
  impl_->step_sampled = Tensor();
  if (!training || !needs_item_catalogue()) return {};
  const std::int64_t s = impl_->retrieval.num_sampled;
  RB_CHECK(
      impl_->sampler != nullptr && impl_->sampler->has_counts() && impl_->catalogue.rows() > 0,
      ValueError,
      "task '{}': num_sampled draws from the training items: fit the model (or set_item_counts and "
      "set_item_catalogue) first",
      impl_->name);
  Tensor ids = Tensor::empty({s}, DType::kInt64);
  const std::uint64_t base = tape.rng().next_stream(static_cast<std::uint64_t>(s));
  impl_->sampler->draw(s, ids.data<std::int64_t>(), mix64(mix64(seed) ^ base));
  std::vector<std::int64_t> rows(static_cast<std::size_t>(s));
  for (std::int64_t j = 0; j < s; ++j) {
    const std::int64_t id = ids.data<std::int64_t>()[j];
    // The sampler draws items seen in training, which the catalogue holds.
    RB_CHECK(id >= 0 && id < static_cast<std::int64_t>(impl_->catalogue_row.size()) &&
                 impl_->catalogue_row[static_cast<std::size_t>(id)] >= 0,
             ValueError, "task '{}': drew item {}, which is not in the training data's catalogue",
             impl_->name, id);
    rows[static_cast<std::size_t>(j)] = impl_->catalogue_row[static_cast<std::size_t>(id)];
  }
  impl_->step_sampled = std::move(ids);
  return impl_->catalogue.take(rows);
}

void PredictionTask::set_item_counts(Tensor counts) const {
  if (impl_->kind == Kind::kNextItemPrediction) {
    try {
      impl_->sampler->set_counts(counts);
    } catch (const Error& e) {
      throw ValueError(fmt::format("task '{}': {}", impl_->name, e.what()));
    }
    impl_->item_counts = std::move(counts);
    return;
  }
  RB_CHECK(impl_->kind == Kind::kItemRetrieval, ValueError,
           "task '{}': item counts are for item retrieval and next-item tasks", impl_->name);
  RB_CHECK(counts.dtype() == DType::kInt64 && counts.rank() == 1 && counts.numel() > 0, ShapeError,
           "task '{}': item counts are {} {}, expected int64 [items]", impl_->name,
           dtype_name(counts.dtype()), counts.shape());
  const auto* c = counts.data<std::int64_t>();
  double total = 0;
  for (std::int64_t i = 0; i < counts.numel(); ++i) {
    RB_CHECK(c[i] >= 0, ValueError, "task '{}': item {} has count {}, expected >= 0", impl_->name,
             i, c[i]);
    total += static_cast<double>(c[i]);
  }
  RB_CHECK(total > 0, ValueError, "task '{}': every item count is 0", impl_->name);
  // An item never seen in training counts as seen once: its correction
  // stays finite. Only with logq_correction (the loss's range check of the
  // targets comes with it).
  Tensor log_q;
  if (impl_->retrieval.logq_correction) {
    log_q = Tensor::empty({counts.numel()});
    for (std::int64_t i = 0; i < counts.numel(); ++i) {
      log_q.data<float>()[i] = static_cast<float>(
          -std::log(static_cast<double>(std::max<std::int64_t>(c[i], 1)) / total));
    }
  }
  // num_sampled draws by these counts.
  std::shared_ptr<detail::ItemSampler> sampler;
  if (impl_->retrieval.num_sampled > 0) {
    sampler = std::make_shared<detail::ItemSampler>(true, counts.numel(), 0);
    sampler->set_counts(counts);
  }
  impl_->item_counts = std::move(counts);
  impl_->log_q = std::move(log_q);
  impl_->sampler = std::move(sampler);
}

Tensor PredictionTask::predictions(const Tensor& logits) const {
  const std::int64_t rows = logits.size(0);
  const float* x = logits.data<float>();
  if (impl_->kind == Kind::kMultiClassClassification) {
    const std::int64_t c = impl_->num_classes;
    Tensor out = Tensor::empty({rows, c});
    float* y = out.data<float>();
    for (std::int64_t i = 0; i < rows; ++i) {
      float top = x[i * c];
      for (std::int64_t j = 1; j < c; ++j) top = std::max(top, x[i * c + j]);
      double total = 0;
      for (std::int64_t j = 0; j < c; ++j) total += (y[i * c + j] = std::exp(x[i * c + j] - top));
      for (std::int64_t j = 0; j < c; ++j) y[i * c + j] = static_cast<float>(y[i * c + j] / total);
    }
    return out;
  }
  if (impl_->kind == Kind::kItemRetrieval || impl_->kind == Kind::kNextItemPrediction)
    return logits.clone();
  Tensor out = Tensor::empty({rows});
  float* y = out.data<float>();
  if (impl_->kind == Kind::kRegression) {
    std::copy(x, x + rows, y);
  } else {
    for (std::int64_t i = 0; i < rows; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
  }
  return out;
}

json PredictionTask::to_json() const {
  json metric_names = json::array();
  for (const Metric& m : impl_->metrics) metric_names.push_back(m.name());
  json out = {
      {"kind", kind_name(impl_->kind)},
      {"target", impl_->target},
      {"name", impl_->name},
      {"num_classes", impl_->num_classes},
      {"metrics", metric_names},
      {"task_block", impl_->task_block.defined() ? impl_->task_block.to_json() : json(nullptr)},
      {"pre", impl_->pre.defined() ? impl_->pre.to_json() : json(nullptr)}};
  if (impl_->kind == Kind::kItemRetrieval) {
    const ItemRetrievalOptions& r = impl_->retrieval;
    const json counts = counts_json(impl_->item_counts);
    out["retrieval"] = {{"l2_normalization", r.l2_normalization},
                        {"temperature", r.temperature},
                        {"loss", ops::retrieval_loss_name(impl_->retrieval_loss)},
                        {"margin", r.margin},
                        {"logq_correction", r.logq_correction},
                        {"remove_accidental_hits", r.remove_accidental_hits},
                        {"num_sampled", r.num_sampled},
                        {"item_counts", counts}};
  }
  if (impl_->kind == Kind::kNextItemPrediction) {
    const NextItemOptions& o = impl_->next_item;
    const json counts = counts_json(impl_->item_counts);
    out["next_item"] = {{"domain", impl_->domain},
                        {"weight_tying", o.weight_tying},
                        {"l2_normalization", o.l2_normalization},
                        {"temperature", o.temperature},
                        {"sampled_softmax", o.sampled_softmax},
                        {"num_sampled", o.num_sampled},
                        {"sampler", o.sampler},
                        {"min_sampled_id", o.min_sampled_id},
                        {"logq_correction", o.logq_correction},
                        {"remove_accidental_hits", o.remove_accidental_hits},
                        {"item_counts", counts}};
  }
  return out;
}

PredictionTask PredictionTask::from_json(const json& j) {
  try {
    return from_json_checked(j);
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("task {}: a value has the wrong type: {}", j.dump(), e.what()));
  }
}

PredictionTask PredictionTask::from_json_checked(const json& j) {
  RB_CHECK(j.is_object(), ValueError, "a task must be a JSON object, got {}", j.dump());
  for (const auto& [key, value] : j.items()) {
    RB_CHECK(key == "kind" || key == "target" || key == "name" || key == "num_classes" ||
                 key == "metrics" || key == "task_block" || key == "pre" || key == "retrieval" ||
                 key == "next_item",
             ValueError,
             "task: unknown key '{}' (expected kind, target, name, num_classes, metrics, "
             "task_block, pre, retrieval, "
             "next_item)",
             key);
  }
  for (const char* key : {"kind", "target"}) {
    RB_CHECK(j.contains(key) && j[key].is_string(), ValueError,
             "task: '{}' is missing or not a string in {}", key, j.dump());
  }
  TaskOptions options;
  if (j.contains("name")) options.task_name = j["name"].get<std::string>();
  if (j.contains("metrics")) {
    for (const json& m : j["metrics"])
      options.metrics.push_back(metrics::by_name(m.get<std::string>()));
  }
  if (j.contains("task_block") && !j["task_block"].is_null())
    options.task_block = Block::from_json(j["task_block"]);
  if (j.contains("pre") && !j["pre"].is_null()) options.pre = Block::from_json(j["pre"]);
  const Kind kind = kind_from_name(j["kind"].get<std::string>());
  std::string target = j["target"].get<std::string>();
  switch (kind) {
    case Kind::kBinaryClassification:
      return BinaryClassificationTask(std::move(target), std::move(options));
    case Kind::kRegression: return RegressionTask(std::move(target), std::move(options));
    case Kind::kMultiClassClassification:
      RB_CHECK(j.contains("num_classes") && j["num_classes"].is_number_integer(), ValueError,
               "task '{}': num_classes is missing", target);
      return MultiClassClassificationTask(std::move(target), j["num_classes"].get<std::int64_t>(),
                                          std::move(options));
    case Kind::kItemRetrieval: {
      const json r = j.value("retrieval", json::object());
      RB_CHECK(r.is_object(), ValueError, "task '{}': 'retrieval' must be an object", target);
      for (const auto& [key, value] : r.items()) {
        RB_CHECK(key == "l2_normalization" || key == "temperature" || key == "loss" ||
                     key == "margin" || key == "logq_correction" ||
                     key == "remove_accidental_hits" || key == "num_sampled" ||
                     key == "item_counts",
                 ValueError,
                 "task '{}': unknown retrieval key '{}' (expected l2_normalization, temperature, "
                 "loss, margin, "
                 "logq_correction, remove_accidental_hits, num_sampled, item_counts)",
                 target, key);
      }
      RB_CHECK(!options.task_block.defined() && !options.pre.defined(), ValueError,
               "task '{}': an item retrieval task has no task_block or pre", target);
      ItemRetrievalOptions o{.metrics = std::move(options.metrics),
                             .task_name = std::move(options.task_name)};
      o.l2_normalization = r.value("l2_normalization", o.l2_normalization);
      o.temperature = r.value("temperature", o.temperature);
      o.loss = r.value("loss", o.loss);
      o.margin = r.value("margin", o.margin);
      o.logq_correction = r.value("logq_correction", o.logq_correction);
      o.remove_accidental_hits = r.value("remove_accidental_hits", o.remove_accidental_hits);
      o.num_sampled = r.value("num_sampled", o.num_sampled);
      ItemRetrievalTask task(std::move(target), std::move(o));
      restore_item_counts(task, r);
      return task;
    }
    case Kind::kNextItemPrediction: {
      const json r = j.value("next_item", json::object());
      RB_CHECK(r.is_object(), ValueError, "task '{}': 'next_item' must be an object", target);
      static const char* const kKeys[] = {"domain",           "weight_tying",
                                          "l2_normalization", "temperature",
                                          "sampled_softmax",  "num_sampled",
                                          "sampler",          "min_sampled_id",
                                          "logq_correction",  "remove_accidental_hits",
                                          "item_counts"};
      for (const auto& [key, value] : r.items()) {
        RB_CHECK(std::find(std::begin(kKeys), std::end(kKeys), key) != std::end(kKeys), ValueError,
                 "task '{}': unknown next_item key '{}' (expected {})", target, key,
                 fmt::join(kKeys, ", "));
      }
      RB_CHECK(!options.pre.defined(), ValueError, "task '{}': a next-item task has no pre",
               target);
      RB_CHECK(j.contains("num_classes") && j["num_classes"].is_number_integer(), ValueError,
               "task '{}': num_classes (the catalogue size) is missing", target);
      NextItemOptions o{.metrics = std::move(options.metrics),
                        .task_name = std::move(options.task_name),
                        .task_block = options.task_block};
      o.weight_tying = r.value("weight_tying", o.weight_tying);
      o.l2_normalization = r.value("l2_normalization", o.l2_normalization);
      o.temperature = r.value("temperature", o.temperature);
      o.sampled_softmax = r.value("sampled_softmax", o.sampled_softmax);
      o.num_sampled = r.value("num_sampled", o.num_sampled);
      o.sampler = r.value("sampler", o.sampler);
      o.min_sampled_id = r.value("min_sampled_id", o.min_sampled_id);
      o.logq_correction = r.value("logq_correction", o.logq_correction);
      o.remove_accidental_hits = r.value("remove_accidental_hits", o.remove_accidental_hits);
      NextItemPredictionTask task(target, r.value("domain", target),
                                  j["num_classes"].get<std::int64_t>(), std::move(o));
      restore_item_counts(task, r);
      return task;
    }
  }
  return {};
}

std::vector<PredictionTask> prediction_tasks(const Schema& schema) {
  std::vector<PredictionTask> tasks;
  for (const ColumnSchema& column : schema) {
    if (!column.has_tag(Tags::TARGET)) continue;
    if (column.has_tag(Tags::BINARY_CLASSIFICATION) || column.has_tag(Tags::BINARY)) {
      tasks.push_back(BinaryClassificationTask(column.name()));
    } else if (column.has_tag(Tags::REGRESSION)) {
      tasks.push_back(RegressionTask(column.name()));
    } else if (column.has_tag(Tags::MULTI_CLASS)) {
      tasks.push_back(MultiClassClassificationTask(column.name(), column.cardinality()));
    } else {
      throw ValueError(
          fmt::format("target column '{}' (tags {}) has no task tag: expected "
                      "binary_classification, regression or "
                      "multi_class",
                      column.name(), to_string(column.tags())));
    }
  }
  RB_CHECK(!tasks.empty(), ValueError,
           "the schema has no TARGET column to derive prediction tasks from");
  return tasks;
}

}  // namespace recblocks
