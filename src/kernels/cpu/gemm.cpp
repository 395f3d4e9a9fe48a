#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/cpu/blas.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/gemm_tiles.h"
#include "kernels/cpu/simd.h"
#include "recblocks/core/error.h"

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

namespace tiles_avx512 {
extern const TileKernel kKernel;
}
namespace tiles_avx2 {
extern const TileKernel kKernel;
}
namespace tiles_base {
extern const TileKernel kKernel;
}

const TileKernel* const* available_tile_kernels() {
  static const auto list = [] {
    std::array<const TileKernel*, 4> kernels{};
    std::size_t n = 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
      kernels[n++] = &tiles_avx512::kKernel;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      kernels[n++] = &tiles_avx2::kKernel;
    }
    kernels[n++] = &tiles_base::kKernel;
    return kernels;
  }();
  return list.data();
}

namespace {

// "avx512, avx2, baseline": the kernels this CPU runs.
std::string available_names() {
  std::string names;
  for (const TileKernel* const* k = available_tile_kernels(); *k != nullptr; ++k) {
    names += names.empty() ? "" : ", ";
    names += (*k)->name;
  }
  return names;
}

}  // namespace

const TileKernel& tile_kernel() {
  static const TileKernel* chosen = [] {
    const TileKernel* const* kernels = available_tile_kernels();
    const char* wanted = std::getenv("RECBLOCKS_GEMM_ISA");
    if (wanted == nullptr || *wanted == '\0') return kernels[0];
    for (const TileKernel* const* k = kernels; *k != nullptr; ++k) {
      if (std::string_view((*k)->name) == wanted) return *k;
    }
    throw ValueError(fmt::format("RECBLOCKS_GEMM_ISA={}: expected one of this CPU's {}",
                                 quoted_excerpt(wanted), available_names()));
  }();
  return *chosen;
}

std::string CpuBackend::details() const {
  return fmt::format("GEMM tiles: {}; this CPU runs {}; RECBLOCKS_GEMM_ISA chooses",
                     tile_kernel().name, available_names());
}

namespace {

// Products with n, k >= 16 and op(B) within 8 MiB run the tile kernels
// (gemm_tiles_impl.h); others BLIS.
constexpr std::int64_t kTiledMinNK = 16;

// op(B) is streamed once per tile of rows, from L2 or L3: up to 8 MiB
// (a fourth of this machine's L3; the seed's largest, dY of the 512-wide
// layer, is 2 MiB and runs 2.8x faster than BLIS); larger products go to
// BLIS, which blocks for the caches.
constexpr std::int64_t kTiledMaxB = std::int64_t{1} << 21;  // floats

// By the whole product's N and K (never by a part's rows or columns): a
// product takes one kernel whatever its split, so results do not depend on
// the thread count.
bool tiled_gemm_applies(std::int64_t n, std::int64_t k) {
  return n >= kTiledMinNK && k >= kTiledMinNK && n * k <= kTiledMaxB;
}

// The calling thread's scratch, at least n floats. Never shrinks: resize()
// after a smaller call would zero-fill the regrown part on every call (5 %
// of a seed training step went to that memset, layers of different K
// taking turns).
float* scratch(std::int64_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < static_cast<std::size_t>(n)) buffer.resize(static_cast<std::size_t>(n));
  return buffer.data();
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
    const TileKernel& tiles = tile_kernel();
    tiles.gemm(trans_a, trans_b, rows, cols, k, alpha, pa, lda, pb, ldb, beta,
               c + p.r0 * ldc + p.c0, ldc, scratch(tiles.scratch_floats(cols, k)));
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
// pack per call for a k-step of only d). Each thread takes whole panels of
// C's columns (TileKernel::nt_short_k); each element sums its k products
// in order (the same result on any thread count). Checked against a naive
// product in tests/kernels.
namespace {

constexpr std::int64_t kShortK = 128;

void gemm_nt_short_k(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
                     std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                     std::int64_t ldc) {
  const TileKernel& tiles = tile_kernel();
  const std::int64_t panels = (n + tiles.tile_cols - 1) / tiles.tile_cols;
  parallel_for(panels, m * k * tiles.tile_cols * 2, [&](std::int64_t begin, std::int64_t end) {
    tiles.nt_short_k(begin, end, m, n, k, alpha, a, lda, b, ldb, c, ldc,
                     scratch(k * tiles.tile_cols));
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
