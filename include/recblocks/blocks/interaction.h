// Feature interactions: DLRM's pairwise dot products, the factorization
// machine's second-order term and DCN-v2's cross layers.
//
//   auto interaction = dlrm_inputs.connect_with_shortcut(
//       rb::DotProductInteractionBlock(), {.shortcut_filter = ..., .aggregation = "concat"});
//   auto fm = embeddings.connect(rb::FMPairwiseInteraction());            // [B, d]
//   auto dcn = inputs.connect(rb::CrossBlock(2, {.low_rank_dim = 16}));    // [B, d]
//
// Feature vectors: the blocks that interact features take either a dict of
// n tensors [B, d] (stacked in key order, as Merlin's StackFeatures does) or
// a tensor [B, n, d].
#pragma once

#include <cstdint>

#include "recblocks/blocks/block.h"
#include "recblocks/blocks/initializers.h"
#include "recblocks/core/options.h"

namespace recblocks {

// The DLRM paper's interaction (Naumov et al. 2019): the dot product of
// every pair of feature vectors.
//   n x [B, d] or [B, n, d] -> [B, n(n-1)/2]   (self_interaction: [B, n(n+1)/2])
// The seed's five 64-wide vectors (four embeddings and deep_continuous) give
// 10 values, 74 with connect_with_shortcut(Filter("deep_continuous")).
//
// Order of the outputs: the DLRM reference's strict lower triangle, row by
// row: (1,0), (2,0), (2,1), (3,0), ... (with self_interaction (0,0), (1,0),
// (1,1), (2,0), ...), as ops::dot_interaction computes it. Merlin's
// DotProductInteraction takes the upper triangle row by row: (0,1), (0,2),
// ...; the values are the same pairs in another order, so weights of a
// following layer imported from Merlin need their rows permuted. (Merlin
// declares n^2 outputs with self_interaction but produces n(n+1)/2.)
//
// Why the notebook printed [4, 2080] where recblocks gives [4, 74]: the
// Merlin version it ran stacked the features with StackFeatures, whose
// default axis is -1, giving [B, 64, 5], so it interacted along the
// embedding axis: the 64 embedding components (each a 5-vector) rather
// than the 5 feature vectors. That is 64 * 63 / 2 = 2016 values, plus the
// 64-wide deep_continuous shortcut = 2080 (which happens to equal
// 64 * 65 / 2); the printed rows start with zeros, the shortcut's ReLU
// outputs. recblocks follows the DLRM paper: the 5 feature vectors give 10
// values, 74 with the shortcut.
//
// Merlin's FiBiNet-style interaction_type ("field_all", "field_each",
// "field_interaction") is not implemented.
class DotProductInteractionBlock : public Block {
 public:
  explicit DotProductInteractionBlock(bool self_interaction = false);
};

// Merlin's FMPairwiseInteraction, the second-order term of a factorization
// machine (Rendle 2010) and DeepFM, per embedding component:
//   n x [B, d] or [B, n, d] -> [B, d],  0.5 * ((sum_i v_i)^2 - sum_i v_i^2)
// Like Merlin it returns [B, d], before the sum over d (Merlin's FMBlock
// sums it to [B, 1] afterwards); sum_d of the output is the sum over pairs
// i < j of <v_i, v_j>. Composed of differentiable ops.
// A dict input is stacked on axis 1 (the features), as the layer expects.
// Note for an FMBlock: Merlin's FMBlock feeds this layer through
// StackFeatures(axis = -1), i.e. [B, d, n], so it sums over the embedding
// components instead of the features (the seed's 2080 again, see above);
// an FMBlock that means Rendle's FM should pass [B, n, d].
class FMPairwiseInteraction : public Block {
 public:
  FMPairwiseInteraction();
};

struct CrossOptions {
  // 0: full-rank W [d, d]. r > 0: DCN-v2's low-rank W = U V with
  // U [d, r] and V [r, d] (Merlin's DenseMaybeLowRank: a Dense(r) without
  // bias followed by a Dense(d)).
  std::int64_t low_rank_dim = 0;
  bool use_bias = true;
  // Keras' TruncatedNormal(stddev = 0.05), Merlin's default for CrossBlock.
  Initializer kernel_initializer = Initializer::truncated_normal();
  Initializer bias_initializer = Initializer::zeros();
  double kernel_regularizer_l2 = 0;
  double bias_regularizer_l2 = 0;

  static auto option_fields() {
    using O = CrossOptions;
    using options::field;
    return options::table<O>(
        "CrossOptions",
        field("low_rank_dim", &O::low_rank_dim,
              "0: full-rank W [d, d]; r > 0: W = U [d, r] V [r, d]"),
        field("use_bias", &O::use_bias, "each cross layer adds a bias"),
        field("kernel_initializer", &O::kernel_initializer, "of the kernels (U included)"),
        field("bias_initializer", &O::bias_initializer, "of the biases"),
        field("kernel_regularizer_l2", &O::kernel_regularizer_l2,
              "L2 factor of the kernels (U included); 0 = none"),
        field("bias_regularizer_l2", &O::bias_regularizer_l2, "L2 factor of the biases; 0 = none"));
  }
};

// DCN-v2's cross network (Wang et al. 2021), as Merlin's CrossBlock:
// `depth` cross layers, each
//   x_{l+1} = x0 * (x_l W + b) + x_l        (* elementwise)
// on x [B, d] (a dict is concatenated on the last axis in key order) ->
// [B, d]. Parameters per layer l, Keras layout:
//   cross_<l>/kernel [d, d] (low rank: [r, d], Merlin's dense.kernel),
//   cross_<l>/kernel_u [d, r] (low rank only, Merlin's dense_u.kernel),
//   cross_<l>/bias [d].
//   rb::CrossBlock(3)   rb::CrossBlock(2, {.low_rank_dim = 32, .use_bias = false})
class CrossBlock : public Block {
 public:
  // depth >= 1 (ValueError otherwise, as Merlin).
  explicit CrossBlock(int depth = 1, CrossOptions options = {});
};

}  // namespace recblocks
