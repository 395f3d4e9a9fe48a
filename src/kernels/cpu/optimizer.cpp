// The optimizers' updates (optim/optim.h gives the rules), the finite check
// of gradients and the merge of a table's sparse segments. Every update is
// element- or row-wise with distinct outputs, split by parallel_for: the
// result does not depend on the split.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/simd.h"
#include "recblocks/core/error.h"

namespace recblocks::kernels::cpu {
namespace {

// True when x[0, n) is all finite: x - x is 0 for a finite x and NaN
// otherwise, summed in four vector accumulators.
RB_MULTIVERSION bool all_finite(const float* x, std::int64_t n) {
  f8 a0{}, a1{}, a2{}, a3{};
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const f8 v0 = load8(x + i), v1 = load8(x + i + 8), v2 = load8(x + i + 16),
             v3 = load8(x + i + 24);
    // NOLINTBEGIN(misc-redundant-expression): x - x is the finiteness test
    a0 += v0 - v0;
    a1 += v1 - v1;
    a2 += v2 - v2;
    a3 += v3 - v3;
    // NOLINTEND(misc-redundant-expression)
  }
  const f8 a = (a0 + a1) + (a2 + a3);
  bool finite = true;
  for (int l = 0; l < 8; ++l) finite = finite && a[l] == 0.0f;
  for (; i < n; ++i) finite = finite && std::isfinite(x[i]);
  return finite;
}

// The per-element updates. Dense and sparse updates both run these (on the
// whole tensor, or on one touched row at a time), so a touched row moves
// exactly as it would under the dense update. g already holds the gradient
// without weight decay; `l2` is the coupled weight decay.

void sgd_update(float* w, const float* g, std::int64_t n, float lr, float l2) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + l2 * w[i];
    w[i] -= lr * gi;
  }
}

// Keras' convention: the velocity holds the step, lr included.
void momentum_update(float* w, const float* g, float* velocity, std::int64_t n, float lr, float l2,
                     float momentum, bool nesterov) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + l2 * w[i];
    velocity[i] = momentum * velocity[i] - lr * gi;
    w[i] += nesterov ? momentum * velocity[i] - lr * gi : velocity[i];
  }
}

struct AdamScalars {
  float beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, epsilon;
  float l2;     // coupled weight decay
  float decay;  // decoupled: lr * weight_decay
  float step;   // lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
};

RB_MULTIVERSION void adam_update(float* w, const float* g, float* m, float* v, std::int64_t n,
                                 const AdamScalars& k) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + k.l2 * w[i];
    m[i] = k.beta_1 * m[i] + k.one_minus_beta_1 * gi;
    v[i] = k.beta_2 * v[i] + k.one_minus_beta_2 * gi * gi;
    w[i] -= w[i] * k.decay;
    w[i] -= k.step * m[i] / (std::sqrt(v[i]) + k.epsilon);
  }
}

RB_MULTIVERSION void adagrad_update(float* w, const float* g, float* acc, std::int64_t n, float lr,
                                    float l2, float epsilon) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + l2 * w[i];
    acc[i] += gi * gi;
    w[i] -= lr * gi / (std::sqrt(acc[i]) + epsilon);
  }
}

// One row, one accumulator: acc += mean(g^2) over the row.
void rowwise_adagrad_update(float* w, const float* g, float* acc, std::int64_t dim, float lr,
                            float l2, float epsilon) {
  double sum = 0;
  for (std::int64_t d = 0; d < dim; ++d) {
    const float gd = g[d] + l2 * w[d];
    sum += static_cast<double>(gd) * gd;
  }
  *acc += static_cast<float>(sum / static_cast<double>(std::max<std::int64_t>(dim, 1)));
  const float denom = std::sqrt(*acc) + epsilon;
  for (std::int64_t d = 0; d < dim; ++d) {
    const float gd = g[d] + l2 * w[d];
    w[d] -= lr * gd / denom;
  }
}

// FTRL-Proximal (McMahan et al. 2013) with learning_rate_power -0.5, as
// TensorFlow's ApplyFtrlV2 computes it (Keras' beta folded into the l2 term):
//   n' = n + g^2;  z += g - (sqrt(n') - sqrt(n)) / lr * w;  n = n'
//   w = |z| > l1 ? (sign(z) l1 - z) / ((beta + sqrt(n)) / lr + 2 l2) : 0
struct FtrlScalars {
  float lr, l1, l2, beta;
};

