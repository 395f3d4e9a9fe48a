// L2 normalisation and cosine similarity over the last axis.
//   l2_normalize(x [B, D]) -> [B, D], rows of unit norm:
//     x / sqrt(max(sum(x^2), eps))  (TensorFlow's tf.math.l2_normalize)
//   cosine_similarity(a [B, D], b [B, D]) -> [B, 1]
#pragma once

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var l2_normalize(const Var& x, float eps = 1e-12f);
Var cosine_similarity(const Var& a, const Var& b, float eps = 1e-12f);

}  // namespace recblocks::ops
