// Exact top-k retrieval by inner product: the scan behind recommending from
// a catalogue of item embeddings.
//
//   rb::retrieval::TopK top = rb::retrieval::top_k(queries, items, 10);
//   // top.ids int64 [Q, 10], top.scores float32 [Q, 10], best first
//
// The score of item i for query q is dot(queries[q], items[i]) (a cosine
// when both sides are L2-normalised). Each row holds the k highest scores,
// ties going to the lower item id, so the answer is exact and the same on
// any thread count. The items are scored in blocks of kTopKBlock rows by one
// sgemm per block, and each query keeps its k best in a bounded heap: memory
// O(Q * (kTopKBlock + k)) whatever the catalogue's size.
//
// exclude (optional): one list of item ids per query (int32 or int64,
// ragged [Q]) that never appear in its answer, e.g. the items the user has
// already seen. When fewer than k items remain for a query, its row ends
// with id -1 and score -inf.
//
// k larger than the number of items N is capped to N (the result has
// min(k, N) columns). Errors (ValueError/ShapeError): queries not [Q, d] or
// items not [N, d] float32 with the same d, N = 0, k < 1, an exclude list
// count other than Q or an id outside [0, N), and a NaN score (naming the
// query and the item).
#pragma once

#include <cstdint>

#include "recblocks/core/ragged.h"
#include "recblocks/core/tensor.h"

namespace recblocks::retrieval {

inline constexpr std::int64_t kTopKBlock = 4096;

struct TopK {
  Tensor ids;     // int64 [Q, min(k, N)]
  Tensor scores;  // float32 [Q, min(k, N)]
};

TopK top_k(const Tensor& queries, const Tensor& items, std::int64_t k,
           const RaggedTensor* exclude = nullptr);

// The mean over queries of |approx row ∩ exact row| / (items in the exact
// row): how much of the exact answer an approximate one (an ItemIndex's,
// index.h) found.
double recall_against(const TopK& approx, const TopK& exact);

}  // namespace recblocks::retrieval
