// Reductions over one axis.
//   sum(x [4, 64], 1) -> [4];  mean(x, -1, /*keepdim=*/true) -> [4, 1]
//   sum_all(x) -> scalar (shape [])
#pragma once

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var sum(const Var& x, int axis, bool keepdim = false);
Var mean(const Var& x, int axis, bool keepdim = false);
Var sum_all(const Var& x);
Var mean_all(const Var& x);

}  // namespace recblocks::ops
