// Model: blocks + prediction tasks, trained, evaluated, saved and loaded.
//
//   rb::Model model = deep.connect(task);            // or Model(body, tasks)
//   model.compile(rb::optim::Adam());
//   rb::History history = model.fit(train, {.batch_size = 1024, .epochs = 5});
//   auto scores = model.evaluate(valid, {.batch_size = 1024});
//   // scores["rating_binary/binary_classification_task/auc"], scores["loss"], ...
//   model.save("custom_dlrm");
//   rb::Model again = rb::Model::load("custom_dlrm");  // same predictions
//
// Keys of evaluate() and of each epoch in the history:
//   "<task name>/<metric>"  each task's metrics, exact over all rows (NaN
//                           where undefined, e.g. AUC over one class)
//   "loss"                  the tasks' losses, weighted (loss_weights), the
//                           row-weighted mean over the batches (Keras')
//   "regularization_loss"   the blocks' L2 terms (sum factor * ||w||^2)
//   "total_loss"            loss + regularization_loss: what is minimised
//   "<task name>/loss"      each task's loss, with more than one task
// In the history, the validation figures carry a "val_" prefix. The
// training metrics are those of the batches as they were trained on
// (Keras' convention), the validation ones of the weights at the epoch end.
//
// A step: forward (body, then each task's head), loss, backward on the
// step's tape, optimizer update. A loss or gradient that is NaN or Inf
// stops training with a NonFiniteError naming the step, the epoch and the
// first input column, op output or parameter that went bad.
//
// Model directory (save / load), written atomically (a staged directory
// moved into place: a crash leaves the previous model whole):
//   model.json          format and version, the architecture (Block JSON),
//                       the tasks, the compile settings, the seed
//   weights.safetensors every parameter and buffer by name, float32
//   schema.json         the input schema (features and targets)
//   etl/                the ETL state (vocabularies, target encodings) when
//                       given to save()
// A checkpoint directory is a model directory plus optimizer.safetensors
// (the optimizer's slots and step count) and trainer.json (epoch, batch,
// history so far, random state), from which fit() resumes exactly.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/core/error.h"
#include "recblocks/data/dataset.h"
#include "recblocks/data/source.h"
#include "recblocks/optim/optim.h"
#include "recblocks/tasks/tasks.h"

namespace recblocks {

class Loader;
class Model;

// Training stops with a NonFiniteError (recblocks/core/error.h) when it
// produces a NaN or an infinity.

using Logs = std::map<std::string, double>;

// What fit() returns: the figures of every epoch, in order.
struct History {
  std::vector<Logs> epochs;
  // The values of `key` over the epochs; throws listing the keys if absent.
  std::vector<double> operator[](const std::string& key) const;
};

// Hooks into fit(). Return false from on_epoch_end to stop training.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Model& /*model*/) {}
  // After each step; `step` counts all steps of the fit (from 1).
  virtual void on_batch_end(Model& /*model*/, std::int64_t /*step*/, const Logs& /*logs*/) {}
  virtual bool on_epoch_end(Model& /*model*/, int /*epoch*/, const Logs& /*logs*/) { return true; }
  virtual void on_train_end(Model& /*model*/) {}
};
using CallbackPtr = std::shared_ptr<Callback>;

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0;
  int patience = 0;
  // "min", "max", or "auto": max for keys containing auc, accuracy,
  // precision or recall, min otherwise.
  std::string mode = "auto";
  // At the end, put back the weights of the best epoch.
  bool restore_best_weights = false;
};
// Keras' EarlyStopping: stops when `monitor` has not improved by more than
// min_delta for `patience` epochs (0 counts as 1). A monitor missing from
// the logs throws, listing the keys. Its state is not in checkpoints: a
// resumed fit starts counting afresh.
CallbackPtr EarlyStopping(EarlyStoppingOptions options = {});

struct CheckpointOptions {
  // Every N training steps (0: never) and/or at every epoch's end.
  std::int64_t every_n_steps = 0;
  bool every_epoch = true;
};
// Writes a checkpoint directory to `dir` (atomically replacing the
// previous one) for fit(..., {.resume_from = dir}).
CallbackPtr ModelCheckpoint(std::filesystem::path dir, CheckpointOptions options = {});

struct CompileOptions {
  // One weight per task, in task order; empty = all 1.
  std::vector<float> loss_weights = {};
  // Apply the embedding rows' updates inside the backward pass when the
  // optimizer allows it (Optimizer::fuse_sparse_updates).
  bool fuse_sparse_updates = true;
};

struct FitOptions {
  std::int64_t batch_size = 1024;
  int epochs = 1;
  bool shuffle = true;
  // The loader's seed: with the epoch, fixes every epoch's order.
  std::uint64_t seed = 0;
  // Evaluated at the end of every epoch ("val_" keys in the history).
  std::optional<Dataset> validation_data = std::nullopt;
  // Training metrics every N steps (Merlin's train_metrics_steps); 0 = none.
  std::int64_t train_metrics_steps = 1;
  std::vector<CallbackPtr> callbacks = {};
  // A progress bar on stderr (plain lines when stderr is not a terminal).
  bool progress = true;
  // A checkpoint directory (ModelCheckpoint) to continue from: weights,
  // optimizer state, epoch and batch, history and random state are
  // restored, and training goes on as if it had not stopped: the weights
  // end bit-identical. The checkpoint must come from the same model,
  // optimizer, data size, batch_size, shuffle and seed (checked before
  // anything is changed). Not restored: the training metrics of the
  // interrupted epoch (they cover the batches after the resume) and the
  // callbacks' own state.
  std::optional<std::filesystem::path> resume_from = std::nullopt;
  // Streaming (fit(DataSourcePtr)) only: chunks shuffled together
  // (LoaderOptions::shuffle_window).
  std::int64_t shuffle_window = 4;
};

