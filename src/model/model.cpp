#include "recblocks/model/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <unordered_set>
#include <utility>

#include "model/model_impl.h"
#include "model/progress.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/core/checked.h"
#include "recblocks/core/memory.h"
#include "recblocks/data/loader.h"

namespace recblocks {

namespace {

// ---- non-finite diagnosis ---------------------------------------------------

// The first non-finite element of a float32 tensor, or -1.
std::int64_t first_non_finite(const Tensor& t) {
  if (t.dtype() != DType::kFloat32) return -1;
  const float* p = t.data<float>();
  const std::int64_t n = t.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(p[i])) return i;
  }
  return -1;
}

// What a task's head reads: the body's dict entry named after the task
// when there is one (MMOEBlock's and PLEBlock's outputs), else the whole
// body output.
template <class F>
F task_input(const F& body, const PredictionTask& task) {
  if (body.kind() == FlowSpec::Kind::kDict) {
    for (const auto& [name, value] : body.dict()) {
      if (name == task.name()) return F::tensor(value);
    }
  }
  return body;
}

// Where a NaN or Inf first appears: an input column, a parameter, or the
// output of an op (in the order the tape recorded them).
std::string locate_non_finite(const Tape& tape, const Batch& batch,
                              const std::vector<std::pair<std::string, ParameterPtr>>& parameters) {
  for (const std::string& name : batch.names()) {
    if (batch.is_list(name)) continue;
    const Tensor& column = batch.tensor(name);
    if (const std::int64_t i = first_non_finite(column); i >= 0) {
      return fmt::format(
          "input column '{}' is {} at batch row {}", name, column.data<float>()[i],
          i / std::max<std::int64_t>(1, column.numel() / std::max<std::int64_t>(1, batch.rows())));
    }
  }
  for (const auto& [name, p] : parameters) {
    if (const std::int64_t i = first_non_finite(p->value()); i >= 0) {
      return fmt::format("parameter '{}' {} holds {} at flat index {}", name, p->value().shape(),
                         p->value().data<float>()[i], i);
    }
  }
  for (std::int32_t node = 0; node < static_cast<std::int32_t>(tape.size()); ++node) {
    const Tensor& value = tape.value(node);
    if (const std::int64_t i = first_non_finite(value); i >= 0) {
      return fmt::format("the output of op '{}' (tape node {}, shape {}) is {} at flat index {}",
                         tape.op_name(node), node, value.shape(), value.data<float>()[i], i);
    }
  }
  return "no non-finite value found in the inputs, parameters or op outputs";
}

// The row of flat value `i` of a column: a list column's row from its
// offsets, else i / the row's width.
std::int64_t row_of(const Tensor& values, const Tensor& offsets, std::int64_t i) {
  if (offsets.defined() && offsets.numel() > 0) {
    const std::int64_t* o = offsets.data<std::int64_t>();
    return std::upper_bound(o, o + offsets.numel(), i) - o - 1;
  }
  return i / std::max<std::int64_t>(1, values.shape().inner(0));
}

constexpr const char* kAllowNonFinite =
    "features must be finite numbers; allow_non_finite (recblocks --allow-non-finite) scores "
    "such rows as they are";

// Refuses a NaN or an infinity in the float features the model reads,
// naming the column and the row.
void check_finite_features(const Model::Impl& impl, const Dataset& data, std::string_view who) {
  for (const ColumnSchema& c : impl.schema.remove_by_tag(Tags::TARGET)) {
    if (c.dtype() != DType::kFloat32 || data.columns().count(c.name()) == 0) continue;
    const Column& column = data.column(c.name());
    const std::int64_t i = first_non_finite(column.values);
    if (i < 0) continue;
    throw ValueError(fmt::format("{}: column '{}'{} is {} at row {} ({})", who, c.name(),
                                 data.path().empty() ? "" : " of " + data.path().string(),
                                 column.values.data<float>()[i],
                                 row_of(column.values, column.offsets, i), kAllowNonFinite));
  }
}

void check_finite_features(const Model::Impl& impl, const Batch& batch, std::string_view who) {
  for (const ColumnSchema& c : impl.schema.remove_by_tag(Tags::TARGET)) {
    if (c.dtype() != DType::kFloat32) continue;
    const auto& names = batch.names();
    if (std::find(names.begin(), names.end(), c.name()) == names.end()) continue;
    const bool list = batch.is_list(c.name());
    const Tensor& values = list ? batch.ragged(c.name()).values() : batch.tensor(c.name());
    const std::int64_t i = first_non_finite(values);
    if (i < 0) continue;
    throw ValueError(fmt::format(
        "{}: column '{}' is {} at row {} of the batch ({})", who, c.name(), values.data<float>()[i],
        row_of(values, list ? batch.ragged(c.name()).offsets() : Tensor(), i), kAllowNonFinite));
  }
}

