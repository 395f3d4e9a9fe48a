// Approximate top-k by inner product for large catalogues, on FAISS (the
// Debian package libfaiss-dev): HNSW graphs or an inverted file (IVF). In
// the recblocks::ann library (the engine never links FAISS); an AnnIndex is
// a retrieval::ItemIndex (index.h), which a Recommender can serve from.
//
//   rb::retrieval::AnnIndex index(items, {.kind = rb::retrieval::AnnKind::kHnsw});
//   rb::retrieval::TopK approx = index.search(queries, 10);
//   rb::retrieval::TopK exact = rb::retrieval::top_k(queries, items, 10);
//   double r = rb::retrieval::recall_against(approx, exact);   // in [0, 1]
//
// Same answers' form as retrieval::top_k: ids are rows of `items`, best
// first, -1 and -inf past what was found; k is capped at N. Excluded ids
// (a query's seen items) are removed from a deeper search (k plus the
// longest exclusion list), so a row can come back short of k only when
// the index found fewer items. The exact scan stays the reference: its
// answer is the one evaluate() reports; an index is for serving, with its
// recall measured against the exact answer on the same queries.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "recblocks/core/ragged.h"
#include "recblocks/core/tensor.h"
#include "recblocks/retrieval/index.h"
#include "recblocks/retrieval/topk.h"

namespace recblocks::retrieval {

enum class AnnKind : std::uint8_t { kHnsw, kIvf };

struct AnnOptions {
  AnnKind kind = AnnKind::kHnsw;
  // HNSW: neighbours per node, and the candidate lists when building and
  // searching (FAISS' M, efConstruction, efSearch).
  int hnsw_m = 32;
  int ef_construction = 64;
  int ef_search = 128;
  // IVF: lists (0: 4 sqrt(N), at most N / 39, at least 1) and lists
  // probed per query.
  std::int64_t nlist = 0;
  std::int64_t nprobe = 16;
};

// "hnsw" or "ivf" (ValueError listing them).
AnnKind ann_kind_from_name(std::string_view name);
const char* ann_kind_name(AnnKind kind);

class AnnIndex final : public ItemIndex {
 public:
  // items: float32 [N, d], N >= 1 (copied into the index).
  AnnIndex(const Tensor& items, AnnOptions options = {});
  ~AnnIndex() override;
  AnnIndex(AnnIndex&&) noexcept;
  AnnIndex& operator=(AnnIndex&&) noexcept;

  std::int64_t size() const override;
  std::int64_t dim() const override;
  const AnnOptions& options() const { return options_; }
  // queries float32 [Q, d]; exclude as in retrieval::top_k.
  TopK search(const Tensor& queries, std::int64_t k,
              const RaggedTensor* exclude = nullptr) const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  AnnOptions options_;
};

}  // namespace recblocks::retrieval
