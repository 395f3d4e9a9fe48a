#include <vector>

#include "kernels/cpu/cpu_backend.h"

namespace recblocks::kernels::cpu {
namespace {

inline float dot(const float* a, const float* b, std::int64_t d) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (std::int64_t k = 0; k < d; ++k) s += a[k] * b[k];
  return s;
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

void CpuBackend::dot_interaction_backward(std::span<const MatrixView> x, bool self_interaction,
                                          const Tensor& dout, std::span<const MatrixView> dx,
                                          std::span<const bool> accumulate) {
  const auto f = static_cast<std::int64_t>(x.size());
  const std::int64_t batch = dout.size(0), pairs = dout.size(1), d = x[0].cols;
  const float* pg = dout.data<float>();
  parallel_for(batch, pairs * d * 2, [&](std::int64_t begin, std::int64_t end) {
    // Per-sample gradient of all F features, then written feature by
    // feature, so features sharing one buffer accumulate in order.
    static thread_local std::vector<float> local;
    local.resize(static_cast<std::size_t>(f * d));
    float* g = local.data();
    for (std::int64_t b = begin; b < end; ++b) {
      std::fill(local.begin(), local.end(), 0.0f);
      const float* grow = pg + b * pairs;
      std::int64_t p = 0;
      for (std::int64_t i = 0; i < f; ++i) {
        const float* xi = x[i].data + b * x[i].stride;
        const std::int64_t last = self_interaction ? i + 1 : i;
        for (std::int64_t j = 0; j < last; ++j) {
          const float v = grow[p++];
          const float* xj = x[j].data + b * x[j].stride;
          float* gi = g + i * d;
          float* gj = g + j * d;
#pragma omp simd
          for (std::int64_t k = 0; k < d; ++k) gi[k] += v * xj[k];
#pragma omp simd
          for (std::int64_t k = 0; k < d; ++k) gj[k] += v * xi[k];
        }
      }
      for (std::int64_t i = 0; i < f; ++i) {
        if (dx[i].data == nullptr) continue;
        float* dst = dx[i].data + b * dx[i].stride;
        const float* src = g + i * d;
        if (accumulate[i]) {
          for (std::int64_t k = 0; k < d; ++k) dst[k] += src[k];
        } else {
          for (std::int64_t k = 0; k < d; ++k) dst[k] = src[k];
        }
      }
    }
  });
}

}  // namespace recblocks::kernels::cpu