bool higher_is_better(const std::string& key) {
  for (const char* word : {"auc", "accuracy", "precision", "recall"}) {
    if (key.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string join_keys(const Logs& logs) {
  std::string out;
  for (const auto& [k, v] : logs) out += (out.empty() ? "" : ", ") + k;
  return out;
}

}  // namespace

// ---- Model::Impl ------------------------------------------------------------

std::vector<std::pair<std::string, ParameterPtr>> Model::Impl::parameters() const {
  std::vector<std::pair<std::string, ParameterPtr>> out;
  std::set<const Parameter*> seen;
  for (auto& [name, p] : body.parameters()) {
    if (seen.insert(p.get()).second) out.emplace_back(name, p);
  }
  for (const PredictionTask& task : tasks) {
    for (auto& [name, p] : task.head().parameters()) {
      if (seen.insert(p.get()).second) out.emplace_back(task.name() + "/" + name, p);
    }
  }
  return out;
}

// ---- History ------------------------------------------------------------------

std::vector<double> History::operator[](const std::string& key) const {
  std::vector<double> out;
  for (const Logs& logs : epochs) {
    const auto it = logs.find(key);
    RB_CHECK(it != logs.end(), ValueError, "history has no '{}' (keys: {})", key, join_keys(logs));
    out.push_back(it->second);
  }
  return out;
}

// ---- construction -----------------------------------------------------------

namespace {

// init() for the model's parameters once both are known; then fused updates.
void prepare_optimizer(Model::Impl& impl) {
  if (impl.optimizer_ready) return;
  impl.optimizer.init(impl.parameters());
  impl.optimizer.fuse_sparse_updates(impl.compile.fuse_sparse_updates);
  impl.optimizer_ready = true;
}

}  // namespace

Model::Impl& Model::checked_impl() const {
  RB_CHECK(impl_ != nullptr, ValueError,
           "this Model is empty (default-constructed): connect a block to a task");
  return *impl_;
}

Model::Model(Block body, std::vector<PredictionTask> tasks) : impl_(std::make_shared<Impl>()) {
  RB_CHECK(body.defined(), ValueError, "Model: the body block is empty");
  RB_CHECK(!tasks.empty(), ValueError,
           "Model: no prediction task (use Model::from_block to derive them from a schema)");
  std::set<std::string> names;
  for (const PredictionTask& task : tasks) {
    RB_CHECK(task.defined(), ValueError, "Model: a prediction task is empty");
    RB_CHECK(names.insert(task.name()).second, ValueError, "Model: two tasks are named '{}'",
             task.name());
  }
  impl_->body = std::move(body);
  impl_->tasks = std::move(tasks);
}

Model Model::from_block(Block body, const Schema& schema) {
  Model model(std::move(body), prediction_tasks(schema));
  return model;
}

Model Block::connect(const PredictionTask& task) const { return Model(*this, {task}); }
Model Block::connect(const std::vector<PredictionTask>& tasks) const { return Model(*this, tasks); }

const Block& Model::body() const { return checked_impl().body; }
const std::vector<PredictionTask>& Model::tasks() const { return checked_impl().tasks; }
bool Model::built() const { return impl_ && impl_->built; }
bool Model::compiled() const { return impl_ && impl_->compiled; }

const Schema& Model::schema() const {
  RB_CHECK(built(), ValueError, "the model is not built yet: fit, evaluate or build it first");
  return impl_->schema;
}

const Optimizer& Model::optimizer() const {
  RB_CHECK(compiled(), ValueError, "the model is not compiled: call compile() first");
  return impl_->optimizer;
}

void Model::build(const Schema& schema, std::uint64_t seed) { build(schema, seed, nullptr); }

namespace {

// Refuses parameters that together do not fit under the memory limit,
// naming the largest, before any of them is allocated.
void check_parameter_memory(const std::vector<std::pair<std::string, ParameterPtr>>& parameters) {
  std::size_t total = 0;
  std::size_t count = 0;
  const std::pair<std::string, ParameterPtr>* largest = nullptr;
  for (const auto& entry : parameters) {
    const Parameter& p = *entry.second;
    if (p.allocated()) continue;
    // Each parameter's size is bounded by Shape (2^60 elements): the sum
    // can still overflow, so it saturates.
    total = checked_add(total, p.value().nbytes()).value_or(SIZE_MAX);
    ++count;
    if (largest == nullptr || p.value().nbytes() > largest->second->value().nbytes())
      largest = &entry;
  }
  if (largest == nullptr) return;
  check_allocation(
      total, fmt::format("the model ({} parameter tensors; the largest: '{}' {} of {})", count,
                         largest->first, largest->second->value().shape(),
                         format_bytes(largest->second->value().nbytes())));
}

}  // namespace

void Model::build(const Schema& schema, std::uint64_t seed,
                  const ParameterCheck& before_allocating) {
  RB_CHECK(impl_ != nullptr, ValueError, "Model is empty");
  RB_CHECK(impl_->build_error.empty(), ValueError,
           "this model cannot be built: an earlier build failed ({}); make a new Model",
           impl_->build_error);
  for (const PredictionTask& task : impl_->tasks) {
    bool found = false;
    for (const ColumnSchema& c : schema) found = found || c.name() == task.target();
    RB_CHECK(found, ValueError, "the data has no target column '{}' for task '{}' (columns: {})",
             task.target(), task.name(), fmt::join(schema.column_names(), ", "));
  }
  // Built already (fit after evaluate, or a loaded model): the blocks check
  // that the features are the same when they run.
  if (impl_->built) return;
  // The parameters are planned first (shapes, no storage), checked, then
  // allocated: a model too large for the memory, or one that does not
  // match its weights file, is refused before anything is allocated.
  BlockContext context(seed, /*defer_allocation=*/true);
  try {
    const FlowSpec out =
        impl_->body.build(FlowSpec::inputs(schema.remove_by_tag(Tags::TARGET)), context);
    for (const PredictionTask& task : impl_->tasks)
      task.head().build(task_input(out, task), context);
    const auto parameters = impl_->parameters();
    if (before_allocating) before_allocating(parameters);
    check_parameter_memory(parameters);
    context.allocate_parameters();
  } catch (const std::exception& e) {
    // The blocks are built, but their parameters may have no storage: they
    // must not run.
    if (!context.deferred_parameters().empty()) impl_->build_error = e.what();
    throw;
  }
  impl_->schema = schema;
  impl_->seed = seed;
  impl_->built = true;
}

void Model::compile(Optimizer optimizer, CompileOptions options) {
  RB_CHECK(impl_ != nullptr, ValueError, "Model is empty");
  RB_CHECK(optimizer.defined(), ValueError, "compile: the optimizer is empty");
  RB_CHECK(options.loss_weights.empty() || options.loss_weights.size() == impl_->tasks.size(),
           ValueError, "compile: {} loss weights for {} tasks", options.loss_weights.size(),
           impl_->tasks.size());
  for (float w : options.loss_weights) {
    RB_CHECK(std::isfinite(w) && w >= 0, ValueError,
             "compile: loss weight {} is not a finite number >= 0", w);
  }
  // The previous optimizer's fused updates must not keep writing into the
  // tables (a user may still hold it).
  if (impl_->compiled) impl_->optimizer.fuse_sparse_updates(false);
  impl_->optimizer = std::move(optimizer);
  impl_->compile = std::move(options);
  impl_->compiled = true;
  impl_->optimizer_ready = false;
  if (impl_->built) prepare_optimizer(*impl_);
}

void Model::compile(std::string_view optimizer, CompileOptions options) {
  compile(optim::by_name(optimizer), std::move(options));
}

std::vector<std::pair<std::string, ParameterPtr>> Model::parameters() const {
  RB_CHECK(built(), ValueError, "the model is not built yet: fit, evaluate or build it first");
  return impl_->parameters();
}

std::map<std::string, Tensor> Model::state() const {
  std::map<std::string, Tensor> out;
  for (const auto& [name, p] : parameters()) out.emplace(name, p->value());
  return out;
}

void Model::load_state(const std::map<std::string, Tensor>& state) const {
  check_state(state);
  for (const auto& [name, p] : parameters()) p->value().copy_from(state.at(name));
}

void Model::check_state(const std::map<std::string, Tensor>& state) const {
  std::set<std::string> known;
  for (const auto& [name, p] : parameters()) {
    known.insert(name);
    const auto it = state.find(name);
    RB_CHECK(it != state.end(), ValueError, "load_state: tensor '{}' {} is missing", name,
             p->value().shape());
    RB_CHECK(it->second.dtype() == DType::kFloat32 && it->second.shape() == p->value().shape(),
             ShapeError, "load_state: tensor '{}' is {} {}, expected float32 {}", name,
             dtype_name(it->second.dtype()), it->second.shape(), p->value().shape());
  }
  for (const auto& [name, t] : state) {
    RB_CHECK(known.count(name) == 1, ValueError,
             "load_state: tensor '{}' {} is not a parameter of this model", name, t.shape());
  }
}

// ---- one forward ------------------------------------------------------------

namespace {

struct Forward {
  std::vector<Var> logits;
};

// The candidate tower of a two-tower body (the "candidate" branch of a
// ParallelBlock), without its UniqueRows: drawn negatives are scored one
// row each, as the task counts them.
Block candidate_tower(const Block& body, const PredictionTask& task) {
  Block tower;
  if (body.impl().parallel_branches()) {
    for (const auto& [key, child] : body.impl().children()) {
      if (key == "candidate") tower = child;
    }
  }
  RB_CHECK(tower.defined(), ValueError,
           "task '{}': num_sampled scores the drawn items with the candidate tower, the "
           "'candidate' branch of a "
           "ParallelBlock body (TwoTowerModel, MatrixFactorizationModel); the body is a {}",
           task.name(), body.type());
  if (tower.impl().merges_rows()) tower = tower.impl().children().front().second;
  return tower;
}

struct ForgetDraws {
  const std::vector<PredictionTask>& tasks;
  Tape& tape;
  ~ForgetDraws() {
    for (const PredictionTask& task : tasks) {
      if (NegativeDrawer* drawer = task.negative_drawer())
        drawer->sampled_candidates(tape, 0, false);
    }
  }
};

// Before training with drawn negatives: the drawn rows go through the
// candidate tower on their own, so only a tower that treats rows
// independently scores them as it would within the batch.
void check_sampled_tower(const Block& body, const PredictionTask& task) {
  const Block tower = candidate_tower(body, task);
  RB_CHECK(tower.impl().row_independent(), ValueError,
           "task '{}': num_sampled scores the drawn items through the candidate tower apart from "
           "the batch, which "
           "needs a tower without dropout or batch normalisation, of row-independent block types "
           "(BlockBase::row_independent); got a {}",
           task.name(), tower.type());
}

// The body's flow with the drawn items' candidate vectors after the
// batch's: {"query": q, "candidate": [c; c_drawn]}.
Flow with_sampled_candidates(const Flow& body, const Var& drawn) {
  Flow::Dict entries = body.dict();
  for (auto& [key, value] : entries) {
    if (key == "candidate") value = ops::concat(std::vector<Var>{value, drawn}, 0);
  }
  return Flow::dict(std::move(entries));
}

// The tasks' logits into `logits` (cleared first; a training step passes
// the same vector every time, so its capacity is reused).
void run_forward_into(const Model::Impl& impl, RunContext& run, std::vector<Var>& logits) {
  logits.clear();
  const Flow body = impl.body.forward(Flow::inputs(run.batch()), run);
  for (const PredictionTask& task : impl.tasks) {
    Flow input = task_input(body, task);
    if (NegativeDrawer* drawer = task.negative_drawer()) {
      const Batch drawn = drawer->sampled_candidates(run.tape(), impl.seed, run.training());
      if (drawn.rows() > 0) {
        const Var vectors = candidate_tower(impl.body, task)
                                .forward(Flow::inputs(drawn), run)
                                .as_tensor("candidate");
        input = with_sampled_candidates(input, vectors);
      }
    }
    logits.push_back(task.head().forward(input, run).as_tensor(task.name()));
  }
}

Forward run_forward(const Model::Impl& impl, RunContext& run) {
  Forward out;
  run_forward_into(impl, run, out.logits);
  return out;
}

std::vector<std::pair<ParameterPtr, float>> all_regularizers(const Model::Impl& impl) {
  auto regs = impl.body.regularizers();
  for (const PredictionTask& task : impl.tasks) {
    auto more = task.head().regularizers();
    regs.insert(regs.end(), more.begin(), more.end());
  }
  return regs;
}

// sum factor * ||w||^2 over the blocks' L2 terms, in double.
double regularization_value(const Model::Impl& impl) {
  double total = 0;
  for (const auto& [p, factor] : all_regularizers(impl)) {
    const float* w = p->value().data<float>();
    double s = 0;
    for (std::int64_t i = 0; i < p->value().numel(); ++i) s += static_cast<double>(w[i]) * w[i];
    total += factor * s;
  }
  return total;
}

// The metrics of every task, updated batch by batch.
struct TaskMetrics {
  std::vector<std::vector<Metric>> per_task;

  // `rows`: how many rows the metrics will see (a reservation hint).
  TaskMetrics(const std::vector<PredictionTask>& tasks, std::int64_t rows) {
    for (const PredictionTask& task : tasks) {
      per_task.push_back(task.make_metrics());
      for (Metric& m : per_task.back()) m.reserve(rows);
    }
  }
  void update(const std::vector<PredictionTask>& tasks, const std::vector<Tensor>& logits,
              const std::vector<Tensor>& targets) {
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      const auto [predictions, metric_targets] = tasks[t].metric_inputs(logits[t], targets[t]);
      for (Metric& m : per_task[t]) m.update(predictions, metric_targets);
    }
  }
  void write(const std::vector<PredictionTask>& tasks, Logs& logs) const {
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      for (const Metric& m : per_task[t]) {
        // Undefined on these rows (AUC over one class): NaN, not an
        // aborted epoch.
        double value = std::numeric_limits<double>::quiet_NaN();
        try {
          value = m.result();
        } catch (const ValueError&) {
        }
        logs[tasks[t].name() + "/" + m.name()] = value;
      }
    }
  }
};

// How often each id of an integer column occurs: int64 [max(domain max,
// largest id) + 1] (logQ correction of retrieval tasks).
Tensor item_counts(const Dataset& data, const std::string& column) {
  const Column& values = data.column(column);
  const Tensor& ids = values.values;
  RB_CHECK(is_integer(ids.dtype()) && !values.is_list(), ValueError,
           "item counts: column '{}' must be a scalar int32 or int64 column", column);
  std::int64_t size = 0;
  for (const ColumnSchema& c : data.schema()) {
    if (c.name() == column && c.domain()) size = c.domain()->max + 1;
  }
  auto id_at = [&](std::int64_t i) {
    return ids.dtype() == DType::kInt64 ? ids.data<std::int64_t>()[i] : ids.data<std::int32_t>()[i];
  };
  for (std::int64_t i = 0; i < ids.numel(); ++i) {
    RB_CHECK(id_at(i) >= 0, ValueError,
             "item counts: column '{}' row {} is {}, expected an id >= 0", column, i, id_at(i));
    size = std::max(size, id_at(i) + 1);
  }
  // The ids index an embedding table, so they are small; a hashed 64-bit id
  // would ask for a table of counts it cannot have.
  RB_CHECK(size <= (std::int64_t{1} << 31), ValueError,
           "item counts: column '{}' holds ids up to {}, expected ids below 2^31 (categorify them "
           "first)",
           column, size - 1);
  Tensor counts = Tensor::zeros({size}, DType::kInt64);
  for (std::int64_t i = 0; i < ids.numel(); ++i) ++counts.data<std::int64_t>()[id_at(i)];
  return counts;
}

std::string format_logs(const Logs& logs) {
  std::string out;
  for (const auto& [k, v] : logs) out += fmt::format("{}{} {:.4f}", out.empty() ? "" : ", ", k, v);
  return out;
}

}  // namespace

