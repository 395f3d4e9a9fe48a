// Fully connected layer with the bias and activation fused into one kernel.
//
//   x [M, K] -> [M, N], or x [B, S, K] -> [B, S, N]; kernel [K, N], bias [N] (optional)
//   Var h = ops::linear(x, w, b, Activation::kRelu);
#pragma once

#include "recblocks/autograd/tape.h"
#include "recblocks/kernels/backend.h"

namespace recblocks::ops {

using kernels::Activation;

// act(x @ kernel + bias). A 3-D x is treated as [B*S, K]. bias may be an
// undefined Var (no bias).
Var linear(const Var& x, const Var& kernel, const Var& bias = {},
           Activation activation = Activation::kNone);

}  // namespace recblocks::ops
