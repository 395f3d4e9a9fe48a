#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "recblocks/core/rng.h"

namespace recblocks::kernels::cpu {

void CpuBackend::l2_normalize_forward(const Tensor& x, float eps, const Tensor& y,
                                      const Tensor& norms) {
  const std::int64_t d = x.shape()[-1], rows = x.numel() / d;
  const float* px = x.data<float>();
  float* py = y.data<float>();
  float* pn = norms.data<float>();
  parallel_for(rows, d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* xr = px + r * d;
      float ss = 0.0f;
      for (std::int64_t k = 0; k < d; ++k) ss += xr[k] * xr[k];
      const float norm = std::sqrt(std::max(ss, eps));
      pn[r] = norm;
      const float inv = 1.0f / norm;
      for (std::int64_t k = 0; k < d; ++k) py[r * d + k] = xr[k] * inv;
    }
  });
}

void CpuBackend::l2_normalize_backward(const Tensor& y, const Tensor& norms, float eps,
                                       const Tensor& dy, const GradOut& dx) {
  // y = x / n with n = |x| (above eps): dx = (dy - y <dy, y>) / n. Below
  // eps the denominator is the constant sqrt(eps): dx = dy / n.
  const std::int64_t d = y.shape()[-1], rows = y.numel() / d;
  const float* py = y.data<float>();
  const float* pn = norms.data<float>();
  const float* g = dy.data<float>();
  float* pdx = dx.tensor.data<float>();
  const bool acc = dx.accumulate;
  const float clamp = std::sqrt(eps);
  parallel_for(rows, d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* yr = py + r * d;
      const float* gr = g + r * d;
      float gy = 0.0f;
      for (std::int64_t k = 0; k < d; ++k) gy += gr[k] * yr[k];
      // The forward computed exactly sqrt(eps) when it clamped; sqrt is
      // monotone, so an unclamped norm is never below it.
      const bool clamped = pn[r] <= clamp;
      const float proj = clamped ? 0.0f : gy;
      const float inv = 1.0f / pn[r];
      for (std::int64_t k = 0; k < d; ++k)
        store(pdx + r * d + k, (gr[k] - yr[k] * proj) * inv, acc);
    }
  });
}

void CpuBackend::dropout_forward(const Tensor& x, float rate, std::uint64_t stream,
                                 const Tensor& y) {
  const float keep_scale = 1.0f / (1.0f - rate);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(x.numel(), 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      py[i] = uniform01(stream, static_cast<std::uint64_t>(i)) < rate ? 0.0f : px[i] * keep_scale;
  });
}

void CpuBackend::dropout_backward(const Tensor& dy, float rate, std::uint64_t stream,
                                  const GradOut& dx) {
  const float keep_scale = 1.0f / (1.0f - rate);
  const float* g = dy.data<float>();
  float* pdx = dx.tensor.data<float>();
  const bool acc = dx.accumulate;
  parallel_for(dy.numel(), 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const bool drop = uniform01(stream, static_cast<std::uint64_t>(i)) < rate;
      store(pdx + i, drop ? 0.0f : g[i] * keep_scale, acc);
    }
  });
}

void CpuBackend::batch_norm_statistics(const Tensor& x, float eps, const Tensor& mean,
                                       const Tensor& var, const Tensor& invstd) {
  const std::int64_t c = x.shape()[-1], n = x.numel() / c;
  const float* px = x.data<float>();
  float* pm = mean.data<float>();
  float* pv = var.data<float>();
  float* pi = invstd.data<float>();
  // Two passes in double: mean, then the biased variance around it.
  static thread_local std::vector<double> acc;
  acc.assign(static_cast<std::size_t>(c), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t j = 0; j < c; ++j) acc[j] += px[r * c + j];
  for (std::int64_t j = 0; j < c; ++j) pm[j] = static_cast<float>(acc[j] / static_cast<double>(n));
  acc.assign(static_cast<std::size_t>(c), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t j = 0; j < c; ++j) {
      const double dv = px[r * c + j] - pm[j];
      acc[j] += dv * dv;
    }
  for (std::int64_t j = 0; j < c; ++j) {
    pv[j] = static_cast<float>(acc[j] / static_cast<double>(n));
    pi[j] = 1.0f / std::sqrt(pv[j] + eps);
  }
}

