// Naive scalar references for the kernels, written for clarity: plain loops,
// double accumulation, no blocking, no threads. Kernel tests compare the
// backend against these. Every function returns fresh float32 tensors.
#pragma once

#include <vector>

#include "recblocks/core/tensor.h"
#include "recblocks/kernels/backend.h"

namespace recblocks::testing::ref {

using kernels::Activation;
using kernels::Binary;
using kernels::Pooling;
using kernels::Unary;

// alpha * op(a) @ op(b) + beta * c (c may be undefined when beta == 0).
Tensor gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c);
// a [B, ...], b [B, ...] or 2-D (shared), c [B, M, N].
Tensor batched_gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                    float beta, const Tensor& c);

double activate(Activation act, double z);
// act'(z) expressed through y = act(z), as the fused kernel sees it.
double activation_grad_from_output(Activation act, double y);
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Activation act);
struct LinearGrads {
  Tensor dx, dw, dbias;
};
LinearGrads linear_backward(const Tensor& x, const Tensor& w, const Tensor& y, Activation act,
                            const Tensor& dy);

double unary(Unary op, double x);
double unary_derivative(Unary op, double x);
Tensor unary_forward(Unary op, const Tensor& x);
Tensor unary_backward(Unary op, const Tensor& x, const Tensor& dy);

Shape broadcast_shape(const Shape& a, const Shape& b);
Tensor binary_forward(Binary op, const Tensor& a, const Tensor& b);
struct BinaryGrads {
  Tensor da, db;
};
BinaryGrads binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& dy);

// alpha * sum of x over axis; the axis is removed from the shape.
Tensor reduce_sum(const Tensor& x, int axis, float alpha);
Tensor transpose(const Tensor& x, int a0, int a1);

// The DLRM pair order: i > j (i >= j with self interaction), row by row.
std::vector<std::pair<int, int>> interaction_pairs(int features, bool self_interaction);
// xs: F tensors [B, D] -> [B, P].
Tensor dot_interaction(const std::vector<Tensor>& xs, bool self_interaction);
std::vector<Tensor> dot_interaction_backward(const std::vector<Tensor>& xs, bool self_interaction,
                                             const Tensor& dout);

// offsets undefined: one id per row.
Tensor embedding_bag(const Tensor& table, const Tensor& ids, const Tensor& offsets,
                     Pooling pooling);
// The dense [rows, D] gradient of the table.
Tensor embedding_bag_backward(const Tensor& ids, const Tensor& offsets, Pooling pooling,
                              const Tensor& dout, std::int64_t rows);

struct NormForward {
  Tensor y, mean, invstd, var;  // var: biased variance
};
// Over rows of x [N, C] (batch norm) with batch statistics.
NormForward batch_norm_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                float eps);
struct NormGrads {
  Tensor dx, dgamma, dbeta;
};
NormGrads batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                              const Tensor& gamma, const Tensor& dy, bool training);
// Over the last axis of x [R, D].
NormForward layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
NormGrads layer_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& dy, float eps);

struct L2Forward {
  Tensor y, norms;
};
L2Forward l2_normalize(const Tensor& x, float eps);
Tensor l2_normalize_backward(const Tensor& x, float eps, const Tensor& dy);

Tensor softmax(const Tensor& x, bool log);
Tensor softmax_backward(const Tensor& x, bool log, const Tensor& dy);

double bce_with_logits(const Tensor& logits, const Tensor& targets);
Tensor bce_with_logits_backward(const Tensor& logits, const Tensor& targets, float dloss);
double mse(const Tensor& pred, const Tensor& targets);
Tensor mse_backward(const Tensor& pred, const Tensor& targets, float dloss);
double softmax_cross_entropy(const Tensor& logits, const Tensor& labels);
Tensor softmax_cross_entropy_backward(const Tensor& logits, const Tensor& labels, float dloss);

}  // namespace recblocks::testing::ref
