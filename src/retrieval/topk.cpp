#include "recblocks/retrieval/topk.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/core/threads.h"
#include "recblocks/kernels/backend.h"

namespace recblocks::retrieval {
namespace {

struct Candidate {
  float score;
  std::int64_t id;
};

// a ranks before b: the higher score, then the lower id.
bool better(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

// The k best candidates of one query: a heap whose top is the worst kept.
class Best {
 public:
  void reset(std::int64_t k) {
    k_ = static_cast<std::size_t>(k);
    heap_.clear();
    heap_.reserve(k_);
  }
  // The score a candidate must beat (or tie with a lower id) to get in.
  bool full() const { return heap_.size() == k_; }
  const Candidate& worst() const { return heap_.front(); }
  void push(Candidate c) {
    if (!full()) {
      heap_.push_back(c);
      std::push_heap(heap_.begin(), heap_.end(), better);
      return;
    }
    if (!better(c, worst())) return;
    std::pop_heap(heap_.begin(), heap_.end(), better);
    heap_.back() = c;
    std::push_heap(heap_.begin(), heap_.end(), better);
  }
  // Best first.
  std::vector<Candidate>& sorted() {
    std::sort(heap_.begin(), heap_.end(), better);
    return heap_;
  }

 private:
  std::size_t k_ = 0;
  std::vector<Candidate> heap_;
};

std::int64_t exclude_id(const Tensor& values, std::int64_t i) {
  return values.dtype() == DType::kInt32 ? values.data<std::int32_t>()[i]
                                         : values.data<std::int64_t>()[i];
}

}  // namespace

TopK top_k(const Tensor& queries, const Tensor& items, std::int64_t k,
           const RaggedTensor* exclude) {
  RB_CHECK(queries.dtype() == DType::kFloat32 && queries.rank() == 2, ShapeError,
           "top_k: queries must be float32 [queries, dim], got {} {}", dtype_name(queries.dtype()),
           queries.shape());
  RB_CHECK(items.dtype() == DType::kFloat32 && items.rank() == 2, ShapeError,
           "top_k: items must be float32 [items, dim], got {} {}", dtype_name(items.dtype()),
           items.shape());
  RB_CHECK(queries.size(1) == items.size(1), ShapeError,
           "top_k: queries {} and items {} differ in dim", queries.shape(), items.shape());
  const std::int64_t q_count = queries.size(0), n = items.size(0);
  RB_CHECK(n > 0, ValueError, "top_k: no items to rank (items {})", items.shape());
  RB_CHECK(k >= 1, ValueError, "top_k: k is {}, expected >= 1", k);
  k = std::min(k, n);
  // Each query's excluded ids, sorted, for a binary search per admission.
  std::vector<std::vector<std::int64_t>> excluded;
  if (exclude != nullptr) {
    RB_CHECK(exclude->rows() == q_count, ValueError,
             "top_k: exclude has {} lists, expected one per query ({})", exclude->rows(), q_count);
    RB_CHECK(
        exclude->values().dtype() == DType::kInt32 || exclude->values().dtype() == DType::kInt64,
        ValueError, "top_k: exclude ids must be int32 or int64, got {}",
        dtype_name(exclude->values().dtype()));
    excluded.resize(static_cast<std::size_t>(q_count));
    const Tensor& offsets = exclude->offsets();
    for (std::int64_t q = 0; q < q_count; ++q) {
      const std::int64_t lo = exclude_id(offsets, q), hi = exclude_id(offsets, q + 1);
      auto& list = excluded[static_cast<std::size_t>(q)];
      for (std::int64_t i = lo; i < hi; ++i) {
        const std::int64_t id = exclude_id(exclude->values(), i);
        RB_CHECK(id >= 0 && id < n, ValueError, "top_k: query {} excludes item {}, outside [0, {})",
                 q, id, n);
        list.push_back(id);
      }
      std::sort(list.begin(), list.end());
    }
  }

  std::vector<Best> best(static_cast<std::size_t>(q_count));
  for (Best& b : best) b.reset(k);
  const std::int64_t block = std::min(n, kTopKBlock);
  Tensor scores = Tensor::zeros({q_count, block});
  std::int64_t nan_query = -1, nan_item = -1;
  for (std::int64_t begin = 0; begin < n; begin += block) {
    const std::int64_t end = std::min(n, begin + block), width = end - begin;
    const Tensor part = width == block ? scores : Tensor::zeros({q_count, width});
    kernels::backend().gemm(false, true, 1.0f, queries, items.slice_rows(begin, end), 0.0f, part);
    const float* s = part.data<float>();
    const bool parallel = num_threads() > 1 && q_count * width >= kParallelGrain;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel)
    for (std::int64_t q = 0; q < q_count; ++q) {
      Best& b = best[static_cast<std::size_t>(q)];
      const float* row = s + q * width;
      const std::vector<std::int64_t>* skip =
          excluded.empty() ? nullptr : &excluded[static_cast<std::size_t>(q)];
      for (std::int64_t j = 0; j < width; ++j) {
        const float score = row[j];
        if (std::isnan(score)) {
#pragma omp critical(top_k_nan)
          if (nan_query < 0 || q < nan_query) {
            nan_query = q;
            nan_item = begin + j;
          }
          break;
        }
        const Candidate c{score, begin + j};
        if (b.full() && !better(c, b.worst())) continue;
        if (skip != nullptr && std::binary_search(skip->begin(), skip->end(), c.id)) continue;
        b.push(c);
      }
    }
    RB_CHECK(nan_query < 0, ValueError,
             "top_k: the score of query {} for item {} is NaN (a NaN in the query or the item "
             "embedding)",
             nan_query, nan_item);
  }

