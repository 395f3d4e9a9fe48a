// Blocks (every registered type, through make_block), the connect methods,
// metrics, tasks and optimizers.
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "convert.h"
#include "recblocks/blocks/block.h"
#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/config.h"
#include "recblocks/blocks/features.h"
#include "recblocks/core/error.h"
#include "recblocks/core/options.h"
#include "recblocks/data/loader.h"
#include "recblocks/metrics/metrics.h"
#include "recblocks/model/model.h"
#include "recblocks/optim/optim.h"
#include "recblocks/tasks/tasks.h"

namespace recblocks::python {
using namespace nb::literals;

namespace {

nb::object output_to_python(const Output& out) {
  if (out.is_tensor()) return to_numpy(out.tensor());
  nb::dict d;
  for (const auto& [k, t] : out.dict()) d[k.c_str()] = to_numpy(t);
  return d;
}

// What a block may be called on: a Batch, a Dataset (all its rows) or a
// dict of numpy arrays with a schema.
Batch batch_of(nb::handle value) {
  if (nb::isinstance<Batch>(value)) return nb::cast<Batch>(value);
  if (nb::isinstance<Dataset>(value)) return Batch(nb::cast<Dataset>(value));
  throw ValueError(fmt::format("a block is called on a Batch or a Dataset, not a {}",
                               nb::cast<std::string>(value.type().attr("__name__"))));
}

TaskOptions task_options(nb::handle metrics, std::optional<Block> pre,
                         std::optional<Block> task_block, const std::string& name) {
  TaskOptions o;
  o.metrics = metrics_of(metrics);
  if (pre) o.pre = *pre;
  if (task_block) o.task_block = *task_block;
  o.task_name = name;
  return o;
}

nb::list docs_to_python(const std::vector<options::FieldDoc>& docs) {
  nb::list out;
  for (const auto& d : docs) {
    nb::dict row;
    row["key"] = d.key;
    row["type"] = d.type;
    row["default"] = d.default_value;
    row["doc"] = d.doc;
    row["required"] = d.required;
    out.append(row);
  }
  return out;
}

}  // namespace

void bind_blocks(nb::module_& m) {
  nb::class_<Block>(m, "Block",
                    "A composable part of a model (Merlin's blocks), made by the block "
                    "constructors (MLPBlock([64]), ...) or make_block. A handle: copies and "
                    "connected blocks share the block and its weights.")
      .def(
          "__call__",
          [](const Block& b, nb::handle batch, bool training) {
            const Batch in = batch_of(batch);
            Output out;
            {
              nb::gil_scoped_release release;
              out = b.call(in, training);
            }
            return output_to_python(out);
          },
          "batch"_a, "training"_a = false,
          "Runs the block eagerly on `batch` (a Batch, or a Dataset: all its rows), building it "
          "from the batch's schema on first use, without gradients; `training` selects training "
          "mode (Dropout draws, BatchNorm uses batch statistics). Returns a numpy array [rows, "
          "...] or a dict name -> array. Raises ValueError for another input type, ShapeError "
          "when the input does not fit the built block.")
      .def_prop_ro(
          "type", [](const Block& b) { return std::string(b.type()); },
          "The registered type name (\"MLPBlock\").")
      .def_prop_ro("built", &Block::built,
                   "Whether the block has been built (its parameters exist).")
      .def(
          "build",
          [](const Block& b, const Schema& s, std::optional<std::uint64_t> seed) {
            b.build(s, seed);
          },
          "schema"_a, "seed"_a = nb::none(),
          "Builds the block for `schema`'s features: creates the parameters, initialised from "
          "`seed` (None: the next of a process-wide sequence 0, 1, 2, ..., as Keras' global "
          "random state). Runs once; a second build must see the same input. Raises ValueError "
          "or ShapeError when the schema does not fit the block.")
      .def("connect", nb::overload_cast<const Block&>(&Block::connect, nb::const_), "block"_a,
           "This block, then `block`: a new SequentialBlock sharing both.")
      .def("connect", nb::overload_cast<const PredictionTask&>(&Block::connect, nb::const_),
           "task"_a,
           "A Model of this block as the body and `task` as its head (Merlin's "
           "`deep.connect(task)`).")
      .def("connect",
           nb::overload_cast<const std::vector<PredictionTask>&>(&Block::connect, nb::const_),
           "tasks"_a, "A Model of this block as the body and `tasks` as its heads.")
      .def(
          "connect_branch",
          [](const Block& b, nb::handle branches, const std::string& aggregation) {
            if (nb::isinstance<nb::dict>(branches)) {
              std::vector<std::pair<std::string, Block>> named;
              for (auto [k, v] : nb::borrow<nb::dict>(branches))
                named.emplace_back(nb::cast<std::string>(k), nb::cast<Block>(v));
              return b.connect_branch(named, aggregation);
            }
            return b.connect_branch(nb::cast<std::vector<Block>>(branches), aggregation);
          },
          "branches"_a, "aggregation"_a = "",
          "This block, then a ParallelBlock of `branches` (a list, named \"0\", \"1\", ... "
          "in order, or a dict name -> block), each reading this block's output. `aggregation` "
          "(\"concat\", \"stack\", \"element-wise-sum\", \"cosine\"; \"\": none) turns "
          "the branches' dict into a tensor. Returns the new Block; raises ValueError for an "
          "unknown aggregation.")
      .def(
          "connect_with_shortcut",
          [](const Block& b, const Block& block, std::optional<Block> shortcut_filter,
             const std::string& aggregation) {
            return b.connect_with_shortcut(
                block, {.shortcut_filter = shortcut_filter, .aggregation = aggregation});
          },
          "block"_a, "shortcut_filter"_a = nb::none(), "aggregation"_a = "concat",
          "Merlin's connect_with_shortcut: this block, then ParallelBlock({\"shortcut\": the "
          "input through `shortcut_filter` (None: the input itself), \"block\": `block`}) "
          "aggregated by `aggregation` (\"concat\"; \"\": the dict). Returns the new Block.")
      .def("connect_with_residual", &Block::connect_with_residual, "block"_a,
           "Merlin's connect_with_residual: this block, then input + block(input) (a dict input "
           "is concatenated first). Returns the new Block.")
      .def("summary", &Block::summary,
           "The block tree as text: each block's type and key, and its output shape once built.")
      .def(
          "to_json", [](const Block& b) { return from_json(b.to_json()); },
          "The architecture as a dict {\"type\", \"config\", \"children\"} (model.json's "
          "format, without weights); a block used twice is written once and referred to by id.")
      .def_static(
          "from_json", [](nb::handle j) { return Block::from_json(to_json(j)); }, "json"_a,
          "Rebuilds an unbuilt Block from to_json()'s dict through the block registry. Raises "
          "ValueError naming an unknown type (listing the registered ones) or config key.")
      .def(
          "state", [](const Block& b) { return to_numpy_dict(b.state()); },
          "The weights by parameter name (\"1/dense_0/kernel\"): float32 numpy arrays sharing "
          "the block's storage (writing to them changes the block).")
      .def(
          "load_state",
          [](const Block& b, nb::dict state) { b.load_state(tensors_from_numpy(state, "weight")); },
          "state"_a,
          "Copies weights into the built block from a dict name -> array, as state() gives. "
          "Raises ValueError naming a missing, extra or mis-shaped tensor.")
      .def(
          "__repr__", [](const Block& b) { return b.summary(); }, "The summary().");

  m.def(
      "make_block",
      [](const std::string& type, nb::handle config,
         const std::vector<std::pair<std::string, Block>>& children) {
        return make_block(type, to_json(config), children);
      },
      "type"_a, "config"_a = nb::dict(),
      "children"_a = std::vector<std::pair<std::string, Block>>{},
      "A Block of the registered type `type` (\"MLPBlock\") from its `config` (a dict of the "
      "type's options, block_type_docs()) and its `children` ((key, Block) pairs, held, not "
      "copied). Raises ValueError naming an unknown type (listing the registered ones), an "
      "unknown or missing key, or a wrong value.");
  m.def(
      "block_type_docs",
      [] {
        nb::dict out;
        for (const BlockTypeDoc& d : block_type_docs())
          out[d.type.c_str()] = docs_to_python(d.options);
        return out;
      },
      "Every registered block type's options: a dict type name -> list of dicts with keys "
      "\"key\", \"type\", \"default\" (its JSON, \"(required)\", \"(unset)\" or "
      "\"(object)\"), \"doc\" and \"required\"; a nested option's keys are "
      "\"<option>.<key>\" (what `recblocks blocks` prints).");
  m.def(
      "continuous_features",
      [](const Schema& s, nb::handle tags) -> Block {
        return ContinuousFeatures::from_schema(s, tag_of(tags));
      },
      "schema"_a, "tags"_a = "continuous",
      "A ContinuousFeatures block over `schema`'s columns having `tags` (a Tag or its name; "
      "TARGET columns left out): {name: float32 [B, 1]}, or [B, n] for a fixed-length list. "
      "Raises ValueError naming the tag when no column has it.");
  m.def(
      "embedding_features",
      [](const Schema& s, nb::handle options, nb::handle tags) -> Block {
        return EmbeddingFeatures::from_schema(
            s, options::from_json<EmbeddingOptions>(to_json(options), "EmbeddingFeatures options"),
            tag_of(tags));
      },
      "schema"_a, "options"_a = nb::dict(), "tags"_a = "categorical",
      "An EmbeddingFeatures block over `schema`'s columns having `tags` (TARGET columns left "
      "out): {name: [B, dim]}, list columns pooled by the combiner. `options`: a dict of "
      "EmbeddingOptions keys (dim 64, dims, infer_dims, combiner \"mean\", ...). Raises "
      "ValueError naming a column without an integer domain, an unknown option, or the tag "
      "when no column has it.");
  m.def(
      "sequence_embedding_features",
      [](const Schema& s, nb::handle options, std::int64_t max_sequence_length, nb::handle tags,
         bool mask_zero) -> Block {
        return SequenceEmbeddingFeatures::from_schema(
            s,
            options::from_json<EmbeddingOptions>(to_json(options),
                                                 "SequenceEmbeddingFeatures options"),
            max_sequence_length, tag_of(tags), mask_zero);
      },
      "schema"_a, "options"_a = nb::dict(), "max_sequence_length"_a = 0, "tags"_a = "categorical",
      "mask_zero"_a = true,
      "A SequenceEmbeddingFeatures block over `schema`'s categorical list columns having `tags`: "
      "{name: [B, L, dim], name__mask: float32 [B, L] (with mask_zero)}, rows padded with id 0 "
      "or truncated to L = max_sequence_length (0: the column's value_count.max). `options`: "
      "EmbeddingOptions keys as a dict. Raises ValueError naming an unbounded column without "
      "max_sequence_length.");
  m.def(
      "filter",
      [](nb::handle what, bool exclude) -> Block {
        const FilterOptions o{.exclude = exclude};
        if (nb::isinstance<Schema>(what)) return Filter(nb::cast<Schema>(what), o);
        if (nb::isinstance<Tag>(what)) return Filter(nb::cast<Tag>(what), o);  // a str is a name
        if (nb::isinstance<nb::str>(what)) return Filter(nb::cast<std::string>(what), o);
        return Filter(nb::cast<std::vector<std::string>>(what), o);
      },
      "selection"_a, "exclude"_a = false,
      "A Filter block: on the raw inputs the selected columns, on a dict the selected entries. "
      "`selection`: a column name, a list of names, a Tag or a Schema; `exclude`: keep "
      "everything except the selection. A name missing from a dict raises ValueError listing "
      "the keys.");

  nb::class_<Metric>(m, "Metric",
                     "A streaming metric, exact over all the rows it is updated with (AUC keeps "
                     "every row: 8 bytes each).")
      .def(
          "__init__",
          [](Metric* p, const std::string& name) { new (p) Metric(metrics::by_name(name)); },
          "name"_a,
          "The metric named `name`: one of metric_names(), \"<recall|precision|map|mrr|ndcg>"
          "_at_<k>\", or an alias (\"rmse\", \"mse\", \"mae\", \"log_loss\", \"acc\", "
          "\"AUC\"); thresholds 0.5. Raises ValueError listing the known names.")
      .def_prop_ro("name", &Metric::name,
                   "The metric's key in evaluate()'s results (\"auc\", \"recall_at_10\").")
      .def("reset", &Metric::reset, "Forgets every row seen.")
      .def(
          "update",
          [](Metric& metric, nb::handle predictions, nb::handle targets) {
            metric.update(from_numpy(predictions, "predictions"), from_numpy(targets, "targets"));
          },
          "predictions"_a, "targets"_a,
          "Adds a batch: `predictions` (probabilities [B] for binary metrics, values for "
          "regression, scores [B, C] or [B, N] for accuracy and top-k) against `targets` (labels "
          "[B], values, or class / item ids). Raises ValueError naming the row of a NaN "
          "prediction or an out-of-range label (the state is left unchanged), ShapeError for a "
          "wrong dtype or rank.")
      .def("result", &Metric::result,
           "The metric over every row since reset(). Raises ValueError when no row was seen "
           "(AUC: also when only one class was).")
      .def(
          "__repr__",
          [](const Metric& metric) { return fmt::format("Metric('{}')", metric.name()); },
          "Metric('<name>').");
  m.def("metric_names", &metrics::names,
        "The metrics' names (\"auc\", \"precision\", ..., \"accuracy\"), without the "
        "aliases and the top-k family \"<metric>_at_<k>\".");

  nb::class_<PredictionTask>(m, "PredictionTask",
                             "A model's head: optional task_block and pre, the output layer, the "
                             "loss and the metrics, for one target column.")
      .def_prop_ro("name", &PredictionTask::name,
                   "The task's name, the prefix of its metrics' keys (default "
                   "\"<target>/<kind>\", e.g. \"click/binary_classification_task\").")
      .def_prop_ro("target", &PredictionTask::target, "The target column's name.")
      .def(
          "to_json", [](const PredictionTask& t) { return from_json(t.to_json()); },
          "The task as a dict (kind, target, name, metrics by name, task_block, pre, and its "
          "kind's own section), as model.json holds it.")
      .def_static(
          "from_json", [](nb::handle j) { return PredictionTask::from_json(to_json(j)); }, "json"_a,
          "A task from to_json()'s dict. Raises ValueError naming an unknown kind or key.")
      .def(
          "__repr__",
          [](const PredictionTask& t) { return fmt::format("PredictionTask('{}')", t.name()); },
          "PredictionTask('<name>').");
  m.def(
      "binary_classification_task",
      [](const std::string& target, nb::handle metrics, std::optional<Block> pre,
         std::optional<Block> task_block, const std::string& name) -> PredictionTask {
        return BinaryClassificationTask(target, task_options(metrics, pre, task_block, name));
      },
      "target"_a, "metrics"_a = nb::none(), "pre"_a = nb::none(), "task_block"_a = nb::none(),
      "name"_a = "",
      "Merlin's BinaryClassificationTask on the 0/1 column `target`: a 1-unit output layer, "
      "sigmoid probabilities, binary cross-entropy. `metrics`: names or Metric objects "
      "replacing the defaults (None: precision, recall, binary_accuracy, auc); `pre`: a block "
      "before the output layer; `task_block`: a block between the body and pre; `name`: "
      "\"\" for \"<target>/binary_classification_task\". Raises ValueError for an unknown "
      "metric.");
  m.def(
      "regression_task",
      [](const std::string& target, nb::handle metrics, std::optional<Block> pre,
         std::optional<Block> task_block, const std::string& name) -> PredictionTask {
        return RegressionTask(target, task_options(metrics, pre, task_block, name));
      },
      "target"_a, "metrics"_a = nb::none(), "pre"_a = nb::none(), "task_block"_a = nb::none(),
      "name"_a = "",
      "Merlin's RegressionTask on the numeric column `target`: a 1-unit linear output, mean "
      "squared error. `metrics`: names or Metric objects replacing the defaults (None: "
      "root_mean_squared_error); `pre`, `task_block`, `name` as binary_classification_task's "
      "(name \"\": \"<target>/regression_task\").");
  m.def(
      "multi_class_classification_task",
      [](const std::string& target, std::int64_t num_classes, nb::handle metrics,
         std::optional<Block> pre, std::optional<Block> task_block,
         const std::string& name) -> PredictionTask {
        return MultiClassClassificationTask(target, num_classes,
                                            task_options(metrics, pre, task_block, name));
      },
      "target"_a, "num_classes"_a, "metrics"_a = nb::none(), "pre"_a = nb::none(),
      "task_block"_a = nb::none(), "name"_a = "",
      "Merlin's MultiClassClassificationTask on the integer class ids of `target`, in [0, "
      "num_classes) (num_classes >= 2): softmax probabilities [B, C], categorical "
      "cross-entropy. `metrics` (None: accuracy), `pre`, `task_block`, `name` as "
      "binary_classification_task's. Raises ValueError for num_classes < 2.");
  m.def("prediction_tasks", &prediction_tasks, "schema"_a,
        "One task per TARGET column of `schema`, in order (Merlin's OutputBlock): tagged "
        "binary_classification -> binary, regression -> regression, multi_class -> "
        "multi-class over its cardinality. Raises ValueError when there is no target or a "
        "target has none of these tags.");
  m.def(
      "task_kind_docs",
      [] {
        nb::dict out;
        for (const TaskKindDoc& d : task_kind_docs())
          out[d.kind.c_str()] = docs_to_python(d.options);
        return out;
      },
      "Every task kind of PredictionTask.from_json with its keys: a dict kind -> list of dicts "
      "(\"key\", \"type\", \"default\", \"doc\", \"required\"); a section's keys are "
      "\"<section>.<key>\".");

  nb::class_<Optimizer>(m, "Optimizer",
                        "An optimizer for Model.compile: Optimizer(\"adam\") with the defaults, "
                        "or Optimizer.from_json({\"type\": \"adam\", \"learning_rate\": "
                        "0.01, ...}) (options: optimizer_type_docs()).")
      .def(
          "__init__",
          [](Optimizer* o, const std::string& name) { new (o) Optimizer(optim::by_name(name)); },
          "name"_a,
          "The optimizer named `name` (\"sgd\", \"adam\", \"lazy_adam\", \"adagrad\", "
          "\"rowwise_adagrad\", \"ftrl\") with its default options. Raises ValueError "
          "listing the known names.")
      .def(
          "to_json", [](const Optimizer& o) { return from_json(o.to_json()); },
          "The optimizer as a dict {\"type\": ..., \"learning_rate\": ..., options...}, "
          "what from_json reads.")
      .def_static(
          "from_json", [](nb::handle j) { return Optimizer::from_json(to_json(j)); }, "json"_a,
          "An optimizer from a dict {\"type\": ..., options...} (\"multi\" for a "
          "MultiOptimizer). Raises ValueError naming an unknown type or key, or a bad value.")
      .def(
          "__repr__",
          [](const Optimizer& o) { return fmt::format("Optimizer({})", o.to_json().dump()); },
          "Optimizer(<its JSON>).");
  m.def(
      "optimizer_type_docs",
      [] {
        nb::dict out;
        for (const optim::OptimizerTypeDoc& d : optim::optimizer_type_docs())
          out[d.type.c_str()] = docs_to_python(d.options);
        return out;
      },
      "Every optimizer type of Optimizer.from_json with its options besides \"type\": a dict "
      "type -> list of dicts (\"key\", \"type\", \"default\", \"doc\", "
      "\"required\").");
}

}  // namespace recblocks::python
