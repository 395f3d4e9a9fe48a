// Optimizers: update parameters from their gradients after a backward.
//
//   rb::Optimizer opt = rb::optim::Adam({.learning_rate = 1e-3f});
//   opt.init(model_parameters);           // creates the state (moments, ...)
//   ... tape.backward(loss);
//   opt.step();                           // reads dense and sparse gradients
//
// Defaults follow Keras (what Merlin's compile("adam") used): Adam lr 1e-3,
// beta1 0.9, beta2 0.999, epsilon 1e-7 with Keras' update
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
// SGD lr 0.01; Adagrad lr 1e-3, initial accumulator 0.1, epsilon 1e-7;
// FTRL lr 1e-3, initial accumulator 0.1, l1 = l2 = beta = 0.
// The updates (g the gradient, lr the rate of this step):
//   SGD:      w -= lr g
//   momentum: Keras' form, the velocity holds the step (lr included):
//             v = momentum v - lr g;  w += v  (nesterov: w += momentum v - lr g)
//             (PyTorch's v = momentum v + g; w -= lr v is the same for a
//             constant lr, not under a schedule.)
//   Adagrad:  acc += g^2;  w -= lr g / (sqrt(acc) + eps)
//   RowWiseAdagrad on a table row r: acc[r] += mean(g[r]^2);
//             w[r] -= lr g[r] / (sqrt(acc[r]) + eps)
//   FTRL:     FTRL-Proximal (McMahan et al. 2013), learning_rate_power
//             -0.5, as TensorFlow computes it ("accumulator" n, "linear" z):
//             n' = n + g^2;  z += g - (sqrt(n') - sqrt(n)) / lr * w;  n = n'
//             w = |z| > l1 ? (sign(z) l1 - z) / ((beta + sqrt(n)) / lr + 2 l2)
//                          : 0
//             (Keras' l2_regularization_strength is l2.) The rate must stay
//             > 0. Tables for FTRL usually start at zero.
//
// Embedding tables receive sparse gradients (Parameter::sparse_grads():
// the rows the batch touched). What each optimizer does to the rows a batch
// did not touch:
//   - SGD without momentum, Adagrad, RowWiseAdagrad, LazyAdam, FTRL:
//     nothing (FTRL: as TensorFlow's sparse FTRL). For
//     SGD and Adagrad this is exactly the dense update (a zero gradient
//     changes neither the weights nor the accumulator); LazyAdam and
//     RowWiseAdagrad are defined that way. These four update only the
//     touched rows, and can do it during the backward pass (fused: see
//     fuse_sparse_updates).
//   - SGD with momentum or Nesterov, Adam: the dense update, as Keras and
//     PyTorch apply it to a dense gradient: every row's moments decay and
//     every row with a non-zero moment moves, touched or not. This costs a
//     pass over the whole table each step.
// weight_decay adds weight_decay * w to the gradient (L2 through the
// optimizer, PyTorch's convention) of the elements the optimizer updates:
// for the lazy four only the touched rows of a table. Adam's
// decoupled_weight_decay applies it as AdamW: w -= lr * wd * w (lr the
// scheduled rate, without bias correction; before the Adam step, as Keras
// and PyTorch do).
//
// State: per-parameter slots named "<parameter>/<slot>" ("m", "v",
// "accumulator", "momentum") plus "iterations" (int64 scalar, the number of
// steps done); state() and load_state() move it for checkpoints, so a
// resumed fit continues bit-identically. init() creates every slot, for
// every trainable parameter: "momentum" (SGD with momentum > 0), "m" and "v"
// (Adam, LazyAdam), "accumulator" (Adagrad) of the parameter's shape.
// RowWiseAdagrad cannot know at init which parameters will get sparse
// gradients: a 2-D parameter starts with a per-row "accumulator" [rows]; if
// a step gives it only a dense gradient while that accumulator still holds
// its initial value everywhere (so it was never trained row-wise), it is a
// dense parameter: the slot becomes element-wise, of the parameter's shape,
// for good. The rule reads only the state, so a resumed run decides alike;
// load_state accepts either shape. Other parameters get an element-wise
// accumulator from the start. A 2-D parameter in row-wise mode that gets a
// dense gradient (alone or with sparse rows) updates every row row-wise.
//
// JSON (to_json / from_json): {"type": "adam", "learning_rate": {...} or a
// number, "beta_1": 0.9, ...}, the option names below; missing options take
// their defaults, unknown ones throw ValueError naming them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recblocks/autograd/parameter.h"
#include "recblocks/core/options.h"
#include "recblocks/core/tensor.h"

