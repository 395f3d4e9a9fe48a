#include "recblocks/autograd/ops/softmax.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

void softmax_backward(Tape& tape, std::int32_t node) {
  detail::backend().softmax_backward(tape.value(node), tape.args(node).i[0] != 0, tape.grad(node),
                                     tape.grad_out(tape.inputs(node)[0]));
}

Var softmax_impl(const Var& x, bool log, const char* name) {
  detail::check_float(x, name, "input");
  RB_CHECK(x.shape().rank() >= 1 && x.shape()[-1] > 0, ShapeError,
           "{}: input has shape {}, expected [..., classes] with classes > 0", name, x.shape());
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(x.shape());
  detail::backend().softmax_forward(x.value(), log, y);
  OpArgs args;
  args.i[0] = log;
  return tape.record(name, y, {x}, &softmax_backward, args);
}

}  // namespace

Var softmax(const Var& x) { return softmax_impl(x, false, "softmax"); }
Var log_softmax(const Var& x) { return softmax_impl(x, true, "log_softmax"); }

}  // namespace recblocks::ops
