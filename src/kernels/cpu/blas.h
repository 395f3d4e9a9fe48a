// The BLAS under recblocks' GEMM, always called single-threaded: the
// threading is recblocks' own batch split over its one OpenMP pool
// (gemm.cpp), which measured faster than the libraries' own threading on
// recblocks' shapes (bench/gemm, bench/RESULTS.md). One implementation per
// library (blas_blis.cpp, blas_openblas.cpp); CMake's RECBLOCKS_BLAS picks it.
#pragma once

#include <cstdint>

namespace recblocks::kernels::cpu {

// Row-major C = alpha op(A) op(B) + beta C on the calling thread.
void blas_sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                float beta, float* c, std::int64_t ldc);

// "blis 0.9.0" or "openblas ...".
const char* blas_name();

}  // namespace recblocks::kernels::cpu
