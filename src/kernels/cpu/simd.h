// Eight floats as one value, through GCC's vector extension: one AVX
// register with -march=native on x86-64, two SSE registers on x86-64-v2.
// For loops the auto-vectorizer leaves scalar (float reductions, which it
// may not reorder) or vectorizes poorly (short accumulations kept in
// registers).
#pragma once

#include <cstdint>
#include <cstring>

// A hot loop that a portable build (x86-64-v2, no AVX2) also compiles for
// AVX2 and AVX-512, the CPU's widest picked when the program loads (GCC's
// function multiversioning). Builds for AVX2 or better have no clones.
// The GEMM tiles have their own per-instruction-set files (gemm_tiles.h).
#if defined(__AVX2__) || !defined(__x86_64__)
#define RB_MULTIVERSION
#else
#define RB_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

namespace recblocks::kernels::cpu {

using f8 = float __attribute__((vector_size(32)));
// Sixteen floats: one AVX-512 register where the build has it (the GEMM
// tiles, gemm.cpp), else two or four narrower ones.
using f16 = float __attribute__((vector_size(64)));

inline f8 load8(const float* p) {
  f8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store8(float* p, f8 v) { std::memcpy(p, &v, sizeof v); }

inline f8 splat8(float x) { return f8{x, x, x, x, x, x, x, x}; }

// (v0 + v4) + (v2 + v6) ... : a fixed order, so results do not depend on
// the build.
inline float sum8(f8 v) {
  const float a = (v[0] + v[4]) + (v[2] + v[6]);
  const float b = (v[1] + v[5]) + (v[3] + v[7]);
  return a + b;
}

// sum over k < d of a[k] b[k]: eight lanes (k mod 8), then sum8, then the
// tail in order.
inline float dot(const float* a, const float* b, std::int64_t d) {
  f8 acc{};
  std::int64_t k = 0;
  for (; k + 8 <= d; k += 8) acc += load8(a + k) * load8(b + k);
  float s = sum8(acc);
  for (; k < d; ++k) s += a[k] * b[k];
  return s;
}

}  // namespace recblocks::kernels::cpu
