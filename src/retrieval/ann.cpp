#include "recblocks/retrieval/ann.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "recblocks/core/error.h"

namespace recblocks::retrieval {

struct AnnIndex::Impl {
  std::unique_ptr<faiss::IndexFlatIP> quantizer;  // IVF only
  std::unique_ptr<faiss::Index> index;
  std::int64_t dim = 0;
};

const char* ann_kind_name(AnnKind kind) { return kind == AnnKind::kHnsw ? "hnsw" : "ivf"; }

AnnKind ann_kind_from_name(std::string_view name) {
  if (name == "hnsw") return AnnKind::kHnsw;
  if (name == "ivf") return AnnKind::kIvf;
  throw ValueError(fmt::format("approximate index '{}' is unknown (expected hnsw or ivf)", name));
}

AnnIndex::AnnIndex(const Tensor& items, AnnOptions options)
    : impl_(std::make_unique<Impl>()), options_(options) {
  RB_CHECK(items.dtype() == DType::kFloat32 && items.rank() == 2 && items.size(0) > 0 &&
               items.size(1) > 0,
           ShapeError, "AnnIndex: items are {} {}, expected float32 [N >= 1, d >= 1]",
           dtype_name(items.dtype()), items.shape());
  const std::int64_t n = items.size(0), d = items.size(1);
  for (std::int64_t i = 0; i < items.numel(); ++i) {
    RB_CHECK(std::isfinite(items.data<float>()[i]), ValueError,
             "AnnIndex: item {} holds {} at dimension {}", i / d, items.data<float>()[i], i % d);
  }
  impl_->dim = d;
  try {
    if (options.kind == AnnKind::kHnsw) {
      RB_CHECK(options.hnsw_m >= 2 && options.ef_construction >= 1 && options.ef_search >= 1,
               ValueError, "AnnIndex: hnsw_m {} (>= 2), ef_construction {} and ef_search {} (>= 1)",
               options.hnsw_m, options.ef_construction, options.ef_search);
      auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(d), options.hnsw_m,
                                                         faiss::METRIC_INNER_PRODUCT);
      hnsw->hnsw.efConstruction = options.ef_construction;
      hnsw->hnsw.efSearch = options.ef_search;
      hnsw->add(n, items.data<float>());
      impl_->index = std::move(hnsw);
    } else {
      // Default 4 sqrt(N) lists, but at least 39 items per list (what FAISS'
      // k-means asks for).
      const std::int64_t nlist =
          options.nlist > 0
              ? options.nlist
              : std::max<std::int64_t>(
                    1, std::min(static_cast<std::int64_t>(4 * std::sqrt(static_cast<double>(n))),
                                n / 39));
      RB_CHECK(nlist <= n && options.nprobe >= 1, ValueError,
               "AnnIndex: nlist {} must be in [1, {}] (the items) and nprobe {} >= 1", nlist, n,
               options.nprobe);
      impl_->quantizer = std::make_unique<faiss::IndexFlatIP>(d);
      auto ivf = std::make_unique<faiss::IndexIVFFlat>(
          impl_->quantizer.get(), d, static_cast<std::size_t>(nlist), faiss::METRIC_INNER_PRODUCT);
      ivf->cp.seed = 1234;  // fixed k-means initialisation: the same index every build
      ivf->train(n, items.data<float>());
      ivf->add(n, items.data<float>());
      ivf->nprobe = static_cast<std::size_t>(std::min(options.nprobe, nlist));
      impl_->index = std::move(ivf);
    }
  } catch (const faiss::FaissException& e) {
    throw ValueError(fmt::format("AnnIndex: FAISS failed to build the {} index over {} items: {}",
                                 ann_kind_name(options.kind), n, e.what()));
  }
}

AnnIndex::~AnnIndex() = default;
AnnIndex::AnnIndex(AnnIndex&&) noexcept = default;
AnnIndex& AnnIndex::operator=(AnnIndex&&) noexcept = default;

std::int64_t AnnIndex::size() const { return impl_->index->ntotal; }
std::int64_t AnnIndex::dim() const { return impl_->dim; }

TopK AnnIndex::search(const Tensor& queries, std::int64_t k, const RaggedTensor* exclude) const {
  RB_CHECK(k >= 1, ValueError, "AnnIndex::search: k is {}, expected >= 1", k);
  RB_CHECK(
      queries.dtype() == DType::kFloat32 && queries.rank() == 2 && queries.size(1) == impl_->dim,
      ShapeError, "AnnIndex::search: queries are {} {}, expected float32 [Q, {}]",
      dtype_name(queries.dtype()), queries.shape(), impl_->dim);
  const std::int64_t q = queries.size(0);
  const std::int64_t n = size();
  for (std::int64_t i = 0; i < queries.numel(); ++i) {
    RB_CHECK(std::isfinite(queries.data<float>()[i]), ValueError,
             "AnnIndex::search: query {} holds {} at dimension {}", i / impl_->dim,
             queries.data<float>()[i], i % impl_->dim);
  }
  k = std::min(k, n);
  std::int64_t extra = 0;
  if (exclude != nullptr) {
    RB_CHECK(exclude->rows() == q, ShapeError,
             "AnnIndex::search: {} exclusion lists for {} queries", exclude->rows(), q);
    for (std::int64_t r = 0; r < q; ++r) extra = std::max(extra, exclude->row_length(r));
  }
  const std::int64_t depth = std::min(n, k + extra);
  std::vector<float> distances(static_cast<std::size_t>(q * depth));
  std::vector<faiss::Index::idx_t> labels(static_cast<std::size_t>(q * depth));
  try {
    impl_->index->search(q, queries.data<float>(), depth, distances.data(), labels.data());
  } catch (const faiss::FaissException& e) {
    throw ValueError(fmt::format("AnnIndex::search: FAISS failed: {}", e.what()));
  }
  TopK out{Tensor::empty({q, k}, DType::kInt64), Tensor::empty({q, k})};
  auto* ids = out.ids.data<std::int64_t>();
  float* scores = out.scores.data<float>();
  std::vector<std::int64_t> banned;
  for (std::int64_t r = 0; r < q; ++r) {
    banned.clear();
    if (exclude != nullptr) {
      for (std::int64_t e = exclude->row_begin(r); e < exclude->row_begin(r + 1); ++e) {
        const auto id = static_cast<std::int64_t>(exclude->values().item(e));
        RB_CHECK(id >= 0 && id < n, ValueError,
                 "AnnIndex::search: query {} excludes item {}, outside [0, {})", r, id, n);
        banned.push_back(id);
      }
      std::sort(banned.begin(), banned.end());
    }
    std::int64_t filled = 0;
    for (std::int64_t j = 0; j < depth && filled < k; ++j) {
      const faiss::Index::idx_t id = labels[static_cast<std::size_t>(r * depth + j)];
      if (id < 0 || std::binary_search(banned.begin(), banned.end(), static_cast<std::int64_t>(id)))
        continue;
      ids[r * k + filled] = id;
      scores[r * k + filled] = distances[static_cast<std::size_t>(r * depth + j)];
      ++filled;
    }
    for (; filled < k; ++filled) {
      ids[r * k + filled] = -1;
      scores[r * k + filled] = -std::numeric_limits<float>::infinity();
    }
  }
  return out;
}

}  // namespace recblocks::retrieval
