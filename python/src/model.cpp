// Model: compile, fit (with Python callbacks, KeyboardInterrupt between
// steps, the GIL released), evaluate, predict, save and load.
#include "recblocks/model/model.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "convert.h"
#include "recblocks/core/error.h"
#include "recblocks/model/ranking.h"
#include "recblocks/model/retrieval.h"

namespace recblocks::python {
namespace fs = std::filesystem;
using namespace nb::literals;

namespace {

nb::dict logs_to_python(const Logs& logs) {
  nb::dict d;
  for (const auto& [k, v] : logs) d[k.c_str()] = v;
  return d;
}

// Calls a Python object's on_train_begin / on_batch_end(step, logs) /
// on_epoch_end(epoch, logs) / on_train_end where it has them (Keras'
// callback names), with the GIL held. After every step it also lets Python
// handle a pending signal: Ctrl-C raises KeyboardInterrupt there, between
// two steps, so fit stops with the weights of the last whole step.
class PythonCallbacks : public Callback {
 public:
  explicit PythonCallbacks(nb::list callbacks) : callbacks_(std::move(callbacks)) {}
  ~PythonCallbacks() override {
    nb::gil_scoped_acquire gil;
    callbacks_.reset();
  }
  PythonCallbacks(const PythonCallbacks&) = delete;
  PythonCallbacks& operator=(const PythonCallbacks&) = delete;

  void on_train_begin(Model& /*model*/) override { call_each("on_train_begin"); }
  void on_batch_end(Model& /*model*/, std::int64_t step, const Logs& logs) override {
    nb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw nb::python_error();
    for (nb::handle c : callbacks_) {
      if (nb::hasattr(c, "on_batch_end")) c.attr("on_batch_end")(step, logs_to_python(logs));
    }
  }
  bool on_epoch_end(Model& /*model*/, int epoch, const Logs& logs) override {
    nb::gil_scoped_acquire gil;
    bool go_on = true;
    for (nb::handle c : callbacks_) {
      if (!nb::hasattr(c, "on_epoch_end")) continue;
      nb::object r = c.attr("on_epoch_end")(epoch, logs_to_python(logs));
      if (!r.is_none() && !nb::cast<bool>(r)) go_on = false;
    }
    return go_on;
  }
  void on_train_end(Model& /*model*/) override { call_each("on_train_end"); }

