// The retrieval losses (autograd/ops/retrieval.h): the cross-entropy over a
// row's columns or the mean over its pairs, with the logQ bias, accidental
// hits and column counts, and the gradient for an upstream of 1.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/simd.h"
#include "recblocks/core/error.h"

namespace recblocks::kernels::cpu {
namespace {

std::int64_t id_at(const Tensor& ids, std::int64_t i) {
  return ids.dtype() == DType::kInt64 ? ids.data<std::int64_t>()[i] : ids.data<std::int32_t>()[i];
}

// log(1 + exp(x)) without overflow.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// exp(x) for x <= 0 (Cephes' expf: 2^n times a degree-6 polynomial on
// |r| <= ln2 / 2, about 1 ulp), written branch-free so the row loops
// vectorise; below -87 it gives ~1e-38 instead of 0, which is negligible
// against the row's largest term, exp(0) = 1.
inline float exp_approx(float in) {
  // NaN goes through the clamp as -87 (no float-to-int conversion of a NaN)
  // and comes back as NaN below, for the caller's non-finite check.
  const float x = in > -87.0f ? in : -87.0f;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float q = 1.9875691500e-4f;
  q = q * r + 1.3981999507e-3f;
  q = q * r + 8.3334519073e-3f;
  q = q * r + 4.1665795894e-2f;
  q = q * r + 1.6666665459e-1f;
  q = q * r + 5.0000001201e-1f;
  const float y = q * r * r + r + 1.0f;
  const float out = y * std::bit_cast<float>((static_cast<std::int32_t>(n) + 127) << 23);
  return in == in ? out : in;
}

}  // namespace

void CpuBackend::retrieval_loss_forward(const Tensor& scores, const Tensor& positives,
                                        const RetrievalLossArgs& args, const Tensor& unit,
                                        const Tensor& loss, Arena& arena) {
  const std::int64_t rows = scores.size(0);
  const std::int64_t cols = scores.size(1);
  const bool has_bias = args.column_bias.defined();
  const bool has_ids = args.column_ids.defined();
  const bool has_counts = args.column_counts.defined();
  const float* x = scores.data<float>();
  const float* bias = has_bias ? args.column_bias.data<float>() : nullptr;
  // Scratch from the step's arena (a training step makes no heap
  // allocation): each column's item and each row's positive column as
  // int64, the per-row losses.
  auto scratch = [&](std::int64_t n) {
    return arena.tensor({n}, DType::kInt64).data<std::int64_t>();
  };
  std::int64_t* ids = has_ids ? scratch(cols) : nullptr;
  for (std::int64_t j = 0; has_ids && j < cols; ++j) ids[j] = id_at(args.column_ids, j);
  std::int64_t* positive = scratch(rows);
  for (std::int64_t i = 0; i < rows; ++i) positive[i] = id_at(positives, i);
  float* row_loss = arena.tensor({rows}).data<float>();
  // The columns a row compares against: all but its accidental hits.
  auto value = [&](std::int64_t i, std::int64_t j) {
    return static_cast<double>(x[i * cols + j]) + (has_bias ? bias[j] : 0.0);
  };
  constexpr double kMinusInf = -std::numeric_limits<double>::infinity();
  auto included = [&](std::int64_t i, std::int64_t p_id, std::int64_t p, std::int64_t j) {
    return j == p || ((!has_ids || ids[j] != p_id) && value(i, j) != kMinusInf);
  };
  for (std::int64_t i = 0; i < rows; ++i) {
    RB_CHECK(
        value(i, positive[i]) != kMinusInf, ValueError,
        "retrieval_loss: the positive of row {} (column {}) scores -inf, expected a finite score",
        i, positive[i]);
  }
  auto positive_item = [&](std::int64_t p) { return has_ids ? ids[p] : std::int64_t{0}; };
  // How many identical columns each column stands for (1 without counts).
  float* weight = nullptr;
  if (has_counts) {
    weight = arena.tensor({cols}).data<float>();
    for (std::int64_t j = 0; j < cols; ++j) {
      weight[j] = static_cast<float>(args.column_counts.data<std::int64_t>()[j]);
    }
  }
  auto weight_of = [&](std::int64_t j) {
    return has_counts ? static_cast<double>(weight[j]) : 1.0;
  };

  float* u = unit.data<float>();
  const RetrievalLoss kind = args.kind;
  // The loss: the mean over rows (cross-entropy) or over pairs (pairwise).
  double divisor = static_cast<double>(rows);

  if (kind == RetrievalLoss::kCategoricalCrossEntropy) {
    // The columns holding each column's item, grouped: a row's accidental
    // hits are its positive's group (without the positive).
    std::int64_t* by_item = nullptr;    // columns sorted by (item, column)
    std::int64_t* group_of = nullptr;   // column -> start of its group in by_item
    std::int64_t* group_end = nullptr;  // column -> end of its group
    if (has_ids) {
      by_item = scratch(cols);
      group_of = scratch(cols);
      group_end = scratch(cols);
      std::iota(by_item, by_item + cols, std::int64_t{0});
      std::sort(by_item, by_item + cols, [&](std::int64_t a, std::int64_t b) {
        return ids[a] != ids[b] ? ids[a] < ids[b] : a < b;
      });
      for (std::int64_t g = 0; g < cols;) {
        std::int64_t e = g + 1;
        while (e < cols && ids[by_item[e]] == ids[by_item[g]]) ++e;
        for (std::int64_t m = g; m < e; ++m) {
          group_of[by_item[m]] = g;
          group_end[by_item[m]] = e;
        }
        g = e;
      }
    }
    const float inv_rows = 1.0f / static_cast<float>(rows);
    parallel_for(rows, cols * 8, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        const std::int64_t p = positive[i];
        const float* xi = x + i * cols;
        float* ui = u + i * cols;
        // ui: the adjusted scores, then their exp, then the gradient.
        if (has_bias) {
          for (std::int64_t j = 0; j < cols; ++j) ui[j] = xi[j] + bias[j];
        } else {
          std::copy(xi, xi + cols, ui);
        }
        const float positive_score = ui[p];
        std::int64_t g_begin = 0, g_end = 0;
        if (has_ids) {
          g_begin = group_of[p];
          g_end = group_end[p];
          for (std::int64_t m = g_begin; m < g_end; ++m) {
            const std::int64_t j = by_item[m];
            if (j != p) ui[j] = -std::numeric_limits<float>::max();
          }
        }
        // Sixteen partial maxima (and sums below) in two vectors: the same
        // on every machine.
        f8 top0 = splat8(-std::numeric_limits<float>::max()), top1 = top0;
        std::int64_t j = 0;
        for (; j + 16 <= cols; j += 16) {
          const f8 a = load8(ui + j), b = load8(ui + j + 8);
          top0 = a > top0 ? a : top0;
          top1 = b > top1 ? b : top1;
        }
        float top = -std::numeric_limits<float>::max();
        for (int l = 0; l < 8; ++l) top = std::max({top, top0[l], top1[l]});
        for (; j < cols; ++j) top = std::max(top, ui[j]);
        // A column at -inf is out of the row's softmax: exactly 0.
        constexpr float kInf = std::numeric_limits<float>::infinity();
        for (std::int64_t j = 0; j < cols; ++j)
          ui[j] = ui[j] == -kInf ? 0.0f : exp_approx(ui[j] - top);
        for (std::int64_t m = g_begin; m < g_end; ++m) {
          const std::int64_t j = by_item[m];
          if (j != p) ui[j] = 0.0f;
        }
        if (has_counts) {
          // Each column's copies; the positive's are accidental hits when
          // the columns name their items.
          const float positive_exp = ui[p];
          for (std::int64_t c = 0; c < cols; ++c) ui[c] *= weight[c];
          if (has_ids) ui[p] = positive_exp;
        }
        f8 sum0{}, sum1{};
        for (j = 0; j + 16 <= cols; j += 16) {
          sum0 += load8(ui + j);
          sum1 += load8(ui + j + 8);
        }
        double total = sum8(sum0 + sum1);
        for (; j < cols; ++j) total += ui[j];
        row_loss[i] =
            static_cast<float>(std::log(total) + static_cast<double>(top - positive_score));
        const auto scale = static_cast<float>(1.0 / total) * inv_rows;
        for (std::int64_t c = 0; c < cols; ++c) ui[c] *= scale;
        ui[p] -= inv_rows;
      }
    });
  } else {
    // Pairs per row first: the mean is over all pairs of the batch.
    std::int64_t total_pairs = 0;
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::int64_t p = positive[i];
      const std::int64_t p_id = positive_item(p);
      for (std::int64_t j = 0; j < cols; ++j) {
        if (j != p && included(i, p_id, p, j))
          total_pairs += has_counts ? static_cast<std::int64_t>(weight[j]) : 1;
      }
      // The positive's own copies, when they are not accidental hits.
      if (has_counts && !has_ids) total_pairs += static_cast<std::int64_t>(weight[p]) - 1;
    }
    const double inv_pairs = total_pairs > 0 ? 1.0 / static_cast<double>(total_pairs) : 0.0;
    const double margin = args.margin;
    parallel_for(rows, cols * 4, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        const std::int64_t p = positive[i];
        const std::int64_t p_id = positive_item(p);
        const double positive_score = value(i, p);
        float* ui = u + i * cols;
        double loss = 0;
        double positive_grad = 0;
        for (std::int64_t j = 0; j < cols; ++j) {
          ui[j] = 0.0f;
          if (j == p || !included(i, p_id, p, j)) continue;
          const double d = positive_score - value(i, j);
          double dloss_dd = 0;  // d(pair loss) / d(d)
          const double w = weight_of(j);
          if (kind == RetrievalLoss::kHinge) {
            loss += w * std::max(0.0, margin - d);
            dloss_dd = margin - d > 0 ? -w : 0.0;
          } else {  // BPR and logistic: softplus(-d) = -log sigmoid(d)
            loss += w * softplus(-d);
            dloss_dd = -w * sigmoid(-d);
          }
          ui[j] = static_cast<float>(-dloss_dd * inv_pairs);
          positive_grad += dloss_dd * inv_pairs;
        }
        // The positive against its own copies: d = 0, and no gradient (the
        // positive's score is on both sides of each such pair).
        if (has_counts && !has_ids && weight[p] > 1.0f) {
          const double copies = weight[p] - 1.0;
          loss += copies * (kind == RetrievalLoss::kHinge ? std::max(0.0, margin) : softplus(0.0));
        }
        ui[p] = static_cast<float>(positive_grad);
        row_loss[i] = static_cast<float>(loss);
      }
    });
    // No valid pair: a loss of 0 (every row's sum is 0).
    divisor = total_pairs > 0 ? static_cast<double>(total_pairs) : 1.0;
  }
  double sum = 0;
  for (std::int64_t i = 0; i < rows; ++i) sum += row_loss[i];
  loss.data<float>()[0] = static_cast<float>(sum / divisor);
}

void CpuBackend::retrieval_loss_backward(const Tensor& unit, float dloss, const GradOut& dscores) {
  if (!dscores.wanted()) return;
  const float g = dloss;
  float* u = unit.data<float>();
  const std::int64_t n = unit.numel();
  float* d = dscores.tensor.data<float>();
  // The saved buffer adopted as the gradient: scaled in place, unless the
  // upstream is 1.
  if (d == u && !dscores.accumulate) {
    if (g != 1.0f) {
      parallel_for(n, 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) u[i] *= g;
      });
    }
    return;
  }
  parallel_for(n, 1, [&](std::int64_t begin, std::int64_t end) {
    if (dscores.accumulate) {
      for (std::int64_t i = begin; i < end; ++i) d[i] += g * u[i];
    } else {
      for (std::int64_t i = begin; i < end; ++i) d[i] = g * u[i];
    }
  });
}

}  // namespace recblocks::kernels::cpu
