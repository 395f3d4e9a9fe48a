#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/simd.h"

namespace recblocks::kernels::cpu {
namespace {

// g = sum over j < f of c[j] x[j] (each of d floats), the j in order, kept
// in registers 32 floats at a time.
void combine(const float* const* x, const float* c, std::int64_t f, std::int64_t d, float* g) {
  std::int64_t k = 0;
  for (; k + 32 <= d; k += 32) {
    f8 a0{}, a1{}, a2{}, a3{};
    for (std::int64_t j = 0; j < f; ++j) {
      const f8 cj = splat8(c[j]);
      const float* xj = x[j] + k;
      a0 += cj * load8(xj);
      a1 += cj * load8(xj + 8);
      a2 += cj * load8(xj + 16);
      a3 += cj * load8(xj + 24);
    }
    store8(g + k, a0);
    store8(g + k + 8, a1);
    store8(g + k + 16, a2);
    store8(g + k + 24, a3);
  }
  for (; k + 8 <= d; k += 8) {
    f8 a{};
    for (std::int64_t j = 0; j < f; ++j) a += splat8(c[j]) * load8(x[j] + k);
    store8(g + k, a);
  }
  for (; k < d; ++k) {
    float s = 0.0f;
    for (std::int64_t j = 0; j < f; ++j) s += c[j] * x[j][k];
    g[k] = s;
  }
}

}  // namespace

void CpuBackend::dot_interaction_forward(std::span<const MatrixView> x, bool self_interaction,
                                         const Tensor& out) {
  const auto f = static_cast<std::int64_t>(x.size());
  const std::int64_t batch = out.size(0), pairs = out.size(1), d = x[0].cols;
  float* po = out.data<float>();
  parallel_for(batch, pairs * d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      float* row = po + b * pairs;
      std::int64_t p = 0;
      for (std::int64_t i = 0; i < f; ++i) {
        const float* xi = x[i].data + b * x[i].stride;
        const std::int64_t last = self_interaction ? i + 1 : i;
        for (std::int64_t j = 0; j < last; ++j) row[p++] = dot(xi, x[j].data + b * x[j].stride, d);
      }
    }
  });
}

// For each sample, feature i's gradient is sum_j c_ij x_j, where c_ij is
// the output gradient of pair (i, j) or (j, i) (twice it for i == j).
void CpuBackend::dot_interaction_backward(std::span<const MatrixView> x, bool self_interaction,
                                          const Tensor& dout, std::span<const MatrixView> dx,
                                          std::span<const bool> accumulate) {
  const auto f = static_cast<std::int64_t>(x.size());
  const std::int64_t batch = dout.size(0), pairs = dout.size(1), d = x[0].cols;
  const float* pg = dout.data<float>();
  parallel_for(batch, pairs * d * 2, [&](std::int64_t begin, std::int64_t end) {
    // Per-sample gradient of all F features, then written feature by
    // feature, so features sharing one buffer accumulate in order.
    static thread_local std::vector<float> local, coef;
    static thread_local std::vector<const float*> rows;
    local.resize(static_cast<std::size_t>(f * d));
    coef.resize(static_cast<std::size_t>(f * f));
    rows.resize(static_cast<std::size_t>(f));
    float* g = local.data();
    float* c = coef.data();
    for (std::int64_t b = begin; b < end; ++b) {
      const float* grow = pg + b * pairs;
      std::fill(coef.begin(), coef.end(), 0.0f);
      std::int64_t p = 0;
      for (std::int64_t i = 0; i < f; ++i) {
        rows[static_cast<std::size_t>(i)] = x[i].data + b * x[i].stride;
        const std::int64_t last = self_interaction ? i + 1 : i;
        for (std::int64_t j = 0; j < last; ++j) {
          const float v = grow[p++];
          c[i * f + j] += v;
          c[j * f + i] += v;
        }
      }
      for (std::int64_t i = 0; i < f; ++i) combine(rows.data(), c + i * f, f, d, g + i * d);
      for (std::int64_t i = 0; i < f; ++i) {
        if (dx[i].data == nullptr) continue;
        float* dst = dx[i].data + b * dx[i].stride;
        const float* src = g + i * d;
        if (accumulate[i]) {
          for (std::int64_t k = 0; k < d; ++k) dst[k] += src[k];
        } else {
          std::copy(src, src + d, dst);
        }
      }
    }
  });
}

}  // namespace recblocks::kernels::cpu
