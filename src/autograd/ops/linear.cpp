#include "recblocks/autograd/ops/linear.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

void linear_backward(Tape& tape, std::int32_t node) {
  const auto in = tape.inputs(node);
  const OpArgs& args = tape.args(node);
  const auto act = static_cast<Activation>(args.i[0]);
  const bool has_bias = args.i[1] != 0;
  const float input_scale = args.f[0];
  const Tensor& x = tape.value(in[0]);
  const Tensor& w = tape.value(in[1]);
  const std::int64_t k = w.size(0), n = w.size(1), m = x.numel() / k;
  const Shape x2{m, k};
  const kernels::GradOut dx = detail::grad_out_as(tape, in[0], x2);
  const kernels::GradOut dw = tape.grad_out(in[1]);
  const kernels::GradOut db = has_bias ? tape.grad_out(in[2]) : kernels::GradOut{};
  detail::backend().linear_backward(x.view(x2), w, tape.value(node).view({m, n}), act, input_scale,
                                    tape.grad(node).view({m, n}), dx, dw, db);
}

}  // namespace

Var linear(const Var& x, const Var& kernel, const Var& bias, Activation activation,
           float input_scale) {
  const Shape& xs = x.shape();
  const Shape& ws = kernel.shape();
  detail::check_float(x, "linear", "input");
  detail::check_float(kernel, "linear", "kernel");
  RB_CHECK(ws.rank() == 2, ShapeError, "linear: kernel{} has shape {}, expected [in, out]",
           detail::describe(kernel), ws);
  RB_CHECK((xs.rank() == 2 || xs.rank() == 3) && xs[-1] == ws[0], ShapeError,
           "linear: input has shape {}, expected [*, {}] (kernel{} {})", xs, ws[0],
           detail::describe(kernel), ws);
  if (bias.defined()) {
    detail::check_float(bias, "linear", "bias");
    RB_CHECK(bias.shape() == Shape{ws[1]}, ShapeError, "linear: bias{} has shape {}, expected [{}]",
             detail::describe(bias), bias.shape(), ws[1]);
  }
  Tape& tape = x.tape();
  const std::int64_t m = xs.numel() / ws[0];
  Tensor y = tape.arena().tensor({m, ws[1]});
  detail::backend().linear_forward(x.value().view({m, ws[0]}), kernel.value(),
                                   bias.defined() ? bias.value() : Tensor(), activation,
                                   input_scale, y);
  OpArgs args;
  args.i[0] = static_cast<std::int64_t>(activation);
  args.i[1] = bias.defined() ? 1 : 0;
  args.f[0] = input_scale;
  const Tensor out = y.view(xs.with(-1, ws[1]));
  if (bias.defined()) return tape.record("linear", out, {x, kernel, bias}, &linear_backward, args);
  return tape.record("linear", out, {x, kernel}, &linear_backward, args);
}

}  // namespace recblocks::ops
