#include <blis.h>

#include <string>

#include "kernels/cpu/blas.h"

namespace recblocks::kernels::cpu {
namespace {

// BLIS threads are off: every call runs on the thread that makes it.
const bool kSingleThreaded = [] {
  bli_thread_set_num_threads(1);
  return true;
}();

}  // namespace

void blas_sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                float beta, float* c, std::int64_t ldc) {
  (void)kSingleThreaded;
  // Row-major with general strides: rows are ld apart, columns adjacent.
  const inc_t rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;
  const inc_t rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;
  bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha, const_cast<float*>(a), rsa, csa,
            const_cast<float*>(b), rsb, csb, &beta, c, ldc, 1);
}

const char* blas_name() {
  static const std::string kName = std::string("blis ") + bli_info_get_version_str();
  return kName.c_str();
}

}  // namespace recblocks::kernels::cpu
