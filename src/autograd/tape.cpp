#include "recblocks/autograd/tape.h"

namespace recblocks {
namespace {
thread_local bool g_grad_enabled = true;
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

const Tensor& Var::value() const { return tape_->value(id_); }
const Tensor& Var::grad() const { return tape_->grad(id_); }
bool Var::requires_grad() const { return tape_->requires_grad(id_); }

Tape::Tape(std::size_t arena_bytes) : arena_(arena_bytes) {
  nodes_.reserve(256);
  input_ids_.reserve(512);
}

Var Tape::constant(const Tensor& value) {
  RB_CHECK(value.defined(), ValueError, "Tape::constant: undefined tensor");
  Node& n = nodes_.emplace_back();
  n.value = value;
  n.op = "constant";
  return Var(this, static_cast<std::int32_t>(nodes_.size() - 1));
}

Var Tape::parameter(Parameter& p) {
  Node& n = nodes_.emplace_back();
  n.value = p.value();
  n.op = "parameter";
  n.param = &p;
  n.requires_grad = p.trainable() && grad_enabled();
  return Var(this, static_cast<std::int32_t>(nodes_.size() - 1));
}

Var Tape::record(const char* op, const Tensor& value, std::span<const Var> inputs,
                 BackwardFn backward, OpArgs args) {
  bool needs_grad = false;
  for (const Var& in : inputs) {
    RB_CHECK(in.defined() && &in.tape() == this, ValueError,
             "{}: an input belongs to another tape (or is undefined)", op);
    needs_grad = needs_grad || nodes_[in.id()].requires_grad;
  }
  needs_grad = needs_grad && grad_enabled();
  Node& n = nodes_.emplace_back();
  n.value = value;
  n.op = op;
  if (needs_grad) {
    n.requires_grad = true;
    n.backward = backward;
    n.input_begin = static_cast<std::int32_t>(input_ids_.size());
    n.input_count = static_cast<std::int32_t>(inputs.size());
    for (const Var& in : inputs) input_ids_.push_back(in.id());
    n.args = std::move(args);
  }
  return Var(this, static_cast<std::int32_t>(nodes_.size() - 1));
}

std::span<const std::int32_t> Tape::inputs(std::int32_t node) const {
  const Node& n = nodes_[node];
  return {input_ids_.data() + n.input_begin, static_cast<std::size_t>(n.input_count)};
}

kernels::GradOut Tape::grad_out(std::int32_t node) {
  Node& n = nodes_[node];
  if (!n.requires_grad) return {};
  if (n.grad.defined()) return {n.grad, true};
  if (n.param != nullptr) {
    kernels::GradOut g = n.param->dense_grad_out();
    n.grad = g.tensor;
    return g;
  }
  n.grad = arena_.tensor(n.value.shape());
  return {n.grad, false};
}

bool Tape::adopt_grad(std::int32_t node, const Tensor& grad) {
  Node& n = nodes_[node];
  if (!n.requires_grad || n.grad.defined() || n.param != nullptr || grad.shape() != n.value.shape())
    return false;
  n.grad = grad;
  return true;
}

void Tape::backward(const Var& loss) {
  RB_CHECK(loss.defined() && &loss.tape() == this, ValueError,
           "backward: the loss belongs to another tape");
  const Node& root = nodes_[loss.id()];
  RB_CHECK(root.value.numel() == 1, ShapeError,
           "backward: loss has shape {}, expected a scalar (one element)", root.value.shape());
  RB_CHECK(root.requires_grad, ValueError,
           "backward: the loss does not depend on any parameter that requires a gradient "
           "(or it was computed under NoGradGuard)");
  kernels::GradOut g = grad_out(loss.id());
  g.tensor.fill(1.0f);
  for (std::int32_t i = loss.id(); i >= 0; --i) {
    Node& n = nodes_[i];
    if (n.backward != nullptr && n.grad.defined()) n.backward(*this, i);
  }
}

void Tape::reset() {
  // Sparse gradients point into the arena that is about to be reused.
  for (const Node& n : nodes_)
    if (n.param != nullptr) n.param->drop_sparse_grads();
  nodes_.clear();
  input_ids_.clear();
  arena_.reset();
}

}  // namespace recblocks
