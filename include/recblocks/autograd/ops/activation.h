// Elementwise activations, same shape in and out.
//   gelu is the exact form x * Phi(x) (PyTorch's default, not tanh-approximated).
#pragma once

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var relu(const Var& x);
Var sigmoid(const Var& x);
Var tanh(const Var& x);
Var softplus(const Var& x);  // log(1 + exp(x))
Var gelu(const Var& x);

}  // namespace recblocks::ops
