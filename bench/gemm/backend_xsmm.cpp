// libxsmm backend: one JIT kernel per shape from libxsmm_smmdispatch, made
// outside the timed loop. libxsmm is column-major, so row-major
// C = op(A) op(B) is computed as column-major C^T = op(B)^T op(A)^T:
// m' = N, n' = M, k' = K, kernel "A" = B, kernel "B" = A, and the row-major
// transpose flags swap places (row-major tb -> column-major TRANS_A).
// Linked with libxsmmnoblas: no BLAS fallback, so every number is libxsmm's own code.
// libxsmm does no internal threading; at 2 threads the driver's batch-split is its only mode.
#include <libxsmm.h>

#include <string>

#include "backend.hpp"

namespace gemmbench {
namespace {

class XsmmGemm final : public Gemm {
 public:
  XsmmGemm(libxsmm_smmfunction f, const GemmArgs& a) : f_(f), g_(a) {}
  void run() override { f_(g_.b, g_.a, g_.c); }

 private:
  libxsmm_smmfunction f_;
  GemmArgs g_;
};

}  // namespace

const char* backend_name() { return "libxsmm"; }

std::vector<std::pair<std::string, std::string>> backend_info() {
  return {{"version", std::string("libxsmm ") + LIBXSMM_VERSION},
          {"core", libxsmm_get_target_arch()},
          {"parallel", "none"}};
}

const void* backend_symbol() { return reinterpret_cast<const void*>(&libxsmm_smmdispatch); }

bool backend_has_internal_threads() { return false; }

void backend_set_threads(int /*n*/) {}

int backend_get_threads() { return 1; }

std::unique_ptr<Gemm> backend_make(const GemmArgs& args, std::string& why) {
  const libxsmm_blasint m = args.n;
  const libxsmm_blasint n = args.m;
  const libxsmm_blasint k = args.k;
  const libxsmm_blasint lda = args.ldb;
  const libxsmm_blasint ldb = args.lda;
  const libxsmm_blasint ldc = args.ldc;
  const float alpha = 1.0f;
  const float beta = 0.0f;
  const int flags =
      (args.tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (args.ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
  libxsmm_smmfunction f =
      libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, nullptr);
  if (f == nullptr) {
    why = args.tb ? "libxsmm_smmdispatch returned NULL (no JIT kernel for column-major TRANS_A = "
                    "row-major op(B)=B^T)"
                  : "libxsmm_smmdispatch returned NULL";
    return nullptr;
  }
  return std::make_unique<XsmmGemm>(f, args);
}

void backend_init() { libxsmm_init(); }
void backend_finalize() { libxsmm_finalize(); }

}  // namespace gemmbench
