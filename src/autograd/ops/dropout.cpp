#include "recblocks/autograd/ops/dropout.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

// args.f[0]: rate; args.i[0]: the Rng stream of the mask.
void dropout_backward(Tape& tape, std::int32_t node) {
  const OpArgs& args = tape.args(node);
  detail::backend().dropout_backward(tape.grad(node), args.f[0],
                                     static_cast<std::uint64_t>(args.i[0]),
                                     tape.grad_out(tape.inputs(node)[0]));
}

}  // namespace

Var dropout(const Var& x, float rate, bool training) {
  detail::check_float(x, "dropout", "input");
  RB_CHECK(rate >= 0.0f && rate < 1.0f, ValueError, "dropout: rate is {}, expected in [0, 1)",
           rate);
  if (!training || rate == 0.0f) return x;
  Tape& tape = x.tape();
  const std::uint64_t stream =
      tape.rng().next_stream(static_cast<std::uint64_t>(x.value().numel()));
  Tensor y = tape.arena().tensor(x.shape());
  detail::backend().dropout_forward(x.value(), rate, stream, y);
  OpArgs args;
  args.f[0] = rate;
  args.i[0] = static_cast<std::int64_t>(stream);
  return tape.record("dropout", y, {x}, &dropout_backward, args);
}

}  // namespace recblocks::ops
