// MLPBlock: a stack of fully connected layers, as Merlin Models' MLPBlock.
//
//   auto deep = interaction.connect(rb::MLPBlock({64, 128, 512}));
//   auto head = rb::MLPBlock({1}, {.activation = "linear"});
//   auto regularised = rb::MLPBlock({256, 64}, {.dropout = 0.1, .normalization = "batch_norm",
//                                               .kernel_regularizer_l2 = 1e-5});
//
// Shapes: x [B, K] -> [B, dims.back()]; x [B, S, K] -> [B, S, dims.back()]
// (every layer acts on the last axis). A dict input is concatenated on the
// last axis in key order first (Merlin's _Dense pre_aggregation="concat").
//
// Layer i, as Merlin builds it (blocks/mlp.py):
//   x = activation(x @ kernel + bias)   Keras Dense; relu / sigmoid / tanh /
//                                       linear are fused into one kernel
//   x = dropout(x, rate)                only in training, and not after the
//                                       last layer when no_activation_last_layer
//   x = normalization(x)                after the dropout, on every layer
//                                       including the last
//
// Parameters, in Keras layout so that exported weights have Keras/Merlin
// shapes (ops::linear takes [in, out] kernels as they are, no transpose):
//   dense_<i>/kernel [in, out], dense_<i>/bias [out]
//   batch_norm_<i>/{gamma, beta} [out] and the non-trainable
//   batch_norm_<i>/{moving_mean, moving_variance} [out]
//   layer_norm_<i>/{gamma, beta} [out]
// Normalization uses Keras' defaults: BatchNormalization(momentum = 0.99,
// epsilon = 1e-3) (ops::batch_norm's momentum 0.01: the weight of the new
// batch), LayerNormalization(epsilon = 1e-3). One difference remains: the
// moving variance is updated with the unbiased batch variance (PyTorch's
// convention, ops::batch_norm), Keras uses the biased one.
//
// Not carried over from Merlin: a per-layer list of activations,
// activity_regularizer, the `filter` argument (write
// Filter(...).connect(MLPBlock(...)) instead) and AlphaDropout for selu
// (selu is not offered).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/blocks/initializers.h"
#include "recblocks/core/options.h"

namespace recblocks {

struct MLPOptions {
  std::string activation = "relu";
  bool use_bias = true;
  double dropout = 0;
  std::string normalization = "";
  bool no_activation_last_layer = false;
  Initializer kernel_initializer = Initializer::glorot_uniform();
  Initializer bias_initializer = Initializer::zeros();
  double kernel_regularizer_l2 = 0;
  double bias_regularizer_l2 = 0;

  static auto option_fields() {
    using O = MLPOptions;
    using options::field;
    return options::table<O>(
        "MLPOptions",
        field("activation", &O::activation,
              "of every layer: relu, sigmoid, tanh, linear (or none), gelu (exact, x * Phi(x), "
              "Keras' default), softplus"),
        field("use_bias", &O::use_bias, "each layer adds a bias"),
        field("dropout", &O::dropout, "dropout rate in [0, 1) after each activation; 0 = none"),
        field("normalization", &O::normalization,
              R"(after each layer: "" (none), "batch_norm" or "layer_norm")"),
        field("no_activation_last_layer", &O::no_activation_last_layer,
              "the last layer has no activation (linear) and no dropout"),
        field("kernel_initializer", &O::kernel_initializer, "of the kernels"),
        field("bias_initializer", &O::bias_initializer, "of the biases"),
        field("kernel_regularizer_l2", &O::kernel_regularizer_l2,
              "L2 factor of the kernels: the loss adds factor * sum(w^2); 0 = none"),
        field("bias_regularizer_l2", &O::bias_regularizer_l2, "L2 factor of the biases; 0 = none"));
  }
};

class MLPBlock : public Block {
 public:
  // dims: units of each layer, at least one, each > 0. Throws ValueError
  // for a bad option (an unknown activation lists the valid ones).
  explicit MLPBlock(std::vector<std::int64_t> dims, MLPOptions options = {});
};

// The activation names MLPBlock accepts, for messages and help.
const std::vector<std::string>& mlp_activation_names();

}  // namespace recblocks
