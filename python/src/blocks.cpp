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
  nb::class_<Block>(m, "Block", "A composable part of a model (a handle: copies share the block).")
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
          "Runs the block eagerly (building it on first use) and returns a numpy array or a dict "
          "of "
          "them.")
      .def_prop_ro("type", [](const Block& b) { return std::string(b.type()); })
      .def_prop_ro("built", &Block::built)
      .def(
          "build",
          [](const Block& b, const Schema& s, std::optional<std::uint64_t> seed) {
            b.build(s, seed);
          },
          "schema"_a, "seed"_a = nb::none())
      .def("connect", nb::overload_cast<const Block&>(&Block::connect, nb::const_), "block"_a)
      .def("connect", nb::overload_cast<const PredictionTask&>(&Block::connect, nb::const_),
           "task"_a)
      .def("connect",
           nb::overload_cast<const std::vector<PredictionTask>&>(&Block::connect, nb::const_),
           "tasks"_a)
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
          "branches"_a, "aggregation"_a = "")
      .def(
          "connect_with_shortcut",
          [](const Block& b, const Block& block, std::optional<Block> shortcut_filter,
             const std::string& aggregation) {
            return b.connect_with_shortcut(
                block, {.shortcut_filter = shortcut_filter, .aggregation = aggregation});
          },
          "block"_a, "shortcut_filter"_a = nb::none(), "aggregation"_a = "concat")
      .def("connect_with_residual", &Block::connect_with_residual, "block"_a)
      .def("summary", &Block::summary)
      .def("to_json", [](const Block& b) { return from_json(b.to_json()); })
      .def_static(
          "from_json", [](nb::handle j) { return Block::from_json(to_json(j)); }, "json"_a)
      .def(
          "state", [](const Block& b) { return to_numpy_dict(b.state()); },
          "The weights by parameter name (numpy arrays sharing the block's storage).")
      .def(
          "load_state",
          [](const Block& b, nb::dict state) { b.load_state(tensors_from_numpy(state, "weight")); },
          "state"_a)
      .def("__repr__", [](const Block& b) { return b.summary(); });

  m.def(
      "make_block",
      [](const std::string& type, nb::handle config,
         const std::vector<std::pair<std::string, Block>>& children) {
        return make_block(type, to_json(config), children);
      },
      "type"_a, "config"_a = nb::dict(),
      "children"_a = std::vector<std::pair<std::string, Block>>{},
      "A block of a registered type from its config (a dict) and child blocks (shared, not "
      "copied).");
  m.def("block_type_docs", [] {
    nb::dict out;
    for (const BlockTypeDoc& d : block_type_docs()) out[d.type.c_str()] = docs_to_python(d.options);
    return out;
  });
  m.def(
      "continuous_features",
      [](const Schema& s, nb::handle tags) -> Block {
        return ContinuousFeatures::from_schema(s, tag_of(tags));
      },
      "schema"_a, "tags"_a = "continuous");
  m.def(
      "embedding_features",
      [](const Schema& s, nb::handle options, nb::handle tags) -> Block {
        return EmbeddingFeatures::from_schema(
            s, options::from_json<EmbeddingOptions>(to_json(options), "EmbeddingFeatures options"),
            tag_of(tags));
      },
      "schema"_a, "options"_a = nb::dict(), "tags"_a = "categorical");
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
      "mask_zero"_a = true);
  m.def(
      "filter",
      [](nb::handle what, bool exclude) -> Block {
        const FilterOptions o{.exclude = exclude};
        if (nb::isinstance<Schema>(what)) return Filter(nb::cast<Schema>(what), o);
        if (nb::isinstance<Tag>(what)) return Filter(nb::cast<Tag>(what), o);  // a str is a name
        if (nb::isinstance<nb::str>(what)) return Filter(nb::cast<std::string>(what), o);
        return Filter(nb::cast<std::vector<std::string>>(what), o);
      },
      "selection"_a, "exclude"_a = false);

  nb::class_<Metric>(m, "Metric", "A metric by name: 'auc', 'recall_at_10', ... (metrics.by_name).")
      .def(
          "__init__",
          [](Metric* p, const std::string& name) { new (p) Metric(metrics::by_name(name)); },
          "name"_a)
      .def_prop_ro("name", &Metric::name)
      .def("reset", &Metric::reset)
      .def(
          "update",
          [](Metric& metric, nb::handle predictions, nb::handle targets) {
            metric.update(from_numpy(predictions, "predictions"), from_numpy(targets, "targets"));
          },
          "predictions"_a, "targets"_a)
      .def("result", &Metric::result)
      .def("__repr__",
           [](const Metric& metric) { return fmt::format("Metric('{}')", metric.name()); });
  m.def("metric_names", &metrics::names);

  nb::class_<PredictionTask>(m, "PredictionTask", "A model's head: output layer, loss and metrics.")
      .def_prop_ro("name", &PredictionTask::name)
      .def_prop_ro("target", &PredictionTask::target)
      .def("to_json", [](const PredictionTask& t) { return from_json(t.to_json()); })
      .def_static(
          "from_json", [](nb::handle j) { return PredictionTask::from_json(to_json(j)); }, "json"_a)
      .def("__repr__",
           [](const PredictionTask& t) { return fmt::format("PredictionTask('{}')", t.name()); });
  m.def(
      "binary_classification_task",
      [](const std::string& target, nb::handle metrics, std::optional<Block> pre,
         std::optional<Block> task_block, const std::string& name) -> PredictionTask {
        return BinaryClassificationTask(target, task_options(metrics, pre, task_block, name));
      },
      "target"_a, "metrics"_a = nb::none(), "pre"_a = nb::none(), "task_block"_a = nb::none(),
      "name"_a = "");
  m.def(
      "regression_task",
      [](const std::string& target, nb::handle metrics, std::optional<Block> pre,
         std::optional<Block> task_block, const std::string& name) -> PredictionTask {
        return RegressionTask(target, task_options(metrics, pre, task_block, name));
      },
      "target"_a, "metrics"_a = nb::none(), "pre"_a = nb::none(), "task_block"_a = nb::none(),
      "name"_a = "");
  m.def(
      "multi_class_classification_task",
      [](const std::string& target, std::int64_t num_classes, nb::handle metrics,
         std::optional<Block> pre, std::optional<Block> task_block,
         const std::string& name) -> PredictionTask {
        return MultiClassClassificationTask(target, num_classes,
                                            task_options(metrics, pre, task_block, name));
      },
      "target"_a, "num_classes"_a, "metrics"_a = nb::none(), "pre"_a = nb::none(),
      "task_block"_a = nb::none(), "name"_a = "");
  m.def("prediction_tasks", &prediction_tasks, "schema"_a);
  m.def("task_kind_docs", [] {
    nb::dict out;
    for (const TaskKindDoc& d : task_kind_docs()) out[d.kind.c_str()] = docs_to_python(d.options);
    return out;
  });

  nb::class_<Optimizer>(m, "Optimizer", "An optimizer: Optimizer.from_json({'type': 'adam', ...}).")
      .def(
          "__init__",
          [](Optimizer* o, const std::string& name) { new (o) Optimizer(optim::by_name(name)); },
          "name"_a)
      .def("to_json", [](const Optimizer& o) { return from_json(o.to_json()); })
      .def_static(
          "from_json", [](nb::handle j) { return Optimizer::from_json(to_json(j)); }, "json"_a)
      .def("__repr__",
           [](const Optimizer& o) { return fmt::format("Optimizer({})", o.to_json().dump()); });
  m.def("optimizer_type_docs", [] {
    nb::dict out;
    for (const optim::OptimizerTypeDoc& d : optim::optimizer_type_docs())
      out[d.type.c_str()] = docs_to_python(d.options);
    return out;
  });
}

}  // namespace recblocks::python
