// Fully connected layer with the bias and activation fused into one kernel.
//
//   x [M, K] -> [M, N], or x [B, S, K] -> [B, S, N]; kernel [K, N], bias [N] (optional)
//   Var h = ops::linear(x, w, b, Activation::kRelu);
#pragma once

#include "recblocks/autograd/tape.h"
#include "recblocks/kernels/backend.h"

namespace recblocks::ops {

using kernels::Activation;

// act((x * input_scale) @ kernel + bias). A 3-D x is treated as [B*S, K].
// bias may be an undefined Var (no bias). input_scale is folded into the
// GEMM as input_scale (x @ kernel): exact when it is a power of two, within
// rounding otherwise.
Var linear(const Var& x, const Var& kernel, const Var& bias = {},
           Activation activation = Activation::kNone, float input_scale = 1.0f);

}  // namespace recblocks::ops