  TopK result{Tensor::zeros({q_count, k}, DType::kInt64), Tensor::zeros({q_count, k})};
  std::int64_t* ids = result.ids.data<std::int64_t>();
  float* top = result.scores.data<float>();
  for (std::int64_t q = 0; q < q_count; ++q) {
    const std::vector<Candidate>& row = best[static_cast<std::size_t>(q)].sorted();
    for (std::int64_t i = 0; i < k; ++i) {
      const bool have = i < static_cast<std::int64_t>(row.size());
      ids[q * k + i] = have ? row[static_cast<std::size_t>(i)].id : -1;
      top[q * k + i] =
          have ? row[static_cast<std::size_t>(i)].score : -std::numeric_limits<float>::infinity();
    }
  }
  return result;
}

double recall_against(const TopK& approx, const TopK& exact) {
  RB_CHECK(
      approx.ids.rank() == 2 && exact.ids.rank() == 2 && approx.ids.size(0) == exact.ids.size(0),
      ShapeError, "recall_against: answers of shapes {} and {}, expected the same queries",
      approx.ids.shape(), exact.ids.shape());
  const std::int64_t q = exact.ids.size(0);
  RB_CHECK(q > 0, ValueError, "recall_against: no queries");
  double total = 0;
  for (std::int64_t r = 0; r < q; ++r) {
    const std::int64_t* e = exact.ids.data<std::int64_t>() + r * exact.ids.size(1);
    const std::int64_t* a = approx.ids.data<std::int64_t>() + r * approx.ids.size(1);
    std::int64_t relevant = 0, found = 0;
    for (std::int64_t j = 0; j < exact.ids.size(1); ++j) {
      if (e[j] < 0) continue;
      ++relevant;
      found += std::find(a, a + approx.ids.size(1), e[j]) != a + approx.ids.size(1) ? 1 : 0;
    }
    total += relevant == 0 ? 1.0 : static_cast<double>(found) / static_cast<double>(relevant);
  }
  return total / static_cast<double>(q);
}

}  // namespace recblocks::retrieval
