#include <cmath>
#include <numbers>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/simd.h"

namespace recblocks::kernels::cpu {
namespace {

constexpr int kRank = Shape::kMaxRank;

// A shape padded on the left to kRank dims, with element strides of a
// tensor broadcast to it (0 where the tensor has size 1 or lacks the dim).
struct Broadcast {
  std::int64_t dims[kRank];
  std::int64_t stride[kRank];
};

Broadcast broadcast_to(const Shape& s, const Shape& out) {
  Broadcast b{};
  const int pad = kRank - out.rank();
  const int offset = out.rank() - s.rank();
  std::int64_t stride = 1;
  for (int i = kRank - 1; i >= 0; --i) {
    const int oi = i - pad;  // axis in out
    b.dims[i] = oi >= 0 ? out[oi] : 1;
    const int si = oi - offset;  // axis in s
    if (oi >= 0 && si >= 0) {
      b.stride[i] = s[si] == 1 ? 0 : stride;
      stride *= s[si];
    } else {
      b.stride[i] = 0;
    }
  }
  return b;
}

inline float apply(Binary op, float a, float b) {
  switch (op) {
    case Binary::kAdd: return a + b;
    case Binary::kSub: return a - b;
    case Binary::kMul: return a * b;
    case Binary::kDiv: return a / b;
  }
  return 0;
}

inline float grad_a(Binary op, float /*a*/, float b, float g) {
  switch (op) {
    case Binary::kAdd: return g;
    case Binary::kSub: return g;
    case Binary::kMul: return g * b;
    case Binary::kDiv: return g / b;
  }
  return 0;
}

inline float grad_b(Binary op, float a, float b, float g) {
  switch (op) {
    case Binary::kAdd: return g;
    case Binary::kSub: return -g;
    case Binary::kMul: return g * a;
    case Binary::kDiv: return -g * a / (b * b);
  }
  return 0;
}

// fn(std::integral_constant<Binary, op>{}): the same-shape loops below are
// compiled once per op, so the op's switch folds away and they vectorise.
template <class F>
void with_binary(Binary op, F&& fn) {
  switch (op) {
    case Binary::kAdd: fn(std::integral_constant<Binary, Binary::kAdd>{}); break;
    case Binary::kSub: fn(std::integral_constant<Binary, Binary::kSub>{}); break;
    case Binary::kMul: fn(std::integral_constant<Binary, Binary::kMul>{}); break;
    case Binary::kDiv: fn(std::integral_constant<Binary, Binary::kDiv>{}); break;
  }
}

// Visits every element of the broadcast output: f(out_index, a_index, b_index).
template <class F>
void for_each_broadcast(const Shape& out, const Broadcast& ba, const Broadcast& bb, F&& f) {
  const std::int64_t* d = ba.dims;
  std::int64_t o = 0;
  for (std::int64_t i0 = 0; i0 < d[0]; ++i0)
    for (std::int64_t i1 = 0; i1 < d[1]; ++i1)
      for (std::int64_t i2 = 0; i2 < d[2]; ++i2) {
        const std::int64_t a_base = i0 * ba.stride[0] + i1 * ba.stride[1] + i2 * ba.stride[2];
        const std::int64_t b_base = i0 * bb.stride[0] + i1 * bb.stride[1] + i2 * bb.stride[2];
        for (std::int64_t i3 = 0; i3 < d[3]; ++i3, ++o)
          f(o, a_base + i3 * ba.stride[3], b_base + i3 * bb.stride[3]);
      }
  (void)out;
}

inline float gelu(float x) {
  return 0.5f * x * (1.0f + std::erf(x * std::numbers::sqrt2_v<float> / 2));
}

inline float gelu_grad(float x) {
  const float cdf = 0.5f * (1.0f + std::erf(x * std::numbers::sqrt2_v<float> / 2));
  const float pdf =
      std::exp(-0.5f * x * x) * (std::numbers::inv_sqrtpi_v<float> / std::numbers::sqrt2_v<float>);
  return cdf + x * pdf;
}

inline float softplus(float x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

void CpuBackend::binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& y) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* py = y.data<float>();
  if (a.shape() == y.shape() && b.shape() == y.shape()) {
    with_binary(op, [&](auto kind) {
      parallel_for(y.numel(), 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) py[i] = apply(kind.value, pa[i], pb[i]);
      });
    });
    return;
  }
  const Broadcast ba = broadcast_to(a.shape(), y.shape());
  const Broadcast bb = broadcast_to(b.shape(), y.shape());
  for_each_broadcast(y.shape(), ba, bb, [&](std::int64_t o, std::int64_t ia, std::int64_t ib) {
    py[o] = apply(op, pa[ia], pb[ib]);
  });
}