struct EvaluateOptions {
  std::int64_t batch_size = 1024;
  bool progress = true;
  // A NaN or an infinity in a feature the model reads is refused, with a
  // ValueError naming the column and the row, before anything is computed
  // (training refuses them too); true scores such rows as they are.
  bool allow_non_finite = false;
};

struct PredictOptions {
  std::int64_t batch_size = 1024;
  // As EvaluateOptions::allow_non_finite.
  bool allow_non_finite = false;
};

struct SaveOptions {
  // A directory of ETL state to copy into the model directory as etl/.
  std::optional<std::filesystem::path> etl = std::nullopt;
};

class Model {
 public:
  Model() = default;
  Model(Block body, std::vector<PredictionTask> tasks);
  // Each task's head reads the body's output, or, when the body returns a
  // dict with an entry named after the task (PredictionTask::name(), as
  // MMOEBlock's outputs are), that entry alone.
  // Tasks from the schema's targets (prediction_tasks).
  static Model from_block(Block body, const Schema& schema);

  bool defined() const { return impl_ != nullptr; }
  const Block& body() const;
  const std::vector<PredictionTask>& tasks() const;
  bool built() const;
  const Schema& schema() const;  // once built

  // Builds the blocks for `schema` (features and targets) with an
  // initialisation seed; fit() and evaluate() build on first use from the
  // dataset's schema with seed 0 when this was not called. The parameters
  // are planned before they are allocated: when together they would go
  // over the memory limit (core/memory.h) it throws MemoryLimitError,
  // naming the largest, and allocates nothing.
  void build(const Schema& schema, std::uint64_t seed = 0);

  void compile(Optimizer optimizer, CompileOptions options = {});
  void compile(std::string_view optimizer, CompileOptions options = {});  // optim::by_name
  bool compiled() const;
  const Optimizer& optimizer() const;

  History fit(const Dataset& train, FitOptions options = {});
  // Streams `train` chunk by chunk with bounded memory (Loader(source),
  // loader.h): data larger than RAM. A retrieval task that needs item
  // counts or a catalogue of items reads the source once more for them
  // before training.
  History fit(const DataSourcePtr& train, FitOptions options = {});
  Logs evaluate(const Dataset& data, EvaluateOptions options = {});
  // Streams `data` in order; non-finite features are refused batch by
  // batch, the error naming the batch's row.
  Logs evaluate(const DataSourcePtr& data, EvaluateOptions options = {});
  // Predictions per task name: float32 [N] (binary probabilities,
  // regression values) or [N, C] (multi-class probabilities).
  // Non-finite feature values are refused unless options.allow_non_finite
  // (see EvaluateOptions).
  std::map<std::string, Tensor> predict(const Batch& batch, PredictOptions options = {}) const;
  std::map<std::string, Tensor> predict(const Dataset& data, PredictOptions options) const;
  std::map<std::string, Tensor> predict(const Dataset& data, std::int64_t batch_size = 1024) const;
  // `data`'s columns plus one float32 prediction column per task (named
  // "<target>_prediction", or "<target>_prediction_<c>" per class, with the
  // property "prediction_of": <task name>).
  Dataset with_predictions(const Dataset& data, PredictOptions options = {}) const;
  // Writes with_predictions(data) as a dataset directory at `out`
  // (atomically).
  void predict_to(const Dataset& data, const std::filesystem::path& out,
                  PredictOptions options) const;
  void predict_to(const Dataset& data, const std::filesystem::path& out,
                  std::int64_t batch_size = 1024) const;

  // Parameters by name: the body's as Block::parameters() names them, each
  // task's under "<task name>/".
  std::vector<std::pair<std::string, ParameterPtr>> parameters() const;
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state) const;
  // What load_state checks, without changing anything: every parameter
  // present with its shape, nothing else. Errors name the tensor.
  void check_state(const std::map<std::string, Tensor>& state) const;

  void save(const std::filesystem::path& dir, const SaveOptions& options = {}) const;
  static Model load(const std::filesystem::path& dir);
  // A checkpoint (see above); fit's ModelCheckpoint calls it.
  void save_checkpoint(const std::filesystem::path& dir) const;

  std::string summary() const;

  struct Impl;

 private:
  // Restores weights, optimizer state and fit's position from a checkpoint
  // (after checking all of it against this model and fit).
  void resume_checkpoint(const std::filesystem::path& dir);
  // fit and evaluate over a loader of either kind. item_data(target,
  // catalogue) gives the training rows a retrieval task needs: the target
  // column, or (catalogue) the first row of every item.
  using ItemData = std::function<Dataset(const std::string& target, bool catalogue)>;
  void check_fit_options(const FitOptions& options) const;
  History fit_loader(Loader& loader, const ItemData& item_data, FitOptions options);
  Logs evaluate_loader(Loader& loader, const EvaluateOptions& options, bool check_batches);
  Impl& checked_impl() const;
  static Model load_model(const std::filesystem::path& dir);
  // build() with a check of the planned parameters (by model name, values
  // not allocated yet) that runs before anything is allocated: load()
  // compares them with the weights file's header.
  using ParameterCheck =
      std::function<void(const std::vector<std::pair<std::string, ParameterPtr>>&)>;
  void build(const Schema& schema, std::uint64_t seed, const ParameterCheck& before_allocating);

  std::shared_ptr<Impl> impl_;
};

// The model directory's format version that save() writes and load() reads.
inline constexpr int kModelFormatVersion = 1;

}  // namespace recblocks
