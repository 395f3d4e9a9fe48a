#include <cmath>

#include "kernels/cpu/cpu_backend.h"

namespace recblocks::kernels::cpu {
namespace {

inline std::int64_t label_at(const Tensor& labels, std::int64_t i) {
  return labels.dtype() == DType::kInt32 ? labels.data<std::int32_t>()[i]
                                         : labels.data<std::int64_t>()[i];
}

}  // namespace

void CpuBackend::softmax_forward(const Tensor& x, bool log, const Tensor& y) {
  const std::int64_t c = x.shape()[-1], rows = x.numel() / c;
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(rows, 4 * c, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* xr = px + r * c;
      float* yr = py + r * c;
      float m = xr[0];
      for (std::int64_t k = 1; k < c; ++k) m = std::max(m, xr[k]);
      float s = 0.0f;
      for (std::int64_t k = 0; k < c; ++k) s += std::exp(xr[k] - m);
      if (log) {
        const float lse = m + std::log(s);
        for (std::int64_t k = 0; k < c; ++k) yr[k] = xr[k] - lse;
      } else {
        const float inv = 1.0f / s;
        for (std::int64_t k = 0; k < c; ++k) yr[k] = std::exp(xr[k] - m) * inv;
      }
    }
  });
}

void CpuBackend::softmax_backward(const Tensor& y, bool log, const Tensor& dy, const GradOut& dx) {
  const std::int64_t c = y.shape()[-1], rows = y.numel() / c;
  const float* py = y.data<float>();
  const float* g = dy.data<float>();
  float* pdx = dx.tensor.data<float>();
  const bool acc = dx.accumulate;
  parallel_for(rows, 4 * c, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* yr = py + r * c;
      const float* gr = g + r * c;
      float* out = pdx + r * c;
      if (log) {  // dx = dy - softmax * sum(dy)
        float s = 0.0f;
        for (std::int64_t k = 0; k < c; ++k) s += gr[k];
        for (std::int64_t k = 0; k < c; ++k) store(out + k, gr[k] - std::exp(yr[k]) * s, acc);
      } else {  // dx = y * (dy - <dy, y>)
        float s = 0.0f;
        for (std::int64_t k = 0; k < c; ++k) s += gr[k] * yr[k];
        for (std::int64_t k = 0; k < c; ++k) store(out + k, yr[k] * (gr[k] - s), acc);
      }
    }
  });
}

void CpuBackend::bce_with_logits_forward(const Tensor& logits, const Tensor& targets,
                                         const Tensor& loss) {
  const std::int64_t n = logits.numel();
  const float* x = logits.data<float>();
  const float* t = targets.data<float>();
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i)
    s += std::max(x[i], 0.0f) - x[i] * t[i] + std::log1p(std::exp(-std::fabs(x[i])));
  loss.data<float>()[0] = static_cast<float>(s / static_cast<double>(n));
}

void CpuBackend::bce_with_logits_backward(const Tensor& logits, const Tensor& targets, float dloss,
                                          const GradOut& dlogits) {
  const std::int64_t n = logits.numel();
  const float* x = logits.data<float>();
  const float* t = targets.data<float>();
  float* dx = dlogits.tensor.data<float>();
  const float scale = dloss / static_cast<float>(n);
  for (std::int64_t i = 0; i < n; ++i)
    store(dx + i, (1.0f / (1.0f + std::exp(-x[i])) - t[i]) * scale, dlogits.accumulate);
}

void CpuBackend::mse_forward(const Tensor& pred, const Tensor& targets, const Tensor& loss) {
  const std::int64_t n = pred.numel();
  const float* p = pred.data<float>();
  const float* t = targets.data<float>();
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(p[i] - t[i]) * (p[i] - t[i]);
  loss.data<float>()[0] = static_cast<float>(s / static_cast<double>(n));
}

void CpuBackend::mse_backward(const Tensor& pred, const Tensor& targets, float dloss,
                              const GradOut& dpred) {
  const std::int64_t n = pred.numel();
  const float* p = pred.data<float>();
  const float* t = targets.data<float>();
  float* dp = dpred.tensor.data<float>();
  const float scale = 2.0f * dloss / static_cast<float>(n);
  for (std::int64_t i = 0; i < n; ++i) store(dp + i, (p[i] - t[i]) * scale, dpred.accumulate);
}

void CpuBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                               const Tensor& log_probs, const Tensor& loss) {
  softmax_forward(logits, /*log=*/true, log_probs);
  const std::int64_t n = logits.size(0), c = logits.size(1);
  const float* lp = log_probs.data<float>();
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s -= lp[i * c + label_at(labels, i)];
  loss.data<float>()[0] = static_cast<float>(s / static_cast<double>(n));
}

void CpuBackend::softmax_cross_entropy_backward(const Tensor& log_probs, const Tensor& labels,
                                                float dloss, const GradOut& dlogits) {
  const std::int64_t n = log_probs.size(0), c = log_probs.size(1);
  const float* lp = log_probs.data<float>();
  float* dx = dlogits.tensor.data<float>();
  const float scale = dloss / static_cast<float>(n);
  const bool acc = dlogits.accumulate;
  parallel_for(n, 4 * c, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t label = label_at(labels, i);
      for (std::int64_t k = 0; k < c; ++k) {
        const float p = std::exp(lp[i * c + k]) - (k == label ? 1.0f : 0.0f);
        store(dx + i * c + k, p * scale, acc);
      }
    }
  });
}

}  // namespace recblocks::kernels::cpu