namespace recblocks {

// The learning rate as a function of the step (0-based number of updates
// done before this one).
//   constant:          lr
//   exponential decay: lr * rate^(step / decay_steps)   (floor() if staircase)
//   cosine decay:      lr * (alpha + (1 - alpha) c),
//                      c = 0.5 (1 + cos(pi min(step, decay_steps) / decay_steps))
// With warmup_steps > 0, the first warmup_steps steps ramp linearly
// (lr * (step + 1) / warmup_steps) and the decay starts after them.
// JSON: {"decay": "constant" | "exponential" | "cosine", "initial": lr, the
// decay's own keys (decay_steps, rate, staircase | decay_steps, alpha),
// "warmup_steps" when > 0}; from_json also takes a plain number (constant).
// Keys that are unknown or belong to another decay throw ValueError, as do
// invalid values (decay_steps <= 0 for a decay, a negative rate, ...).
// The keys are option_fields(); uses() says which belong to which decay.
struct LearningRate {
  enum class Decay : std::uint8_t { kConstant, kExponential, kCosine };

  float initial = 1e-3f;
  Decay decay = Decay::kConstant;
  std::int64_t decay_steps = 0;  // > 0 for the decays
  float rate = 0.96f;            // exponential
  bool staircase = false;        // exponential
  float alpha = 0.0f;            // cosine: the final fraction of lr
  std::int64_t warmup_steps = 0;

  LearningRate() = default;
  LearningRate(float lr) : initial(lr) {}  // NOLINT: a plain float is a constant rate

  static LearningRate constant(float lr);
  static LearningRate exponential_decay(float lr, std::int64_t decay_steps, float rate,
                                        bool staircase = false);
  static LearningRate cosine_decay(float lr, std::int64_t decay_steps, float alpha = 0.0f);
  LearningRate with_warmup(std::int64_t steps) const;

  float at(std::int64_t step) const;
  nlohmann::json to_json() const;
  static LearningRate from_json(const nlohmann::json& json);  // errors name the bad key

