#include "kernels/cpu/blas.h"

#include <cblas.h>

#include <string>

namespace recblocks::kernels::cpu {
namespace {

// OpenBLAS threads are off: every call runs on the thread that makes it
// (the OpenMP build is thread-safe to call from several threads; the
// serial Debian build is not, see bench/RESULTS.md).
const bool kSingleThreaded = [] {
  openblas_set_num_threads(1);
  return true;
}();

}  // namespace

void blas_sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                float beta, float* c, std::int64_t ldc) {
  (void)kSingleThreaded;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

const char* blas_name() {
  static const std::string kName = std::string("openblas ") + openblas_get_config();
  return kName.c_str();
}

}  // namespace recblocks::kernels::cpu
