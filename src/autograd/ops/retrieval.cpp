#include "recblocks/autograd/ops/retrieval.h"

#include <cmath>

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

std::int64_t id_at(const Tensor& ids, std::int64_t i) {
  return ids.dtype() == DType::kInt64 ? ids.data<std::int64_t>()[i] : ids.data<std::int32_t>()[i];
}

// The loss's gradient for an upstream of 1 was computed by the forward pass
// (saved[0]); the backward scales it.
void retrieval_loss_backward(Tape& tape, std::int32_t node) {
  const Tensor& unit = tape.args(node).saved[0];
  const float g = tape.grad(node).data<float>()[0];
  const std::int32_t input = tape.inputs(node)[0];
  // The scores' first gradient (the usual case): the saved buffer becomes
  // it, scaled in place (a backward runs once per tape, so the buffer is
  // free to take).
  if (tape.adopt_grad(input, unit)) {
    detail::backend().retrieval_loss_backward(unit, g, {unit, false});
    return;
  }
  detail::backend().retrieval_loss_backward(unit, g, tape.grad_out(input));
}

}  // namespace

const char* retrieval_loss_name(RetrievalLoss kind) {
  switch (kind) {
    case RetrievalLoss::kCategoricalCrossEntropy: return "categorical_crossentropy";
    case RetrievalLoss::kBPR: return "bpr";
    case RetrievalLoss::kLogistic: return "logistic";
    case RetrievalLoss::kHinge: return "hinge";
  }
  return "";
}

RetrievalLoss retrieval_loss_from_name(std::string_view name) {
  if (name == "ce") return RetrievalLoss::kCategoricalCrossEntropy;
  for (RetrievalLoss k : {RetrievalLoss::kCategoricalCrossEntropy, RetrievalLoss::kBPR,
                          RetrievalLoss::kLogistic, RetrievalLoss::kHinge}) {
    if (name == retrieval_loss_name(k)) return k;
  }
  throw ValueError(
      fmt::format("retrieval loss '{}' is unknown (expected categorical_crossentropy (or ce), bpr, "
                  "logistic or hinge)",
                  name));
}

Var retrieval_loss(const Var& scores, const Tensor& positives,
                   const RetrievalLossOptions& options) {
  detail::check_float(scores, "retrieval_loss", "scores");
  detail::check_int(positives, "retrieval_loss", "positives");
  const Shape& s = scores.shape();
  RB_CHECK(s.rank() == 2 && s[0] > 0 && s[1] > 0, ShapeError,
           "retrieval_loss: scores have shape {}, expected [queries, candidates]", s);
  const std::int64_t rows = s[0];
  const std::int64_t cols = s[1];
  RB_CHECK(positives.shape() == Shape{rows}, ShapeError,
           "retrieval_loss: positives have shape {}, expected [{}]", positives.shape(), rows);
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t p = id_at(positives, i);
    RB_CHECK(p >= 0 && p < cols, ValueError,
             "retrieval_loss: the positive of row {} is column {}, expected [0, {})", i, p, cols);
  }
  const bool has_bias = options.column_bias.defined();
  if (has_bias) {
    RB_CHECK(options.column_bias.dtype() == DType::kFloat32 &&
                 options.column_bias.shape() == Shape{cols},
             ShapeError, "retrieval_loss: column_bias is {} {}, expected float32 [{}]",
             dtype_name(options.column_bias.dtype()), options.column_bias.shape(), cols);
  }
  const bool has_ids = options.column_ids.defined();
  if (has_ids) {
    detail::check_int(options.column_ids, "retrieval_loss", "column_ids");
    RB_CHECK(options.column_ids.shape() == Shape{cols}, ShapeError,
             "retrieval_loss: column_ids have shape {}, expected [{}]", options.column_ids.shape(),
             cols);
  }
  const bool has_counts = options.column_counts.defined();
  if (has_counts) {
    RB_CHECK(options.column_counts.dtype() == DType::kInt64 &&
                 options.column_counts.shape() == Shape{cols},
             ShapeError, "retrieval_loss: column_counts are {} {}, expected int64 [{}]",
             dtype_name(options.column_counts.dtype()), options.column_counts.shape(), cols);
    for (std::int64_t j = 0; j < cols; ++j) {
      RB_CHECK(options.column_counts.data<std::int64_t>()[j] >= 1, ValueError,
               "retrieval_loss: column {} has count {}, expected >= 1", j,
               options.column_counts.data<std::int64_t>()[j]);
    }
  }
  RB_CHECK(std::isfinite(options.margin), ValueError,
           "retrieval_loss: margin is {}, expected a finite number", options.margin);

  Tape& tape = scores.tape();
  Tensor unit = tape.arena().tensor(s);
  Tensor loss = tape.arena().tensor(Shape{});
  detail::backend().retrieval_loss_forward(scores.value(), positives,
                                           {options.kind, options.column_bias, options.column_ids,
                                            options.column_counts, options.margin},
                                           unit, loss, tape.arena());
  OpArgs args;
  args.saved[0] = unit;
  return tape.record("retrieval_loss", loss, {scores}, &retrieval_loss_backward, args);
}

}  // namespace recblocks::ops
