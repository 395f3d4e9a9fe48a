#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/simd.h"

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

// fn(integral_constant<Activation, act>): one instantiation per activation.
template <class Fn>
void with_activation(Activation act, Fn&& fn) {
  switch (act) {
    case Activation::kNone: fn(std::integral_constant<Activation, Activation::kNone>{}); break;
    case Activation::kRelu: fn(std::integral_constant<Activation, Activation::kRelu>{}); break;
    case Activation::kSigmoid:
      fn(std::integral_constant<Activation, Activation::kSigmoid>{});
      break;
    case Activation::kTanh: fn(std::integral_constant<Activation, Activation::kTanh>{}); break;
  }
}

// Blocks of a kernel's output per thread, taken dynamically so that a
// thread slowed by the OS or a neighbour does not hold the other at the
// barrier. Every block's result is computed whole by one thread, so the
// values do not depend on which thread takes it.
constexpr int kBlocksPerThread = 4;
// Blocks below this many rows (or columns) cost more in packing than they
// save.
constexpr std::int64_t kMinBlock = 64;

int blocks_for(int parts, std::int64_t extent) {
  if (parts == 1) return 1;
  const auto most = static_cast<int>(std::min<std::int64_t>(
      static_cast<std::int64_t>(parts) * kBlocksPerThread, extent / kMinBlock));
  return std::max(parts, most);
}

}  // namespace

// One parallel region: each block of y (sgemm's split, in more parts) is
// multiplied and gets its bias and activation while it is in cache.
void CpuBackend::linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                Activation act, float alpha, const Tensor& y) {
  const std::int64_t m = x.size(0), k = x.size(1), n = w.size(1);
  if (m == 0 || n == 0) return;
  float* py = y.data<float>();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  auto run = [&](int part, int parts) {
    const GemmPart p = sgemm_part(m, n, part, parts);
    if (n == 1) {
      // A single output (a logit): one dot product per row, where the BLAS
      // calls are slow (bench/RESULTS.md, GEMM choice).
      for (std::int64_t r = p.r0; r < p.r1; ++r) py[r] = alpha * dot(px + r * k, pw, k);
    } else {
      sgemm_run_part(p, false, false, k, alpha, px, k, pw, n, 0.0f, py, n);
    }
    if (pb == nullptr && act == Activation::kNone) return;
    with_activation(act, [&](auto a) {
      for (std::int64_t r = p.r0; r < p.r1; ++r) {
        float* row = py + r * n;
        if (pb != nullptr) {
          for (std::int64_t j = p.c0; j < p.c1; ++j) row[j] = activate(a, row[j] + pb[j]);
        } else {
          for (std::int64_t j = p.c0; j < p.c1; ++j) row[j] = activate(a, row[j]);
        }
      }
    });
  };
  const int parts = std::max(sgemm_parts(m, n, k), parallel_chunks(m, n));
  if (parts == 1) {
    run(0, 1);
    return;
  }
  const int blocks = blocks_for(parts, std::max(m, n));
  run_tasks(blocks, parts, [&](int b) { run(b, blocks); });
}

