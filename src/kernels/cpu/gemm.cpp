#include <algorithm>
#include <cstring>
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
  if (m >= n) return {m * part / parts, m * (part + 1) / parts, 0, n, n};
  return {0, m, n * part / parts, n * (part + 1) / parts, n};
}

namespace {

// The tile's vectors: 16 floats (one 512-bit register) where the build
// has AVX-512, which doubles the multiply-adds per instruction on this
// project's machine (an AMD EPYC with full-width AVX-512 units: 402 against
// 200 GFLOP/s on one core in a register-only loop); else 8 (AVX2 or SSE).
// A tile is kTileRows rows by two vectors: 12 x 2 accumulators with
// AVX-512 (24 of its 32 registers: half the loads of B per multiply-add of
// 6 x 2), 6 x 2 with 16 registers.
#if defined(__AVX512F__)
using Vec = f16;
#else
using Vec = f8;
#endif
constexpr std::int64_t kLanes = static_cast<std::int64_t>(sizeof(Vec) / sizeof(float));
inline Vec loadv(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storev(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
// x - 0 is x for every x (-0 included), so this is a plain broadcast: one
// load-port vbroadcastss from memory. (0 + x is not x for x = -0, and
// costs an add and a register broadcast on the FMA ports of Intel cores.)
inline Vec splatv(float x) { return x - Vec{}; }

constexpr std::int64_t kTileRows = kLanes == 16 ? 12 : 6;
constexpr std::int64_t kTileCols = 2 * kLanes;

// C = alpha op(A) op(B) + beta C on kTileRows x kTileCols register tiles
// (12 x 32 with AVX-512, 6 x 16 without) straight from the caches, for every
// product with n, k >= 16 and op(B) within 8 MiB: the MLP layers of the
// ranking models in all three passes, the backward of the in-batch scores,
// a catalogue softmax. On this project's 2-core machine (AMD EPYC, Debian's
// BLIS 0.9) it runs these shapes at 230-470 GFLOP/s, 3-6x BLIS, which
// packs both operands per call (build/bench/tile/tile_bench: 1024 x 128 x
// 512 fwd 0.30 against 1.72 ms, 128 x 512 x 1024 dW 0.40 against 1.79 ms,
// in-batch G^T Q 0.58 against 1.9 ms); on an Intel Xeon (Emerald Rapids,
// 2 vCPUs) 1.05-2x BLIS on every model shape. op(B) is read in place when
// it is B with a width that is a multiple of kTileCols and at most
// kInPlaceMaxK rows, else packed once per call into zero-padded panels of
// kTileCols columns ([panel][k][kTileCols]). C goes kTileRows rows at a time;
// op(A) = A is read in place (6 sequential streams), and so is A^T when
// its rows are near each other; A^T with rows far apart (the in-batch
// G^T Q) is packed [k][kTileRows] per tile, kPackGroup tiles at once. Each element
// sums its k products in order: the same result on any thread count and
// vector width. sgemm and the fused linear kernels split C between the
// threads (sgemm_run_part); a thread's block runs here when it has the
// shape, else on BLIS.
// Checked against a naive product in tests/kernels.
constexpr std::int64_t kTiledMinNK = 16;

// op(B) is streamed once per tile of rows, from L2 or L3: up to 8 MiB
// (a fourth of this machine's L3; the seed's largest, dY of the 512-wide
// layer, is 2 MiB and runs 2.8x faster than BLIS); larger products go to
// BLIS, which blocks for the caches.
constexpr std::int64_t kTiledMaxB = std::int64_t{1} << 21;  // floats

// Rows of B read in place at most (see gemm_tiled_serial).
constexpr std::int64_t kInPlaceMaxK = 256;
// Row stride (floats) of A^T read in place at most.
constexpr std::int64_t kInPlaceMaxLda = 256;
// Tiles of A^T packed together when it is not read in place.
constexpr std::int64_t kPackGroup = 48 / kTileRows;  // 3 cache lines a step

// By the whole product's N and K (never by a part's rows or columns): a
// product takes one kernel whatever its split, so results do not depend on
// the thread count.
bool tiled_gemm_applies(std::int64_t n, std::int64_t k) {
  return n >= kTiledMinNK && k >= kTiledMinNK && n * k <= kTiledMaxB;
}

// Makes `buffer` hold at least n floats. Never shrinks: resize() after a
// smaller call would zero-fill the regrown part on every call (5 % of a
// seed training step went to that memset, layers of different K taking
// turns).
void grow(std::vector<float>& buffer, std::size_t n) {
  if (buffer.size() < n) buffer.resize(n);
}

void gemm_tiled_serial(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                       float alpha, const float* a, std::int64_t lda, const float* b,
                       std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  const std::int64_t panels = (n + kTileCols - 1) / kTileCols;
  // op(B) by panels: row p of panel q at panel(q) + p * b_step, kTileCols
  // floats.
  // B is read in place when its width is whole panels and its rows are few
  // enough to stay in the caches across tiles: k rows of ldb floats, and
  // with a long k (a weight gradient's batch) the rows' large stride puts
  // them in few cache sets, so they are packed into sequential panels.
  const bool b_in_place = !trans_b && n % kTileCols == 0 && k <= kInPlaceMaxK;
  thread_local std::vector<float> packed_b;  // grows once per thread, reused
  if (!b_in_place) {
    grow(packed_b, static_cast<std::size_t>(panels * k * kTileCols));
    float* bp = packed_b.data();
    for (std::int64_t q = 0; q < panels; ++q) {
      const std::int64_t d0 = q * kTileCols;
      const std::int64_t cols = std::min(kTileCols, n - d0);
      float* panel = bp + q * k * kTileCols;
      if (!trans_b && cols == kTileCols) {
        for (std::int64_t p = 0; p < k; ++p) {
          std::memcpy(panel + p * kTileCols, b + p * ldb + d0, sizeof(float) * kTileCols);
        }
      } else if (!trans_b) {
        for (std::int64_t p = 0; p < k; ++p) {
          float* row = panel + p * kTileCols;
          std::memcpy(row, b + p * ldb + d0, sizeof(float) * static_cast<std::size_t>(cols));
          std::fill(row + cols, row + kTileCols, 0.0f);
        }
      } else {
        for (std::int64_t p = 0; p < k; ++p) {
          float* row = panel + p * kTileCols;
          for (std::int64_t j = 0; j < kTileCols; ++j)
            row[j] = j < cols ? b[(d0 + j) * ldb + p] : 0.0f;
        }
      }
    }
  }
  const float* bp = packed_b.data();
  auto panel = [&](std::int64_t q) {
    return b_in_place ? b + q * kTileCols : bp + q * k * kTileCols;
  };
  const std::int64_t b_step = b_in_place ? ldb : kTileCols;
  const std::int64_t tiles = (m + kTileRows - 1) / kTileRows;
  // Packed tiles of op(A), [tile][k][kTileRows]. A^T far apart is packed
  // kPackGroup tiles at a time: each of its cache lines is then read once,
  // not once per tile.
  const bool pack_all = trans_a && lda > kInPlaceMaxLda;
  const std::int64_t group = pack_all ? kPackGroup : 1;
  thread_local std::vector<float> packed_a;
  grow(packed_a, static_cast<std::size_t>(group * k * kTileRows));
  {
    for (std::int64_t tile = 0; tile < tiles; ++tile) {
      const std::int64_t i0 = tile * kTileRows;
      const std::int64_t rows = std::min(kTileRows, m - i0);
      // A last tile of fewer than kTileRows rows is packed too (rows past the end
      // as zeros): the full-tile loop then runs on it. A full tile of A^T
      // is otherwise read in place (its values of step p are adjacent),
      // and one of A always (6 row streams).
      const bool packed = pack_all || rows < kTileRows;
      if (packed && (!pack_all || tile % group == 0)) {
        const std::int64_t first = i0;
        const std::int64_t count = pack_all ? std::min(group, tiles - tile) : 1;
        float* pk = packed_a.data();
        if (trans_a && first + count * kTileRows <= m) {
          // Whole tiles of A^T: kTileRows adjacent values per tile and step.
          for (std::int64_t p = 0; p < k; ++p) {
            const float* row = a + p * lda + first;
            for (std::int64_t t = 0; t < count; ++t) {
              std::memcpy(pk + (t * k + p) * kTileRows, row + t * kTileRows,
                          sizeof(float) * kTileRows);
            }
          }
        } else {
          for (std::int64_t p = 0; p < k; ++p) {
            for (std::int64_t t = 0; t < count; ++t) {
              float* out = pk + (t * k + p) * kTileRows;
              for (std::int64_t r = 0; r < kTileRows; ++r) {
                const std::int64_t i = first + t * kTileRows + r;
                out[r] = i >= m ? 0.0f : trans_a ? a[p * lda + i] : a[i * lda + p];
              }
            }
          }
        }
      }
      const float* pa = packed_a.data() + (pack_all ? (tile % group) * k * kTileRows : 0);
      for (std::int64_t q = 0; q < panels; ++q) {
        const float* bq = panel(q);
        Vec acc[kTileRows][2] = {};
        if (packed) {
          for (std::int64_t p = 0; p < k; ++p) {
            const float* brow = bq + p * b_step;
            const Vec b0 = loadv(brow);
            const Vec b1 = loadv(brow + kLanes);
            const float* x = pa + p * kTileRows;
            for (std::int64_t r = 0; r < kTileRows; ++r) {
              const Vec v = splatv(x[r]);
              acc[r][0] += v * b0;
              acc[r][1] += v * b1;
            }
          }
        } else if (trans_a) {
          const float* a0 = a + i0;
          for (std::int64_t p = 0; p < k; ++p) {
            const float* brow = bq + p * b_step;
            const Vec b0 = loadv(brow);
            const Vec b1 = loadv(brow + kLanes);
            const float* x = a0 + p * lda;
            for (std::int64_t r = 0; r < kTileRows; ++r) {
              const Vec v = splatv(x[r]);
              acc[r][0] += v * b0;
              acc[r][1] += v * b1;
            }
          }
        } else {
          const float* a0 = a + i0 * lda;
          for (std::int64_t p = 0; p < k; ++p) {
            const float* brow = bq + p * b_step;
            const Vec b0 = loadv(brow);
            const Vec b1 = loadv(brow + kLanes);
            for (std::int64_t r = 0; r < kTileRows; ++r) {
              const Vec v = splatv(a0[r * lda + p]);
              acc[r][0] += v * b0;
              acc[r][1] += v * b1;
            }
          }
        }
        const std::int64_t d0 = q * kTileCols;
        const std::int64_t cols = std::min(kTileCols, n - d0);
        const Vec scale = splatv(alpha);
        const Vec keep = splatv(beta);
        for (std::int64_t r = 0; r < rows; ++r) {
          float* out = c + (i0 + r) * ldc + d0;
          Vec lo = acc[r][0] * scale;
          Vec hi = acc[r][1] * scale;
          if (cols == kTileCols) {
            if (beta != 0.0f) {
              lo += loadv(out) * keep;
              hi += loadv(out + kLanes) * keep;
            }
            storev(out, lo);
            storev(out + kLanes, hi);
          } else {
            float tile_out[kTileCols];
            storev(tile_out, lo);
            storev(tile_out + kLanes, hi);
            for (std::int64_t j = 0; j < cols; ++j)
              out[j] = tile_out[j] + (beta != 0.0f ? beta * out[j] : 0.0f);
          }
        }
      }
    }
  }
}

}  // namespace

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
  const float* pa = trans_a ? a + p.r0 : a + p.r0 * lda;
  const float* pb = trans_b ? b + p.c0 * ldb : b + p.c0;
  if (tiled_gemm_applies(p.n > 0 ? p.n : cols, k)) {
    gemm_tiled_serial(trans_a, trans_b, rows, cols, k, alpha, pa, lda, pb, ldb, beta,
                      c + p.r0 * ldc + p.c0, ldc);
    return;
  }
  blas_sgemm(trans_a, trans_b, rows, cols, k, alpha, pa, lda, pb, ldb, beta, c + p.r0 * ldc + p.c0,
             ldc);
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
  run_tasks(parts, parts, [&](int part) {
    sgemm_run_part(sgemm_part(m, n, part, parts), trans_a, trans_b, k, alpha, a, lda, b, ldb, beta,
                   c, ldc);
  });
}

// C = alpha A B^T for a short inner dimension (k <= kShortK) and a wide C:
// the in-batch scores of retrieval (queries [B, d] x candidates [B, d]^T)
// and the top-k scan. BLIS reaches a third of its peak on these shapes (a
// pack per call for a k-step of only d). Each thread takes whole panels
// of kTileCols columns of C: it packs its panel of B transposed ([k][kTileCols], in L1)
// and sweeps all rows of A kTileRows at a time, a kTileRows x kTileCols tile of C in
// vector registers; each element sums its k products in order (the
// same result on any thread count). Checked against a naive product in
// tests/kernels.
namespace {

constexpr std::int64_t kShortK = 128;

void gemm_nt_short_k(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
                     std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                     std::int64_t ldc) {
  const std::int64_t panels = (n + kTileCols - 1) / kTileCols;
  parallel_for(panels, m * k * kTileCols * 2, [&](std::int64_t begin, std::int64_t end) {
    thread_local std::vector<float> packed;
    grow(packed, static_cast<std::size_t>(k * kTileCols));
    float* bp = packed.data();
    for (std::int64_t panel = begin; panel < end; ++panel) {
      const std::int64_t j0 = panel * kTileCols;
      const std::int64_t cols = std::min(kTileCols, n - j0);
      for (std::int64_t kk = 0; kk < k; ++kk) {
        for (std::int64_t j = 0; j < kTileCols; ++j)
          bp[kk * kTileCols + j] = j < cols ? b[(j0 + j) * ldb + kk] : 0.0f;
      }
      for (std::int64_t i0 = 0; i0 < m; i0 += kTileRows) {
        const std::int64_t rows = std::min(kTileRows, m - i0);
        Vec acc[kTileRows][2] = {};
        if (rows == kTileRows) {
          const float* a0 = a + i0 * lda;
          for (std::int64_t kk = 0; kk < k; ++kk) {
            const Vec b0 = loadv(bp + kk * kTileCols);
            const Vec b1 = loadv(bp + kk * kTileCols + kLanes);
            for (std::int64_t r = 0; r < kTileRows; ++r) {
              const Vec x = splatv(a0[r * lda + kk]);
              acc[r][0] += x * b0;
              acc[r][1] += x * b1;
            }
          }
        } else {
          for (std::int64_t kk = 0; kk < k; ++kk) {
            const Vec b0 = loadv(bp + kk * kTileCols);
            const Vec b1 = loadv(bp + kk * kTileCols + kLanes);
            for (std::int64_t r = 0; r < rows; ++r) {
              const Vec x = splatv(a[(i0 + r) * lda + kk]);
              acc[r][0] += x * b0;
              acc[r][1] += x * b1;
            }
          }
        }
        const Vec scale = splatv(alpha);
        for (std::int64_t r = 0; r < rows; ++r) {
          float* out = c + (i0 + r) * ldc + j0;
          if (cols == kTileCols) {
            storev(out, acc[r][0] * scale);
            storev(out + kLanes, acc[r][1] * scale);
          } else {
            float tile[kTileCols];
            storev(tile, acc[r][0] * scale);
            storev(tile + kLanes, acc[r][1] * scale);
            for (std::int64_t j = 0; j < cols; ++j) out[j] = tile[j];
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
    gemm_nt_short_k(m, n, k, alpha, a.data<float>(), a.size(1), b.data<float>(), b.size(1),
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
constexpr std::int64_t kSmallProduct = std::int64_t{32} * 32 * 32;

void small_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                float beta, float* c, std::int64_t ldc) {
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
        small_gemm(trans_a, trans_b, m, n, k, alpha, pa + i * a_stride, a.size(2),
                   pb + i * b_stride, b_cols, beta, pc + i * m * n, n);
      } else {
        sgemm(trans_a, trans_b, m, n, k, alpha, pa + i * a_stride, a.size(2), pb + i * b_stride,
              b_cols, beta, pc + i * m * n, n);
      }
    }
  });
}

}  // namespace recblocks::kernels::cpu
