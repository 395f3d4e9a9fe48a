#include "testing/reference.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace recblocks::testing::ref {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double id_at(const Tensor& ids, std::int64_t i) { return ids.item(i); }

// Row b of a bag: [begin, end) into ids.
std::pair<std::int64_t, std::int64_t> bag(const Tensor& ids, const Tensor& offsets,
                                          std::int64_t b) {
  if (!offsets.defined() || offsets.numel() == 0) return {b, b + 1};
  (void)ids;
  return {static_cast<std::int64_t>(offsets.item(b)),
          static_cast<std::int64_t>(offsets.item(b + 1))};
}

std::int64_t bags(const Tensor& ids, const Tensor& offsets) {
  if (!offsets.defined() || offsets.numel() == 0) return ids.numel();
  return offsets.numel() - 1;
}

// Flat index into a tensor of shape `s` broadcast to `out` for the output
// multi-index of flat index i.
std::int64_t broadcast_index(const Shape& s, const Shape& out, std::int64_t i) {
  std::int64_t idx = 0, stride = 1;
  std::int64_t rest = i;
  for (int d = out.rank() - 1; d >= 0; --d) {
    const std::int64_t coord = rest % out[d];
    rest /= out[d];
    const int sd = d - (out.rank() - s.rank());
    if (sd >= 0) {
      if (s[sd] != 1) idx += coord * stride;
      stride *= s[sd];
    }
  }
  return idx;
}

}  // namespace

Tensor gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c) {
  const std::int64_t m = trans_a ? a.size(1) : a.size(0);
  const std::int64_t k = trans_a ? a.size(0) : a.size(1);
  const std::int64_t n = trans_b ? b.size(0) : b.size(1);
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  // Strides of op(a) and op(b) in (row, col).
  const std::int64_t a_r = trans_a ? 1 : k, a_c = trans_a ? m : 1;
  const std::int64_t b_r = trans_b ? 1 : n, b_c = trans_b ? k : 1;
  Tensor out = Tensor::empty({m, n});
  float* o = out.data<float>();
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::int64_t p = 0; p < k; ++p) {
        s += static_cast<double>(ap[i * a_r + p * a_c]) * bp[p * b_r + j * b_c];
      }
      double v = alpha * s;
      if (beta != 0.0f) v += static_cast<double>(beta) * c.data<float>()[i * n + j];
      o[i * n + j] = static_cast<float>(v);
    }
  }
  return out;
}

Tensor batched_gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                    float beta, const Tensor& c) {
  const std::int64_t batch = a.size(0);
  const Shape out_shape = c.shape();
  Tensor out = Tensor::empty(out_shape);
  const std::int64_t per = out_shape[1] * out_shape[2];
  for (std::int64_t i = 0; i < batch; ++i) {
    Tensor ai = a.slice_rows(i, i + 1).view(a.shape().without(0));
    Tensor bi = b.rank() == 2 ? b : b.slice_rows(i, i + 1).view(b.shape().without(0));
    Tensor ci = c.slice_rows(i, i + 1).view(c.shape().without(0));
    Tensor r = gemm(trans_a, trans_b, alpha, ai, bi, beta, ci);
    std::copy_n(r.data<float>(), per, out.data<float>() + i * per);
  }
  return out;
}

double activate(Activation act, double z) {
  switch (act) {
    case Activation::kNone: return z;
    case Activation::kRelu: return z > 0 ? z : 0;
    case Activation::kSigmoid: return sigmoid(z);
    case Activation::kTanh: return std::tanh(z);
  }
  return z;
}

double activation_grad_from_output(Activation act, double y) {
  switch (act) {
    case Activation::kNone: return 1;
    case Activation::kRelu: return y > 0 ? 1 : 0;
    case Activation::kSigmoid: return y * (1 - y);
    case Activation::kTanh: return 1 - y * y;
  }
  return 1;
}

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Activation act) {
  const std::int64_t m = x.size(0), k = x.size(1), n = w.size(1);
  Tensor y = Tensor::empty({m, n});
  float* o = y.data<float>();
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double s = bias.defined() && bias.numel() > 0 ? bias.item(j) : 0.0;
      for (std::int64_t p = 0; p < k; ++p) s += static_cast<double>(xp[i * k + p]) * wp[p * n + j];
      o[i * n + j] = static_cast<float>(activate(act, s));
    }
  }
  return y;
}

