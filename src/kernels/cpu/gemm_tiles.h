// recblocks' own GEMM register-tile kernels (gemm_tiles_impl.h), one per
// instruction set, so that one portable binary runs the widest tiles the
// machine has: AVX-512 (12 x 32 tiles), AVX2 with FMA (6 x 16), and the
// build's own flags (in a portable x86-64-v2 build, 6 x 16 on SSE without
// FMA). tile_kernel() picks one at first use from the CPU's
// features (cpuid); the environment variable RECBLOCKS_GEMM_ISA (avx512,
// avx2 or baseline) overrides the choice, and naming an instruction set the
// CPU lacks is an error.
#pragma once

#include <cstdint>

namespace recblocks::kernels::cpu {

struct TileKernel {
  const char* name;  // "avx512", "avx2", "baseline"
  std::int64_t tile_rows, tile_cols;
  // Scratch floats gemm needs for a product of N columns and inner size K.
  std::int64_t (*scratch_floats)(std::int64_t n, std::int64_t k);
  // C = alpha op(A) op(B) + beta C on the calling thread (row-major).
  void (*gemm)(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
               float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
               float beta, float* c, std::int64_t ldc, float* scratch);
  // C[:, panels begin..end) = alpha A B^T, a panel being tile_cols columns,
  // for a short K; scratch holds K * tile_cols floats.
  void (*nt_short_k)(std::int64_t begin, std::int64_t end, std::int64_t m, std::int64_t n,
                     std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b,
                     std::int64_t ldb, float* c, std::int64_t ldc, float* scratch);
};

// The kernels this CPU can run, widest first, then nullptr.
const TileKernel* const* available_tile_kernels();
// The one in use (see above).
const TileKernel& tile_kernel();

}  // namespace recblocks::kernels::cpu
