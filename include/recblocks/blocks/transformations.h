// Transformations as blocks (Merlin's transforms and the Keras layers that
// Merlin's blocks use).
//
//   AsDenseFeatures(20)             raw inputs -> raw inputs, ragged lists padded
//   L2Norm()                        x / ||x||  (tensor or each dict entry)
//   LogitsTemperatureScaler(2.0)    x / 2      (tensor or each dict entry)
//   Dropout(0.1)                    inverted dropout in training, identity in evaluation
//   BatchNorm()                     Keras BatchNormalization (momentum 0.99, epsilon 1e-3)
//   LayerNorm()                     Keras LayerNormalization (epsilon 1e-3)
//   ReduceSum()                     [B, ..., d] -> [B, ..., 1], the sum over the last axis
//
//   auto deep =
//   embeddings.connect(rb::MLPBlock({64})).connect(rb::BatchNorm()).connect(rb::Dropout(0.2));
#pragma once

#include <cstdint>

#include "recblocks/blocks/block.h"
#include "recblocks/core/options.h"

namespace recblocks {

// Ragged list columns of the raw inputs -> fixed-length dense lists
// [B, L] (Merlin's AsDenseFeatures, v0.2-0.7): each row padded with 0 or
// truncated to L. The output is again the raw inputs (a new Batch whose list
// columns are dense, the schema saying is_ragged = false, value_count
// {L, L}), so feature blocks read it as they read a batch; other columns
// pass unchanged. An eager call shows it as a dict name -> tensor.
// L is max_seq_length, or when that is 0 the column's schema
// value_count.max (Merlin too needs max_seq_length for the output shape);
// a column with neither is an error naming it.
class AsDenseFeatures : public Block {
 public:
  explicit AsDenseFeatures(std::int64_t max_seq_length = 0);
};

// tf.linalg.l2_normalize over the last axis: x / sqrt(max(sum(x^2), 1e-12)).
// On a dict, each entry (as Merlin's L2Norm).
class L2Norm : public Block {
 public:
  L2Norm();
};

// The sum over the last axis, kept as an axis of 1: [B, ..., d] -> [B, ..., 1]
// (what Merlin's FMBlock does after FMPairwiseInteraction with a Lambda).
// Takes a tensor; a dict is refused (aggregate it first).
class ReduceSum : public Block {
 public:
  ReduceSum();
};

// Divides the logits by `temperature` (> 0, else ValueError), in training
// and in evaluation alike. On a dict, each entry.
// (Merlin's versions differ on when it applies: v0.2 only in evaluation,
// later ones only to training/testing outputs. recblocks always applies it,
// so the scores that evaluation reports are those the loss saw.)
class LogitsTemperatureScaler : public Block {
 public:
  explicit LogitsTemperatureScaler(double temperature);
};

// Keras Dropout: in training (RunContext::training()) zeroes each element with
// probability `rate` (in [0, 1), else ValueError) and scales the others by
// 1 / (1 - rate); in evaluation the identity. On a dict, each entry.
class Dropout : public Block {
 public:
  explicit Dropout(double rate);
};

// Keras BatchNormalization over the last axis of [B, C] or [B, S, C] (a dict
// is concatenated first).
//   rb::BatchNorm({.momentum = 0.9})
// Parameters: gamma [C] (ones; with scale), beta [C] (zeros; with center),
// moving_mean [C] (zeros) and moving_variance [C] (ones), the last two not
// trainable. Training normalises with the batch's statistics and updates
// moving = momentum * moving + (1 - momentum) * batch (Keras' convention;
// ops::batch_norm takes PyTorch's, so it gets 1 - momentum). Evaluation
// normalises with the moving statistics.
// Difference from Keras: the moving variance is updated with the batch's
// unbiased variance (PyTorch's choice, made by ops::batch_norm); Keras'
// non-fused path uses the biased one. Normalisation itself uses the biased
// variance in both.
struct BatchNormOptions {
  double momentum = 0.99;
  double epsilon = 1e-3;
  bool center = true;
  bool scale = true;

  static auto option_fields() {
    using O = BatchNormOptions;
    using options::field;
    return options::table<O>(
        "BatchNormOptions",
        field("momentum", &O::momentum,
              "in [0, 1], Keras' convention: the weight of the old moving statistics"),
        field("epsilon", &O::epsilon, "added to the variance, > 0"),
        field("center", &O::center, "learn beta (else 0)"),
        field("scale", &O::scale, "learn gamma (else 1)"));
  }
};

class BatchNorm : public Block {
 public:
  explicit BatchNorm(BatchNormOptions options = {});
};

// Keras LayerNormalization over the last axis: gamma [D] (ones, with scale),
// beta [D] (zeros, with center). A dict is concatenated first.
struct LayerNormOptions {
  double epsilon = 1e-3;
  bool center = true;
  bool scale = true;

  static auto option_fields() {
    using O = LayerNormOptions;
    using options::field;
    return options::table<O>(
        "LayerNormOptions",
        field("epsilon", &O::epsilon,
              "added to the variance, > 0 (Keras' default; PyTorch's is 1e-5)"),
        field("center", &O::center, "learn beta (else 0)"),
        field("scale", &O::scale, "learn gamma (else 1)"));
  }
};

class LayerNorm : public Block {
 public:
  explicit LayerNorm(LayerNormOptions options = {});
};

}  // namespace recblocks