void CpuBackend::binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& dy,
                                 const GradOut& da, const GradOut& db) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* g = dy.data<float>();
  if (a.shape() == dy.shape() && b.shape() == dy.shape()) {
    float* pda = da.wanted() ? da.tensor.data<float>() : nullptr;
    float* pdb = db.wanted() ? db.tensor.data<float>() : nullptr;
    // One pass computing both gradients per element (dy may share a buffer
    // with a gradient it feeds), compiled per op and per case of wanted /
    // accumulated gradient so that each loop vectorises.
    with_binary(op, [&](auto kind) {
      constexpr Binary kOp = decltype(kind)::value;
      auto loop = [&](auto a_mode, auto b_mode) {  // 0: not wanted, 1: overwrite, 2: add
        parallel_for(dy.numel(), 2, [&](std::int64_t begin, std::int64_t end) {
          for (std::int64_t i = begin; i < end; ++i) {
            const float ga = grad_a(kOp, pa[i], pb[i], g[i]), gb = grad_b(kOp, pa[i], pb[i], g[i]);
            if constexpr (decltype(a_mode)::value == 1) pda[i] = ga;
            if constexpr (decltype(a_mode)::value == 2) pda[i] += ga;
            if constexpr (decltype(b_mode)::value == 1) pdb[i] = gb;
            if constexpr (decltype(b_mode)::value == 2) pdb[i] += gb;
          }
        });
      };
      auto mode = [](float* p, bool accumulate) { return p == nullptr ? 0 : accumulate ? 2 : 1; };
      auto with_b = [&](auto a_mode) {
        switch (mode(pdb, db.accumulate)) {
          case 0: loop(a_mode, std::integral_constant<int, 0>{}); break;
          case 1: loop(a_mode, std::integral_constant<int, 1>{}); break;
          default: loop(a_mode, std::integral_constant<int, 2>{}); break;
        }
      };
      switch (mode(pda, da.accumulate)) {
        case 0: with_b(std::integral_constant<int, 0>{}); break;
        case 1: with_b(std::integral_constant<int, 1>{}); break;
        default: with_b(std::integral_constant<int, 2>{}); break;
      }
    });
    return;
  }
  // Broadcast: sum the gradient over the broadcast dimensions (serial, so
  // that the order of the sums is fixed).
  const Broadcast ba = broadcast_to(a.shape(), dy.shape());
  const Broadcast bb = broadcast_to(b.shape(), dy.shape());
  if (da.wanted() && !da.accumulate) da.tensor.zero();
  if (db.wanted() && !db.accumulate) db.tensor.zero();
  float* pda = da.wanted() ? da.tensor.data<float>() : nullptr;
  float* pdb = db.wanted() ? db.tensor.data<float>() : nullptr;
  for_each_broadcast(dy.shape(), ba, bb, [&](std::int64_t o, std::int64_t ia, std::int64_t ib) {
    if (pda != nullptr) pda[ia] += grad_a(op, pa[ia], pb[ib], g[o]);
    if (pdb != nullptr) pdb[ib] += grad_b(op, pa[ia], pb[ib], g[o]);
  });
}

