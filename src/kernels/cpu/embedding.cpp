#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_backend.h"

namespace recblocks::kernels::cpu {
namespace {

template <class Id>
std::int64_t first_out_of_range(const Id* ids, std::int64_t n, std::int64_t cardinality) {
  for (std::int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || static_cast<std::int64_t>(ids[i]) >= cardinality) return i;
  return -1;
}

// Calls f(ids, offsets) with the concrete integer types; offsets may be null.
template <class F>
void with_index_types(const Tensor& ids, const Tensor& offsets, F&& f) {
  const bool have_offsets = offsets.defined() && offsets.numel() > 0;
  auto with_ids = [&](auto* pid) {
    if (!have_offsets) {
      f(pid, static_cast<const std::int64_t*>(nullptr));
    } else if (offsets.dtype() == DType::kInt32) {
      f(pid, offsets.data<std::int32_t>());
    } else {
      f(pid, offsets.data<std::int64_t>());
    }
  };
  if (ids.dtype() == DType::kInt32) {
    with_ids(ids.data<std::int32_t>());
  } else {
    with_ids(ids.data<std::int64_t>());
  }
}

// One occurrence of a table row in the batch: the row, the output row that
// used it, and its pooling weight.
struct Occurrence {
  std::int64_t row;
  std::int32_t out;
  float weight;
};

}  // namespace

std::int64_t CpuBackend::find_out_of_range(const Tensor& ids, std::int64_t cardinality) {
  if (ids.dtype() == DType::kInt32)
    return first_out_of_range(ids.data<std::int32_t>(), ids.numel(), cardinality);
  return first_out_of_range(ids.data<std::int64_t>(), ids.numel(), cardinality);
}

void CpuBackend::embedding_bag_forward(const Tensor& table, const Tensor& ids,
                                       const Tensor& offsets, Pooling pooling, const Tensor& out) {
  const std::int64_t d = table.size(1), batch = out.size(0);
  const float* pt = table.data<float>();
  float* po = out.data<float>();
  with_index_types(ids, offsets, [&](const auto* pid, const auto* poff) {
    parallel_for(batch, 8 * d, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t b = begin; b < end; ++b) {
        float* dst = po + b * d;
        if (poff == nullptr) {
          std::memcpy(dst, pt + static_cast<std::int64_t>(pid[b]) * d, d * sizeof(float));
          continue;
        }
        const std::int64_t lo = poff[b], hi = poff[b + 1];
        std::fill(dst, dst + d, 0.0f);
        for (std::int64_t i = lo; i < hi; ++i) {
          const float* src = pt + static_cast<std::int64_t>(pid[i]) * d;
#pragma omp simd
          for (std::int64_t k = 0; k < d; ++k) dst[k] += src[k];
        }
        if (pooling == Pooling::kMean && hi - lo > 1) {
          const float inv = 1.0f / static_cast<float>(hi - lo);
          for (std::int64_t k = 0; k < d; ++k) dst[k] *= inv;
        }
      }
    });
  });
}