LinearGrads linear_backward(const Tensor& x, const Tensor& w, const Tensor& y, Activation act,
                            const Tensor& dy) {
  const std::int64_t m = x.size(0), k = x.size(1), n = w.size(1);
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  std::vector<double> dz(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m * n; ++i) {
    dz[i] = static_cast<double>(dy.data<float>()[i]) *
            activation_grad_from_output(act, y.data<float>()[i]);
  }
  LinearGrads g{Tensor::empty({m, k}), Tensor::empty({k, n}), Tensor::empty({n})};
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t p = 0; p < k; ++p) {
      double s = 0;
      for (std::int64_t j = 0; j < n; ++j) s += dz[i * n + j] * wp[p * n + j];
      g.dx.data<float>()[i * k + p] = static_cast<float>(s);
    }
  }
  std::vector<double> dw(static_cast<std::size_t>(k * n));
  std::vector<double> db(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t p = 0; p < k; ++p) {
      const double xv = xp[i * k + p];
      for (std::int64_t j = 0; j < n; ++j) dw[p * n + j] += xv * dz[i * n + j];
    }
    for (std::int64_t j = 0; j < n; ++j) db[j] += dz[i * n + j];
  }
  for (std::int64_t i = 0; i < k * n; ++i) g.dw.data<float>()[i] = static_cast<float>(dw[i]);
  for (std::int64_t j = 0; j < n; ++j) g.dbias.data<float>()[j] = static_cast<float>(db[j]);
  return g;
}

double unary(Unary op, double x) {
  switch (op) {
    case Unary::kRelu: return x > 0 ? x : 0;
    case Unary::kSigmoid: return sigmoid(x);
    case Unary::kTanh: return std::tanh(x);
    case Unary::kSoftplus: return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
    case Unary::kGelu: return 0.5 * x * (1 + std::erf(x / std::numbers::sqrt2));
  }
  return x;
}

double unary_derivative(Unary op, double x) {
  switch (op) {
    case Unary::kRelu: return x > 0 ? 1 : 0;
    case Unary::kSigmoid: return sigmoid(x) * (1 - sigmoid(x));
    case Unary::kTanh: return 1 - std::tanh(x) * std::tanh(x);
    case Unary::kSoftplus: return sigmoid(x);
    case Unary::kGelu: {
      const double cdf = 0.5 * (1 + std::erf(x / std::numbers::sqrt2));
      const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi);
      return cdf + x * pdf;
    }
  }
  return 1;
}

Tensor unary_forward(Unary op, const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i)
    y.data<float>()[i] = static_cast<float>(unary(op, x.item(i)));
  return y;
}

Tensor unary_backward(Unary op, const Tensor& x, const Tensor& dy) {
  Tensor dx = Tensor::empty(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    dx.data<float>()[i] = static_cast<float>(dy.item(i) * unary_derivative(op, x.item(i)));
  }
  return dx;
}

Shape broadcast_shape(const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<std::int64_t> dims(static_cast<std::size_t>(rank));
  for (int d = 0; d < rank; ++d) {
    const int da = d - (rank - a.rank()), db = d - (rank - b.rank());
    const std::int64_t x = da >= 0 ? a[da] : 1, y = db >= 0 ? b[db] : 1;
    dims[d] = x == 1 ? y : x;
  }
  return Shape(std::span<const std::int64_t>(dims));
}

Tensor binary_forward(Binary op, const Tensor& a, const Tensor& b) {
  const Shape out = broadcast_shape(a.shape(), b.shape());
  Tensor y = Tensor::empty(out);
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    const double x = a.item(broadcast_index(a.shape(), out, i));
    const double z = b.item(broadcast_index(b.shape(), out, i));
    double v = 0;
    switch (op) {
      case Binary::kAdd: v = x + z; break;
      case Binary::kSub: v = x - z; break;
      case Binary::kMul: v = x * z; break;
      case Binary::kDiv: v = x / z; break;
    }
    y.data<float>()[i] = static_cast<float>(v);
  }
  return y;
}