void ftrl_update(float* w, const float* g, float* n, float* z, std::int64_t count,
                 const FtrlScalars& k) {
  for (std::int64_t i = 0; i < count; ++i) {
    const float root = std::sqrt(n[i]);
    const float next = n[i] + g[i] * g[i];
    const float next_root = std::sqrt(next);
    z[i] += g[i] - (next_root - root) / k.lr * w[i];
    n[i] = next;
    const float quadratic = (k.beta + next_root) / k.lr + 2 * k.l2;
    w[i] = std::abs(z[i]) > k.l1 ? (std::copysign(k.l1, z[i]) - z[i]) / quadratic : 0.0f;
  }
}

// One rule on a parameter seen as [rows, dim]: the update of its elements
// [begin, end), g their gradient (for kRowwiseAdagrad, begin and end are
// multiples of dim).
class Updater {
 public:
  Updater(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
          std::span<const Tensor> state)
      : rule_(rule), s_(s), w_(weights.data<float>()) {
    const std::size_t slots = rule == UpdateRule::kSgd                                 ? 0
                              : rule == UpdateRule::kAdam || rule == UpdateRule::kFtrl ? 2
                                                                                       : 1;
    RB_CHECK(state.size() == slots, Error, "optimizer update: {} state tensor(s), expected {}",
             state.size(), slots);
    if (slots > 0) s0_ = state[0].data<float>();
    if (slots > 1) s1_ = state[1].data<float>();
    rows_ = weights.rank() >= 1 ? weights.size(0) : 1;
    dim_ = rows_ > 0 ? weights.numel() / rows_ : 0;
    adam_ = {s.beta_1,  s.one_minus_beta_1, s.beta_2,    s.one_minus_beta_2,
             s.epsilon, s.weight_decay,     s.decoupled, s.adam_step};
    ftrl_ = {s.lr, s.l1, s.l2, s.beta};
  }

  std::int64_t rows() const { return rows_; }
  std::int64_t dim() const { return dim_; }
  bool whole_rows() const { return rule_ == UpdateRule::kRowwiseAdagrad; }

  void operator()(const float* g, std::int64_t begin, std::int64_t end) const {
    const std::int64_t n = end - begin;
    switch (rule_) {
      case UpdateRule::kSgd: sgd_update(w_ + begin, g, n, s_.lr, s_.weight_decay); return;
      case UpdateRule::kMomentum:
        momentum_update(w_ + begin, g, s0_ + begin, n, s_.lr, s_.weight_decay, s_.momentum,
                        s_.nesterov);
        return;
      case UpdateRule::kAdam:
        adam_update(w_ + begin, g, s0_ + begin, s1_ + begin, n, adam_);
        return;
      case UpdateRule::kAdagrad:
        adagrad_update(w_ + begin, g, s0_ + begin, n, s_.lr, s_.weight_decay, s_.epsilon);
        return;
      case UpdateRule::kRowwiseAdagrad:
        for (std::int64_t r = begin / dim_; r < end / dim_; ++r) {
          rowwise_adagrad_update(w_ + r * dim_, g + (r * dim_ - begin), s0_ + r, dim_, s_.lr,
                                 s_.weight_decay, s_.epsilon);
        }
        return;
      case UpdateRule::kFtrl:
        ftrl_update(w_ + begin, g, s0_ + begin, s1_ + begin, n, ftrl_);
        return;
    }
  }

 private:
  UpdateRule rule_;
  const UpdateScalars& s_;
  float* w_;
  float* s0_ = nullptr;
  float* s1_ = nullptr;
  std::int64_t rows_ = 1;
  std::int64_t dim_ = 1;
  AdamScalars adam_{};
  FtrlScalars ftrl_{};
};

}  // namespace

std::int64_t CpuBackend::find_non_finite(const Tensor& x) {
  const float* p = x.data<float>();
  const std::int64_t n = x.numel();
  // A vector pass over the threads' parts, then a scalar search only when
  // it fails.
  std::atomic<bool> finite = true;
  parallel_for(n, 1, [&](std::int64_t begin, std::int64_t end) {
    if (!all_finite(p + begin, end - begin)) finite.store(false, std::memory_order_relaxed);
  });
  if (finite.load()) return -1;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(p[i])) return i;
  }
  return -1;
}