  // Whether `key` (one of option_fields()) belongs to `decay`'s schedule:
  // to_json writes only those, from_json rejects the others.
  static bool uses(Decay decay, std::string_view key);
  static auto decay_codec() {
    return options::enum_codec<Decay>({{Decay::kConstant, "constant"},
                                       {Decay::kExponential, "exponential"},
                                       {Decay::kCosine, "cosine"}});
  }
  static auto option_fields() {
    using O = LearningRate;
    return options::table<O>(
        "LearningRate", options::field("decay", &O::decay, "the schedule", decay_codec()),
        options::field("initial", &O::initial, "the rate (after the warmup), >= 0"),
        options::field("decay_steps", &O::decay_steps,
                       "exponential, cosine: steps of one decay period, > 0"),
        options::field("rate", &O::rate, "exponential: the factor per decay_steps, > 0"),
        options::field("staircase", &O::staircase, "exponential: decay in whole periods"),
        options::field("alpha", &O::alpha, "cosine: the final fraction of the rate, in [0, 1]"),
        options::field("warmup_steps", &O::warmup_steps,
                       "steps of linear ramp from 0 before the decay, >= 0")
            .omit_if_default());
  }
};

// An optimizer's learning_rate: a number (a constant rate) or a schedule's
// object, as LearningRate::to_json / from_json write and read it.
template <>
struct options::Codec<LearningRate> {
  std::string type_name() const { return "number|LearningRate"; }
  nlohmann::json write(const LearningRate& v) const { return v.to_json(); }
  // For the docs: a constant rate as its number.
  std::string show(const LearningRate& v) const {
    const bool constant = v.decay == LearningRate::Decay::kConstant && v.warmup_steps == 0;
    return constant ? fmt::format("{}", v.initial) : v.to_json().dump();
  }
  LearningRate read(const nlohmann::json& j, const Path& /*path*/) const {
    return LearningRate::from_json(j);
  }
};

// The shared step and state (src/optim/rule_optimizer.h) and one subclass
// per algorithm (src/optim/optimizers.cpp): opaque outside src/optim/. The
// update math runs in the backend (kernels::Backend::optimizer_update*).
class OptimizerBase;

class Optimizer {
 public:
  Optimizer() = default;
  explicit Optimizer(std::shared_ptr<OptimizerBase> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  OptimizerBase& impl() const;

  // "sgd", "adam", "lazy_adam", "adagrad", "rowwise_adagrad", "ftrl", "multi"
  std::string_view type() const;
  // {"type": ..., "learning_rate": {...}, options...}: what from_json reads.
  nlohmann::json to_json() const;
  static Optimizer from_json(const nlohmann::json& json);

  // The parameters to train (non-trainable ones are skipped), by name.
  // Creates the slots; a second init replaces the parameter set and state.
  void init(const std::vector<std::pair<std::string, ParameterPtr>>& parameters) const;
  // One update of every initialised parameter that has a gradient this step
  // (dense, sparse, or both: sparse segments of one table are merged, rows
  // summed, before the update). Then zero_grad()s them and counts the step.
  // Throws NonFiniteError (a ValueError) naming the parameter if a gradient
  // is not finite (before changing anything).
  void step() const;
  std::int64_t iterations() const;
  float current_learning_rate() const;  // at iterations()

  // Fused sparse updates (the lazy optimizers only; a no-op for the
  // others): from now on, a table that received exactly one sparse gradient
  // segment and no dense gradient in the last step() gets its update applied
  // inside the backward pass, as the embedding backward produces the rows
  // (Parameter::set_sparse_sink), instead of at step(): the rows never wait
  // in memory and the table is touched once. The result is the same update,
  // bit for bit: the sink runs the code step() runs on one segment, with the
  // learning rate and Adam's t of the step about to be counted; it checks the
  // rows are finite (NonFiniteError naming the table, before changing anything).
  // step() still counts the iteration and updates the other parameters.
  // A fused table must keep getting one lookup and no dense gradient per
  // step: a second segment, or a dense gradient, in a later step throws
  // Error saying so and turns that table's fusing off: a second segment in
  // the backward (the first one is applied already), a dense gradient in
  // step() before changing anything (a step() after that applies the dense
  // gradient alone). Fusing starts from the
  // last step's pattern when enabled, and follows each step after that.
  // fuse_sparse_updates(false), init() and destruction remove the sinks.
  void fuse_sparse_updates(bool enable = true) const;

  std::map<std::string, Tensor> state() const;  // copies
  // Errors name a missing, unknown or mis-shaped slot.
  void load_state(const std::map<std::string, Tensor>& state) const;

 private:
  std::shared_ptr<OptimizerBase> impl_;
};

namespace optim {

// The options of each optimizer: declared once in option_fields(), which
// gives to_json / from_json (the keys below) and optimizer_type_docs().
inline constexpr std::string_view kLearningRateDoc =
    R"(a number (constant) or a schedule {"decay": ..., "initial": ...})";
inline constexpr std::string_view kWeightDecayDoc = "L2 added to the gradient, >= 0";

struct SGDOptions {
  LearningRate learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  float weight_decay = 0.0f;

  static auto option_fields() {
    using O = SGDOptions;
    return options::table<O>(
        "SGDOptions", options::field("learning_rate", &O::learning_rate, kLearningRateDoc),
        options::field("momentum", &O::momentum, "in [0, 1]; 0: plain SGD"),
        options::field("nesterov", &O::nesterov, "Nesterov momentum (needs momentum > 0)"),
        options::field("weight_decay", &O::weight_decay, kWeightDecayDoc));
  }
};
struct AdamOptions {
  LearningRate learning_rate = 1e-3f;
  float beta_1 = 0.9f;
  float beta_2 = 0.999f;
  float epsilon = 1e-7f;
  float weight_decay = 0.0f;
  bool decoupled_weight_decay = false;  // AdamW

  static auto option_fields() {
    using O = AdamOptions;
    return options::table<O>(
        "AdamOptions", options::field("learning_rate", &O::learning_rate, kLearningRateDoc),
        options::field("beta_1", &O::beta_1, "decay of the first moment, in [0, 1)"),
        options::field("beta_2", &O::beta_2, "decay of the second moment, in [0, 1)"),
        options::field("epsilon", &O::epsilon, "added to sqrt(v), >= 0"),
        options::field("weight_decay", &O::weight_decay, kWeightDecayDoc),
        options::field("decoupled_weight_decay", &O::decoupled_weight_decay,
                       "AdamW: w -= lr * weight_decay * w instead of the gradient's L2"));
  }
};
struct AdagradOptions {
  LearningRate learning_rate = 1e-3f;
  float initial_accumulator_value = 0.1f;
  float epsilon = 1e-7f;
  float weight_decay = 0.0f;

