// Matrix products.
//
//   matmul: a [M, K] @ b [K, N] -> [M, N] (trans_a / trans_b transpose first)
//   bmm:    a [B, M, K] @ b [B, K, N] -> [B, M, N]; b may be 2-D (shared)
#pragma once

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);
Var bmm(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);

}  // namespace recblocks::ops
