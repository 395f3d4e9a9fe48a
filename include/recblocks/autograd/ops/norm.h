// Batch and layer normalisation.
//
// batch_norm: x [N, C] (or [B, S, C], normalised over B*S) with gamma,
// beta [C]. Training normalises with the batch's mean and biased variance
// and updates the running statistics in place:
//   running = (1 - momentum) * running + momentum * batch   (unbiased var)
// (PyTorch's convention; Keras' momentum m corresponds to 1 - m here).
// Evaluation normalises with the running statistics.
//
// layer_norm: x [..., D] normalised over D, gamma, beta [D].
#pragma once

#include "recblocks/autograd/parameter.h"
#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

struct BatchNormOptions {
  bool training = true;
  float momentum = 0.1f;
  float eps = 1e-5f;
};

Var batch_norm(const Var& x, const Var& gamma, const Var& beta, Parameter& running_mean,
               Parameter& running_var, BatchNormOptions options = {});
Var layer_norm(const Var& x, const Var& gamma, const Var& beta, float eps = 1e-5f);

}  // namespace recblocks::ops