BinaryGrads binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& dy) {
  const Shape out = dy.shape();
  std::vector<double> da(static_cast<std::size_t>(a.numel())),
      db(static_cast<std::size_t>(b.numel()));
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    const std::int64_t ia = broadcast_index(a.shape(), out, i);
    const std::int64_t ib = broadcast_index(b.shape(), out, i);
    const double x = a.item(ia), z = b.item(ib), g = dy.item(i);
    switch (op) {
      case Binary::kAdd:
        da[ia] += g;
        db[ib] += g;
        break;
      case Binary::kSub:
        da[ia] += g;
        db[ib] -= g;
        break;
      case Binary::kMul:
        da[ia] += g * z;
        db[ib] += g * x;
        break;
      case Binary::kDiv:
        da[ia] += g / z;
        db[ib] -= g * x / (z * z);
        break;
    }
  }
  BinaryGrads r{Tensor::empty(a.shape()), Tensor::empty(b.shape())};
  for (std::size_t i = 0; i < da.size(); ++i) r.da.data<float>()[i] = static_cast<float>(da[i]);
  for (std::size_t i = 0; i < db.size(); ++i) r.db.data<float>()[i] = static_cast<float>(db[i]);
  return r;
}

Tensor reduce_sum(const Tensor& x, int axis, float alpha) {
  const Shape& s = x.shape();
  const int ax = s.normalize_axis(axis);
  const std::int64_t outer = s.outer(ax), n = s[ax], inner = s.inner(ax);
  Tensor y = Tensor::empty(s.without(ax));
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      double sum = 0;
      for (std::int64_t k = 0; k < n; ++k) sum += x.item((o * n + k) * inner + i);
      y.data<float>()[o * inner + i] = static_cast<float>(alpha * sum);
    }
  }
  return y;
}

Tensor transpose(const Tensor& x, int a0, int a1) {
  const Shape& s = x.shape();
  a0 = s.normalize_axis(a0);
  a1 = s.normalize_axis(a1);
  Shape t = s.with(a0, s[a1]).with(a1, s[a0]);
  Tensor y = Tensor::empty(t);
  const int rank = s.rank();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    std::int64_t coords[Shape::kMaxRank] = {};
    std::int64_t rest = i;
    for (int d = rank - 1; d >= 0; --d) {
      coords[d] = rest % s[d];
      rest /= s[d];
    }
    std::swap(coords[a0], coords[a1]);
    std::int64_t j = 0;
    for (int d = 0; d < rank; ++d) j = j * t[d] + coords[d];
    y.data<float>()[j] = static_cast<float>(x.item(i));
  }
  return y;
}

std::vector<std::pair<int, int>> interaction_pairs(int features, bool self_interaction) {
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < features; ++i) {
    for (int j = 0; j < i + (self_interaction ? 1 : 0); ++j) pairs.emplace_back(i, j);
  }
  return pairs;
}

Tensor dot_interaction(const std::vector<Tensor>& xs, bool self_interaction) {
  const auto pairs = interaction_pairs(static_cast<int>(xs.size()), self_interaction);
  const std::int64_t batch = xs[0].size(0), dim = xs[0].size(1);
  const std::int64_t p = static_cast<std::int64_t>(pairs.size());
  Tensor out = Tensor::empty({batch, p});
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t q = 0; q < p; ++q) {
      const float* u = xs[pairs[q].first].data<float>() + b * dim;
      const float* v = xs[pairs[q].second].data<float>() + b * dim;
      double s = 0;
      for (std::int64_t d = 0; d < dim; ++d) s += static_cast<double>(u[d]) * v[d];
      out.data<float>()[b * p + q] = static_cast<float>(s);
    }
  }
  return out;
}

std::vector<Tensor> dot_interaction_backward(const std::vector<Tensor>& xs, bool self_interaction,
                                             const Tensor& dout) {
  const auto pairs = interaction_pairs(static_cast<int>(xs.size()), self_interaction);
  const std::int64_t batch = xs[0].size(0), dim = xs[0].size(1);
  const std::int64_t p = static_cast<std::int64_t>(pairs.size());
  std::vector<std::vector<double>> acc(xs.size(),
                                       std::vector<double>(static_cast<std::size_t>(batch * dim)));
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t q = 0; q < p; ++q) {
      const auto [i, j] = pairs[q];
      const double g = dout.item(b * p + q);
      for (std::int64_t d = 0; d < dim; ++d) {
        acc[i][b * dim + d] += g * xs[j].item(b * dim + d);
        acc[j][b * dim + d] += g * xs[i].item(b * dim + d);
      }
    }
  }
  std::vector<Tensor> dx;
  for (const auto& a : acc) {
    Tensor t = Tensor::empty({batch, dim});
    for (std::size_t k = 0; k < a.size(); ++k) t.data<float>()[k] = static_cast<float>(a[k]);
    dx.push_back(t);
  }
  return dx;
}

