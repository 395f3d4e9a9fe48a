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
                       "A recblocks callback (EarlyStopping, ModelCheckpoint) for Model.fit.");
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
      "Keras' EarlyStopping: stops fit when `monitor` stops improving for `patience` epochs.");
  m.def(
      "model_checkpoint",
      [](const fs::path& dir, std::int64_t every_n_steps, bool every_epoch) {
        return ModelCheckpoint(dir, {.every_n_steps = every_n_steps, .every_epoch = every_epoch});
      },
      "dir"_a, "every_n_steps"_a = 0, "every_epoch"_a = true,
      "Saves a checkpoint (model and optimizer state) in `dir`; fit(resume_from=dir) goes on "
      "from it.");

  nb::class_<Model>(m, "Model",
                    "A body of blocks and its tasks: compile, fit, evaluate, predict, save.")
      .def(
          "__init__",
          [](Model* p, const Block& body, const std::vector<PredictionTask>& tasks) {
            new (p) Model(body, tasks);
          },
          "body"_a, "tasks"_a)
      .def_prop_ro("body", &Model::body)
      .def_prop_ro("tasks", &Model::tasks)
      .def_prop_ro("built", &Model::built)
      .def_prop_ro("compiled", &Model::compiled)
      .def_prop_ro("schema", &Model::schema)
      .def(
          "build", [](Model& model, const Schema& s, std::uint64_t seed) { model.build(s, seed); },
          "schema"_a, "seed"_a = 0)
      .def(
          "compile",
          [](Model& model, nb::handle optimizer, std::vector<float> loss_weights,
             bool fuse_sparse_updates) {
            model.compile(optimizer_of(optimizer), {.loss_weights = std::move(loss_weights),
                                                    .fuse_sparse_updates = fuse_sparse_updates});
          },
          "optimizer"_a = "adam", "loss_weights"_a = std::vector<float>{},
          "fuse_sparse_updates"_a = true)
      .def(
          "_fit",
          [](Model& model, const Dataset& train, std::int64_t batch_size, int epochs, bool shuffle,
             std::uint64_t seed, std::optional<Dataset> validation_data,
             std::int64_t train_metrics_steps, nb::list callbacks,
             std::optional<fs::path> resume_from) {
            FitOptions o{.batch_size = batch_size,
                         .epochs = epochs,
                         .shuffle = shuffle,
                         .seed = seed,
                         .validation_data = std::move(validation_data),
                         .train_metrics_steps = train_metrics_steps,
                         .callbacks = {},
                         .progress = false,
                         .resume_from = std::move(resume_from)};
            // recblocks' own callbacks (EarlyStopping, ModelCheckpoint) run as
            // they are; Python objects through PythonCallbacks.
            nb::list python_callbacks;
            for (nb::handle c : callbacks) {
              if (nb::isinstance<Callback>(c)) {
                o.callbacks.push_back(nb::cast<CallbackPtr>(c));
              } else {
                python_callbacks.append(c);
              }
            }
            o.callbacks.insert(o.callbacks.begin(),
                               std::make_shared<PythonCallbacks>(python_callbacks));
            History h;
            {
              nb::gil_scoped_release release;
              h = model.fit(train, std::move(o));
            }
            return history_to_python(h);
          },
          "train"_a, "batch_size"_a = 1024, "epochs"_a = 1, "shuffle"_a = true, "seed"_a = 0,
          "validation_data"_a = nb::none(), "train_metrics_steps"_a = 1, "callbacks"_a = nb::list(),
          "resume_from"_a = nb::none(),
          "Trains; returns the history (metric name -> one value per epoch). Callbacks are objects "
          "with "
          "any of on_train_begin(), on_batch_end(step, logs), on_epoch_end(epoch, logs) (False "
          "stops) "
          "and on_train_end().")
      .def(
          "_evaluate",
          [](Model& model, const Dataset& data, std::int64_t batch_size, bool allow_non_finite) {
            Logs logs;
            {
              nb::gil_scoped_release release;
              logs = model.evaluate(data, {.batch_size = batch_size,
                                           .progress = false,
                                           .allow_non_finite = allow_non_finite});
            }
            return logs_to_python(logs);
          },
          "data"_a, "batch_size"_a = 1024, "allow_non_finite"_a = false)
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
          "Predictions by task name, as numpy arrays.")
      .def("state", [](const Model& model) { return to_numpy_dict(model.state()); })
      .def(
          "load_state",
          [](const Model& model, nb::dict state) {
            model.load_state(tensors_from_numpy(state, "weight"));
          },
          "state"_a)
      .def(
          "save",
          [](const Model& model, const fs::path& dir, std::optional<fs::path> etl) {
            nb::gil_scoped_release release;
            model.save(dir, {.etl = std::move(etl)});
          },
          "path"_a, "etl"_a = nb::none())
      .def_static(
          "load",
          [](const fs::path& dir) {
            nb::gil_scoped_release release;
            return Model::load(dir);
          },
          "path"_a)
      .def("save_checkpoint", &Model::save_checkpoint, "path"_a,
           nb::call_guard<nb::gil_scoped_release>())
      .def("summary", &Model::summary)
      .def("__repr__", &Model::summary);

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
      "Merlin's DLRMModel: embeddings and bottom MLP, pairwise dot products, top MLP.");
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
      "Merlin's DCNModel (DCN-v2): cross layers and a deep MLP, stacked or parallel.");
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
      "Merlin's DeepFMModel: first-order weights, FM pairwise interaction and a deep MLP.");
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
      "Merlin's WideAndDeepModel: a linear wide part (with hashed crosses) beside a deep MLP.");
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
      tasks_arg, "Merlin's NCFModel: GMF and MLP branches over user and item embeddings.");
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
      "Embeddings and continuous columns into an MLP.");
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
      "Multi-gate mixture of experts, one gate per task.");
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
      "Progressive layered extraction: task and shared experts over num_layers.");
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
      "Merlin's TwoTowerModel: query and item towers scored in batch (ItemRetrievalTask).");
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
      "Merlin's MatrixFactorizationModel: user and item embeddings, dot product.");
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
      "Merlin's YoutubeDNNRetrievalModel: next-item prediction over the catalogue.");
}

}  // namespace recblocks::python