// ---- fit --------------------------------------------------------------------

namespace {

// What every step of a fit shares, made once before the first.
struct FitState {
  FitState() = default;
  FitState(const FitState&) = delete;  // step_loss and step_regularization point into it
  FitState& operator=(const FitState&) = delete;

  std::vector<std::pair<std::string, ParameterPtr>> params;
  std::vector<std::pair<ParameterPtr, float>> regs;
  std::vector<float> weights;  // per task
  // Per task, refilled each step.
  std::vector<Tensor> targets;
  std::vector<Var> logits;
  std::vector<Tensor> logits_values;
  // What on_batch_end receives: the keys made once, the values set each
  // step through these pointers (no key built per step).
  Logs step_logs{{"loss", 0.0}, {"regularization_loss", 0.0}};
  double* step_loss = &step_logs["loss"];
  double* step_regularization = &step_logs["regularization_loss"];
};

// One epoch in progress: its training metrics and progress bar.
struct EpochState {
  TaskMetrics metrics;
  bool metrics_seen = false;
  // After a resume, the batches done before the checkpoint; the rate and
  // the ETA count only this run's batches.
  std::int64_t skip = 0;
  std::int64_t rows_before = 0;
  detail::Progress progress;

  EpochState(const std::vector<PredictionTask>& tasks, const Model::Impl::Position& pos,
             const FitOptions& options, std::int64_t steps_per_epoch)
      // Metrics see the rows of every train_metrics_steps-th step.
      : metrics(tasks, options.train_metrics_steps > 0
                           ? pos.train_rows / options.train_metrics_steps + options.batch_size
                           : 0),
        skip(pos.batch_in_epoch),
        rows_before(pos.rows),
        progress(fmt::format("epoch {}/{}", pos.epoch + 1, options.epochs),
                 steps_per_epoch - pos.batch_in_epoch, options.progress) {}
};

struct StepLosses {
  double loss = 0;            // sum of weight * task loss
  double regularization = 0;  // sum of the L2 terms
};

// One training step on `batch` (the epoch's batch number `index`, from 1):
// forward, the tasks' losses and the regularization, backward and the
// optimizer's update. Adds each task's loss times the rows to the
// position's sums; on a training-metrics step, updates the epoch's
// metrics. A non-finite loss or gradient throws NonFiniteError naming the
// step and the first non-finite value.
StepLosses training_step(Model::Impl& impl, FitState& state, EpochState& epoch,
                         const FitOptions& options, const Batch& batch, std::int64_t index) {
  Model::Impl::Position& pos = impl.position;
  const auto& params = state.params;
  for (std::size_t t = 0; t < impl.tasks.size(); ++t) {
    state.targets[t] = impl.tasks[t].prepare_targets(batch.tensor(impl.tasks[t].target()));
  }
  const std::int64_t step = pos.global_step + 1;
  impl.tape.reset();
  StepLosses out;
  RunContext run(impl.tape, batch, true);
  // The step's drawn negatives are the step's: forgotten when it ends
  // (or throws), so a later loss or metric call expects none.
  const ForgetDraws forget{impl.tasks, impl.tape};
  run_forward_into(impl, run, state.logits);
  Var total;
  for (std::size_t t = 0; t < impl.tasks.size(); ++t) {
    const Var task_loss = impl.tasks[t].loss(state.logits[t], state.targets[t]);
    const double v = task_loss.value().item();
    pos.task_loss_sums[t] += v * static_cast<double>(batch.rows());
    out.loss += state.weights[t] * v;
    const Var weighted =
        state.weights[t] == 1.0f ? task_loss : ops::scale(task_loss, state.weights[t]);
    total = total.defined() ? ops::add(total, weighted) : weighted;
  }
  for (const auto& [p, factor] : state.regs) {
    const Var w = run.param(p);
    const Var term = ops::scale(ops::sum_all(ops::mul(w, w)), factor);
    out.regularization += term.value().item();
    total = ops::add(total, term);
  }
  if (!std::isfinite(total.value().item())) {
    throw NonFiniteError(
        fmt::format("training stopped at step {} (epoch {}, batch {}): the loss is {}; "
                    "first non-finite value: {}",
                    step, pos.epoch + 1, index, total.value().item(),
                    locate_non_finite(impl.tape, batch, params)));
  }
  const bool want_metrics =
      options.train_metrics_steps > 0 && step % options.train_metrics_steps == 0;
  if (want_metrics) {
    for (std::size_t t = 0; t < impl.tasks.size(); ++t)
      state.logits_values[t] = state.logits[t].value();
    epoch.metrics.update(impl.tasks, state.logits_values, state.targets);
    epoch.metrics_seen = true;
  }
  try {
    impl.tape.backward(total);
    impl.optimizer.step();
  } catch (const NonFiniteError& e) {
    // A gradient went bad (the optimizer checks before updating):
    // name the input or op behind it too.
    throw NonFiniteError(fmt::format(
        "training stopped at step {} (epoch {}, batch {}): {}; first non-finite "
        "value: {}",
        step, pos.epoch + 1, index, e.what(), locate_non_finite(impl.tape, batch, params)));
  }
  return out;
}

// The epoch's batches not done yet: a training step each, then the
// position, the progress bar and the callbacks' on_batch_end.
void train_epoch(Model& model, Model::Impl& impl, Loader& loader, FitState& state,
                 EpochState& epoch, const FitOptions& options) {
  Model::Impl::Position& pos = impl.position;
  loader.set_epoch(static_cast<std::uint64_t>(pos.epoch));
  std::int64_t index = 0;
  for (const Batch& batch : loader) {
    if (index++ < epoch.skip) continue;  // resumed: done before the checkpoint
    const StepLosses losses = training_step(impl, state, epoch, options, batch, index);
    pos.loss_sum += losses.loss * static_cast<double>(batch.rows());
    pos.regularization_sum += losses.regularization * static_cast<double>(batch.rows());
    pos.rows += batch.rows();
    pos.global_step += 1;
    pos.batch_in_epoch = index;
    epoch.progress.update(index - epoch.skip, pos.rows - epoch.rows_before,
                          pos.loss_sum / static_cast<double>(pos.rows));
    if (!options.callbacks.empty()) {
      *state.step_loss = losses.loss;
      *state.step_regularization = losses.regularization;
      for (const CallbackPtr& cb : options.callbacks)
        cb->on_batch_end(model, pos.global_step, state.step_logs);
    }
  }
  impl.tape.reset();
}

// The finished epoch's logs: the mean losses over its rows, each task's
// with several tasks, and its training metrics if any were taken.
Logs epoch_logs(const Model::Impl& impl, const EpochState& epoch) {
  const Model::Impl::Position& pos = impl.position;
  Logs logs;
  const double rows = static_cast<double>(std::max<std::int64_t>(1, pos.rows));
  logs["loss"] = pos.loss_sum / rows;
  logs["regularization_loss"] = pos.regularization_sum / rows;
  logs["total_loss"] = logs["loss"] + logs["regularization_loss"];
  if (impl.tasks.size() > 1) {
    for (std::size_t t = 0; t < impl.tasks.size(); ++t) {
      logs[impl.tasks[t].name() + "/loss"] = pos.task_loss_sums[t] / rows;
    }
  }
  if (epoch.metrics_seen) epoch.metrics.write(impl.tasks, logs);
  return logs;
}

}  // namespace

