// Inverted dropout: in training, zeroes each element with probability
// `rate` (in [0, 1), else ValueError) and scales the rest by 1 / (1 - rate);
// in evaluation, identity.
// The mask comes from the tape's counter-based Rng, so it does not depend
// on the thread count and backward regenerates it instead of storing it.
//   Var h = ops::dropout(x, 0.1f, /*training=*/true);
#pragma once

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var dropout(const Var& x, float rate, bool training);

}  // namespace recblocks::ops
