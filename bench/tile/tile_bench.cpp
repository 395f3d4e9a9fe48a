// tile_bench: C = op(A) op(B) on the shapes of the seed DLRM (forward, dX,
// dW of its MLP layers at batch 1024), of the Criteo-like DLRM (batch 256)
// and of retrieval's in-batch backward (1024 x 1024 scores, d = 64), by
// recblocks' kernel (kernels::backend().gemm) and by BLIS (one BLIS thread
// per part, the parts split as recblocks' sgemm splits them: rows when M >=
// N, else columns), 2 threads, in the same run. Prints one JSON line per
// shape: the best of 5 repeats of 20 calls, microseconds and GFLOP/s for
// each, their ratio, and the largest relative difference of the results.
// First, the machine's multiply-add peak on 1 and on `threads` cores (a
// register-only loop: 12 independent 16-float accumulators per thread), the
// ceiling any GEMM here is measured against.
//
//   build/bench/tile/tile_bench [--threads 2]
#include <nlohmann/json.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/blas.h"
#include "recblocks/recblocks.h"

namespace rb = recblocks;

namespace {

// One thread's multiply-adds: 12 independent accumulators of W floats
// (enough to hide the FMA latency on the machines measured so far), kIters
// rounds. Compiled for AVX-512 and for AVX2 whatever the build's flags (a
// portable build included), the machine's widest chosen at run time.
constexpr int kAcc = 12;
constexpr std::int64_t kIters = 20'000'000;

using V16 = float __attribute__((vector_size(64)));
using V8 = float __attribute__((vector_size(32)));
#define RB_FMA_ROUNDS(NAME, TARGET, V, W)                                 \
  __attribute__((target(TARGET))) float NAME(int thread) {                \
    V acc[kAcc];                                                          \
    V x, y;                                                               \
    for (int j = 0; j < W; ++j) {                                         \
      x[j] = 1.0f + 1e-7f * static_cast<float>(j + thread);               \
      y[j] = 1e-7f;                                                       \
    }                                                                     \
    for (V & a : acc) a = x;                                              \
    for (std::int64_t i = 0; i < kIters; ++i) {                           \
      for (V & a : acc) a = a * x + y;                                    \
      asm volatile("" : "+v"(x)); /* no folding of iterations together */ \
    }                                                                     \
    float sink = 0;                                                       \
    for (const V& a : acc) sink += a[0];                                  \
    return sink;                                                          \
  }
RB_FMA_ROUNDS(fma_rounds_avx512, "arch=x86-64-v4", V16, 16)
RB_FMA_ROUNDS(fma_rounds_avx2, "arch=x86-64-v3", V8, 8)
#undef RB_FMA_ROUNDS

// GFLOP/s of `threads` threads each running fma_rounds at the widest
// vector the CPU has, best of 5.
double fma_peak_gflops(int threads) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int width = avx512 ? 16 : 8;
  double best = 0;
  for (int repeat = 0; repeat < 5; ++repeat) {
    float sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink +=
        avx512 ? fma_rounds_avx512(omp_get_thread_num()) : fma_rounds_avx2(omp_get_thread_num());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * width * kAcc * static_cast<double>(kIters) * threads / s / 1e9);
    if (sink == 42.0f) std::printf("%f\n", sink);  // uses the result
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
  }
  rb::set_num_threads(threads);
  for (int t : {1, threads}) {
    std::printf("%s\n", nlohmann::json({{"shape", "fma peak (widest multiply-adds)"},
                                        {"threads", t},
                                        {"gflops", fma_peak_gflops(t)}})
                            .dump()
                            .c_str());
    if (threads == 1) break;
  }
  struct Shape {
    const char* name;
    bool ta, tb;
    std::int64_t m, n, k;
  };
  const Shape shapes[] = {
      {"seed fwd 74->64", false, false, 1024, 64, 74},
      {"seed fwd 64->128", false, false, 1024, 128, 64},
      {"seed fwd 128->512", false, false, 1024, 512, 128},
      {"seed dX 512->128", false, true, 1024, 128, 512},
      {"seed dX 128->64", false, true, 1024, 64, 128},
      {"seed dW 128->512", true, false, 128, 512, 1024},
      {"seed dW 64->128", true, false, 64, 128, 1024},
      {"seed dW 74->64", true, false, 74, 64, 1024},
      {"criteo fwd 367->512", false, false, 256, 512, 367},
      {"criteo dW 512->256", true, false, 512, 256, 256},
      {"criteo fwd 512->256", false, false, 256, 256, 512},
      {"criteo fwd 256->64", false, false, 256, 64, 256},
      {"criteo dX 367->512", false, true, 256, 367, 512},
      {"criteo dX 512->256", false, true, 256, 512, 256},
      {"criteo dX 256->64", false, true, 256, 256, 64},
      {"criteo dW 367->512", true, false, 367, 512, 256},
      {"criteo dW 256->64", true, false, 256, 64, 256},
      {"criteo dW 13->512", true, false, 13, 512, 256},
      {"in-batch dQ = G C", false, false, 1024, 64, 1024},
      {"in-batch dC = G^T Q", true, false, 1024, 64, 1024},
  };
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto filled = [](const rb::Shape& shape, std::uint64_t seed) {
    rb::Tensor t = rb::Tensor::empty(shape);
    rb::Rng rng(seed);
    for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = rng.uniform() - 0.5f;
    return t;
  };
  for (const Shape& s : shapes) {
    const rb::Tensor a = filled(s.ta ? rb::Shape{s.k, s.m} : rb::Shape{s.m, s.k}, 1);
    const rb::Tensor b = filled(s.tb ? rb::Shape{s.n, s.k} : rb::Shape{s.k, s.n}, 2);
    const rb::Tensor ours = rb::Tensor::zeros({s.m, s.n});
    const rb::Tensor blis = rb::Tensor::zeros({s.m, s.n});
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    const std::int64_t lda = a.size(1), ldb = b.size(1);
    auto run_blis = [&] {
    // recblocks' former path: the product split in `threads` parts (rows
    // when M >= N, else columns), each on one BLIS thread.
#pragma omp parallel num_threads(threads)
      {
        const int part = omp_get_thread_num();
        std::int64_t r0 = 0, r1 = s.m, c0 = 0, c1 = s.n;
        if (s.m >= s.n) {
          r0 = s.m * part / threads;
          r1 = s.m * (part + 1) / threads;
        } else {
          c0 = s.n * part / threads;
          c1 = s.n * (part + 1) / threads;
        }
        rb::kernels::cpu::blas_sgemm(
            s.ta, s.tb, r1 - r0, c1 - c0, s.k, 1.0f, s.ta ? pa + r0 : pa + r0 * lda, lda,
            s.tb ? pb + c0 * ldb : pb + c0, ldb, 0.0f, blis.data<float>() + r0 * s.n + c0, s.n);
      }
    };
    auto run_ours = [&] { rb::kernels::backend().gemm(s.ta, s.tb, 1.0f, a, b, 0.0f, ours); };
    double best_ours = 1e30, best_blis = 1e30;
    for (int repeat = 0; repeat < 5; ++repeat) {
      auto t0 = now();
      for (int i = 0; i < 20; ++i) run_blis();
      auto t1 = now();
      for (int i = 0; i < 20; ++i) run_ours();
      auto t2 = now();
      best_blis =
          std::min(best_blis, std::chrono::duration<double, std::micro>(t1 - t0).count() / 20);
      best_ours =
          std::min(best_ours, std::chrono::duration<double, std::micro>(t2 - t1).count() / 20);
    }
    double diff = 0;
    for (std::int64_t i = 0; i < ours.numel(); ++i) {
      const double x = ours.data<float>()[i], y = blis.data<float>()[i];
      diff = std::max(diff, std::abs(x - y) / (1.0 + std::abs(y)));
    }
    const double flop = 2.0 * static_cast<double>(s.m * s.n * s.k);
    std::printf("%s\n", nlohmann::json({{"shape", s.name},
                                        {"m", s.m},
                                        {"n", s.n},
                                        {"k", s.k},
                                        {"threads", threads},
                                        {"recblocks_us", best_ours},
                                        {"blis_us", best_blis},
                                        {"recblocks_gflops", flop / best_ours / 1e3},
                                        {"blis_gflops", flop / best_blis / 1e3},
                                        {"ratio", best_blis / best_ours},
                                        {"max_rel_diff", diff}})
                            .dump()
                            .c_str());
  }
  return 0;
}