namespace {

// What a retrieval task needs from a streamed training set: the target
// column alone (item counts), or the first row of every item (catalogue),
// gathered chunk by chunk.
Dataset streamed_item_data(const DataSource& source, const std::string& target, bool catalogue) {
  std::vector<Dataset> parts;
  std::unordered_set<std::int64_t> seen;
  for (std::int64_t c = 0; c < source.num_chunks(); ++c) {
    if (!catalogue) {
      parts.push_back(source.read_chunk(c, {target}));
      continue;
    }
    const Dataset chunk = source.read_chunk(c);
    const Column& column = chunk.column(target);
    RB_CHECK(is_integer(column.values.dtype()) && !column.is_list(), ValueError,
             "{}: column '{}' must be a scalar int32 or int64 column of item ids",
             source.describe(), target);
    std::vector<std::int64_t> rows;
    for (std::int64_t r = 0; r < chunk.num_rows(); ++r) {
      const std::int64_t id = column.values.dtype() == DType::kInt32
                                  ? column.values.data<std::int32_t>()[r]
                                  : column.values.data<std::int64_t>()[r];
      if (seen.insert(id).second) rows.push_back(r);
    }
    if (!rows.empty()) parts.push_back(chunk.take(rows));
  }
  return Dataset::concat(parts);
}

}  // namespace