SparseRows CpuBackend::embedding_bag_backward(const Tensor& ids, const Tensor& offsets,
                                              Pooling pooling, const Tensor& dout, Arena& arena) {
  const std::int64_t nnz = ids.numel(), batch = dout.size(0), d = dout.size(1);
  Occurrence* occ =
      arena.array<Occurrence>(static_cast<std::size_t>(std::max<std::int64_t>(nnz, 1)));
  with_index_types(ids, offsets, [&](const auto* pid, const auto* poff) {
    if (poff == nullptr) {
      for (std::int64_t i = 0; i < nnz; ++i)
        occ[i] = {static_cast<std::int64_t>(pid[i]), static_cast<std::int32_t>(i), 1.0f};
      return;
    }
    for (std::int64_t b = 0; b < batch; ++b) {
      const std::int64_t lo = poff[b], hi = poff[b + 1];
      const float w = pooling == Pooling::kMean ? 1.0f / static_cast<float>(hi - lo) : 1.0f;
      for (std::int64_t i = lo; i < hi; ++i)
        occ[i] = {static_cast<std::int64_t>(pid[i]), static_cast<std::int32_t>(b), w};
    }
  });
  // Group occurrences by row, ties in position order (a fixed summation
  // order), by a stable sort on the row: one counting pass when the rows
  // span little more than the occurrences (a history column's 20k ids over
  // a 1,682-row table), else a radix sort, 8 bits a pass, over as many
  // passes as the largest row needs (two for tables under 65,536 rows).
  std::int64_t max_row = 0;
  for (std::int64_t i = 0; i < nnz; ++i) max_row = std::max(max_row, occ[i].row);
  Occurrence* other =
      arena.array<Occurrence>(static_cast<std::size_t>(std::max<std::int64_t>(nnz, 1)));
  if (max_row < (std::int64_t{1} << 20) && max_row <= 16 * nnz + 4096) {
    auto* count = arena.array<std::int64_t>(static_cast<std::size_t>(max_row + 2));
    std::fill(count, count + max_row + 2, std::int64_t{0});
    for (std::int64_t i = 0; i < nnz; ++i) ++count[occ[i].row + 1];
    for (std::int64_t r = 0; r <= max_row; ++r) count[r + 1] += count[r];
    for (std::int64_t i = 0; i < nnz; ++i) other[count[occ[i].row]++] = occ[i];
    std::swap(occ, other);
  } else {
    for (int shift = 0; shift == 0 || (max_row >> shift) != 0; shift += 8) {
      std::int64_t count[257] = {};
      for (std::int64_t i = 0; i < nnz; ++i) ++count[((occ[i].row >> shift) & 0xff) + 1];
      for (int b = 0; b < 256; ++b) count[b + 1] += count[b];
      for (std::int64_t i = 0; i < nnz; ++i) other[count[(occ[i].row >> shift) & 0xff]++] = occ[i];
      std::swap(occ, other);
    }
  }
  std::int64_t unique = 0;
  for (std::int64_t i = 0; i < nnz; ++i)
    if (i == 0 || occ[i].row != occ[i - 1].row) ++unique;
  SparseRows g{arena.tensor({unique}, DType::kInt64), arena.tensor({unique, d})};
  std::int64_t* rows = g.rows.data<std::int64_t>();
  // starts[u] = first occurrence of unique row u; starts[unique] = nnz.
  auto* starts = arena.array<std::int64_t>(static_cast<std::size_t>(unique + 1));
  for (std::int64_t i = 0, u = 0; i < nnz; ++i)
    if (i == 0 || occ[i].row != occ[i - 1].row) {
      rows[u] = occ[i].row;
      starts[u++] = i;
    }
  starts[unique] = nnz;
  const float* pg = dout.data<float>();
  float* pv = g.values.data<float>();
  // Each unique row is owned by one thread: no atomics, deterministic.
  parallel_for(unique, 2 * d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t u = begin; u < end; ++u) {
      float* dst = pv + u * d;
      std::fill(dst, dst + d, 0.0f);
      for (std::int64_t i = starts[u]; i < starts[u + 1]; ++i) {
        const float* src = pg + static_cast<std::int64_t>(occ[i].out) * d;
        const float w = occ[i].weight;
#pragma omp simd
        for (std::int64_t k = 0; k < d; ++k) dst[k] += w * src[k];
      }
    }
  });
  return g;
}

void CpuBackend::scatter_add_rows(const SparseRows& g, const Tensor& dense) {
  const std::int64_t n = g.rows.numel(), d = dense.size(1);
  const std::int64_t* rows = g.rows.data<std::int64_t>();
  const float* pv = g.values.data<float>();
  float* pd = dense.data<float>();
  // Rows are unique, so threads never write the same row.
  parallel_for(n, d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      float* dst = pd + rows[i] * d;
      const float* src = pv + i * d;
      for (std::int64_t k = 0; k < d; ++k) dst[k] += src[k];
    }
  });
}

}  // namespace recblocks::kernels::cpu
