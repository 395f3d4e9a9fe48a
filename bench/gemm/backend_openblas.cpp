// OpenBLAS backend: one source, built once per Debian variant
// (openmp / pthread / serial), selected by RB_OPENBLAS_VARIANT.
#include <cblas.h>

#include <string>

#include "backend.hpp"

#ifndef RB_OPENBLAS_VARIANT
#error "define RB_OPENBLAS_VARIANT (openmp, pthread or serial)"
#endif

namespace gemmbench {
namespace {

class OpenblasGemm final : public Gemm {
 public:
  explicit OpenblasGemm(const GemmArgs& a) : g_(a) {}
  void run() override {
    cblas_sgemm(CblasRowMajor, g_.ta ? CblasTrans : CblasNoTrans, g_.tb ? CblasTrans : CblasNoTrans,
                g_.m, g_.n, g_.k, 1.0f, g_.a, g_.lda, g_.b, g_.ldb, 0.0f, g_.c, g_.ldc);
  }

 private:
  GemmArgs g_;
};

}  // namespace

const char* backend_name() { return "openblas-" RB_OPENBLAS_VARIANT; }

std::vector<std::pair<std::string, std::string>> backend_info() {
  const int par = openblas_get_parallel();
  const char* par_name = par == 0   ? "serial"
                         : par == 1 ? "pthreads"
                         : par == 2 ? "openmp"
                                    : "unknown";
  return {{"version", openblas_get_config()},
          {"core", openblas_get_corename()},
          {"parallel", par_name}};
}

const void* backend_symbol() { return reinterpret_cast<const void*>(&cblas_sgemm); }

bool backend_has_internal_threads() { return openblas_get_parallel() != 0; }

// Note: in the OpenMP build this also calls omp_set_num_threads(n).
void backend_set_threads(int n) { openblas_set_num_threads(n); }

int backend_get_threads() { return openblas_get_num_threads(); }

std::unique_ptr<Gemm> backend_make(const GemmArgs& args, std::string& /*why*/) {
  return std::make_unique<OpenblasGemm>(args);
}

void backend_init() {}
void backend_finalize() {}

}  // namespace gemmbench