History Model::fit(const Dataset& train, FitOptions options) {
  RB_CHECK(train.num_rows() > 0, ValueError, "fit: the training data has no rows");
  check_fit_options(options);
  Loader loader(
      train, {.batch_size = options.batch_size, .shuffle = options.shuffle, .seed = options.seed});
  return fit_loader(
      loader, [&](const std::string&, bool) { return train; }, std::move(options));
}

History Model::fit(const DataSourcePtr& train, FitOptions options) {
  RB_CHECK(train != nullptr, ValueError, "fit: the training data source is null");
  RB_CHECK(train->num_rows() > 0, ValueError, "fit: the training data ({}) has no rows",
           train->describe());
  check_fit_options(options);
  Loader loader(train, {.batch_size = options.batch_size,
                        .shuffle = options.shuffle,
                        .seed = options.seed,
                        .shuffle_window = options.shuffle_window});
  return fit_loader(
      loader,
      [&](const std::string& target, bool catalogue) {
        return streamed_item_data(*train, target, catalogue);
      },
      std::move(options));
}

void Model::check_fit_options(const FitOptions& options) const {
  checked_impl();
  RB_CHECK(compiled(), ValueError, "fit: the model is not compiled: call compile(optimizer) first");
  RB_CHECK(options.epochs >= 0, ValueError, "fit: epochs is {}, expected >= 0", options.epochs);
  RB_CHECK(options.batch_size > 0, ValueError, "fit: batch_size is {}, expected > 0",
           options.batch_size);
  RB_CHECK(options.shuffle_window > 0, ValueError, "fit: shuffle_window is {}, expected > 0",
           options.shuffle_window);
}