void CpuBackend::unary_forward(Unary op, const Tensor& x, const Tensor& y) {
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(x.numel(), 4, [&](std::int64_t begin, std::int64_t end) {
    switch (op) {
      case Unary::kRelu:
        for (std::int64_t i = begin; i < end; ++i) py[i] = px[i] > 0 ? px[i] : 0.0f;
        break;
      case Unary::kSigmoid:
        for (std::int64_t i = begin; i < end; ++i) py[i] = sigmoid(px[i]);
        break;
      case Unary::kTanh:
        for (std::int64_t i = begin; i < end; ++i) py[i] = std::tanh(px[i]);
        break;
      case Unary::kSoftplus:
        for (std::int64_t i = begin; i < end; ++i) py[i] = softplus(px[i]);
        break;
      case Unary::kGelu:
        for (std::int64_t i = begin; i < end; ++i) py[i] = gelu(px[i]);
        break;
    }
  });
}

void CpuBackend::unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& dy,
                                const GradOut& dx) {
  const float* px = x.data<float>();
  const float* py = y.data<float>();
  const float* g = dy.data<float>();
  float* pdx = dx.tensor.data<float>();
  const bool acc = dx.accumulate;
  parallel_for(x.numel(), 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      float d = 0;
      switch (op) {
        case Unary::kRelu: d = px[i] > 0 ? 1.0f : 0.0f; break;
        case Unary::kSigmoid: d = py[i] * (1.0f - py[i]); break;
        case Unary::kTanh: d = 1.0f - py[i] * py[i]; break;
        case Unary::kSoftplus: d = sigmoid(px[i]); break;
        case Unary::kGelu: d = gelu_grad(px[i]); break;
      }
      store(pdx + i, g[i] * d, acc);
    }
  });
}

void CpuBackend::scale(const Tensor& x, float alpha, const GradOut& y) {
  const float* px = x.data<float>();
  float* py = y.tensor.data<float>();
  const bool acc = y.accumulate;
  parallel_for(x.numel(), 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) store(py + i, alpha * px[i], acc);
  });
}

void CpuBackend::reduce_sum(const Tensor& x, int axis, float alpha, const Tensor& y) {
  const Shape& s = x.shape();
  const std::int64_t outer = s.outer(axis), n = s[axis], inner = s.inner(axis);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  if (inner == 1) {
    // Sums of rows (the last axis): sixteen lanes, then the tail.
    parallel_for(outer, n, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t o = begin; o < end; ++o) {
        const float* row = px + o * n;
        f8 lo{}, hi{};
        std::int64_t k = 0;
        for (; k + 16 <= n; k += 16) {
          lo += load8(row + k);
          hi += load8(row + k + 8);
        }
        float total = sum8(lo + hi);
        for (; k < n; ++k) total += row[k];
        py[o] = total * alpha;
      }
    });
    return;
  }
  parallel_for(outer, n * inner, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t o = begin; o < end; ++o) {
      float* out = py + o * inner;
      for (std::int64_t i = 0; i < inner; ++i) out[i] = 0.0f;
      for (std::int64_t k = 0; k < n; ++k) {
        const float* row = px + (o * n + k) * inner;
        for (std::int64_t i = 0; i < inner; ++i) out[i] += row[i];
      }
      for (std::int64_t i = 0; i < inner; ++i) out[i] *= alpha;
    }
  });
}

void CpuBackend::broadcast_axis(const Tensor& dy, int axis, float alpha, const GradOut& dx) {
  const Shape& s = dx.tensor.shape();
  const std::int64_t outer = s.outer(axis), n = s[axis], inner = s.inner(axis);
  const float* g = dy.data<float>();
  float* pdx = dx.tensor.data<float>();
  const bool acc = dx.accumulate;
  parallel_for(outer * n, inner, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* src = g + (r / n) * inner;
      float* dst = pdx + r * inner;
      for (std::int64_t i = 0; i < inner; ++i) store(dst + i, alpha * src[i], acc);
    }
  });
}

}  // namespace recblocks::kernels::cpu
