#include "recblocks/autograd/ops/reduce.h"

#include "autograd/ops/common.h"
#include "recblocks/autograd/ops/shape.h"

namespace recblocks::ops {
namespace {

void reduce_backward(Tape& tape, std::int32_t node) {
  const std::int32_t x = tape.inputs(node)[0];
  const OpArgs& args = tape.args(node);
  detail::backend().broadcast_axis(tape.grad(node), static_cast<int>(args.i[0]), args.f[0],
                                   tape.grad_out(x));
}

Var reduce(const Var& x, int axis, bool keepdim, bool mean, const char* name) {
  detail::check_float(x, name, "input");
  const Shape& s = x.shape();
  const int a = s.normalize_axis(axis);
  const Shape out = keepdim ? s.with(a, 1) : s.without(a);
  const float alpha = mean ? 1.0f / static_cast<float>(std::max<std::int64_t>(s[a], 1)) : 1.0f;
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(out);
  detail::backend().reduce_sum(x.value(), a, alpha, y);
  OpArgs args;
  args.i[0] = a;
  args.f[0] = alpha;
  return tape.record(name, y, {x}, &reduce_backward, args);
}

}  // namespace

Var sum(const Var& x, int axis, bool keepdim) { return reduce(x, axis, keepdim, false, "sum"); }
Var mean(const Var& x, int axis, bool keepdim) { return reduce(x, axis, keepdim, true, "mean"); }
Var sum_all(const Var& x) { return sum(reshape(x, {x.value().numel()}), 0); }
Var mean_all(const Var& x) { return mean(reshape(x, {x.value().numel()}), 0); }

}  // namespace recblocks::ops
