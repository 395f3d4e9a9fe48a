// Softmax and log-softmax over the last axis.
//   softmax(x [B, C]) -> [B, C], rows sum to 1
#pragma once

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var softmax(const Var& x);
Var log_softmax(const Var& x);

}  // namespace recblocks::ops
