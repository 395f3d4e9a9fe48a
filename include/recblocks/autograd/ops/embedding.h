// Embedding lookups with sparse gradients.
//
//   embedding(table [V, D], ids [B] int32|int64)           -> [B, D]
//   embedding_bag(table, values [nnz], offsets [B+1], pooling) -> [B, D]
//     row b pools table[values[offsets[b] : offsets[b+1]]] (sum or mean;
//     an empty row gives zeros)
//
// Ids outside [0, V) throw ValueError naming the table, the id and V.
// When the table is a parameter, its gradient is sparse: only the rows the
// batch touched, duplicates merged (Parameter::sparse_grads()).
#pragma once

#include "recblocks/autograd/tape.h"
#include "recblocks/core/ragged.h"
#include "recblocks/kernels/backend.h"

namespace recblocks::ops {

using kernels::Pooling;

Var embedding(const Var& table, const Tensor& ids);
Var embedding_bag(const Var& table, const Tensor& values, const Tensor& offsets,
                  Pooling pooling = Pooling::kSum);
Var embedding_bag(const Var& table, const RaggedTensor& ids, Pooling pooling = Pooling::kSum);

}  // namespace recblocks::ops