void CpuBackend::batch_norm_update_running(const Tensor& mean, const Tensor& var, float momentum,
                                           float unbias, const Tensor& running_mean,
                                           const Tensor& running_var) {
  const float* pm = mean.data<float>();
  const float* pv = var.data<float>();
  float* rm = running_mean.data<float>();
  float* rv = running_var.data<float>();
  for (std::int64_t j = 0; j < mean.numel(); ++j) {
    rm[j] = (1.0f - momentum) * rm[j] + momentum * pm[j];
    rv[j] = (1.0f - momentum) * rv[j] + momentum * pv[j] * unbias;
  }
}

void CpuBackend::batch_norm_inverse_std(const Tensor& var, float eps, const Tensor& invstd) {
  const float* pv = var.data<float>();
  float* pi = invstd.data<float>();
  for (std::int64_t j = 0; j < var.numel(); ++j) pi[j] = 1.0f / std::sqrt(pv[j] + eps);
}

void CpuBackend::batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                  const Tensor& gamma, const Tensor& beta, const Tensor& y) {
  const std::int64_t c = x.shape()[-1], n = x.numel() / c;
  const float* px = x.data<float>();
  const float* pm = mean.data<float>();
  const float* pi = invstd.data<float>();
  const float* pg = gamma.data<float>();
  const float* pb = beta.data<float>();
  float* py = y.data<float>();
  parallel_for(n, c, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r)
      for (std::int64_t j = 0; j < c; ++j)
        py[r * c + j] = (px[r * c + j] - pm[j]) * pi[j] * pg[j] + pb[j];
  });
}

void CpuBackend::batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                     const Tensor& gamma, const Tensor& dy, bool training,
                                     const GradOut& dx, const GradOut& dgamma,
                                     const GradOut& dbeta) {
  const std::int64_t c = x.shape()[-1], n = x.numel() / c;
  const float* px = x.data<float>();
  const float* pm = mean.data<float>();
  const float* pi = invstd.data<float>();
  const float* pg = gamma.data<float>();
  const float* g = dy.data<float>();
  static thread_local std::vector<double> sums;
  sums.assign(static_cast<std::size_t>(2 * c), 0.0);
  double* sum_dy = sums.data();
  double* sum_dy_xhat = sums.data() + c;
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t j = 0; j < c; ++j) {
      const double gv = g[r * c + j];
      sum_dy[j] += gv;
      sum_dy_xhat[j] += gv * (px[r * c + j] - pm[j]) * pi[j];
    }
  if (dgamma.wanted())
    for (std::int64_t j = 0; j < c; ++j)
      store(dgamma.tensor.data<float>() + j, static_cast<float>(sum_dy_xhat[j]), dgamma.accumulate);
  if (dbeta.wanted())
    for (std::int64_t j = 0; j < c; ++j)
      store(dbeta.tensor.data<float>() + j, static_cast<float>(sum_dy[j]), dbeta.accumulate);
  if (!dx.wanted()) return;
  float* pdx = dx.tensor.data<float>();
  const bool acc = dx.accumulate;
  const float inv_n = 1.0f / static_cast<float>(n);
  parallel_for(n, c, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r)
      for (std::int64_t j = 0; j < c; ++j) {
        const float scale = pg[j] * pi[j];
        float v = g[r * c + j];
        if (training) {
          const float xhat = (px[r * c + j] - pm[j]) * pi[j];
          v -= static_cast<float>(sum_dy[j]) * inv_n +
               xhat * static_cast<float>(sum_dy_xhat[j]) * inv_n;
        }
        store(pdx + r * c + j, v * scale, acc);
      }
  });
}

