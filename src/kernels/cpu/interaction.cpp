#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/simd.h"

namespace recblocks::kernels::cpu {
namespace {

// For the four features i0 .. i0 + 3: g[t] = sum over j < f of
// c[t * f + j] x[j] (each of d floats), the j in order. The four sums share
// each load of x[j] and are kept in registers 16 floats at a time. c has
// four rows (zero rows past the last feature); g[t] is written for t < n.
RB_MULTIVERSION void combine4(const float* const* x, const float* c, std::int64_t f, std::int64_t d,
                              float* g, std::int64_t n) {
  std::int64_t k = 0;
  for (; k + 16 <= d; k += 16) {
    f8 acc[4][2] = {};
    for (std::int64_t j = 0; j < f; ++j) {
      const f8 x0 = load8(x[j] + k), x1 = load8(x[j] + k + 8);
      for (int t = 0; t < 4; ++t) {
        const f8 ct = splat8(c[t * f + j]);
        acc[t][0] += ct * x0;
        acc[t][1] += ct * x1;
      }
    }
    for (std::int64_t t = 0; t < n; ++t) {
      store8(g + t * d + k, acc[t][0]);
      store8(g + t * d + k + 8, acc[t][1]);
    }
  }
  for (; k + 8 <= d; k += 8) {
    f8 acc[4] = {};
    for (std::int64_t j = 0; j < f; ++j) {
      const f8 x0 = load8(x[j] + k);
      for (int t = 0; t < 4; ++t) acc[t] += splat8(c[t * f + j]) * x0;
    }
    for (std::int64_t t = 0; t < n; ++t) store8(g + t * d + k, acc[t]);
  }
  for (; k < d; ++k) {
    for (std::int64_t t = 0; t < n; ++t) {
      float s = 0.0f;
      for (std::int64_t j = 0; j < f; ++j) s += c[t * f + j] * x[j][k];
      g[t * d + k] = s;
    }
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
    const std::int64_t f4 = (f + 3) / 4 * 4;  // coefficient rows, padded for combine4
    coef.resize(static_cast<std::size_t>(f4 * f));
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
      for (std::int64_t i = 0; i < f; i += 4) {
        combine4(rows.data(), c + i * f, f, d, g + i * d, std::min<std::int64_t>(4, f - i));
      }
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
