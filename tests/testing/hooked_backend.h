// A Backend for tests that forwards every call to another one (the CPU
// backend) and runs hooks around it, by operation name: to count the calls
// of a training step, refuse them, or watch what changes between them.
// Install it with kernels::ScopedBackend.
//
//   testing::HookedBackend counting(kernels::backend(), [&](const char* op) { ++calls[op]; });
//   kernels::ScopedBackend scope(Device::kCpu, counting);
#pragma once

#include <functional>
#include <span>
#include <type_traits>
#include <utility>

#include "recblocks/kernels/backend.h"

namespace recblocks::testing {

class HookedBackend final : public kernels::Backend {
  using Activation = kernels::Activation;
  using Binary = kernels::Binary;
  using GradOut = kernels::GradOut;
  using MatrixView = kernels::MatrixView;
  using Pooling = kernels::Pooling;
  using RetrievalLossArgs = kernels::RetrievalLossArgs;
  using SparseRows = kernels::SparseRows;
  using Unary = kernels::Unary;
  using UpdateRule = kernels::UpdateRule;
  using UpdateScalars = kernels::UpdateScalars;

  // Defined before the overrides that call it (its return type is deduced).
  template <class Call>
  auto run(const char* op, Call&& call) {
    if (before_) before_(op);
    if constexpr (std::is_void_v<decltype(call())>) {
      call();
      if (after_) after_(op);
    } else {
      auto result = call();
      if (after_) after_(op);
      return result;
    }
  }

 public:
  using Hook = std::function<void(const char* op)>;
  // before(op) runs before each call (it may throw: the call is then not
  // made), after(op) once the call returned.
  explicit HookedBackend(kernels::Backend& inner, Hook before, Hook after = {})
      : inner_(inner), before_(std::move(before)), after_(std::move(after)) {}

  const char* name() const override { return "hooked"; }