History Model::fit_loader(Loader& loader, const ItemData& item_data, FitOptions options) {
  Impl& impl = *impl_;
  build(loader.schema(), impl.seed);
  prepare_optimizer(impl);
  // Nothing left over from a step that failed before its update.
  for (const auto& [name, p] : impl.parameters()) p->zero_grad();

  Impl::Position& pos = impl.position;
  pos = Impl::Position{};
  pos.loader_seed = options.seed;
  pos.batch_size = options.batch_size;
  pos.shuffle = options.shuffle;
  pos.train_rows = loader.num_rows();
  if (options.resume_from) resume_checkpoint(*options.resume_from);

  for (const PredictionTask& task : impl.tasks) {
    if (ItemCountsUser* user = task.item_counts_user())
      user->set_item_counts(item_counts(item_data(task.target(), false), task.target()));
    if (NegativeDrawer* drawer = task.negative_drawer()) {
      check_sampled_tower(impl.body, task);
      drawer->set_item_catalogue(item_data(task.target(), true));
    }
  }
  FitState state;
  state.params = impl.parameters();
  state.regs = all_regularizers(impl);
  state.weights = impl.compile.loss_weights;
  if (state.weights.empty()) state.weights.assign(impl.tasks.size(), 1.0f);
  state.targets.resize(impl.tasks.size());
  state.logits_values.resize(impl.tasks.size());

  const std::int64_t steps_per_epoch = loader.num_batches();
  for (const CallbackPtr& cb : options.callbacks) cb->on_train_begin(*this);

  bool stop = false;
  for (; pos.epoch < options.epochs && !stop; ++pos.epoch) {
    if (pos.batch_in_epoch == 0) {
      pos.loss_sum = pos.regularization_sum = 0;
      pos.task_loss_sums.assign(impl.tasks.size(), 0.0);
      pos.rows = 0;
    }
    EpochState epoch(impl.tasks, pos, options, steps_per_epoch);
    train_epoch(*this, impl, loader, state, epoch, options);

    Logs logs = epoch_logs(impl, epoch);
    const double train_seconds = epoch.progress.seconds();
    if (options.validation_data) {
      const Logs val =
          evaluate(*options.validation_data, {.batch_size = options.batch_size, .progress = false});
      for (const auto& [k, v] : val) logs["val_" + k] = v;
    }
    epoch.progress.finish(fmt::format(
        "{} steps, {:.1f} s, {} rows/s; {}", steps_per_epoch - epoch.skip, train_seconds,
        detail::Progress::human(static_cast<double>(pos.rows - epoch.rows_before) /
                                std::max(1e-9, train_seconds)),
        format_logs(logs)));
    pos.history.epochs.push_back(logs);
    pos.batch_in_epoch = 0;
    // The position a checkpoint written now must resume from: the next epoch.
    ++pos.epoch;
    for (const CallbackPtr& cb : options.callbacks)
      stop = !cb->on_epoch_end(*this, pos.epoch - 1, logs) || stop;
    --pos.epoch;
  }
  for (const CallbackPtr& cb : options.callbacks) cb->on_train_end(*this);
  return pos.history;
}

// ---- evaluate and predict ---------------------------------------------------

Logs Model::evaluate(const Dataset& data, EvaluateOptions options) {
  checked_impl();
  RB_CHECK(options.batch_size > 0, ValueError, "evaluate: batch_size is {}, expected > 0",
           options.batch_size);
  RB_CHECK(data.num_rows() > 0, ValueError, "evaluate: the data has no rows");
  build(data.schema(), impl_->seed);
  if (!options.allow_non_finite) check_finite_features(*impl_, data, "evaluate");
  Loader loader(data, {.batch_size = options.batch_size, .shuffle = false});
  return evaluate_loader(loader, options, false);
}

