#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_backend.h"

namespace recblocks::kernels::cpu {
namespace {

inline float activate(Activation act, float z) {
  switch (act) {
    case Activation::kNone: return z;
    case Activation::kRelu: return z > 0.0f ? z : 0.0f;
    case Activation::kSigmoid: return 1.0f / (1.0f + std::exp(-z));
    case Activation::kTanh: return std::tanh(z);
  }
  return z;
}

// d act / dz expressed through the output y = act(z).
inline float activation_grad(Activation act, float y) {
  switch (act) {
    case Activation::kNone: return 1.0f;
    case Activation::kRelu: return y > 0.0f ? 1.0f : 0.0f;
    case Activation::kSigmoid: return y * (1.0f - y);
    case Activation::kTanh: return 1.0f - y * y;
  }
  return 1.0f;
}

template <Activation kAct>
void epilogue_rows(float* y, const float* bias, std::int64_t begin, std::int64_t end,
                   std::int64_t n) {
  for (std::int64_t r = begin; r < end; ++r) {
    float* row = y + r * n;
    if (bias != nullptr) {
      for (std::int64_t j = 0; j < n; ++j) row[j] = activate(kAct, row[j] + bias[j]);
    } else {
      for (std::int64_t j = 0; j < n; ++j) row[j] = activate(kAct, row[j]);
    }
  }
}

template <Activation kAct>
void activation_backward_rows(const float* y, float* dy, float* colsum, std::int64_t begin,
                              std::int64_t end, std::int64_t n) {
  for (std::int64_t r = begin; r < end; ++r) {
    const float* yr = y + r * n;
    float* dr = dy + r * n;
    if constexpr (kAct != Activation::kNone) {
      for (std::int64_t j = 0; j < n; ++j) dr[j] *= activation_grad(kAct, yr[j]);
    }
    if (colsum != nullptr) {
      for (std::int64_t j = 0; j < n; ++j) colsum[j] += dr[j];
    }
  }
}

}  // namespace

void CpuBackend::linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                Activation act, const Tensor& y) {
  const std::int64_t m = x.size(0), k = x.size(1), n = w.size(1);
  float* py = y.data<float>();
  sgemm(false, false, m, n, k, 1.0f, x.data<float>(), k, w.data<float>(), n, 0.0f, py, n);
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  if (pb == nullptr && act == Activation::kNone) return;
  parallel_for(m, n, [&](std::int64_t begin, std::int64_t end) {
    switch (act) {
      case Activation::kNone: epilogue_rows<Activation::kNone>(py, pb, begin, end, n); break;
      case Activation::kRelu: epilogue_rows<Activation::kRelu>(py, pb, begin, end, n); break;
      case Activation::kSigmoid: epilogue_rows<Activation::kSigmoid>(py, pb, begin, end, n); break;
      case Activation::kTanh: epilogue_rows<Activation::kTanh>(py, pb, begin, end, n); break;
    }
  });
}

void CpuBackend::linear_backward(const Tensor& x, const Tensor& w, const Tensor& y,
                                 Activation act, const Tensor& dy, const GradOut& dx,
                                 const GradOut& dw, const GradOut& dbias) {
  const std::int64_t m = x.size(0), k = x.size(1), n = w.size(1);
  float* pdy = dy.data<float>();
  const float* py = y.data<float>();
  if (act != Activation::kNone || dbias.wanted()) {
    // One pass over dy: dz = dy * act'(y) in place, and per-chunk column
    // sums for the bias, combined in chunk order.
    static thread_local std::vector<float> partial;
    const int chunks = parallel_chunks(m, n);
    float* sums = nullptr;
    if (dbias.wanted()) {
      partial.assign(static_cast<std::size_t>(chunks) * n, 0.0f);
      sums = partial.data();
    }
    parallel_for_chunks(m, n, [&](int chunk, std::int64_t begin, std::int64_t end) {
      float* cs = sums != nullptr ? sums + chunk * n : nullptr;
      switch (act) {
        case Activation::kNone:
          activation_backward_rows<Activation::kNone>(py, pdy, cs, begin, end, n);
          break;
        case Activation::kRelu:
          activation_backward_rows<Activation::kRelu>(py, pdy, cs, begin, end, n);
          break;
        case Activation::kSigmoid:
          activation_backward_rows<Activation::kSigmoid>(py, pdy, cs, begin, end, n);
          break;
        case Activation::kTanh:
          activation_backward_rows<Activation::kTanh>(py, pdy, cs, begin, end, n);
          break;
      }
    });
    if (dbias.wanted()) {
      float* db = dbias.tensor.data<float>();
      for (std::int64_t j = 0; j < n; ++j) {
        float s = 0.0f;
        for (int c = 0; c < chunks; ++c) s += sums[c * n + j];
        store(db + j, s, dbias.accumulate);
      }
    }
  }
  if (dw.wanted()) {
    sgemm(true, false, k, n, m, 1.0f, x.data<float>(), k, pdy, n, dw.accumulate ? 1.0f : 0.0f,
          dw.tensor.data<float>(), n);
  }
  if (dx.wanted()) {
    sgemm(false, true, m, k, n, 1.0f, pdy, n, w.data<float>(), n, dx.accumulate ? 1.0f : 0.0f,
          dx.tensor.data<float>(), k);
  }
}

}  // namespace recblocks::kernels::cpu
