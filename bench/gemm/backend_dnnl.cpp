// oneDNN backend: dnnl_sgemm (row-major BLAS-like API). Debian's oneDNN uses
// the OpenMP runtime, so its thread count is the caller's omp_get_max_threads().
#include <dnnl.h>
#include <omp.h>

#include <string>

#include "backend.hpp"

namespace gemmbench {
namespace {

class DnnlGemm final : public Gemm {
 public:
  explicit DnnlGemm(const GemmArgs& a) : g_(a) {}
  void run() override {
    dnnl_sgemm(g_.ta ? 'T' : 'N', g_.tb ? 'T' : 'N', g_.m, g_.n, g_.k, 1.0f, g_.a, g_.lda, g_.b,
               g_.ldb, 0.0f, g_.c, g_.ldc);
  }

 private:
  GemmArgs g_;
};

const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    default: return "other";
  }
}

}  // namespace

const char* backend_name() { return "dnnl"; }

std::vector<std::pair<std::string, std::string>> backend_info() {
  const dnnl_version_t* v = dnnl_version();
  const char* rt = v->cpu_runtime == DNNL_RUNTIME_OMP   ? "openmp"
                   : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "seq"
                                                        : "other";
  return {{"version", "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                          std::to_string(v->patch)},
          {"core", isa_name(dnnl_get_effective_cpu_isa())},
          {"parallel", rt}};
}

const void* backend_symbol() { return reinterpret_cast<const void*>(&dnnl_sgemm); }

bool backend_has_internal_threads() { return true; }

// Per calling thread (an OpenMP ICV): the split driver also sets it inside its workers.
void backend_set_threads(int n) { omp_set_num_threads(n); }

int backend_get_threads() { return omp_get_max_threads(); }

std::unique_ptr<Gemm> backend_make(const GemmArgs& args, std::string& /*why*/) {
  return std::make_unique<DnnlGemm>(args);
}

void backend_init() {}
void backend_finalize() {}

}  // namespace gemmbench