  void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c) override {
    run("gemm", [&] { inner_.gemm(trans_a, trans_b, alpha, a, b, beta, c); });
  }
  void batched_gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                    float beta, const Tensor& c) override {
    run("batched_gemm", [&] { inner_.batched_gemm(trans_a, trans_b, alpha, a, b, beta, c); });
  }
  void linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
                      float alpha, const Tensor& y) override {
    run("linear_forward", [&] { inner_.linear_forward(x, w, bias, act, alpha, y); });
  }
  void linear_backward(const Tensor& x, const Tensor& w, const Tensor& y, Activation act,
                       float alpha, const Tensor& dy, const GradOut& dx, const GradOut& dw,
                       const GradOut& dbias) override {
    run("linear_backward", [&] { inner_.linear_backward(x, w, y, act, alpha, dy, dx, dw, dbias); });
  }
  void binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& y) override {
    run("binary_forward", [&] { inner_.binary_forward(op, a, b, y); });
  }
  void binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& dy,
                       const GradOut& da, const GradOut& db) override {
    run("binary_backward", [&] { inner_.binary_backward(op, a, b, dy, da, db); });
  }
  void unary_forward(Unary op, const Tensor& x, const Tensor& y) override {
    run("unary_forward", [&] { inner_.unary_forward(op, x, y); });
  }
  void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& dy,
                      const GradOut& dx) override {
    run("unary_backward", [&] { inner_.unary_backward(op, x, y, dy, dx); });
  }
  void scale(const Tensor& x, float alpha, const GradOut& y) override {
    run("scale", [&] { inner_.scale(x, alpha, y); });
  }
  void reduce_sum(const Tensor& x, int axis, float alpha, const Tensor& y) override {
    run("reduce_sum", [&] { inner_.reduce_sum(x, axis, alpha, y); });
  }
  void broadcast_axis(const Tensor& dy, int axis, float alpha, const GradOut& dx) override {
    run("broadcast_axis", [&] { inner_.broadcast_axis(dy, axis, alpha, dx); });
  }
  void copy_matrix(const MatrixView& src, const MatrixView& dst, bool accumulate) override {
    run("copy_matrix", [&] { inner_.copy_matrix(src, dst, accumulate); });
  }
  void transpose(const Tensor& x, int a0, int a1, const GradOut& y) override {
    run("transpose", [&] { inner_.transpose(x, a0, a1, y); });
  }
  void dot_interaction_forward(std::span<const MatrixView> x, bool self_interaction,
                               const Tensor& out) override {
    run("dot_interaction_forward",
        [&] { inner_.dot_interaction_forward(x, self_interaction, out); });
  }
  void dot_interaction_backward(std::span<const MatrixView> x, bool self_interaction,
                                const Tensor& dout, std::span<const MatrixView> dx,
                                std::span<const bool> accumulate) override {
    run("dot_interaction_backward",
        [&] { inner_.dot_interaction_backward(x, self_interaction, dout, dx, accumulate); });
  }
  void l2_normalize_forward(const Tensor& x, float eps, const Tensor& y,
                            const Tensor& norms) override {
    run("l2_normalize_forward", [&] { inner_.l2_normalize_forward(x, eps, y, norms); });
  }
  void l2_normalize_backward(const Tensor& y, const Tensor& norms, float eps, const Tensor& dy,
                             const GradOut& dx) override {
    run("l2_normalize_backward", [&] { inner_.l2_normalize_backward(y, norms, eps, dy, dx); });
  }
  void dropout_forward(const Tensor& x, float rate, std::uint64_t stream,
                       const Tensor& y) override {
    run("dropout_forward", [&] { inner_.dropout_forward(x, rate, stream, y); });
  }
  void dropout_backward(const Tensor& dy, float rate, std::uint64_t stream,
                        const GradOut& dx) override {
    run("dropout_backward", [&] { inner_.dropout_backward(dy, rate, stream, dx); });
  }
  void batch_norm_statistics(const Tensor& x, float eps, const Tensor& mean, const Tensor& var,
                             const Tensor& invstd) override {
    run("batch_norm_statistics", [&] { inner_.batch_norm_statistics(x, eps, mean, var, invstd); });
  }
  void batch_norm_update_running(const Tensor& mean, const Tensor& var, float momentum,
                                 float unbias, const Tensor& running_mean,
                                 const Tensor& running_var) override {
    run("batch_norm_update_running", [&] {
      inner_.batch_norm_update_running(mean, var, momentum, unbias, running_mean, running_var);
    });
  }
  void batch_norm_inverse_std(const Tensor& var, float eps, const Tensor& invstd) override {
    run("batch_norm_inverse_std", [&] { inner_.batch_norm_inverse_std(var, eps, invstd); });
  }
  void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                        const Tensor& gamma, const Tensor& beta, const Tensor& y) override {
    run("batch_norm_apply", [&] { inner_.batch_norm_apply(x, mean, invstd, gamma, beta, y); });
  }
  void batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                           const Tensor& gamma, const Tensor& dy, bool training, const GradOut& dx,
                           const GradOut& dgamma, const GradOut& dbeta) override {
    run("batch_norm_backward", [&] {
      inner_.batch_norm_backward(x, mean, invstd, gamma, dy, training, dx, dgamma, dbeta);
    });
  }
  void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                          const Tensor& y, const Tensor& mean, const Tensor& invstd) override {
    run("layer_norm_forward",
        [&] { inner_.layer_norm_forward(x, gamma, beta, eps, y, mean, invstd); });
  }
  void layer_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                           const Tensor& gamma, const Tensor& dy, const GradOut& dx,
                           const GradOut& dgamma, const GradOut& dbeta) override {
    run("layer_norm_backward",
        [&] { inner_.layer_norm_backward(x, mean, invstd, gamma, dy, dx, dgamma, dbeta); });
  }
  std::int64_t find_out_of_range(const Tensor& ids, std::int64_t cardinality) override {
    return run("find_out_of_range", [&] { return inner_.find_out_of_range(ids, cardinality); });
  }
  void embedding_bag_forward(const Tensor& table, const Tensor& ids, const Tensor& offsets,
                             Pooling pooling, const Tensor& out) override {
    run("embedding_bag_forward",
        [&] { inner_.embedding_bag_forward(table, ids, offsets, pooling, out); });
  }
  SparseRows embedding_bag_backward(const Tensor& ids, const Tensor& offsets, Pooling pooling,
                                    const Tensor& dout, Arena& arena) override {
    return run("embedding_bag_backward",
               [&] { return inner_.embedding_bag_backward(ids, offsets, pooling, dout, arena); });
  }
  void scatter_add_rows(const SparseRows& g, const Tensor& dense) override {
    run("scatter_add_rows", [&] { inner_.scatter_add_rows(g, dense); });
  }
  void softmax_forward(const Tensor& x, bool log, const Tensor& y) override {
    run("softmax_forward", [&] { inner_.softmax_forward(x, log, y); });
  }
  void softmax_backward(const Tensor& y, bool log, const Tensor& dy, const GradOut& dx) override {
    run("softmax_backward", [&] { inner_.softmax_backward(y, log, dy, dx); });
  }
  void bce_with_logits_forward(const Tensor& logits, const Tensor& targets,
                               const Tensor& loss) override {
    run("bce_with_logits_forward", [&] { inner_.bce_with_logits_forward(logits, targets, loss); });
  }
  void bce_with_logits_backward(const Tensor& logits, const Tensor& targets, float dloss,
                                const GradOut& dlogits) override {
    run("bce_with_logits_backward",
        [&] { inner_.bce_with_logits_backward(logits, targets, dloss, dlogits); });
  }
  void mse_forward(const Tensor& pred, const Tensor& targets, const Tensor& loss) override {
    run("mse_forward", [&] { inner_.mse_forward(pred, targets, loss); });
  }
  void mse_backward(const Tensor& pred, const Tensor& targets, float dloss,
                    const GradOut& dpred) override {
    run("mse_backward", [&] { inner_.mse_backward(pred, targets, dloss, dpred); });
  }
  void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                     const Tensor& log_probs, const Tensor& loss) override {
    run("softmax_cross_entropy_forward",
        [&] { inner_.softmax_cross_entropy_forward(logits, labels, log_probs, loss); });
  }
  void softmax_cross_entropy_backward(const Tensor& log_probs, const Tensor& labels, float dloss,
                                      const GradOut& dlogits) override {
    run("softmax_cross_entropy_backward",
        [&] { inner_.softmax_cross_entropy_backward(log_probs, labels, dloss, dlogits); });
  }
  void retrieval_loss_forward(const Tensor& scores, const Tensor& positives,
                              const RetrievalLossArgs& args, const Tensor& unit, const Tensor& loss,
                              Arena& arena) override {
    run("retrieval_loss_forward",
        [&] { inner_.retrieval_loss_forward(scores, positives, args, unit, loss, arena); });
  }
  void retrieval_loss_backward(const Tensor& unit, float dloss, const GradOut& dscores) override {
    run("retrieval_loss_backward", [&] { inner_.retrieval_loss_backward(unit, dloss, dscores); });
  }
  std::int64_t find_non_finite(const Tensor& x) override {
    return run("find_non_finite", [&] { return inner_.find_non_finite(x); });
  }
  bool all_equal(const Tensor& x, float value) override {
    return run("all_equal", [&] { return inner_.all_equal(x, value); });
  }
  SparseRows merge_sparse_rows(std::span<const SparseRows> segments, Arena& arena) override {
    return run("merge_sparse_rows", [&] { return inner_.merge_sparse_rows(segments, arena); });
  }
  void optimizer_update(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
                        const Tensor& grad, std::span<const Tensor> state) override {
    run("optimizer_update", [&] { inner_.optimizer_update(rule, s, weights, grad, state); });
  }
  void optimizer_update_rows(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
                             const SparseRows& grad, std::span<const Tensor> state) override {
    run("optimizer_update_rows",
        [&] { inner_.optimizer_update_rows(rule, s, weights, grad, state); });
  }
  void optimizer_update_all_rows(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
                                 const SparseRows& grad, std::span<const Tensor> state) override {
    run("optimizer_update_all_rows",
        [&] { inner_.optimizer_update_all_rows(rule, s, weights, grad, state); });
  }

 private:
  kernels::Backend& inner_;
  Hook before_;
  Hook after_;
};

}  // namespace recblocks::testing
