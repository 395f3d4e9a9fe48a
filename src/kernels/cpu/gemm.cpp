#include "kernels/cpu/blas.h"
#include "kernels/cpu/cpu_backend.h"

namespace recblocks::kernels::cpu {

// Threads split C, each calling the single-threaded BLAS on its part: by
// rows (the batch) when C has at least as many rows as columns, else by
// columns (weight gradients, whose reduction runs over the batch). Each
// thread owns disjoint outputs, so results do not depend on timing.
int sgemm_parts(std::int64_t m, std::int64_t n, std::int64_t k) {
  if (m * n * k < kSplitWork) return 1;
  return parallel_chunks(std::max(m, n), kParallelGrain);
}

GemmPart sgemm_part(std::int64_t m, std::int64_t n, int part, int parts) {
  if (m >= n) return {m * part / parts, m * (part + 1) / parts, 0, n};
  return {0, m, n * part / parts, n * (part + 1) / parts};
}

void sgemm_run_part(const GemmPart& p, bool trans_a, bool trans_b, std::int64_t k, float alpha,
                    const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
                    float* c, std::int64_t ldc) {
  const std::int64_t rows = p.r1 - p.r0, cols = p.c1 - p.c0;
  if (rows <= 0 || cols <= 0) return;
  if (k == 0) {
    for (std::int64_t i = p.r0; i < p.r1; ++i) {
      for (std::int64_t j = p.c0; j < p.c1; ++j) {
        c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
      }
    }
    return;
  }
  blas_sgemm(trans_a, trans_b, rows, cols, k, alpha, trans_a ? a + p.r0 : a + p.r0 * lda, lda,
             trans_b ? b + p.c0 * ldb : b + p.c0, ldb, beta, c + p.r0 * ldc + p.c0, ldc);
}

void sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
           const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
           std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  const int parts = sgemm_parts(m, n, k);
  if (parts == 1) {
    sgemm_run_part(sgemm_part(m, n, 0, 1), trans_a, trans_b, k, alpha, a, lda, b, ldb, beta, c,
                   ldc);
    return;
  }
#pragma omp parallel num_threads(parts)
  sgemm_run_part(sgemm_part(m, n, omp_get_thread_num(), parts), trans_a, trans_b, k, alpha, a, lda,
                 b, ldb, beta, c, ldc);
}

void CpuBackend::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                      float beta, const Tensor& c) {
  const std::int64_t m = c.size(0), n = c.size(1);
  const std::int64_t k = trans_a ? a.size(0) : a.size(1);
  sgemm(trans_a, trans_b, m, n, k, alpha, a.data<float>(), a.size(1), b.data<float>(), b.size(1),
        beta, c.data<float>(), n);
}

namespace {

// Products this small (m * n * k) cost less as a direct loop than as a BLAS
// call (its setup, locking and packing): MMoE's gate mixtures are
// [1, E] x [E, d] per row, a thousand of them per batch.
constexpr std::int64_t kSmallProduct = 32 * 32 * 32;

void small_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    for (std::int64_t j = 0; j < n; ++j) row[j] = beta == 0 ? 0.0f : beta * row[j];
    for (std::int64_t p = 0; p < k; ++p) {
      const float av = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
      if (trans_b) {
        for (std::int64_t j = 0; j < n; ++j) row[j] += av * b[j * ldb + p];
      } else {
        const float* brow = b + p * ldb;
        for (std::int64_t j = 0; j < n; ++j) row[j] += av * brow[j];
      }
    }
  }
}

}  // namespace

void CpuBackend::batched_gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a,
                              const Tensor& b, float beta, const Tensor& c) {
  const std::int64_t batch = c.size(0), m = c.size(1), n = c.size(2);
  const std::int64_t k = trans_a ? a.size(1) : a.size(2);
  const bool shared_b = b.rank() == 2;
  const std::int64_t b_rows = shared_b ? b.size(0) : b.size(1);
  const std::int64_t b_cols = shared_b ? b.size(1) : b.size(2);
  const std::int64_t a_stride = a.size(1) * a.size(2);
  const std::int64_t b_stride = shared_b ? 0 : b_rows * b_cols;
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pc = c.data<float>();
  if (shared_b && !trans_a && beta == 0) {
    // [B, M, K] @ [K, N] is one [B*M, K] @ [K, N] GEMM.
    sgemm(false, trans_b, batch * m, n, k, alpha, pa, k, pb, b_cols, beta, pc, n);
    return;
  }
  // Many small products, split over the threads: each a direct loop when
  // tiny, else a single-threaded GEMM.
  const bool tiny = m * n * k <= kSmallProduct;
  parallel_for(batch, m * n * k, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      if (tiny) {
        small_gemm(trans_a, trans_b, m, n, k, alpha, pa + i * a_stride, a.size(2), pb + i * b_stride, b_cols, beta,
                   pc + i * m * n, n);
      } else {
        sgemm(trans_a, trans_b, m, n, k, alpha, pa + i * a_stride, a.size(2), pb + i * b_stride, b_cols, beta,
              pc + i * m * n, n);
      }
    }
  });
}

}  // namespace recblocks::kernels::cpu
