#include "recblocks/autograd/ops/activation.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

using kernels::Unary;

constexpr const char* kNames[] = {"relu", "sigmoid", "tanh", "softplus", "gelu"};

void unary_backward(Tape& tape, std::int32_t node) {
  const std::int32_t x = tape.inputs(node)[0];
  detail::backend().unary_backward(static_cast<Unary>(tape.args(node).i[0]), tape.value(x),
                                   tape.value(node), tape.grad(node), tape.grad_out(x));
}

Var unary(Unary op, const Var& x) {
  const char* name = kNames[static_cast<int>(op)];
  detail::check_float(x, name, "input");
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(x.shape());
  detail::backend().unary_forward(op, x.value(), y);
  OpArgs args;
  args.i[0] = static_cast<std::int64_t>(op);
  return tape.record(name, y, {x}, &unary_backward, args);
}

}  // namespace

Var relu(const Var& x) { return unary(Unary::kRelu, x); }
Var sigmoid(const Var& x) { return unary(Unary::kSigmoid, x); }
Var tanh(const Var& x) { return unary(Unary::kTanh, x); }
Var softplus(const Var& x) { return unary(Unary::kSoftplus, x); }
Var gelu(const Var& x) { return unary(Unary::kGelu, x); }

}  // namespace recblocks::ops
