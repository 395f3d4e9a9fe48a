// An item index that a Recommender serves from: what an approximate top-k
// library implements so that the engine never depends on it. recblocks'
// own is retrieval::AnnIndex (ann.h, FAISS, in the recblocks::ann library);
// an embedder may bring another.
//
//   auto index = std::make_shared<rb::retrieval::AnnIndex>(top.item_vectors(), options);
//   top.use_index(index);                 // top.recommend() now searches `index`
//   double r = top.index_recall(queries, 10);
#pragma once

#include <cstdint>

#include "recblocks/core/ragged.h"
#include "recblocks/core/tensor.h"
#include "recblocks/retrieval/topk.h"

namespace recblocks::retrieval {

class ItemIndex {
 public:
  virtual ~ItemIndex() = default;

  virtual std::int64_t size() const = 0;  // items N
  virtual std::int64_t dim() const = 0;   // d
  // queries float32 [Q, d] -> the k best items per query, as retrieval::top_k
  // answers: ids are rows of the indexed items, best first, -1 and -inf past
  // what was found, k capped at N; `exclude` as in top_k.
  virtual TopK search(const Tensor& queries, std::int64_t k,
                      const RaggedTensor* exclude = nullptr) const = 0;
};

}  // namespace recblocks::retrieval