Logs Model::evaluate(const DataSourcePtr& data, EvaluateOptions options) {
  checked_impl();
  RB_CHECK(data != nullptr, ValueError, "evaluate: the data source is null");
  RB_CHECK(options.batch_size > 0, ValueError, "evaluate: batch_size is {}, expected > 0",
           options.batch_size);
  RB_CHECK(data->num_rows() > 0, ValueError, "evaluate: the data ({}) has no rows",
           data->describe());
  Loader loader(data, {.batch_size = options.batch_size, .shuffle = false});
  return evaluate_loader(loader, options, !options.allow_non_finite);
}

Logs Model::evaluate_loader(Loader& loader, const EvaluateOptions& options, bool check_batches) {
  Impl& impl = *impl_;
  build(loader.schema(), impl.seed);
  NoGradGuard no_grad;
  std::vector<float> weights = impl.compile.loss_weights;
  if (weights.empty()) weights.assign(impl.tasks.size(), 1.0f);

  TaskMetrics metrics(impl.tasks, loader.num_rows());
  std::vector<double> task_loss(impl.tasks.size(), 0.0);
  std::vector<Tensor> targets(impl.tasks.size());
  std::vector<Tensor> logits(impl.tasks.size());
  std::int64_t rows = 0;
  double loss_sum = 0;
  detail::Progress progress("evaluate", loader.num_batches(), options.progress);
  std::int64_t index = 0;
  for (const Batch& batch : loader) {
    if (check_batches) check_finite_features(impl, batch, "evaluate");
    impl.tape.reset();
    RunContext run(impl.tape, batch, false);
    const Forward fwd = run_forward(impl, run);
    double step_loss = 0;
    for (std::size_t t = 0; t < impl.tasks.size(); ++t) {
      targets[t] = impl.tasks[t].prepare_targets(batch.tensor(impl.tasks[t].target()));
      const double v = impl.tasks[t].loss(fwd.logits[t], targets[t]).value().item();
      task_loss[t] += v * static_cast<double>(batch.rows());
      step_loss += weights[t] * v;
      logits[t] = fwd.logits[t].value();
    }
    metrics.update(impl.tasks, logits, targets);
    loss_sum += step_loss * static_cast<double>(batch.rows());
    rows += batch.rows();
    progress.update(++index, rows, loss_sum / static_cast<double>(rows));
  }
  impl.tape.reset();
  Logs logs;
  logs["loss"] = loss_sum / static_cast<double>(rows);
  logs["regularization_loss"] = regularization_value(impl);
  logs["total_loss"] = logs["loss"] + logs["regularization_loss"];
  if (impl.tasks.size() > 1) {
    for (std::size_t t = 0; t < impl.tasks.size(); ++t) {
      logs[impl.tasks[t].name() + "/loss"] = task_loss[t] / static_cast<double>(rows);
    }
  }
  metrics.write(impl.tasks, logs);
  progress.finish(
      fmt::format("{} rows, {:.2f} s; {}", rows, progress.seconds(), format_logs(logs)));
  return logs;
}

namespace {

// Each task's predictions for one batch, computed on `tape` (reset first,
// so one tape serves every batch of a dataset).
std::vector<Tensor> predict_batch(const Model::Impl& impl, Tape& tape, const Batch& batch) {
  RB_CHECK(impl.built, ValueError,
           "predict: the model is not built: train it, load it or build it first");
  for (const PredictionTask& task : impl.tasks) {
    RB_CHECK(!task.impl().scores_within_batch(), ValueError,
             "predict: task '{}' scores each row against the other rows of its batch (item "
             "retrieval's in-batch scores); use retrieval::TopKRecommender to score the catalogue",
             task.name());
  }
  NoGradGuard no_grad;
  tape.reset();
  RunContext run(tape, batch, false);
  const Forward fwd = run_forward(impl, run);
  std::vector<Tensor> out;
  for (std::size_t t = 0; t < impl.tasks.size(); ++t)
    out.push_back(impl.tasks[t].predictions(fwd.logits[t].value()));
  return out;
}

}  // namespace

std::map<std::string, Tensor> Model::predict(const Batch& batch, PredictOptions options) const {
  const Impl& impl = checked_impl();
  if (impl.built && !options.allow_non_finite) check_finite_features(impl, batch, "predict");
  Tape tape;
  std::vector<Tensor> predictions = predict_batch(impl, tape, batch);
  std::map<std::string, Tensor> out;
  for (std::size_t t = 0; t < impl.tasks.size(); ++t)
    out.emplace(impl.tasks[t].name(), std::move(predictions[t]));
  return out;
}

std::map<std::string, Tensor> Model::predict(const Dataset& data, std::int64_t batch_size) const {
  return predict(data, PredictOptions{.batch_size = batch_size});
}

std::map<std::string, Tensor> Model::predict(const Dataset& data, PredictOptions options) const {
  const std::int64_t batch_size = options.batch_size;
  RB_CHECK(batch_size > 0, ValueError, "predict: batch_size is {}, expected > 0", batch_size);
  const Impl& impl = checked_impl();
  if (impl.built && !options.allow_non_finite) check_finite_features(impl, data, "predict");
  std::vector<Tensor> all;
  for (const PredictionTask& task : impl.tasks) {
    all.push_back(Tensor::empty(task.impl().prediction_shape(data.num_rows())));
  }
  Tape tape;
  std::int64_t row = 0;
  for (const Batch& batch : Loader(data, {.batch_size = batch_size, .shuffle = false})) {
    const std::vector<Tensor> predictions = predict_batch(impl, tape, batch);
    for (std::size_t t = 0; t < all.size(); ++t)
      all[t].slice_rows(row, row + batch.rows()).copy_from(predictions[t]);
    row += batch.rows();
  }
  std::map<std::string, Tensor> out;
  for (std::size_t t = 0; t < impl.tasks.size(); ++t)
    out.emplace(impl.tasks[t].name(), std::move(all[t]));
  return out;
}

