#include "recblocks/autograd/ops/elementwise.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

using kernels::Binary;

constexpr const char* kNames[] = {"add", "sub", "mul", "div"};

void binary_backward(Tape& tape, std::int32_t node) {
  const auto in = tape.inputs(node);
  const auto op = static_cast<Binary>(tape.args(node).i[0]);
  // In this order: for a Var used as both operands the second grad_out()
  // accumulates into the buffer the first one writes.
  const kernels::GradOut da = tape.grad_out(in[0]);
  const kernels::GradOut db = tape.grad_out(in[1]);
  detail::backend().binary_backward(op, tape.value(in[0]), tape.value(in[1]), tape.grad(node), da,
                                    db);
}

Var binary(Binary op, const Var& a, const Var& b) {
  const char* name = kNames[static_cast<int>(op)];
  detail::check_float(a, name, "a");
  detail::check_float(b, name, "b");
  const Shape out = broadcast_shapes(a.shape(), b.shape(), name);
  Tape& tape = a.tape();
  Tensor y = tape.arena().tensor(out);
  detail::backend().binary_forward(op, a.value(), b.value(), y);
  OpArgs args;
  args.i[0] = static_cast<std::int64_t>(op);
  return tape.record(name, y, {a, b}, &binary_backward, args);
}

void scale_backward(Tape& tape, std::int32_t node) {
  detail::backend().scale(tape.grad(node), tape.args(node).f[0],
                          tape.grad_out(tape.inputs(node)[0]));
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int rank = std::max(a.rank(), b.rank());
  std::int64_t dims[Shape::kMaxRank];
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    const std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    RB_CHECK(da == db || da == 1 || db == 1, ShapeError,
             "{}: shapes {} and {} cannot be broadcast together", op, a, b);
    dims[i] = da == 1 ? db : da;
  }
  return Shape(std::span<const std::int64_t>(dims, static_cast<std::size_t>(rank)));
}

Var add(const Var& a, const Var& b) { return binary(Binary::kAdd, a, b); }
Var sub(const Var& a, const Var& b) { return binary(Binary::kSub, a, b); }
Var mul(const Var& a, const Var& b) { return binary(Binary::kMul, a, b); }
Var div(const Var& a, const Var& b) { return binary(Binary::kDiv, a, b); }

Var scale(const Var& x, float alpha) {
  detail::check_float(x, "scale", "input");
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(x.shape());
  detail::backend().scale(x.value(), alpha, {y, false});
  OpArgs args;
  args.f[0] = alpha;
  return tape.record("scale", y, {x}, &scale_backward, args);
}

}  // namespace recblocks::ops