void CpuBackend::layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    float eps, const Tensor& y, const Tensor& mean,
                                    const Tensor& invstd) {
  const std::int64_t d = x.shape()[-1], rows = x.numel() / d;
  const float* px = x.data<float>();
  const float* pg = gamma.data<float>();
  const float* pb = beta.data<float>();
  float* py = y.data<float>();
  float* pm = mean.data<float>();
  float* pi = invstd.data<float>();
  parallel_for(rows, d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* xr = px + r * d;
      float m = 0.0f;
      for (std::int64_t k = 0; k < d; ++k) m += xr[k];
      m /= static_cast<float>(d);
      float v = 0.0f;
      for (std::int64_t k = 0; k < d; ++k) v += (xr[k] - m) * (xr[k] - m);
      v /= static_cast<float>(d);
      const float inv = 1.0f / std::sqrt(v + eps);
      pm[r] = m;
      pi[r] = inv;
      for (std::int64_t k = 0; k < d; ++k) py[r * d + k] = (xr[k] - m) * inv * pg[k] + pb[k];
    }
  });
}

void CpuBackend::layer_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                     const Tensor& gamma, const Tensor& dy, const GradOut& dx,
                                     const GradOut& dgamma, const GradOut& dbeta) {
  const std::int64_t d = x.shape()[-1], rows = x.numel() / d;
  const float* px = x.data<float>();
  const float* pm = mean.data<float>();
  const float* pi = invstd.data<float>();
  const float* pg = gamma.data<float>();
  const float* g = dy.data<float>();
  const bool want_params = dgamma.wanted() || dbeta.wanted();
  const int chunks = parallel_chunks(rows, d);
  static thread_local std::vector<float> partial;
  if (want_params) partial.assign(static_cast<std::size_t>(std::int64_t{2} * chunks * d), 0.0f);
  float* parts = partial.data();
  float* pdx = dx.wanted() ? dx.tensor.data<float>() : nullptr;
  parallel_for_chunks(rows, d, [&](int chunk, std::int64_t begin, std::int64_t end) {
    float* pgam = want_params ? parts + std::int64_t{2} * chunk * d : nullptr;
    for (std::int64_t r = begin; r < end; ++r) {
      const float* xr = px + r * d;
      const float* gr = g + r * d;
      float mean_g = 0.0f, mean_gx = 0.0f;
      for (std::int64_t k = 0; k < d; ++k) {
        const float xhat = (xr[k] - pm[r]) * pi[r];
        const float gh = gr[k] * pg[k];
        mean_g += gh;
        mean_gx += gh * xhat;
        if (pgam != nullptr) {
          pgam[k] += gr[k] * xhat;
          pgam[d + k] += gr[k];
        }
      }
      mean_g /= static_cast<float>(d);
      mean_gx /= static_cast<float>(d);
      if (pdx == nullptr) continue;
      for (std::int64_t k = 0; k < d; ++k) {
        const float xhat = (xr[k] - pm[r]) * pi[r];
        store(pdx + r * d + k, pi[r] * (gr[k] * pg[k] - mean_g - xhat * mean_gx), dx.accumulate);
      }
    }
  });
  if (!want_params) return;
  for (std::int64_t k = 0; k < d; ++k) {
    float sg = 0.0f, sb = 0.0f;
    for (int c = 0; c < chunks; ++c) {
      sg += parts[std::int64_t{2} * c * d + k];
      sb += parts[std::int64_t{2} * c * d + d + k];
    }
    if (dgamma.wanted()) store(dgamma.tensor.data<float>() + k, sg, dgamma.accumulate);
    if (dbeta.wanted()) store(dbeta.tensor.data<float>() + k, sb, dbeta.accumulate);
  }
}

}  // namespace recblocks::kernels::cpu
