#include "recblocks/autograd/ops/retrieval.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "autograd/ops/common.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd.h"

namespace recblocks::ops {
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

// The loss's gradient for an upstream of 1 was computed by the forward pass
// (saved[0]); the backward scales it.
void retrieval_loss_backward(Tape& tape, std::int32_t node) {
  const Tensor& unit = tape.args(node).saved[0];
  const float g = tape.grad(node).data<float>()[0];
  const std::int32_t input = tape.inputs(node)[0];
  float* u = unit.data<float>();
  const std::int64_t n = unit.numel();
  // The scores' first gradient (the usual case): the saved buffer becomes
  // it, scaled in place unless the upstream is 1 (a backward runs once per
  // tape, so the buffer is free to take).
  if (tape.adopt_grad(input, unit)) {
    if (g != 1.0f) {
      kernels::cpu::parallel_for(n, 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) u[i] *= g;
      });
    }
    return;
  }
  const kernels::GradOut out = tape.grad_out(input);
  if (!out.wanted()) return;
  float* d = out.tensor.data<float>();
  kernels::cpu::parallel_for(n, 1, [&](std::int64_t begin, std::int64_t end) {
    if (out.accumulate) {
      for (std::int64_t i = begin; i < end; ++i) d[i] += g * u[i];
    } else {
      for (std::int64_t i = begin; i < end; ++i) d[i] = g * u[i];
    }
  });
}

}  // namespace

const char* retrieval_loss_name(RetrievalLoss kind) {
  switch (kind) {
    case RetrievalLoss::kCategoricalCrossEntropy: return "categorical_crossentropy";
    case RetrievalLoss::kBPR: return "bpr";
    case RetrievalLoss::kLogistic: return "logistic";
    case RetrievalLoss::kHinge: return "hinge";
  }
  return "";
}

RetrievalLoss retrieval_loss_from_name(std::string_view name) {
  if (name == "ce") return RetrievalLoss::kCategoricalCrossEntropy;
  for (RetrievalLoss k : {RetrievalLoss::kCategoricalCrossEntropy, RetrievalLoss::kBPR,
                          RetrievalLoss::kLogistic, RetrievalLoss::kHinge}) {
    if (name == retrieval_loss_name(k)) return k;
  }
  throw ValueError(
      fmt::format("retrieval loss '{}' is unknown (expected categorical_crossentropy (or ce), bpr, "
                  "logistic or hinge)",
                  name));
}

Var retrieval_loss(const Var& scores, const Tensor& positives,
                   const RetrievalLossOptions& options) {
  detail::check_float(scores, "retrieval_loss", "scores");
  detail::check_int(positives, "retrieval_loss", "positives");
  const Shape& s = scores.shape();
  RB_CHECK(s.rank() == 2 && s[0] > 0 && s[1] > 0, ShapeError,
           "retrieval_loss: scores have shape {}, expected [queries, candidates]", s);
  const std::int64_t rows = s[0];
  const std::int64_t cols = s[1];
  RB_CHECK(positives.shape() == Shape{rows}, ShapeError,
           "retrieval_loss: positives have shape {}, expected [{}]", positives.shape(), rows);
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t p = id_at(positives, i);
    RB_CHECK(p >= 0 && p < cols, ValueError,
             "retrieval_loss: the positive of row {} is column {}, expected [0, {})", i, p, cols);
  }
  const bool has_bias = options.column_bias.defined();
  if (has_bias) {
    RB_CHECK(options.column_bias.dtype() == DType::kFloat32 &&
                 options.column_bias.shape() == Shape{cols},
             ShapeError, "retrieval_loss: column_bias is {} {}, expected float32 [{}]",
             dtype_name(options.column_bias.dtype()), options.column_bias.shape(), cols);
  }
  const bool has_ids = options.column_ids.defined();
  if (has_ids) {
    detail::check_int(options.column_ids, "retrieval_loss", "column_ids");
    RB_CHECK(options.column_ids.shape() == Shape{cols}, ShapeError,
             "retrieval_loss: column_ids have shape {}, expected [{}]", options.column_ids.shape(),
             cols);
  }
  const bool has_counts = options.column_counts.defined();
  if (has_counts) {
    RB_CHECK(options.column_counts.dtype() == DType::kInt64 &&
                 options.column_counts.shape() == Shape{cols},
             ShapeError, "retrieval_loss: column_counts are {} {}, expected int64 [{}]",
             dtype_name(options.column_counts.dtype()), options.column_counts.shape(), cols);
    for (std::int64_t j = 0; j < cols; ++j) {
      RB_CHECK(options.column_counts.data<std::int64_t>()[j] >= 1, ValueError,
               "retrieval_loss: column {} has count {}, expected >= 1", j,
               options.column_counts.data<std::int64_t>()[j]);
    }
  }
  RB_CHECK(std::isfinite(options.margin), ValueError,
           "retrieval_loss: margin is {}, expected a finite number", options.margin);

  const float* x = scores.value().data<float>();
  const float* bias = has_bias ? options.column_bias.data<float>() : nullptr;
  // Scratch from the step's arena (a training step makes no heap
  // allocation): each column's item and each row's positive column as
  // int64, the per-row losses.
  Tape& tape = scores.tape();
  auto scratch = [&](std::int64_t n) {
    return tape.arena().tensor({n}, DType::kInt64).data<std::int64_t>();
  };
  std::int64_t* ids = has_ids ? scratch(cols) : nullptr;
  for (std::int64_t j = 0; has_ids && j < cols; ++j) ids[j] = id_at(options.column_ids, j);
  std::int64_t* positive = scratch(rows);
  for (std::int64_t i = 0; i < rows; ++i) positive[i] = id_at(positives, i);
  float* row_loss = tape.arena().tensor({rows}).data<float>();
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
    weight = tape.arena().tensor({cols}).data<float>();
    for (std::int64_t j = 0; j < cols; ++j) {
      weight[j] = static_cast<float>(options.column_counts.data<std::int64_t>()[j]);
    }
  }
  auto weight_of = [&](std::int64_t j) {
    return has_counts ? static_cast<double>(weight[j]) : 1.0;
  };

  Tensor unit = tape.arena().tensor(s);
  float* u = unit.data<float>();
  const RetrievalLoss kind = options.kind;
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
    kernels::cpu::parallel_for(rows, cols * 8, [&](std::int64_t begin, std::int64_t end) {
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
        using kernels::cpu::f8;
        using kernels::cpu::load8;
        f8 top0 = kernels::cpu::splat8(-std::numeric_limits<float>::max()), top1 = top0;
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
        double total = kernels::cpu::sum8(sum0 + sum1);
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
    const double margin = options.margin;
    kernels::cpu::parallel_for(rows, cols * 4, [&](std::int64_t begin, std::int64_t end) {
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
  Tensor loss = tape.arena().tensor(Shape{});
  loss.data<float>()[0] = static_cast<float>(sum / divisor);
  OpArgs args;
  args.saved[0] = unit;
  return tape.record("retrieval_loss", loss, {scores}, &retrieval_loss_backward, args);
}

}  // namespace recblocks::ops
