// Aggregations: a dict of tensors -> one tensor, as Merlin's
// TabularAggregation. Like Merlin's ConcatFeatures and StackFeatures they
// take the entries in name order, so weights downstream line up with
// Merlin's whatever order the branches were declared in.
//
//   ConcatFeatures()      [B, d1], [B, d2]          -> [B, d1 + d2]
//   StackFeatures(axis)   n x [B, d]                -> [B, d, n] (axis -1, Merlin's
//                                                      default), [B, n, d] (axis 1)
//   ElementwiseSum()      n x [B, d]                -> [B, d]
//   ElementwiseProduct()  n x [B, d]                -> [B, d]  (NCF's GMF)
//   CosineSimilarity()    2 x [B, d] (in order)     -> [B, 1]
#pragma once

#include "recblocks/blocks/block.h"

namespace recblocks {

class ConcatFeatures : public Block {
 public:
  ConcatFeatures();
};

class StackFeatures : public Block {
 public:
  // axis counts the batch axis, as in Merlin: 1 gives [B, n, d], -1 [B, d, n].
  explicit StackFeatures(int axis = -1);
};

class ElementwiseSum : public Block {
 public:
  ElementwiseSum();
};

class ElementwiseProduct : public Block {
 public:
  ElementwiseProduct();
};

class CosineSimilarity : public Block {
 public:
  CosineSimilarity();
};

}  // namespace recblocks
