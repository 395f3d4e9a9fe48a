// Interface between the GEMM benchmark driver (gemm_bench.cpp) and one GEMM
// library. Each executable links exactly one backend_*.cpp, because several
// of the libraries export the same symbols and cannot share a process.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gemmbench {

// Row-major C[M,N] = op(A)[M,K] * op(B)[K,N], alpha = 1, beta = 0.
// A is stored [M,K] (ta == false) or [K,M] (ta == true), with leading dimension lda;
// likewise B is stored [K,N] or [N,K] with leading dimension ldb.
struct GemmArgs {
  bool ta = false;
  bool tb = false;
  int m = 0;
  int n = 0;
  int k = 0;
  const float* a = nullptr;
  int lda = 0;
  const float* b = nullptr;
  int ldb = 0;
  float* c = nullptr;
  int ldc = 0;
};

// One prepared GEMM (for JIT libraries the kernel is generated at preparation
// time, outside the timed loop, as a real caller would cache it).
class Gemm {
 public:
  virtual ~Gemm() = default;
  virtual void run() = 0;
};

// Library name as it appears in the results, e.g. "openblas-openmp".
const char* backend_name();
// Fields for the JSON "info" line: version, core (kernel set chosen at run time), parallel.
std::vector<std::pair<std::string, std::string>> backend_info();
// Address of the library's GEMM entry point (used to report which .so was loaded).
const void* backend_symbol();
// Whether the library can itself run one GEMM on more than one thread.
bool backend_has_internal_threads();
// Sets the number of threads the library uses for one GEMM call (process-wide).
void backend_set_threads(int n);
// Threads the library reports it will use (-1 if it has no such query).
int backend_get_threads();
// Prepares a GEMM, or returns nullptr with `why` set if the library cannot do it.
std::unique_ptr<Gemm> backend_make(const GemmArgs& args, std::string& why);
// Called once at the start and at the end of the process.
void backend_init();
void backend_finalize();

}  // namespace gemmbench