Tensor embedding_bag(const Tensor& table, const Tensor& ids, const Tensor& offsets,
                     Pooling pooling) {
  const std::int64_t b_count = bags(ids, offsets), dim = table.size(1);
  Tensor out = Tensor::empty({b_count, dim});
  for (std::int64_t b = 0; b < b_count; ++b) {
    const auto [begin, end] = bag(ids, offsets, b);
    for (std::int64_t d = 0; d < dim; ++d) {
      double s = 0;
      for (std::int64_t k = begin; k < end; ++k) {
        s += table.item(static_cast<std::int64_t>(id_at(ids, k)) * dim + d);
      }
      if (pooling == Pooling::kMean && end > begin) s /= static_cast<double>(end - begin);
      out.data<float>()[b * dim + d] = static_cast<float>(s);
    }
  }
  return out;
}

Tensor embedding_bag_backward(const Tensor& ids, const Tensor& offsets, Pooling pooling,
                              const Tensor& dout, std::int64_t rows) {
  const std::int64_t b_count = bags(ids, offsets), dim = dout.size(1);
  std::vector<double> acc(static_cast<std::size_t>(rows * dim));
  for (std::int64_t b = 0; b < b_count; ++b) {
    const auto [begin, end] = bag(ids, offsets, b);
    const double w =
        pooling == Pooling::kMean && end > begin ? 1.0 / static_cast<double>(end - begin) : 1.0;
    for (std::int64_t k = begin; k < end; ++k) {
      const auto row = static_cast<std::int64_t>(id_at(ids, k));
      for (std::int64_t d = 0; d < dim; ++d) acc[row * dim + d] += w * dout.item(b * dim + d);
    }
  }
  Tensor g = Tensor::empty({rows, dim});
  for (std::size_t i = 0; i < acc.size(); ++i) g.data<float>()[i] = static_cast<float>(acc[i]);
  return g;
}

NormForward batch_norm_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                float eps) {
  const std::int64_t n = x.size(0), c = x.size(1);
  NormForward r{Tensor::empty(x.shape()), Tensor::empty({c}), Tensor::empty({c}),
                Tensor::empty({c})};
  for (std::int64_t j = 0; j < c; ++j) {
    double mean = 0, var = 0;
    for (std::int64_t i = 0; i < n; ++i) mean += x.item(i * c + j);
    mean /= static_cast<double>(n);
    for (std::int64_t i = 0; i < n; ++i)
      var += (x.item(i * c + j) - mean) * (x.item(i * c + j) - mean);
    var /= static_cast<double>(n);
    const double invstd = 1.0 / std::sqrt(var + eps);
    r.mean.data<float>()[j] = static_cast<float>(mean);
    r.var.data<float>()[j] = static_cast<float>(var);
    r.invstd.data<float>()[j] = static_cast<float>(invstd);
    for (std::int64_t i = 0; i < n; ++i) {
      r.y.data<float>()[i * c + j] =
          static_cast<float>((x.item(i * c + j) - mean) * invstd * gamma.item(j) + beta.item(j));
    }
  }
  return r;
}

NormGrads batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                              const Tensor& gamma, const Tensor& dy, bool training) {
  const std::int64_t n = x.size(0), c = x.size(1);
  NormGrads g{Tensor::empty(x.shape()), Tensor::empty({c}), Tensor::empty({c})};
  for (std::int64_t j = 0; j < c; ++j) {
    const double m = mean.item(j), is = invstd.item(j), ga = gamma.item(j);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double xhat = (x.item(i * c + j) - m) * is;
      sum_dy += dy.item(i * c + j);
      sum_dy_xhat += dy.item(i * c + j) * xhat;
    }
    g.dbeta.data<float>()[j] = static_cast<float>(sum_dy);
    g.dgamma.data<float>()[j] = static_cast<float>(sum_dy_xhat);
    for (std::int64_t i = 0; i < n; ++i) {
      const double xhat = (x.item(i * c + j) - m) * is;
      const double d = dy.item(i * c + j);
      const double dx = training ? ga * is / static_cast<double>(n) *
                                       (static_cast<double>(n) * d - sum_dy - xhat * sum_dy_xhat)
                                 : ga * is * d;
      g.dx.data<float>()[i * c + j] = static_cast<float>(dx);
    }
  }
  return g;
}

