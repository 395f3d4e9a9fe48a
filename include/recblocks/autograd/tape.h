// Reverse-mode automatic differentiation over a per-step tape.
//
// Each op appends a node (its output value, its inputs, and a pointer to its
// backward function) to the tape of its inputs. backward(loss) walks the
// nodes in reverse and hands each node's output gradient to its backward,
// which adds the input gradients. Parameters receive theirs in
// Parameter::dense_grad() / sparse_grads(). reset() clears nodes and the
// arena but keeps their capacity, so a steady training loop makes no heap
// allocation per op.
//
//   Tape tape;
//   Var w = tape.parameter(*kernel);          // leaf with gradient
//   Var x = tape.constant(batch_tensor);      // leaf without
//   Var loss = ops::mean(ops::relu(ops::matmul(x, w)), 0);
//   tape.backward(loss);                      // kernel->dense_grad() is set
//   tape.reset();                             // next step
//
// Under a NoGradGuard ops compute values only: no backward is recorded.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "recblocks/autograd/parameter.h"
#include "recblocks/core/arena.h"
#include "recblocks/core/rng.h"
#include "recblocks/core/tensor.h"

namespace recblocks {

class Tape;

// A value on a tape: a handle (tape, node index), cheap to copy. Valid until
// the tape is reset.
class Var {
 public:
  Var() = default;
  Var(Tape* tape, std::int32_t id) : tape_(tape), id_(id) {}

  bool defined() const { return tape_ != nullptr; }
  Tape& tape() const { return *tape_; }
  std::int32_t id() const { return id_; }
  const Tensor& value() const;
  const Shape& shape() const { return value().shape(); }
  // The gradient after backward(); undefined if none reached this value.
  // Exact for leaves (constants, parameters). An intermediate value's
  // buffer may have been reused by its op's fused backward (linear turns
  // it into the pre-activation gradient in place).
  const Tensor& grad() const;
  bool requires_grad() const;

 private:
  Tape* tape_ = nullptr;
  std::int32_t id_ = -1;
};

// Extra state an op keeps for its backward.
struct OpArgs {
  float f[4] = {};
  std::int64_t i[4] = {};
  Tensor saved[2];
};

class Tape {
 public:
  using BackwardFn = void (*)(Tape& tape, std::int32_t node);

  explicit Tape(std::size_t arena_bytes = 1 << 20);
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  Arena& arena() { return arena_; }
  // Random numbers for dropout; seeded, advances every draw.
  Rng& rng() { return rng_; }

  Var constant(const Tensor& value);
  Var parameter(Parameter& p);

  // Computes gradients of `loss` (a scalar or one-element tensor) for every
  // node that requires them; parameters receive theirs.
  void backward(const Var& loss);
  // Forgets all nodes and arena memory (every Var of this tape is invalid)
  // and drops the parameters' sparse gradients, which lived in the arena.
  void reset();

  std::size_t size() const { return nodes_.size(); }

  // ----- for ops -----
  // Records an op's result. Inputs that require gradients make the result
  // require one, unless gradients are disabled (NoGradGuard).
  Var record(const char* op, const Tensor& value, std::span<const Var> inputs, BackwardFn backward,
             OpArgs args = {});
  Var record(const char* op, const Tensor& value, std::initializer_list<Var> inputs,
             BackwardFn backward, OpArgs args = {}) {
    return record(op, value, std::span<const Var>(inputs.begin(), inputs.size()), backward,
                  std::move(args));
  }
  const Tensor& value(std::int32_t node) const { return nodes_[node].value; }
  const Tensor& grad(std::int32_t node) const { return nodes_[node].grad; }
  const OpArgs& args(std::int32_t node) const { return nodes_[node].args; }
  const char* op_name(std::int32_t node) const { return nodes_[node].op; }
  std::span<const std::int32_t> inputs(std::int32_t node) const;
  bool requires_grad(std::int32_t node) const { return nodes_[node].requires_grad; }
  Parameter* parameter_of(std::int32_t node) const { return nodes_[node].param; }
  // Where the gradient of `node` goes: the first call after it was created
  // returns an uninitialised buffer to overwrite, later calls the same
  // buffer to add into. Undefined (not wanted) if node needs no gradient.
  kernels::GradOut grad_out(std::int32_t node);
  // Takes `grad` (an arena tensor of the node's shape that the caller
  // gives up) as the whole gradient of `node` when nothing has been written
  // there yet and the node is not a parameter: an op that computed its
  // input's gradient during the forward pass hands it over without a copy.
  // False (nothing changed) otherwise: use grad_out.
  bool adopt_grad(std::int32_t node, const Tensor& grad);

 private:
  struct Node {
    Tensor value;
    Tensor grad;
    BackwardFn backward = nullptr;
    const char* op = "";
    std::int32_t input_begin = 0;
    std::int32_t input_count = 0;
    Parameter* param = nullptr;
    bool requires_grad = false;
    OpArgs args;
  };

  Arena arena_;
  Rng rng_{0x5eed};
  std::vector<Node> nodes_;
  std::vector<std::int32_t> input_ids_;
};

// Disables gradient recording on this thread while alive (evaluation and
// inference).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

bool grad_enabled();

}  // namespace recblocks
