// BLIS backend (Debian's OpenMP build), through the native typed API, which
// takes row and column strides, so row-major needs no layout conversion.
#include <blis.h>

#include <string>

#include "backend.hpp"

namespace gemmbench {
namespace {

class BlisGemm final : public Gemm {
 public:
  explicit BlisGemm(const GemmArgs& a) : g_(a) {}
  void run() override {
    float one = 1.0f;
    float zero = 0.0f;
    bli_sgemm(g_.ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
              g_.tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, g_.m, g_.n, g_.k, &one,
              const_cast<float*>(g_.a), g_.lda, 1, const_cast<float*>(g_.b), g_.ldb, 1, &zero, g_.c,
              g_.ldc, 1);
  }

 private:
  GemmArgs g_;
};

}  // namespace

const char* backend_name() { return "blis"; }

std::vector<std::pair<std::string, std::string>> backend_info() {
  return {{"version", bli_info_get_version_str()},
          {"core", bli_arch_string(bli_arch_query_id())},
          {"parallel", "openmp"}};
}

const void* backend_symbol() { return reinterpret_cast<const void*>(&bli_sgemm); }

bool backend_has_internal_threads() { return true; }

void backend_set_threads(int n) { bli_thread_set_num_threads(n); }

int backend_get_threads() { return static_cast<int>(bli_thread_get_num_threads()); }

std::unique_ptr<Gemm> backend_make(const GemmArgs& args, std::string& /*why*/) {
  return std::make_unique<BlisGemm>(args);
}

void backend_init() { bli_init(); }
void backend_finalize() { bli_finalize(); }

}  // namespace gemmbench
