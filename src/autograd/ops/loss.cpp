#include "recblocks/autograd/ops/loss.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

// Predictions and targets must hold the same values per row: equal shapes,
// or [B] against [B, 1].
void check_targets(const Var& pred, const Tensor& targets, const char* op) {
  detail::check_float(pred, op, "prediction");
  RB_CHECK(targets.dtype() == DType::kFloat32, ShapeError,
           "{}: targets have dtype {}, expected float32", op, dtype_name(targets.dtype()));
  const Shape& p = pred.shape();
  const Shape& t = targets.shape();
  const bool column = (p.rank() == 2 && p[1] == 1 && t == Shape{p[0]}) ||
                      (t.rank() == 2 && t[1] == 1 && p == Shape{t[0]});
  RB_CHECK(p == t || column, ShapeError,
           "{}: predictions have shape {}, targets {}; expected equal", op, p, t);
  RB_CHECK(p.numel() > 0, ShapeError, "{}: empty batch (shape {})", op, p);
}

float upstream(Tape& tape, std::int32_t node) { return tape.grad(node).data<float>()[0]; }

void bce_backward(Tape& tape, std::int32_t node) {
  const std::int32_t x = tape.inputs(node)[0];
  detail::backend().bce_with_logits_backward(tape.value(x), tape.args(node).saved[0],
                                             upstream(tape, node), tape.grad_out(x));
}

void mse_backward(Tape& tape, std::int32_t node) {
  const std::int32_t x = tape.inputs(node)[0];
  detail::backend().mse_backward(tape.value(x), tape.args(node).saved[0], upstream(tape, node),
                                 tape.grad_out(x));
}

void cross_entropy_backward(Tape& tape, std::int32_t node) {
  const OpArgs& args = tape.args(node);
  detail::backend().softmax_cross_entropy_backward(
      args.saved[0], args.saved[1], upstream(tape, node), tape.grad_out(tape.inputs(node)[0]));
}

}  // namespace

Var bce_with_logits(const Var& logits, const Tensor& targets) {
  check_targets(logits, targets, "bce_with_logits");
  Tape& tape = logits.tape();
  Tensor loss = tape.arena().tensor(Shape{});
  detail::backend().bce_with_logits_forward(logits.value(), targets, loss);
  OpArgs args;
  args.saved[0] = targets;
  return tape.record("bce_with_logits", loss, {logits}, &bce_backward, args);
}

Var mse(const Var& pred, const Tensor& targets) {
  check_targets(pred, targets, "mse");
  Tape& tape = pred.tape();
  Tensor loss = tape.arena().tensor(Shape{});
  detail::backend().mse_forward(pred.value(), targets, loss);
  OpArgs args;
  args.saved[0] = targets;
  return tape.record("mse", loss, {pred}, &mse_backward, args);
}

Var softmax_cross_entropy(const Var& logits, const Tensor& labels) {
  detail::check_float(logits, "softmax_cross_entropy", "logits");
  detail::check_int(labels, "softmax_cross_entropy", "labels");
  const Shape& s = logits.shape();
  RB_CHECK(s.rank() == 2 && s[0] > 0 && s[1] > 0, ShapeError,
           "softmax_cross_entropy: logits have shape {}, expected [batch, classes]", s);
  RB_CHECK(labels.shape() == Shape{s[0]}, ShapeError,
           "softmax_cross_entropy: labels have shape {}, expected [{}]", labels.shape(), s[0]);
  const std::int64_t bad = detail::backend().find_out_of_range(labels, s[1]);
  RB_CHECK(bad < 0, ValueError, "softmax_cross_entropy: label {} at row {} is out of range [0, {})",
           bad < 0 ? 0 : static_cast<std::int64_t>(labels.item(bad)), bad, s[1]);
  Tape& tape = logits.tape();
  Tensor log_probs = tape.arena().tensor(s);
  Tensor loss = tape.arena().tensor(Shape{});
  detail::backend().softmax_cross_entropy_forward(logits.value(), labels, log_probs, loss);
  OpArgs args;
  args.saved[0] = log_probs;
  args.saved[1] = labels;
  return tape.record("softmax_cross_entropy", loss, {logits}, &cross_entropy_backward, args);
}

}  // namespace recblocks::ops
