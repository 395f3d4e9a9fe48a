// The losses of retrieval: a row of scores per query, one positive column
// per row, the other columns its negatives (in-batch or sampled).
//
//   retrieval_loss(scores [B, N], positives int [B] in [0, N), options)
//
// Before the loss, column_bias [N] (when defined) is added to every row:
// the logQ correction passes -log(sampling probability of column j).
// column_ids int32|int64 [N] (when defined) names the item of each column:
// a column holding the same item as the row's positive column is no
// negative of that row (an accidental hit: the row's item elsewhere in the
// batch) and is left out of its loss. A score of -inf (after the bias)
// leaves that column out of that row's loss the same way (sampled softmax
// masks its accidental hits so); a row's positive must be finite.
// column_counts int64 [N] (when defined, each >= 1) says that column j
// stands for that many identical columns (a batch's distinct candidates,
// each scored once): the result is the loss of the expanded score matrix.
// A row's positive counts once when column_ids are given (its other copies
// are accidental hits), else column_counts[p] times in the softmax's
// denominator, its extra copies being pairs with d = 0 for the pairwise
// losses.
//   kCategoricalCrossEntropy  mean_i -log softmax(s_i)[p_i] over the
//                             columns not excluded
//   pairwise, over the pairs (i, j), j != p_i, not excluded, with
//   d = s_i,p_i - s_ij, averaged over all such pairs of the batch:
//     kBPR       -log sigmoid(d)   (Rendle et al. 2009)
//     kLogistic  log(1 + exp(-d))  (Merlin's LogisticLoss: BPR's value)
//     kHinge     max(0, margin - d)
// A batch with no valid pair has a pairwise loss of 0. The gradient flows
// to `scores` only.
#pragma once

#include <cstdint>
#include <string_view>

#include "recblocks/autograd/tape.h"
#include "recblocks/kernels/backend.h"

namespace recblocks::ops {

// The kinds, shared with the backend that computes them.
using RetrievalLoss = kernels::RetrievalLoss;

struct RetrievalLossOptions {
  RetrievalLoss kind = RetrievalLoss::kCategoricalCrossEntropy;
  Tensor column_bias = {};    // float32 [N] or undefined
  Tensor column_ids = {};     // int32|int64 [N] or undefined
  Tensor column_counts = {};  // int64 [N], each >= 1, or undefined
  float margin = 1.0f;        // kHinge
};

Var retrieval_loss(const Var& scores, const Tensor& positives,
                   const RetrievalLossOptions& options = {});

// "categorical_crossentropy" (or "ce"), "bpr", "logistic", "hinge"; the
// error lists them.
RetrievalLoss retrieval_loss_from_name(std::string_view name);
const char* retrieval_loss_name(RetrievalLoss kind);

}  // namespace recblocks::ops
