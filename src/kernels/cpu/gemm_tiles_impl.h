// The GEMM register-tile kernels, compiled once per instruction set
// (gemm_tiles_avx512.cpp, gemm_tiles_avx2.cpp, gemm_tiles_base.cpp), each
// in its own namespace RB_TILE_NS, and chosen at run time (gemm_tiles.h).
// Only this file's own code runs in those translation units: no standard
// library template is instantiated here (an inline function compiled with
// AVX-512 could otherwise be the one copy the linker keeps for the whole
// program, and fault on a machine without it), hence min64 and the plain
// loops.
//
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
// kTileCols columns ([panel][k][kTileCols]). C goes kTileRows rows at a
// time; op(A) = A is read in place (a stream per row), and so is A^T when
// its rows are near each other; A^T with rows far apart (the in-batch
// G^T Q) is packed [k][kTileRows] per tile, kPackGroup tiles at once. Each
// element sums its k products in order: the same result on any thread
// count and tile shape (a build without FMA rounds each product apart).
// Checked against a naive product in tests/kernels, on every instruction
// set this machine has.
#include <cstdint>
#include <cstring>

#include "kernels/cpu/gemm_tiles.h"

namespace recblocks::kernels::cpu::RB_TILE_NS {
namespace {

// The tile's vectors: 16 floats (one 512-bit register) with AVX-512,
// which doubles the multiply-adds per instruction (an AMD EPYC with
// full-width AVX-512 units: 402 against 200 GFLOP/s on one core in a
// register-only loop); else 8 (AVX2, or two SSE registers). A tile is
// kTileRows rows by two vectors: 12 x 2 accumulators with AVX-512 (24 of
// its 32 registers: half the loads of B per multiply-add of 6 x 2, 1.2x
// faster on the Xeon), 6 x 2 with 16 registers.
#if defined(__AVX512F__)
constexpr std::int64_t kLanes = 16;
#else
constexpr std::int64_t kLanes = 8;
#endif
using Vec = float __attribute__((vector_size(kLanes * sizeof(float))));
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
inline std::int64_t min64(std::int64_t x, std::int64_t y) { return x < y ? x : y; }

constexpr std::int64_t kTileRows = kLanes == 16 ? 12 : 6;
constexpr std::int64_t kTileCols = 2 * kLanes;

// Rows of B read in place at most: with a long k (a weight gradient's
// batch) the rows' large stride puts them in few cache sets, so they are
// packed into sequential panels.
constexpr std::int64_t kInPlaceMaxK = 256;
// Row stride (floats) of A^T read in place at most.
constexpr std::int64_t kInPlaceMaxLda = 256;
// Tiles of A^T packed together when it is not read in place.
constexpr std::int64_t kPackGroup = 48 / kTileRows;  // 3 cache lines a step

std::int64_t scratch_floats(std::int64_t n, std::int64_t k) {
  const std::int64_t panels = (n + kTileCols - 1) / kTileCols;
  return panels * k * kTileCols + kPackGroup * k * kTileRows;
}

// One thread's product; scratch holds scratch_floats(n, k) floats.
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc, float* scratch) {
  const std::int64_t panels = (n + kTileCols - 1) / kTileCols;
  // op(B) by panels: row p of panel q at panel(q) + p * b_step, kTileCols
  // floats.
  // B is read in place when its width is whole panels and its rows are few
  // enough to stay in the caches across tiles: k rows of ldb floats, and
  // with a long k (a weight gradient's batch) the rows' large stride puts
  // them in few cache sets, so they are packed into sequential panels.
  const bool b_in_place = !trans_b && n % kTileCols == 0 && k <= kInPlaceMaxK;
  float* const packed_b = scratch;  // panels * k * kTileCols floats
  float* const packed_a = scratch + panels * k * kTileCols;
  if (!b_in_place) {
    float* bp = packed_b;
    for (std::int64_t q = 0; q < panels; ++q) {
      const std::int64_t d0 = q * kTileCols;
      const std::int64_t cols = min64(kTileCols, n - d0);
      float* panel = bp + q * k * kTileCols;
      if (!trans_b && cols == kTileCols) {
        for (std::int64_t p = 0; p < k; ++p) {
          std::memcpy(panel + p * kTileCols, b + p * ldb + d0, sizeof(float) * kTileCols);
        }
      } else if (!trans_b) {
        for (std::int64_t p = 0; p < k; ++p) {
          float* row = panel + p * kTileCols;
          std::memcpy(row, b + p * ldb + d0, sizeof(float) * static_cast<std::size_t>(cols));
          for (std::int64_t j = cols; j < kTileCols; ++j) row[j] = 0.0f;
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
  const float* bp = packed_b;
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
  {
    for (std::int64_t tile = 0; tile < tiles; ++tile) {
      const std::int64_t i0 = tile * kTileRows;
      const std::int64_t rows = min64(kTileRows, m - i0);
      // A last tile of fewer than kTileRows rows is packed too (rows past the end
      // as zeros): the full-tile loop then runs on it. A full tile of A^T
      // is otherwise read in place (its values of step p are adjacent),
      // and one of A always (6 row streams).
      const bool packed = pack_all || rows < kTileRows;
      if (packed && (!pack_all || tile % group == 0)) {
        const std::int64_t first = i0;
        const std::int64_t count = pack_all ? min64(group, tiles - tile) : 1;
        float* pk = packed_a;
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
      const float* pa = packed_a + (pack_all ? (tile % group) * k * kTileRows : 0);
      for (std::int64_t q = 0; q < panels; ++q) {
        const float* bq = panel(q);
        Vec acc[kTileRows][2] = {};
        if (packed || trans_a) {
          // The tile's kTileRows values of step p are adjacent: packed, or
          // a row of A^T read in place.
          const float* x0 = packed ? pa : a + i0;
          const std::int64_t x_step = packed ? kTileRows : lda;
          for (std::int64_t p = 0; p < k; ++p) {
            const float* brow = bq + p * b_step;
            const Vec b0 = loadv(brow);
            const Vec b1 = loadv(brow + kLanes);
            const float* x = x0 + p * x_step;
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
        const std::int64_t cols = min64(kTileCols, n - d0);
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

// C = alpha A B^T for a short inner dimension on the panels [begin, end)
// of kTileCols columns of C: each panel of B packed transposed
// ([k][kTileCols], in L1), then all rows of A swept kTileRows at a time.
void nt_short_k(std::int64_t begin, std::int64_t end, std::int64_t m, std::int64_t n,
                std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b,
                std::int64_t ldb, float* c, std::int64_t ldc, float* scratch) {
  {
    float* bp = scratch;  // k * kTileCols floats
    for (std::int64_t panel = begin; panel < end; ++panel) {
      const std::int64_t j0 = panel * kTileCols;
      const std::int64_t cols = min64(kTileCols, n - j0);
      for (std::int64_t kk = 0; kk < k; ++kk) {
        for (std::int64_t j = 0; j < kTileCols; ++j)
          bp[kk * kTileCols + j] = j < cols ? b[(j0 + j) * ldb + kk] : 0.0f;
      }
      for (std::int64_t i0 = 0; i0 < m; i0 += kTileRows) {
        const std::int64_t rows = min64(kTileRows, m - i0);
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
  }
}

}  // namespace

extern const TileKernel kKernel{RB_TILE_NAME,    kTileRows, kTileCols,
                                &scratch_floats, &gemm,     &nt_short_k};

}  // namespace recblocks::kernels::cpu::RB_TILE_NS
