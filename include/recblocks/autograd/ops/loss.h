// Losses, averaged over the batch; each returns a scalar (shape []).
//
//   bce_with_logits(logits [B] or [B, 1], targets float32 same shape)
//     mean(max(x, 0) - x * t + log(1 + exp(-|x|)))   (numerically stable)
//   mse(pred [B, ...], targets float32 same shape)   mean((p - t)^2)
//   softmax_cross_entropy(logits [B, C], labels int32|int64 [B] in [0, C))
//     mean(-log_softmax(logits)[label])
// Targets and labels are not differentiated.
#pragma once

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var bce_with_logits(const Var& logits, const Tensor& targets);
Var mse(const Var& pred, const Tensor& targets);
Var softmax_cross_entropy(const Var& logits, const Tensor& labels);

}  // namespace recblocks::ops