 private:
  void call_each(const char* name) {
    nb::gil_scoped_acquire gil;
    for (nb::handle c : callbacks_) {
      if (nb::hasattr(c, name)) c.attr(name)();
    }
  }
  nb::list callbacks_;
};

// recblocks' own callbacks (EarlyStopping, ModelCheckpoint) run as they
// are; Python objects through one PythonCallbacks, first.
std::vector<CallbackPtr> python_and_native_callbacks(nb::list callbacks) {
  std::vector<CallbackPtr> out;
  nb::list python_callbacks;
  for (nb::handle c : callbacks) {
    if (nb::isinstance<Callback>(c)) {
      out.push_back(nb::cast<CallbackPtr>(c));
    } else {
      python_callbacks.append(c);
    }
  }
  out.insert(out.begin(), std::make_shared<PythonCallbacks>(python_callbacks));
  return out;
}

// `data` as a Dataset (the caller took a DataSource apart), else a TypeError
// naming what it was.
const Dataset& dataset_or_source(nb::handle data, const char* who) {
  if (!nb::isinstance<Dataset>(data)) {
    throw nb::type_error((std::string(who) + ": expected a Dataset or a DataSource, got " +
                          nb::str(data.type().attr("__name__")).c_str())
                             .c_str());
  }
  return nb::cast<const Dataset&>(data);
}

nb::dict history_to_python(const History& h) {
  nb::dict out;
  for (const Logs& epoch : h.epochs) {
    for (const auto& [k, v] : epoch) {
      if (!out.contains(k.c_str())) out[k.c_str()] = nb::list();
      nb::cast<nb::list>(out[k.c_str()]).append(v);
    }
  }
  return out;
}

// An options struct from a dict (None: the defaults), by its option table.
template <class O>
O read_options(nb::handle value, const char* what) {
  if (value.is_none()) return O{};
  return options::from_json<O>(to_json(value), what);
}

Optimizer optimizer_of(nb::handle value) {
  if (nb::isinstance<nb::str>(value)) return optim::by_name(nb::cast<std::string>(value));
  if (nb::isinstance<nb::dict>(value)) return Optimizer::from_json(to_json(value));
  return nb::cast<Optimizer>(value);
}

}  // namespace

void bind_model(nb::module_& m) {
  nb::class_<Callback>(m, "Callback",
                       "A callback of the library (EarlyStopping, ModelCheckpoint) for "
                       "Model.fit's callbacks; Python objects with on_epoch_end(...) etc. serve "
                       "too.");
  m.def(
      "early_stopping",
      [](const std::string& monitor, double min_delta, int patience, const std::string& mode,
         bool restore_best_weights) {
        return EarlyStopping({.monitor = monitor,
                              .min_delta = min_delta,
                              .patience = patience,
                              .mode = mode,
                              .restore_best_weights = restore_best_weights});
      },
      "monitor"_a = "val_loss", "min_delta"_a = 0.0, "patience"_a = 0, "mode"_a = "auto",
      "restore_best_weights"_a = false,
      "Keras' EarlyStopping: stops fit when the log `monitor` has not improved by more than "
      "`min_delta` for `patience` epochs (0 counts as 1). `mode`: \"min\", \"max\" or "
      "\"auto\" (max for keys containing auc, accuracy, precision or recall); "
      "`restore_best_weights`: put back the best epoch's weights at the end. Returns a "
      "Callback; fit raises ValueError listing the keys when `monitor` is not logged.");
  m.def(
      "model_checkpoint",
      [](const fs::path& dir, std::int64_t every_n_steps, bool every_epoch) {
        return ModelCheckpoint(dir, {.every_n_steps = every_n_steps, .every_epoch = every_epoch});
      },
      "dir"_a, "every_n_steps"_a = 0, "every_epoch"_a = true,
      "A Callback writing a checkpoint (model, optimizer state, epoch and batch, history, "
      "random state) to the directory `dir`, atomically replacing the previous one, every "
      "`every_n_steps` training steps (0: never) and/or at every epoch's end; "
      "fit(resume_from=dir) goes on from it bit-identically.");

  nb::class_<Model>(m, "Model",
                    "A body of blocks and its tasks: compile, fit, evaluate, predict, save.")
      .def(
          "__init__",
          [](Model* p, const Block& body, const std::vector<PredictionTask>& tasks) {
            new (p) Model(body, tasks);
          },
          "body"_a, "tasks"_a,
          "A model of the block `body` and its heads `tasks` (a list of PredictionTask); each "
          "task reads the body's output, or its own entry when the body returns a dict with "
          "one named after the task.")
      .def_prop_ro("body", &Model::body, "The body Block (shared, not copied).")
      .def_prop_ro("tasks", &Model::tasks, "The PredictionTasks, in order.")
      .def_prop_ro("built", &Model::built, "Whether the parameters exist (build, fit, load).")
      .def_prop_ro("compiled", &Model::compiled, "Whether compile() has set an optimizer.")
      .def_prop_ro("schema", &Model::schema,
                   "The Schema the model was built for (features and targets). Raises ValueError "
                   "before it is built.")
      .def(
          "build", [](Model& model, const Schema& s, std::uint64_t seed) { model.build(s, seed); },
          "schema"_a, "seed"_a = 0,
          "Builds the blocks and tasks for `schema` (features and targets) with the "
          "initialisation seed `seed`; fit and evaluate build with seed 0 when this was not "
          "called. Raises ValueError naming the largest parameter when together they would go "
          "over the memory limit (nothing is allocated then).")
      .def(
          "compile",
          [](Model& model, nb::handle optimizer, std::vector<float> loss_weights,
             bool fuse_sparse_updates) {
            model.compile(optimizer_of(optimizer), {.loss_weights = std::move(loss_weights),
                                                    .fuse_sparse_updates = fuse_sparse_updates});
          },
          "optimizer"_a = "adam", "loss_weights"_a = std::vector<float>{},
          "fuse_sparse_updates"_a = true,
          "Sets the optimizer: a name (\"adam\", \"sgd\", ...), a dict for "
          "Optimizer.from_json, or an Optimizer. `loss_weights`: one weight per task, in task "
          "order ([]: all 1); `fuse_sparse_updates`: apply the embedding rows' updates inside "
          "the backward pass where the optimizer allows it (the same result, bit for bit). "
          "Raises ValueError for an unknown optimizer or a wrong number of weights.")
      .def(
          "_fit",
          [](Model& model, nb::handle train, std::int64_t batch_size, int epochs, bool shuffle,
             std::uint64_t seed, std::optional<Dataset> validation_data,
             std::int64_t train_metrics_steps, nb::list callbacks,
             std::optional<fs::path> resume_from, std::int64_t shuffle_window) {
            FitOptions o{.batch_size = batch_size,
                         .epochs = epochs,
                         .shuffle = shuffle,
                         .seed = seed,
                         .validation_data = std::move(validation_data),
                         .train_metrics_steps = train_metrics_steps,
                         .callbacks = python_and_native_callbacks(callbacks),
                         .progress = false,
                         .resume_from = std::move(resume_from),
                         .shuffle_window = shuffle_window};
            History h;
            if (nb::isinstance<DataSource>(train)) {
              const DataSourcePtr source = nb::cast<DataSourcePtr>(train);
              nb::gil_scoped_release release;
              h = model.fit(source, std::move(o));
            } else {
              const Dataset& d = dataset_or_source(train, "fit");
              nb::gil_scoped_release release;
              h = model.fit(d, std::move(o));
            }
            return history_to_python(h);
          },
          "train"_a, "batch_size"_a = 1024, "epochs"_a = 1, "shuffle"_a = true, "seed"_a = 0,
          "validation_data"_a = nb::none(), "train_metrics_steps"_a = 1, "callbacks"_a = nb::list(),
          "resume_from"_a = nb::none(), "shuffle_window"_a = 4,
          "Model.fit without the progress bar (fit calls it): trains `epochs` epochs on `train` "
          "(a Dataset, or a DataSource streamed with bounded memory, the rows of "
          "`shuffle_window` chunks shuffled together) in batches of `batch_size` rows, "
          "shuffled by `seed` when `shuffle`, evaluating `validation_data` at each epoch's end "
          "(\"val_\" keys), training metrics every `train_metrics_steps` steps (0: none), "
          "resuming from the checkpoint directory `resume_from`. `callbacks`: Callback objects, "
          "or Python objects with any of on_train_begin(), on_batch_end(step, logs), "
          "on_epoch_end(epoch, logs) (False stops) and on_train_end(). Returns a dict metric "
          "name -> one value per epoch. Raises NonFiniteError for a NaN or infinite loss or "
          "gradient, KeyboardInterrupt on Ctrl-C (between two steps), TypeError for data "
          "that is neither a Dataset nor a DataSource.")
      .def(
          "_evaluate",
          [](Model& model, nb::handle data, std::int64_t batch_size, bool allow_non_finite) {
            const EvaluateOptions o{
                .batch_size = batch_size, .progress = false, .allow_non_finite = allow_non_finite};
            Logs logs;
            if (nb::isinstance<DataSource>(data)) {
              const DataSourcePtr source = nb::cast<DataSourcePtr>(data);
              nb::gil_scoped_release release;
              logs = model.evaluate(source, o);
            } else {
              const Dataset& d = dataset_or_source(data, "evaluate");
              nb::gil_scoped_release release;
              logs = model.evaluate(d, o);
            }
            return logs_to_python(logs);
          },
          "data"_a, "batch_size"_a = 1024, "allow_non_finite"_a = false,
          "Model.evaluate without the progress bar: exact metrics over every row of `data` (a "
          "Dataset, or a DataSource streamed in order), in batches of `batch_size`, as a dict "
          "(\"<task name>/<metric>\", \"loss\", \"regularization_loss\", \"total_loss\"). "
          "Raises ValueError naming the column and row of a NaN or infinite feature unless "
          "`allow_non_finite`.")
      .def(
          "predict",
          [](const Model& model, nb::handle data, std::int64_t batch_size, bool allow_non_finite) {
            std::map<std::string, Tensor> out;
            const PredictOptions o{.batch_size = batch_size, .allow_non_finite = allow_non_finite};
            if (nb::isinstance<Batch>(data)) {
              const Batch b = nb::cast<Batch>(data);
              nb::gil_scoped_release release;
              out = model.predict(b, o);
            } else {
              const Dataset d = nb::cast<Dataset>(data);
              nb::gil_scoped_release release;
              out = model.predict(d, o);
            }
            return to_numpy_dict(out);
          },
          "data"_a, "batch_size"_a = 1024, "allow_non_finite"_a = false,
          "Predictions of every row of `data` (a Dataset or a Batch), in batches of "
          "`batch_size`: a dict task name -> float32 numpy array, [N] (binary probabilities, "
          "regression values) or [N, C] (class probabilities). Raises ValueError naming the "
          "column and row of a NaN or infinite feature unless `allow_non_finite`, or for a task "
          "whose scores depend on the batch (item retrieval).")
      .def(
          "state", [](const Model& model) { return to_numpy_dict(model.state()); },
          "The weights by parameter name (the body's, each task's under \"<task name>/\"): "
          "float32 numpy arrays sharing the model's storage.")
      .def(
          "load_state",
          [](const Model& model, nb::dict state) {
            model.load_state(tensors_from_numpy(state, "weight"));
          },
          "state"_a,
          "Copies weights into the built model from a dict name -> array, as state() gives. "
          "Raises ValueError naming a missing, extra or mis-shaped tensor.")
      .def(
          "save",
          [](const Model& model, const fs::path& dir, std::optional<fs::path> etl) {
            nb::gil_scoped_release release;
            model.save(dir, {.etl = std::move(etl)});
          },
          "path"_a, "etl"_a = nb::none(),
          "Writes the model directory `path` atomically: model.json (architecture, tasks, "
          "compile settings, seed), weights.safetensors, schema.json, and a copy of the ETL "
          "state directory `etl` as etl/ when given. Raises ValueError when the model is not "
          "built, "
          "Error when the directory cannot be written.")
      .def_static(
          "load",
          [](const fs::path& dir) {
            nb::gil_scoped_release release;
            return Model::load(dir);
          },
          "path"_a,
          "The model saved in the directory `path` (built, compiled as saved, same predictions). "
          "Raises ValueError naming the file and what is wrong (format version, missing or "
          "mis-shaped weights).")
      .def("save_checkpoint", &Model::save_checkpoint, "path"_a,
           nb::call_guard<nb::gil_scoped_release>(),
           "Writes a checkpoint directory `path`: the model directory plus the optimizer's state "
           "and the training position, for fit(resume_from=path).")
      .def("summary", &Model::summary,
           "The body's and the tasks' block trees as text, with output shapes once built.")
      .def("__repr__", &Model::summary, "The summary().");

  // The prebuilt models (model/ranking.h, model/retrieval.h): keyword
  // arguments named as the C++ options; option groups (embedding_options,
  // cross, crosses, mlp, retrieval) as dicts read by their option tables.
  const auto tasks_arg = "prediction_tasks"_a = std::vector<PredictionTask>{};
  m.def(
      "dlrm_model",
      [](const Schema& schema, std::int64_t embedding_dim, nb::handle embedding_options,
         std::optional<Block> bottom_block, std::optional<Block> top_block,
         std::vector<PredictionTask> prediction_tasks) {
        DLRMOptions o;
        o.embedding_dim = embedding_dim;
        o.embedding_options =
            read_options<EmbeddingOptions>(embedding_options, "embedding_options");
        o.bottom_block = std::move(bottom_block);
        o.top_block = std::move(top_block);
        o.prediction_tasks = std::move(prediction_tasks);
        return DLRMModel(schema, std::move(o));
      },
      "schema"_a, "embedding_dim"_a = 64, "embedding_options"_a = nb::none(),
      "bottom_block"_a = nb::none(), "top_block"_a = nb::none(), tasks_arg,
      "Merlin's DLRMModel over `schema`: the categorical columns' embeddings (`embedding_dim` "
      "wide; `embedding_options` a dict of EmbeddingOptions keys, its dim replaced) and the "
      "continuous columns through `bottom_block` (required when there are continuous columns, "
      "embedding_dim wide), their pairwise dot products with the bottom output as a shortcut, "
      "then `top_block` (None: none). `prediction_tasks`: the heads ([]: one per TARGET column "
      "of the schema). Returns an uncompiled Model; raises ValueError for a schema or option "
      "that does not fit.");
  m.def(
      "dcn_model",
      [](const Schema& schema, int depth, std::optional<Block> deep_block, bool stacked,
         nb::handle cross, nb::handle embedding_options,
         std::vector<PredictionTask> prediction_tasks) {
        DCNOptions o;
        o.depth = depth;
        o.deep_block = std::move(deep_block);
        o.stacked = stacked;
        o.cross = read_options<CrossOptions>(cross, "cross");
        if (!embedding_options.is_none())
          o.embedding_options =
              read_options<EmbeddingOptions>(embedding_options, "embedding_options");
        o.prediction_tasks = std::move(prediction_tasks);
        return DCNModel(schema, std::move(o));
      },
      "schema"_a, "depth"_a = 1, "deep_block"_a = nb::none(), "stacked"_a = true,
      "cross"_a = nb::none(), "embedding_options"_a = nb::none(), tasks_arg,
      "Merlin's DCNModel (DCN-v2) over `schema`: the categorical embeddings (None "
      "embedding_options: dims inferred from the cardinalities) and continuous columns, "
      "concatenated, through `depth` cross layers (`cross`: a dict of CrossBlock options, "
      "low_rank_dim > 0 for low-rank layers) and `deep_block` (None: MLPBlock([512, 256])), "
      "stacked (cross then deep) or parallel (concatenated). `prediction_tasks`: the heads "
      "([]: one per TARGET column). Returns an uncompiled Model.");
  m.def(
      "deepfm_model",
      [](const Schema& schema, std::int64_t embedding_dim, std::optional<Block> deep_block,
         nb::handle embedding_options, std::vector<PredictionTask> prediction_tasks) {
        DeepFMOptions o;
        o.embedding_dim = embedding_dim;
        o.deep_block = std::move(deep_block);
        o.embedding_options =
            read_options<EmbeddingOptions>(embedding_options, "embedding_options");
        o.prediction_tasks = std::move(prediction_tasks);
        return DeepFMModel(schema, std::move(o));
      },
      "schema"_a, "embedding_dim"_a = 64, "deep_block"_a = nb::none(),
      "embedding_options"_a = nb::none(), tasks_arg,
      "Merlin's DeepFMModel over `schema`: the sum of first-order weights (one per category, "
      "a linear layer on the continuous columns), the FM pairwise interaction of the "
      "`embedding_dim`-wide categorical embeddings, and `deep_block` (None: MLPBlock([64])) on "
      "the embeddings and continuous columns; `embedding_options`: EmbeddingOptions keys (dim "
      "replaced). `prediction_tasks`: the heads ([]: one per TARGET column). Returns an "
      "uncompiled Model.");
  m.def(
      "wide_and_deep_model",
      [](const Schema& schema, std::optional<Schema> wide_schema, std::optional<Schema> deep_schema,
         bool cross, nb::handle crosses, std::optional<Block> deep_block,
         nb::handle embedding_options, std::vector<PredictionTask> prediction_tasks) {
        WideAndDeepOptions o;
        o.wide_schema = std::move(wide_schema);
        o.deep_schema = std::move(deep_schema);
        o.cross = cross;
        o.crosses = read_options<HashedCrossOptions>(crosses, "crosses");
        o.deep_block = std::move(deep_block);
        o.embedding_options =
            read_options<EmbeddingOptions>(embedding_options, "embedding_options");
        o.prediction_tasks = std::move(prediction_tasks);
        return WideAndDeepModel(schema, std::move(o));
      },
      "schema"_a, "wide_schema"_a = nb::none(), "deep_schema"_a = nb::none(), "cross"_a = true,
      "crosses"_a = nb::none(), "deep_block"_a = nb::none(), "embedding_options"_a = nb::none(),
      tasks_arg,
      "Merlin's WideAndDeepModel over `schema`: the sum of a linear wide part over "
      "`wide_schema` (None: the categorical features), with hashed crosses of its scalar "
      "categorical columns when `cross` (`crosses`: a dict of HashedCrossOptions, every pair by "
      "default), and a deep part over `deep_schema` (None: categorical and continuous "
      "features) through `deep_block` (None: MLPBlock([128, 64, 32])). Parameters are named "
      "\"wide/...\" and \"deep/...\" for a MultiOptimizer. `prediction_tasks`: the heads "
      "([]: one per TARGET column). Returns an uncompiled Model.");
  m.def(
      "ncf_model",
      [](const Schema& schema, std::int64_t embedding_dim, std::optional<Block> mlp_block,
         float embeddings_l2_reg, std::vector<PredictionTask> prediction_tasks) {
        NCFOptions o;
        o.embedding_dim = embedding_dim;
        o.mlp_block = std::move(mlp_block);
        o.embeddings_l2_reg = embeddings_l2_reg;
        o.prediction_tasks = std::move(prediction_tasks);
        return NCFModel(schema, std::move(o));
      },
      "schema"_a, "embedding_dim"_a = 64, "mlp_block"_a = nb::none(), "embeddings_l2_reg"_a = 0.0f,
      tasks_arg,
      "Merlin's NCFModel over `schema`'s USER_ID and ITEM_ID columns: two sets of "
      "`embedding_dim`-wide embeddings, their element-wise product (GMF) beside their "
      "concatenation through `mlp_block` (None: MLPBlock([128, 64])), concatenated; "
      "`embeddings_l2_reg`: the tables' L2 factor. `prediction_tasks`: the heads ([]: one per "
      "TARGET column). Returns an uncompiled Model.");
  m.def(
      "mlp_model",
      [](const Schema& schema, std::vector<std::int64_t> dims, nb::handle mlp,
         nb::handle embedding_options, std::vector<PredictionTask> prediction_tasks) {
        MLPModelOptions o;
        o.dims = std::move(dims);
        o.mlp = read_options<MLPOptions>(mlp, "mlp");
        o.embedding_options =
            read_options<EmbeddingOptions>(embedding_options, "embedding_options");
        o.prediction_tasks = std::move(prediction_tasks);
        return MLPModel(schema, std::move(o));
      },
      "schema"_a, "dims"_a = std::vector<std::int64_t>{64, 32}, "mlp"_a = nb::none(),
      "embedding_options"_a = nb::none(), tasks_arg,
      "Merlin's MLP model over `schema`: the categorical embeddings (`embedding_options`: "
      "EmbeddingOptions keys, dim 64) and continuous columns, concatenated, through "
      "MLPBlock(`dims`) with the MLPBlock options `mlp` (a dict). `prediction_tasks`: the heads "
      "([]: one per TARGET column). Returns an uncompiled Model.");
  m.def(
      "mmoe_model",
      [](const Schema& schema, std::optional<Block> expert_block, int num_experts,
         nb::handle embedding_options, std::vector<PredictionTask> prediction_tasks) {
        MMOEModelOptions o;
        o.expert_block = std::move(expert_block);
        o.num_experts = num_experts;
        o.embedding_options =
            read_options<EmbeddingOptions>(embedding_options, "embedding_options");
        o.prediction_tasks = std::move(prediction_tasks);
        return MMOEModel(schema, std::move(o));
      },
      "schema"_a, "expert_block"_a = nb::none(), "num_experts"_a = 4,
      "embedding_options"_a = nb::none(), tasks_arg,
      "Multi-gate mixture of experts (MMoE) over `schema`'s concatenated embeddings and "
      "continuous columns: `num_experts` copies of `expert_block` (None: MLPBlock([64])) and one "
      "gate per task, each task reading its own output. `prediction_tasks`: the heads ([]: one "
      "per TARGET column); weight their losses with compile(loss_weights=...). Returns an "
      "uncompiled Model.");
  m.def(
      "ple_model",
      [](const Schema& schema, int num_layers, std::optional<Block> expert_block,
         int num_task_experts, int num_shared_experts, nb::handle embedding_options,
         std::vector<PredictionTask> prediction_tasks) {
        PLEModelOptions o;
        o.num_layers = num_layers;
        o.expert_block = std::move(expert_block);
        o.num_task_experts = num_task_experts;
        o.num_shared_experts = num_shared_experts;
        o.embedding_options =
            read_options<EmbeddingOptions>(embedding_options, "embedding_options");
        o.prediction_tasks = std::move(prediction_tasks);
        return PLEModel(schema, std::move(o));
      },
      "schema"_a, "num_layers"_a = 2, "expert_block"_a = nb::none(), "num_task_experts"_a = 1,
      "num_shared_experts"_a = 1, "embedding_options"_a = nb::none(), tasks_arg,
      "Progressive layered extraction (PLE) over `schema`'s concatenated embeddings and "
      "continuous columns: `num_layers` layers of `num_task_experts` experts per task and "
      "`num_shared_experts` shared ones (copies of `expert_block`, None: MLPBlock([64])), each "
      "task reading its own output. `prediction_tasks`: the heads ([]: one per TARGET column). "
      "Returns an uncompiled Model.");
  m.def(
      "two_tower_model",
      [](const Schema& schema, std::optional<Block> query_tower, std::optional<Block> item_tower,
         nb::handle query_tower_tag, nb::handle item_tower_tag, nb::handle embedding_options,
         nb::handle retrieval, nb::handle metrics, bool unique_candidates) {
        TwoTowerOptions o;
        o.query_tower = std::move(query_tower);
        o.item_tower = std::move(item_tower);
        o.query_tower_tag = tag_of(query_tower_tag);
        o.item_tower_tag = tag_of(item_tower_tag);
        o.embedding_options =
            read_options<EmbeddingOptions>(embedding_options, "embedding_options");
        o.retrieval = read_options<ItemRetrievalOptions>(retrieval, "retrieval");
        o.retrieval.metrics = metrics_of(metrics);
        o.unique_candidates = unique_candidates;
        return TwoTowerModel(schema, std::move(o));
      },
      "schema"_a, "query_tower"_a = nb::none(), "item_tower"_a = nb::none(),
      "query_tower_tag"_a = "user", "item_tower_tag"_a = "item", "embedding_options"_a = nb::none(),
      "retrieval"_a = nb::none(), "metrics"_a = nb::none(), "unique_candidates"_a = true,
      "Merlin's TwoTowerModel over `schema`: the query tower reads the columns tagged "
      "`query_tower_tag` through `query_tower` (None: MLPBlock([128, 64]), no activation on the "
      "last layer), the item tower those tagged `item_tower_tag` through `item_tower` (None: a "
      "fresh copy of the query tower's configuration); an ItemRetrievalTask on the ITEM_ID "
      "column scores them in batch. `retrieval`: a dict of its options (l2_normalization, "
      "temperature, loss, logq_correction, num_sampled, ...); `metrics` (None: recall, mrr, "
      "ndcg, map, precision at 10); `unique_candidates`: score each distinct item of a batch "
      "once. Returns an uncompiled Model.");
  m.def(
      "matrix_factorization_model",
      [](const Schema& schema, std::int64_t dim, float embeddings_l2_reg, nb::handle retrieval,
         nb::handle metrics, bool unique_candidates) {
        MatrixFactorizationOptions o;
        o.dim = dim;
        o.embeddings_l2_reg = embeddings_l2_reg;
        o.retrieval = read_options<ItemRetrievalOptions>(retrieval, "retrieval");
        o.retrieval.metrics = metrics_of(metrics);
        o.unique_candidates = unique_candidates;
        return MatrixFactorizationModel(schema, std::move(o));
      },
      "schema"_a, "dim"_a = 64, "embeddings_l2_reg"_a = 0.0f, "retrieval"_a = nb::none(),
      "metrics"_a = nb::none(), "unique_candidates"_a = true,
      "Merlin's MatrixFactorizationModel over `schema`: the USER_ID and ITEM_ID columns' "
      "`dim`-wide embeddings (L2 factor `embeddings_l2_reg`), scored by their dot product in an "
      "ItemRetrievalTask (`retrieval`: a dict of its options; `metrics` None: the top-k metrics "
      "at 10; `unique_candidates` as two_tower_model's). Returns an uncompiled Model.");
  m.def(
      "youtube_dnn_retrieval_model",
      [](const Schema& schema, std::optional<Block> top_block, nb::handle query_tag,
         nb::handle embedding_options, bool l2_normalization, double temperature,
         bool sampled_softmax, std::int64_t num_sampled, const std::string& sampler,
         bool logq_correction, bool remove_accidental_hits, nb::handle metrics) {
        YoutubeDNNOptions o;
        o.top_block = std::move(top_block);
        o.query_tag = tag_of(query_tag);
        o.embedding_options =
            read_options<EmbeddingOptions>(embedding_options, "embedding_options");
        o.l2_normalization = l2_normalization;
        o.temperature = temperature;
        o.sampled_softmax = sampled_softmax;
        o.num_sampled = num_sampled;
        o.sampler = sampler;
        o.logq_correction = logq_correction;
        o.remove_accidental_hits = remove_accidental_hits;
        o.metrics = metrics_of(metrics);
        return YoutubeDNNRetrievalModel(schema, std::move(o));
      },
      "schema"_a, "top_block"_a = nb::none(), "query_tag"_a = "user",
      "embedding_options"_a = nb::none(), "l2_normalization"_a = true, "temperature"_a = 1.0,
      "sampled_softmax"_a = true, "num_sampled"_a = 100, "sampler"_a = "popularity",
      "logq_correction"_a = true, "remove_accidental_hits"_a = true, "metrics"_a = nb::none(),
      "Merlin's YoutubeDNNRetrievalModel over `schema`: the columns tagged `query_tag` (the "
      "user and the history of items, mean-pooled) through `top_block` (None: MLPBlock([64])), "
      "scored against the whole item catalogue by a NextItemPredictionTask on ITEM_ID: "
      "`l2_normalization`, `temperature` (> 0, the logits are divided by it), "
      "`sampled_softmax` with `num_sampled` items drawn by `sampler` (\"popularity\" or "
      "\"uniform\") in training, `logq_correction`, `remove_accidental_hits`; `metrics` "
      "(None: the top-k metrics at 10). Returns an uncompiled Model.");
}

}  // namespace recblocks::python
