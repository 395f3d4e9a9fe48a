#include <vector>

#include "kernels/cpu/blas.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/simd.h"

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

// C = alpha A B^T for a short inner dimension (k <= kShortK) and a wide C:
// the in-batch scores of retrieval (queries [B, d] x candidates [B, d]^T)
// and the top-k scan. BLIS reaches a third of its peak on these shapes (a
// pack per call for a k-step of only d). Each thread takes whole panels
// of 16 columns of C: it packs its panel of B transposed ([k][16], in L1)
// and sweeps all rows of A six at a time, a 6 x 16 tile of C in twelve
// eight-float registers; each element sums its k products in order (the
// same result on any thread count). Checked against a naive product in
// tests/kernels.
namespace {

constexpr std::int64_t kShortK = 128;
constexpr std::int64_t kTileRows = 6;
constexpr std::int64_t kTileCols = 16;

void gemm_nt_short_k(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda,
                     const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  const std::int64_t panels = (n + kTileCols - 1) / kTileCols;
  parallel_for(panels, m * k * kTileCols * 2, [&](std::int64_t begin, std::int64_t end) {
    thread_local std::vector<float> packed;
    packed.resize(static_cast<std::size_t>(k * kTileCols));
    float* bp = packed.data();
    for (std::int64_t panel = begin; panel < end; ++panel) {
      const std::int64_t j0 = panel * kTileCols;
      const std::int64_t cols = std::min(kTileCols, n - j0);
      for (std::int64_t kk = 0; kk < k; ++kk) {
        for (std::int64_t j = 0; j < kTileCols; ++j) bp[kk * kTileCols + j] = j < cols ? b[(j0 + j) * ldb + kk] : 0.0f;
      }
      for (std::int64_t i0 = 0; i0 < m; i0 += kTileRows) {
        const std::int64_t rows = std::min(kTileRows, m - i0);
        f8 acc[kTileRows][2] = {};
        if (rows == kTileRows) {
          const float* a0 = a + i0 * lda;
          for (std::int64_t kk = 0; kk < k; ++kk) {
            const f8 b0 = load8(bp + kk * kTileCols);
            const f8 b1 = load8(bp + kk * kTileCols + 8);
            for (std::int64_t r = 0; r < kTileRows; ++r) {
              const f8 x = splat8(a0[r * lda + kk]);
              acc[r][0] += x * b0;
              acc[r][1] += x * b1;
            }
          }
        } else {
          for (std::int64_t kk = 0; kk < k; ++kk) {
            const f8 b0 = load8(bp + kk * kTileCols);
            const f8 b1 = load8(bp + kk * kTileCols + 8);
            for (std::int64_t r = 0; r < rows; ++r) {
              const f8 x = splat8(a[(i0 + r) * lda + kk]);
              acc[r][0] += x * b0;
              acc[r][1] += x * b1;
            }
          }
        }
        const f8 scale = splat8(alpha);
        for (std::int64_t r = 0; r < rows; ++r) {
          float* out = c + (i0 + r) * ldc + j0;
          if (cols == kTileCols) {
            store8(out, acc[r][0] * scale);
            store8(out + 8, acc[r][1] * scale);
          } else {
            float tile[kTileCols];
            store8(tile, acc[r][0] * scale);
            store8(tile + 8, acc[r][1] * scale);
            for (std::int64_t j = 0; j < cols; ++j) out[j] = tile[j];
          }
        }
      }
    }
  });
}

// C = alpha op(A) B + beta C with a narrow C (n <= 64, a multiple of 16)
// and a long inner dimension (k >= 256): the backward of the in-batch
// scores (dQ = G C, dC = G^T Q with G [B, B]) and of a full softmax over a
// catalogue. On these shapes BLIS packs a large A for a few columns of C
// and reaches a fourth of what a 6 x 16 register tile does straight from
// the caches (1024 x 64 x 1024 on 2 threads: G C 0.56 against 2.2 ms,
// G^T Q 0.87 against 2.3 ms; bench/RESULTS.md). Threads take whole tiles
// of 6 rows of C; each element sums its k products in order (the same
// result on any thread count). op(A) = A: the tile's 6 rows of A are read
// in place (6 sequential streams). op(A) = A^T: the tile's 6 columns of A
// are packed first ([k][6], contiguous) so the 64 / 16 passes read them
// from L1 instead of 6 floats per strided cache line. Checked against a
// naive product in tests/kernels.
constexpr std::int64_t kNarrowMaxN = 64;
constexpr std::int64_t kNarrowMinK = 256;

bool narrow_gemm_applies(std::int64_t m, std::int64_t n, std::int64_t k, bool trans_b) {
  return !trans_b && m >= 64 && n <= kNarrowMaxN && n % kTileCols == 0 && n > 0 && k >= kNarrowMinK;
}

void gemm_narrow(bool trans_a, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
                 std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  const std::int64_t tiles = (m + kTileRows - 1) / kTileRows;
  parallel_for(tiles, n * k * kTileRows * 2, [&](std::int64_t begin, std::int64_t end) {
    thread_local std::vector<float> packed;
    if (trans_a) packed.resize(static_cast<std::size_t>(k * kTileRows));
    for (std::int64_t tile = begin; tile < end; ++tile) {
      const std::int64_t i0 = tile * kTileRows;
      const std::int64_t rows = std::min(kTileRows, m - i0);
      // Row r of the tile's op(A) at inner index p: a_at(r, p).
      const float* pa = nullptr;
      if (trans_a) {
        float* pk = packed.data();
        for (std::int64_t p = 0; p < k; ++p) {
          const float* src = a + p * lda + i0;
          for (std::int64_t r = 0; r < kTileRows; ++r) pk[p * kTileRows + r] = r < rows ? src[r] : 0.0f;
        }
        pa = pk;
      }
      for (std::int64_t d0 = 0; d0 < n; d0 += kTileCols) {
        f8 acc[kTileRows][2] = {};
        if (trans_a) {
          for (std::int64_t p = 0; p < k; ++p) {
            const f8 b0 = load8(b + p * ldb + d0);
            const f8 b1 = load8(b + p * ldb + d0 + 8);
            const float* x = pa + p * kTileRows;
            for (std::int64_t r = 0; r < kTileRows; ++r) {
              const f8 v = splat8(x[r]);
              acc[r][0] += v * b0;
              acc[r][1] += v * b1;
            }
          }
        } else if (rows == kTileRows) {
          const float* a0 = a + i0 * lda;
          for (std::int64_t p = 0; p < k; ++p) {
            const f8 b0 = load8(b + p * ldb + d0);
            const f8 b1 = load8(b + p * ldb + d0 + 8);
            for (std::int64_t r = 0; r < kTileRows; ++r) {
              const f8 v = splat8(a0[r * lda + p]);
              acc[r][0] += v * b0;
              acc[r][1] += v * b1;
            }
          }
        } else {
          for (std::int64_t p = 0; p < k; ++p) {
            const f8 b0 = load8(b + p * ldb + d0);
            const f8 b1 = load8(b + p * ldb + d0 + 8);
            for (std::int64_t r = 0; r < rows; ++r) {
              const f8 v = splat8(a[(i0 + r) * lda + p]);
              acc[r][0] += v * b0;
              acc[r][1] += v * b1;
            }
          }
        }
        const f8 scale = splat8(alpha);
        for (std::int64_t r = 0; r < rows; ++r) {
          float* out = c + (i0 + r) * ldc + d0;
          if (beta == 0.0f) {
            store8(out, acc[r][0] * scale);
            store8(out + 8, acc[r][1] * scale);
          } else {
            const f8 keep = splat8(beta);
            store8(out, acc[r][0] * scale + load8(out) * keep);
            store8(out + 8, acc[r][1] * scale + load8(out + 8) * keep);
          }
        }
      }
    }
  });
}

}  // namespace

void CpuBackend::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                      float beta, const Tensor& c) {
  const std::int64_t m = c.size(0), n = c.size(1);
  const std::int64_t k = trans_a ? a.size(0) : a.size(1);
  if (!trans_a && trans_b && beta == 0 && k > 0 && k <= kShortK && m >= 64 && n >= 256) {
    gemm_nt_short_k(m, n, k, alpha, a.data<float>(), a.size(1), b.data<float>(), b.size(1), c.data<float>(), n);
    return;
  }
  if (narrow_gemm_applies(m, n, k, trans_b)) {
    gemm_narrow(trans_a, m, n, k, alpha, a.data<float>(), a.size(1), b.data<float>(), b.size(1), beta,
                c.data<float>(), n);
    return;
  }
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
