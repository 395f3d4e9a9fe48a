#include "recblocks/autograd/ops/norm.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

// args.saved: mean, invstd; args.i[0]: training.
void batch_norm_backward(Tape& tape, std::int32_t node) {
  const auto in = tape.inputs(node);
  const OpArgs& args = tape.args(node);
  const Tensor& x = tape.value(in[0]);
  const std::int64_t c = x.shape()[-1];
  const Shape x2{x.numel() / c, c};
  const kernels::GradOut dx = detail::grad_out_as(tape, in[0], x2);
  const kernels::GradOut dgamma = tape.grad_out(in[1]);
  const kernels::GradOut dbeta = tape.grad_out(in[2]);
  detail::backend().batch_norm_backward(x.view(x2), args.saved[0], args.saved[1], tape.value(in[1]),
                                        tape.grad(node).view(x2), args.i[0] != 0, dx, dgamma,
                                        dbeta);
}

void layer_norm_backward(Tape& tape, std::int32_t node) {
  const auto in = tape.inputs(node);
  const OpArgs& args = tape.args(node);
  const kernels::GradOut dx = tape.grad_out(in[0]);
  const kernels::GradOut dgamma = tape.grad_out(in[1]);
  const kernels::GradOut dbeta = tape.grad_out(in[2]);
  detail::backend().layer_norm_backward(tape.value(in[0]), args.saved[0], args.saved[1],
                                        tape.value(in[1]), tape.grad(node), dx, dgamma, dbeta);
}

void check_affine(const Var& p, std::int64_t c, const char* op, const char* what) {
  detail::check_float(p, op, what);
  RB_CHECK(p.shape() == Shape{c}, ShapeError, "{}: {}{} has shape {}, expected [{}]", op, what,
           detail::describe(p), p.shape(), c);
}

}  // namespace

Var batch_norm(const Var& x, const Var& gamma, const Var& beta, Parameter& running_mean,
               Parameter& running_var, BatchNormOptions options) {
  detail::check_float(x, "batch_norm", "input");
  const Shape& s = x.shape();
  RB_CHECK(s.rank() == 2 || s.rank() == 3, ShapeError,
           "batch_norm: input has shape {}, expected [batch, C] or [batch, seq, C]", s);
  const std::int64_t c = s[-1], n = s.numel() / c;
  check_affine(gamma, c, "batch_norm", "gamma");
  check_affine(beta, c, "batch_norm", "beta");
  for (const Parameter* p : {&running_mean, &running_var}) {
    RB_CHECK(p->value().shape() == Shape{c}, ShapeError,
             "batch_norm: running statistic '{}' has shape {}, expected [{}]", p->name(),
             p->value().shape(), c);
  }
  Tape& tape = x.tape();
  Arena& arena = tape.arena();
  const Tensor x2 = x.value().view({n, c});
  Tensor mean, invstd = arena.tensor({c});
  if (options.training) {
    mean = arena.tensor({c});
    RB_CHECK(n > 1, ShapeError, "batch_norm: training needs more than one row, got shape {}", s);
    Tensor var = arena.tensor({c});
    detail::backend().batch_norm_statistics(x2, options.eps, mean, var, invstd);
    const float unbias = static_cast<float>(n) / static_cast<float>(n - 1);
    detail::backend().batch_norm_update_running(mean, var, options.momentum, unbias,
                                                running_mean.value(), running_var.value());
  } else {
    mean = running_mean.value();
    detail::backend().batch_norm_inverse_std(running_var.value(), options.eps, invstd);
  }
  Tensor y = arena.tensor(s);
  detail::backend().batch_norm_apply(x2, mean, invstd, gamma.value(), beta.value(), y.view({n, c}));
  OpArgs args;
  args.i[0] = options.training;
  args.saved[0] = mean;
  args.saved[1] = invstd;
  return tape.record("batch_norm", y, {x, gamma, beta}, &batch_norm_backward, args);
}

Var layer_norm(const Var& x, const Var& gamma, const Var& beta, float eps) {
  detail::check_float(x, "layer_norm", "input");
  const Shape& s = x.shape();
  RB_CHECK(s.rank() >= 1, ShapeError, "layer_norm: input has shape {}, expected at least 1-D", s);
  const std::int64_t d = s[-1], rows = s.numel() / std::max<std::int64_t>(d, 1);
  check_affine(gamma, d, "layer_norm", "gamma");
  check_affine(beta, d, "layer_norm", "beta");
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(s);
  Tensor mean = tape.arena().tensor({rows}), invstd = tape.arena().tensor({rows});
  detail::backend().layer_norm_forward(x.value(), gamma.value(), beta.value(), eps, y, mean,
                                       invstd);
  OpArgs args;
  args.saved[0] = mean;
  args.saved[1] = invstd;
  return tape.record("layer_norm", y, {x, gamma, beta}, &layer_norm_backward, args);
}

}  // namespace recblocks::ops
