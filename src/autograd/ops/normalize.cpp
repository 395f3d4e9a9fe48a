#include "recblocks/autograd/ops/normalize.h"

#include "autograd/ops/common.h"
#include "recblocks/autograd/ops/elementwise.h"
#include "recblocks/autograd/ops/reduce.h"

namespace recblocks::ops {
namespace {

// args.saved[0]: the row norms; args.f[0]: eps.
void l2_normalize_backward(Tape& tape, std::int32_t node) {
  const OpArgs& args = tape.args(node);
  detail::backend().l2_normalize_backward(tape.value(node), args.saved[0], args.f[0],
                                          tape.grad(node), tape.grad_out(tape.inputs(node)[0]));
}

}  // namespace

Var l2_normalize(const Var& x, float eps) {
  detail::check_float(x, "l2_normalize", "input");
  const Shape& s = x.shape();
  RB_CHECK(s.rank() >= 1, ShapeError, "l2_normalize: input has shape {}, expected at least 1-D", s);
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(s);
  Tensor norms = tape.arena().tensor({s.numel() / std::max<std::int64_t>(s[-1], 1)});
  detail::backend().l2_normalize_forward(x.value(), eps, y, norms);
  OpArgs args;
  args.f[0] = eps;
  args.saved[0] = norms;
  return tape.record("l2_normalize", y, {x}, &l2_normalize_backward, args);
}

Var cosine_similarity(const Var& a, const Var& b, float eps) {
  RB_CHECK(a.shape() == b.shape(), ShapeError, "cosine_similarity: shapes {} and {} differ",
           a.shape(), b.shape());
  return sum(mul(l2_normalize(a, eps), l2_normalize(b, eps)), -1, /*keepdim=*/true);
}

}  // namespace recblocks::ops
