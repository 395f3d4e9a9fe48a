// For the library's own blocks: an MLPBlock's forward on a scaled input.
#pragma once

#include "recblocks/blocks/block.h"

namespace recblocks {

// What MLPBlock `mlp` computes on input * input_scale, with the scale folded
// into its first layer's GEMM (ops::linear's input_scale) instead of a
// scaled copy of the input: a LogitsTemperatureScaler followed by an output
// layer (tasks.cpp). Exact when input_scale is a power of two.
Flow mlp_forward_scaled(const Block& mlp, const Flow& input, RunContext& run, float input_scale);

}  // namespace recblocks