NormForward layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  const std::int64_t d_count = x.shape()[-1], rows = x.numel() / d_count;
  NormForward r{Tensor::empty(x.shape()), Tensor::empty({rows}), Tensor::empty({rows}),
                Tensor::empty({rows})};
  for (std::int64_t i = 0; i < rows; ++i) {
    double mean = 0, var = 0;
    for (std::int64_t d = 0; d < d_count; ++d) mean += x.item(i * d_count + d);
    mean /= static_cast<double>(d_count);
    for (std::int64_t d = 0; d < d_count; ++d) {
      var += (x.item(i * d_count + d) - mean) * (x.item(i * d_count + d) - mean);
    }
    var /= static_cast<double>(d_count);
    const double invstd = 1.0 / std::sqrt(var + eps);
    r.mean.data<float>()[i] = static_cast<float>(mean);
    r.var.data<float>()[i] = static_cast<float>(var);
    r.invstd.data<float>()[i] = static_cast<float>(invstd);
    for (std::int64_t d = 0; d < d_count; ++d) {
      r.y.data<float>()[i * d_count + d] = static_cast<float>(
          (x.item(i * d_count + d) - mean) * invstd * gamma.item(d) + beta.item(d));
    }
  }
  return r;
}

NormGrads layer_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& dy, float eps) {
  const std::int64_t d_count = x.shape()[-1], rows = x.numel() / d_count;
  const NormForward f = layer_norm(x, gamma, Tensor::zeros({d_count}), eps);
  NormGrads g{Tensor::empty(x.shape()), Tensor::empty({d_count}), Tensor::empty({d_count})};
  std::vector<double> dgamma(static_cast<std::size_t>(d_count)),
      dbeta(static_cast<std::size_t>(d_count));
  for (std::int64_t i = 0; i < rows; ++i) {
    const double m = f.mean.item(i), is = f.invstd.item(i);
    double sum_g = 0, sum_g_xhat = 0;
    for (std::int64_t d = 0; d < d_count; ++d) {
      const double xhat = (x.item(i * d_count + d) - m) * is;
      const double gd = dy.item(i * d_count + d) * gamma.item(d);
      sum_g += gd;
      sum_g_xhat += gd * xhat;
      dgamma[d] += dy.item(i * d_count + d) * xhat;
      dbeta[d] += dy.item(i * d_count + d);
    }
    for (std::int64_t d = 0; d < d_count; ++d) {
      const double xhat = (x.item(i * d_count + d) - m) * is;
      const double gd = dy.item(i * d_count + d) * gamma.item(d);
      g.dx.data<float>()[i * d_count + d] =
          static_cast<float>(is / static_cast<double>(d_count) *
                             (static_cast<double>(d_count) * gd - sum_g - xhat * sum_g_xhat));
    }
  }
  for (std::int64_t d = 0; d < d_count; ++d) {
    g.dgamma.data<float>()[d] = static_cast<float>(dgamma[d]);
    g.dbeta.data<float>()[d] = static_cast<float>(dbeta[d]);
  }
  return g;
}

L2Forward l2_normalize(const Tensor& x, float eps) {
  const std::int64_t d_count = x.shape()[-1], rows = x.numel() / d_count;
  L2Forward r{Tensor::empty(x.shape()), Tensor::empty({rows})};
  for (std::int64_t i = 0; i < rows; ++i) {
    double ss = 0;
    for (std::int64_t d = 0; d < d_count; ++d)
      ss += x.item(i * d_count + d) * x.item(i * d_count + d);
    const double n = std::sqrt(std::max(ss, static_cast<double>(eps)));
    r.norms.data<float>()[i] = static_cast<float>(n);
    for (std::int64_t d = 0; d < d_count; ++d) {
      r.y.data<float>()[i * d_count + d] = static_cast<float>(x.item(i * d_count + d) / n);
    }
  }
  return r;
}

Tensor l2_normalize_backward(const Tensor& x, float eps, const Tensor& dy) {
  const std::int64_t d_count = x.shape()[-1], rows = x.numel() / d_count;
  Tensor dx = Tensor::empty(x.shape());
  for (std::int64_t i = 0; i < rows; ++i) {
    double ss = 0;
    for (std::int64_t d = 0; d < d_count; ++d)
      ss += x.item(i * d_count + d) * x.item(i * d_count + d);
    const bool clamped = ss < eps;
    const double n = std::sqrt(std::max(ss, static_cast<double>(eps)));
    double dot = 0;
    for (std::int64_t d = 0; d < d_count; ++d)
      dot += dy.item(i * d_count + d) * x.item(i * d_count + d) / n;
    for (std::int64_t d = 0; d < d_count; ++d) {
      const double y = x.item(i * d_count + d) / n;
      const double g =
          clamped ? dy.item(i * d_count + d) / n : (dy.item(i * d_count + d) - y * dot) / n;
      dx.data<float>()[i * d_count + d] = static_cast<float>(g);
    }
  }
  return dx;
}

