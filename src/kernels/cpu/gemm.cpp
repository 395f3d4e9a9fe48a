#include "kernels/cpu/blas.h"
#include "kernels/cpu/cpu_backend.h"

namespace recblocks::kernels::cpu {
namespace {

// Below this many multiply-adds a GEMM runs on one thread.
constexpr std::int64_t kSplitWork = 1 << 17;

}  // namespace

// Threads split C, each calling the single-threaded BLAS on its part: by
// rows (the batch) when C has at least as many rows as columns, else by
// columns (weight gradients, whose reduction runs over the batch). Each
// thread owns disjoint outputs, so results do not depend on timing.
void sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
           const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
           std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
    return;
  }
  // parallel_for runs on one thread when cost * count < kParallelGrain.
  const std::int64_t work = m * n * k;
  if (m >= n) {
    parallel_for(m, work < kSplitWork ? 0 : kParallelGrain, [&](std::int64_t r0, std::int64_t r1) {
      blas_sgemm(trans_a, trans_b, r1 - r0, n, k, alpha, trans_a ? a + r0 : a + r0 * lda, lda, b,
                 ldb, beta, c + r0 * ldc, ldc);
    });
  } else {
    parallel_for(n, work < kSplitWork ? 0 : kParallelGrain, [&](std::int64_t c0, std::int64_t c1) {
      blas_sgemm(trans_a, trans_b, m, c1 - c0, k, alpha, a, lda, trans_b ? b + c0 * ldb : b + c0,
                 ldb, beta, c + c0, ldc);
    });
  }
}

void CpuBackend::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                      float beta, const Tensor& c) {
  const std::int64_t m = c.size(0), n = c.size(1);
  const std::int64_t k = trans_a ? a.size(0) : a.size(1);
  sgemm(trans_a, trans_b, m, n, k, alpha, a.data<float>(), a.size(1), b.data<float>(), b.size(1),
        beta, c.data<float>(), n);
}

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
  // Many small products: one per thread, each a single-threaded GEMM.
  parallel_for(batch, m * n * k, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      sgemm(trans_a, trans_b, m, n, k, alpha, pa + i * a_stride, a.size(2), pb + i * b_stride,
            b_cols, beta, pc + i * m * n, n);
    }
  });
}

}  // namespace recblocks::kernels::cpu