  static auto option_fields() {
    using O = AdagradOptions;
    return options::table<O>(
        "AdagradOptions", options::field("learning_rate", &O::learning_rate, kLearningRateDoc),
        options::field("initial_accumulator_value", &O::initial_accumulator_value,
                       "the accumulator's start, >= 0"),
        options::field("epsilon", &O::epsilon, "added to sqrt(accumulator), >= 0"),
        options::field("weight_decay", &O::weight_decay, kWeightDecayDoc));
  }
};

Optimizer SGD(SGDOptions options = {});
Optimizer Adam(AdamOptions options = {});
// Adam on the touched rows only (TF Addons' LazyAdam): bias correction uses
// the global step; untouched rows keep their moments and weights. Dense
// parameters are updated as by Adam.
Optimizer LazyAdam(AdamOptions options = {});
Optimizer Adagrad(AdagradOptions options = {});
// One accumulator per row of a table (FBGEMM's row-wise Adagrad: the mean
// of the squared gradient over the row's dim), touched rows only; dense
// parameters get element-wise Adagrad.
Optimizer RowWiseAdagrad(AdagradOptions options = {});

struct FtrlOptions {
  LearningRate learning_rate = 1e-3f;
  float initial_accumulator_value = 0.1f;
  float l1 = 0.0f;  // l1_regularization_strength
  float l2 = 0.0f;  // l2_regularization_strength
  float beta = 0.0f;

  static auto option_fields() {
    using O = FtrlOptions;
    return options::table<O>(
        "FtrlOptions",
        options::field("learning_rate", &O::learning_rate, "a number or a schedule, > 0"),
        options::field("initial_accumulator_value", &O::initial_accumulator_value,
                       "the accumulator's start, >= 0"),
        options::field("l1", &O::l1, "l1_regularization_strength, >= 0"),
        options::field("l2", &O::l2, "l2_regularization_strength, >= 0"),
        options::field("beta", &O::beta, "added to sqrt(accumulator), >= 0"));
  }
};
Optimizer Ftrl(FtrlOptions options = {});

// Merlin's MultiOptimizer: a different optimizer for some parameters, here
// chosen by the parameter's name (Block::parameters(): "<path>/<name>", so
// a prefix is a block of the model, e.g. "wide/"). Each parameter goes to
// the first group whose prefix its name starts with, the others to
// default_optimizer.
//
//   model.compile(rb::optim::MultiOptimizer(
//       rb::optim::Adam(), {{"wide/", rb::optim::Ftrl({.learning_rate = 0.05f})}}));
//
// Every group steps each step; iterations() and current_learning_rate()
// are the default optimizer's. state() holds every group's slots and one
// "iterations". init throws ValueError for a group that matches no
// parameter; the constructor for a group without an optimizer, an empty or
// repeated prefix, one Optimizer object in two groups, or a nested
// MultiOptimizer. step() checks every group's gradients before any group
// updates (the guarantee of step() above holds for the whole model).
// JSON: {"type": "multi", "default": {...},
//        "groups": [{"prefix": "wide/", "optimizer": {...}}, ...]}.
struct OptimizerGroup {
  std::string prefix;
  Optimizer optimizer;
};
Optimizer MultiOptimizer(Optimizer default_optimizer, std::vector<OptimizerGroup> groups);

// "sgd", "adam", "lazy_adam"/"lazyadam", "adagrad", "rowwise_adagrad", "ftrl" with
// defaults (Merlin's compile(optimizer="adam")); unknown names throw
// ValueError listing the known ones.
Optimizer by_name(std::string_view name);

// Every optimizer type of from_json ("sgd", ..., "multi"), with its JSON
// options besides "type": key, type, default and doc of each (what
// `recblocks options` prints).
struct OptimizerTypeDoc {
  std::string type;
  std::vector<options::FieldDoc> options;
};
std::vector<OptimizerTypeDoc> optimizer_type_docs();
// optimizer_type_docs() as text, each type then one line per key, and the
// learning-rate schedule's keys (what `recblocks options` prints).
std::string optimizer_types_help();

}  // namespace optim
}  // namespace recblocks
