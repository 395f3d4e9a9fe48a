// The DLRM pairwise dot interaction (Naumov et al. 2019), one fused kernel.
//
// F feature vectors per sample -> the dot product of every pair (i, j),
// i > j, in the reference implementation's order (strict lower triangle,
// row by row); with self_interaction also i == j.
//   5 inputs [B, 64] -> [B, 10]   (self_interaction: [B, 15])
//   x [B, F, D]      -> [B, F(F-1)/2]
#pragma once

#include <span>

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var dot_interaction(std::span<const Var> features, bool self_interaction = false);
Var dot_interaction(const Var& stacked, bool self_interaction = false);

// Number of outputs for F features.
constexpr std::int64_t dot_interaction_size(std::int64_t f, bool self_interaction) {
  return self_interaction ? f * (f + 1) / 2 : f * (f - 1) / 2;
}

}  // namespace recblocks::ops