void Model::predict_to(const Dataset& data, const std::filesystem::path& out,
                       std::int64_t batch_size) const {
  predict_to(data, out, PredictOptions{.batch_size = batch_size});
}

void Model::predict_to(const Dataset& data, const std::filesystem::path& out,
                       PredictOptions options) const {
  with_predictions(data, options).save(out);
}

Dataset Model::with_predictions(const Dataset& data, PredictOptions options) const {
  for (const PredictionTask& task : checked_impl().tasks) {
    RB_CHECK(
        !task.impl().scores_catalogue(), ValueError,
        "predict_to: task '{}' scores all {} items of the catalogue per row; write its top-k with "
        "`recblocks recommend --queries` (retrieval::TopKRecommender) instead",
        task.name(), task.num_classes());
  }
  const auto predictions = predict(data, options);
  std::vector<ColumnSchema> columns(data.schema().begin(), data.schema().end());
  std::map<std::string, Column> values;
  for (const auto& [name, column] : data.columns()) values.emplace(name, column);
  auto add = [&](const std::string& name, const std::string& task, Tensor v) {
    RB_CHECK(values.count(name) == 0, ValueError, "predict_to: the data already has a column '{}'",
             name);
    columns.push_back(
        ColumnSchema(name, DType::kFloat32).with_properties({{"prediction_of", task}}));
    values.emplace(name, Column{std::move(v), {}});
  };
  for (const PredictionTask& task : impl_->tasks) {
    const Tensor& p = predictions.at(task.name());
    if (p.rank() == 1) {
      add(task.target() + "_prediction", task.name(), p);
      continue;
    }
    for (std::int64_t c = 0; c < p.size(1); ++c) {
      Tensor col = Tensor::empty({p.size(0)});
      for (std::int64_t i = 0; i < p.size(0); ++i)
        col.data<float>()[i] = p.data<float>()[i * p.size(1) + c];
      add(fmt::format("{}_prediction_{}", task.target(), c), task.name(), std::move(col));
    }
  }
  return Dataset(Schema(std::move(columns)), std::move(values));
}

std::string Model::summary() const {
  checked_impl();
  std::string out = "body:\n" + impl_->body.summary();
  for (const PredictionTask& task : impl_->tasks) {
    out +=
        fmt::format("task {} (target {}):\n{}", task.name(), task.target(), task.head().summary());
  }
  if (built()) {
    std::int64_t count = 0;
    for (const auto& [name, p] : impl_->parameters()) count += p->value().numel();
    out += fmt::format("parameters: {} tensors, {} values\n", impl_->parameters().size(), count);
  }
  return out;
}

// ---- callbacks --------------------------------------------------------------

namespace {

class EarlyStoppingCallback final : public Callback {
 public:
  explicit EarlyStoppingCallback(EarlyStoppingOptions o) : options_(std::move(o)) {
    RB_CHECK(options_.mode == "auto" || options_.mode == "min" || options_.mode == "max",
             ValueError, "EarlyStopping: mode '{}' is not auto, min or max", options_.mode);
    RB_CHECK(options_.patience >= 0, ValueError, "EarlyStopping: patience is {}, expected >= 0",
             options_.patience);
    maximize_ =
        options_.mode == "max" || (options_.mode == "auto" && higher_is_better(options_.monitor));
  }
  void on_train_begin(Model&) override {
    best_ = maximize_ ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
    wait_ = 0;
    best_state_.clear();
  }
  bool on_epoch_end(Model& model, int /*epoch*/, const Logs& logs) override {
    const auto it = logs.find(options_.monitor);
    RB_CHECK(it != logs.end(), ValueError,
             "EarlyStopping: monitor '{}' is not in the logs (keys: {})", options_.monitor,
             join_keys(logs));
    const double v = it->second;
    const bool improved =
        maximize_ ? v > best_ + options_.min_delta : v < best_ - options_.min_delta;
    if (improved) {
      best_ = v;
      wait_ = 0;
      if (options_.restore_best_weights) {
        best_state_.clear();
        for (const auto& [name, t] : model.state()) best_state_.emplace(name, t.clone());
      }
      return true;
    }
    return ++wait_ < std::max(1, options_.patience);
  }
  void on_train_end(Model& model) override {
    if (options_.restore_best_weights && !best_state_.empty()) model.load_state(best_state_);
  }

 private:
  EarlyStoppingOptions options_;
  bool maximize_ = false;
  double best_ = 0;
  int wait_ = 0;
  std::map<std::string, Tensor> best_state_;
};

class CheckpointCallback final : public Callback {
 public:
  CheckpointCallback(std::filesystem::path dir, CheckpointOptions o)
      : dir_(std::move(dir)), options_(o) {
    RB_CHECK(options_.every_n_steps >= 0, ValueError,
             "ModelCheckpoint: every_n_steps is {}, expected >= 0", options_.every_n_steps);
  }
  void on_batch_end(Model& model, std::int64_t step, const Logs&) override {
    if (options_.every_n_steps > 0 && step % options_.every_n_steps == 0)
      model.save_checkpoint(dir_);
  }
  bool on_epoch_end(Model& model, int, const Logs&) override {
    if (options_.every_epoch) model.save_checkpoint(dir_);
    return true;
  }

 private:
  std::filesystem::path dir_;
  CheckpointOptions options_;
};

}  // namespace

CallbackPtr EarlyStopping(EarlyStoppingOptions options) {
  return std::make_shared<EarlyStoppingCallback>(std::move(options));
}

CallbackPtr ModelCheckpoint(std::filesystem::path dir, CheckpointOptions options) {
  return std::make_shared<CheckpointCallback>(std::move(dir), options);
}

}  // namespace recblocks