// Two parallel regions over blocks. The first takes blocks of rows of dy:
// dz = dy * act'(y) in place, the column sums of the block's rows for the
// bias, and the block's rows of dx (which need only those rows of dz). The
// second, once all of dz is done, takes blocks of dw (sgemm's split of
// [K, N]) and their columns of the bias gradient, summed over the row
// blocks in block order (deterministic for a thread count).
void CpuBackend::linear_backward(const Tensor& x, const Tensor& w, const Tensor& y, Activation act,
                                 float alpha, const Tensor& dy, const GradOut& dx,
                                 const GradOut& dw, const GradOut& dbias) {
  const std::int64_t m = x.size(0), k = x.size(1), n = w.size(1);
  float* pdy = dy.data<float>();
  const float* py = y.data<float>();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const int parts = std::max({sgemm_parts(m, n, k), sgemm_parts(k, n, m), parallel_chunks(m, n)});
  const int row_blocks = blocks_for(parts, m);
  const int dw_blocks = blocks_for(parts, std::max(k, n));
  static thread_local std::vector<float> partial;
  float* sums = nullptr;
  if (dbias.wanted()) {
    partial.assign(static_cast<std::size_t>(row_blocks) * static_cast<std::size_t>(n), 0.0f);
    sums = partial.data();
  }
  const bool rows_pass = act != Activation::kNone || dbias.wanted();
  auto before_barrier = [&](int part) {
    const std::int64_t r0 = m * part / row_blocks, r1 = m * (part + 1) / row_blocks;
    if (rows_pass) {
      float* cs = sums != nullptr ? sums + part * n : nullptr;
      with_activation(act, [&](auto a) {
        for (std::int64_t r = r0; r < r1; ++r) {
          const float* yr = py + r * n;
          float* dr = pdy + r * n;
          if constexpr (decltype(a)::value != Activation::kNone) {
            for (std::int64_t j = 0; j < n; ++j) dr[j] *= activation_grad(a, yr[j]);
          }
          if (cs != nullptr) {
            for (std::int64_t j = 0; j < n; ++j) cs[j] += dr[j];
          }
        }
      });
    }
    if (dx.wanted() && n == 1) {
      // dx = alpha dz w^T is an outer product.
      float* pdx = dx.tensor.data<float>();
      for (std::int64_t r = r0; r < r1; ++r) {
        const float c = alpha * pdy[r];
        float* row = pdx + r * k;
        if (dx.accumulate) {
          for (std::int64_t j = 0; j < k; ++j) row[j] += c * pw[j];
        } else {
          for (std::int64_t j = 0; j < k; ++j) row[j] = c * pw[j];
        }
      }
    } else if (dx.wanted()) {
      sgemm_run_part({r0, r1, 0, k}, false, true, n, alpha, pdy, n, pw, n,
                     dx.accumulate ? 1.0f : 0.0f, dx.tensor.data<float>(), k);
    }
  };
  auto after_barrier = [&](int part) {
    if (dw.wanted() && n == 1) {
      // dw = alpha x^T dz: this thread's entries of dw, summed over the rows
      // in order.
      const GemmPart p = sgemm_part(k, n, part, dw_blocks);
      static thread_local std::vector<float> acc;
      acc.assign(static_cast<std::size_t>(p.r1 - p.r0), 0.0f);
      float* a = acc.data();
      for (std::int64_t r = 0; r < m; ++r) {
        const float c = pdy[r];
        const float* row = px + r * k + p.r0;
        for (std::int64_t j = 0; j < p.r1 - p.r0; ++j) a[j] += c * row[j];
      }
      float* pdw = dw.tensor.data<float>();
      for (std::int64_t j = p.r0; j < p.r1; ++j) store(pdw + j, alpha * a[j - p.r0], dw.accumulate);
    } else if (dw.wanted()) {
      sgemm_run_part(sgemm_part(k, n, part, dw_blocks), true, false, m, alpha, px, k, pdy, n,
                     dw.accumulate ? 1.0f : 0.0f, dw.tensor.data<float>(), n);
    }
    if (sums != nullptr) {
      float* db = dbias.tensor.data<float>();
      for (std::int64_t j = n * part / dw_blocks; j < n * (part + 1) / dw_blocks; ++j) {
        float s = 0.0f;
        for (int c = 0; c < row_blocks; ++c) s += sums[c * n + j];
        store(db + j, s, dbias.accumulate);
      }
    }
  };
  if (parts == 1) {
    before_barrier(0);
    after_barrier(0);
    return;
  }
  run_tasks(row_blocks, parts, before_barrier);
  run_tasks(dw_blocks, parts, after_barrier);
}

}  // namespace recblocks::kernels::cpu