Tensor softmax(const Tensor& x, bool log) {
  const std::int64_t c = x.shape()[-1], rows = x.numel() / c;
  Tensor y = Tensor::empty(x.shape());
  for (std::int64_t i = 0; i < rows; ++i) {
    double mx = -INFINITY;
    for (std::int64_t j = 0; j < c; ++j) mx = std::max(mx, x.item(i * c + j));
    double s = 0;
    for (std::int64_t j = 0; j < c; ++j) s += std::exp(x.item(i * c + j) - mx);
    for (std::int64_t j = 0; j < c; ++j) {
      const double v = x.item(i * c + j) - mx;
      y.data<float>()[i * c + j] = static_cast<float>(log ? v - std::log(s) : std::exp(v) / s);
    }
  }
  return y;
}

Tensor softmax_backward(const Tensor& x, bool log, const Tensor& dy) {
  const Tensor p = softmax(x, false);
  const std::int64_t c = x.shape()[-1], rows = x.numel() / c;
  Tensor dx = Tensor::empty(x.shape());
  for (std::int64_t i = 0; i < rows; ++i) {
    double s = 0;
    for (std::int64_t j = 0; j < c; ++j) {
      s += log ? dy.item(i * c + j) : dy.item(i * c + j) * p.item(i * c + j);
    }
    for (std::int64_t j = 0; j < c; ++j) {
      const double pj = p.item(i * c + j), g = dy.item(i * c + j);
      dx.data<float>()[i * c + j] = static_cast<float>(log ? g - pj * s : pj * (g - s));
    }
  }
  return dx;
}

double bce_with_logits(const Tensor& logits, const Tensor& targets) {
  double s = 0;
  for (std::int64_t i = 0; i < logits.numel(); ++i) {
    const double x = logits.item(i), t = targets.item(i);
    s += std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::fabs(x)));
  }
  return s / static_cast<double>(logits.numel());
}

Tensor bce_with_logits_backward(const Tensor& logits, const Tensor& targets, float dloss) {
  Tensor g = Tensor::empty(logits.shape());
  const double n = static_cast<double>(logits.numel());
  for (std::int64_t i = 0; i < logits.numel(); ++i) {
    g.data<float>()[i] =
        static_cast<float>(dloss * (sigmoid(logits.item(i)) - targets.item(i)) / n);
  }
  return g;
}

double mse(const Tensor& pred, const Tensor& targets) {
  double s = 0;
  for (std::int64_t i = 0; i < pred.numel(); ++i) {
    const double d = pred.item(i) - targets.item(i);
    s += d * d;
  }
  return s / static_cast<double>(pred.numel());
}

Tensor mse_backward(const Tensor& pred, const Tensor& targets, float dloss) {
  Tensor g = Tensor::empty(pred.shape());
  const double n = static_cast<double>(pred.numel());
  for (std::int64_t i = 0; i < pred.numel(); ++i) {
    g.data<float>()[i] = static_cast<float>(dloss * 2 * (pred.item(i) - targets.item(i)) / n);
  }
  return g;
}

double softmax_cross_entropy(const Tensor& logits, const Tensor& labels) {
  const Tensor lp = softmax(logits, true);
  const std::int64_t n = logits.size(0), c = logits.size(1);
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i)
    s -= lp.item(i * c + static_cast<std::int64_t>(labels.item(i)));
  return s / static_cast<double>(n);
}

Tensor softmax_cross_entropy_backward(const Tensor& logits, const Tensor& labels, float dloss) {
  const Tensor p = softmax(logits, false);
  const std::int64_t n = logits.size(0), c = logits.size(1);
  Tensor g = Tensor::empty(logits.shape());
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < c; ++j) {
      const double onehot = j == static_cast<std::int64_t>(labels.item(i)) ? 1.0 : 0.0;
      g.data<float>()[i * c + j] =
          static_cast<float>(dloss * (p.item(i * c + j) - onehot) / static_cast<double>(n));
    }
  }
  return g;
}

}  // namespace recblocks::testing::ref