bool CpuBackend::all_equal(const Tensor& x, float value) {
  const float* p = x.data<float>();
  return std::all_of(p, p + x.numel(), [&](float v) { return v == value; });
}

SparseRows CpuBackend::merge_sparse_rows(std::span<const SparseRows> segments, Arena& arena) {
  const std::int64_t dim = segments.empty() ? 0 : segments[0].values.size(1);
  std::int64_t total = 0;
  for (const SparseRows& g : segments) total += g.rows.numel();
  std::int64_t* merged =
      arena.array<std::int64_t>(static_cast<std::size_t>(std::max<std::int64_t>(total, 1)));
  std::int64_t n = 0;
  for (const SparseRows& g : segments) {
    const std::int64_t* r = g.rows.data<std::int64_t>();
    n = std::copy(r, r + g.rows.numel(), merged + n) - merged;
  }
  std::sort(merged, merged + n);
  n = std::unique(merged, merged + n) - merged;
  SparseRows out{Tensor::borrow(merged, {n}, DType::kInt64), arena.zeros({n, dim})};
  float* values = out.values.data<float>();
  for (const SparseRows& g : segments) {
    const std::int64_t* r = g.rows.data<std::int64_t>();
    const float* v = g.values.data<float>();
    std::int64_t j = 0;
    for (std::int64_t i = 0; i < g.rows.numel(); ++i) {
      while (merged[j] < r[i]) ++j;
      float* dst = values + j * dim;
      for (std::int64_t d = 0; d < dim; ++d) dst[d] += v[i * dim + d];
    }
  }
  return out;
}

void CpuBackend::optimizer_update(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
                                  const Tensor& grad, std::span<const Tensor> state) {
  const Updater update(rule, s, weights, state);
  const float* g = grad.data<float>();
  const std::int64_t dim = update.dim();
  if (update.whole_rows()) {
    parallel_for(update.rows(), dim, [&](std::int64_t begin, std::int64_t end) {
      update(g + begin * dim, begin * dim, end * dim);
    });
  } else {
    parallel_for(weights.numel(), 1,
                 [&](std::int64_t begin, std::int64_t end) { update(g + begin, begin, end); });
  }
}

void CpuBackend::optimizer_update_rows(UpdateRule rule, const UpdateScalars& s,
                                       const Tensor& weights, const SparseRows& grad,
                                       std::span<const Tensor> state) {
  const Updater update(rule, s, weights, state);
  const std::int64_t* rows = grad.rows.data<std::int64_t>();
  const float* values = grad.values.data<float>();
  const std::int64_t dim = update.dim();
  parallel_for(grad.rows.numel(), dim, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      update(values + i * dim, rows[i] * dim, (rows[i] + 1) * dim);
    }
  });
}

void CpuBackend::optimizer_update_all_rows(UpdateRule rule, const UpdateScalars& s,
                                           const Tensor& weights, const SparseRows& grad,
                                           std::span<const Tensor> state) {
  const Updater update(rule, s, weights, state);
  const std::int64_t* rows = grad.rows.data<std::int64_t>();
  const float* values = grad.values.data<float>();
  const std::int64_t n = grad.rows.numel();
  const std::int64_t dim = update.dim();
  // Untouched rows read their zero gradient from this buffer, up to
  // kZeroRows rows at a time (kept between calls: it only grows).
  constexpr std::int64_t kZeroRows = 64;
  thread_local std::vector<float> zeros_buffer;
  if (zeros_buffer.size() < static_cast<std::size_t>(kZeroRows * dim)) {
    zeros_buffer.assign(static_cast<std::size_t>(kZeroRows * dim), 0.0f);
  }
  const float* zeros = zeros_buffer.data();
  parallel_for(update.rows(), dim, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t j = std::lower_bound(rows, rows + n, begin) - rows;
    std::int64_t r = begin;
    while (r < end) {
      if (j < n && rows[j] == r) {
        update(values + j * dim, r * dim, (r + 1) * dim);
        ++j;
        ++r;
        continue;
      }
      const std::int64_t next = std::min({j < n ? rows[j] : end, end, r + kZeroRows});
      update(zeros, r * dim, next * dim);
      r = next;
    }
  });
}

}  // namespace recblocks::kernels::cpu
