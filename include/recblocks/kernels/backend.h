// The kernel interface: every computation of recblocks goes through a
// Backend. Ops (autograd/) check shapes, record the tape and call these;
// blocks and models never see a backend. The CPU implementation lives in
// src/kernels/cpu/; a CUDA backend implements the same interface in
// src/kernels/cuda/ without touching ops, blocks or models.
//
// Conventions: tensors are row-major and contiguous; shapes were checked by
// the caller. A GradOut is written when `accumulate` is false (every element
// is overwritten) and added into when it is true. All float math is float32.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "recblocks/core/arena.h"
#include "recblocks/core/tensor.h"

namespace recblocks::kernels {

// Activation fused into linear_forward.
enum class Activation : std::uint8_t { kNone, kRelu, kSigmoid, kTanh };
enum class Unary : std::uint8_t { kRelu, kSigmoid, kTanh, kSoftplus, kGelu };
enum class Binary : std::uint8_t { kAdd, kSub, kMul, kDiv };
enum class Pooling : std::uint8_t { kSum, kMean };

// Where a gradient goes: overwrite (accumulate == false) or add.
struct GradOut {
  Tensor tensor;
  bool accumulate = false;
  bool wanted() const { return tensor.defined(); }
};

// A 2-D float matrix inside a larger buffer: rows x cols with a row stride
// in elements (a column block of a wider matrix, or one feature of [B,F,D]).
struct MatrixView {
  float* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t stride = 0;
};

// Sparse gradient rows of an embedding table: unique sorted row ids and
// the summed gradient of each.
struct SparseRows {
  Tensor rows;    // int64 [n], strictly increasing
  Tensor values;  // float32 [n, dim]
};

// The retrieval losses (autograd/ops/retrieval.h defines them) and what
// they read besides the scores.
enum class RetrievalLoss : std::uint8_t { kCategoricalCrossEntropy, kBPR, kLogistic, kHinge };
struct RetrievalLossArgs {
  RetrievalLoss kind = RetrievalLoss::kCategoricalCrossEntropy;
  Tensor column_bias;    // float32 [C] or undefined
  Tensor column_ids;     // int32|int64 [C] or undefined
  Tensor column_counts;  // int64 [C], each >= 1, or undefined
  float margin = 1.0f;   // kHinge
};

// The optimizers' update rules (optim/optim.h gives the formulas). The
// gradient g excludes weight decay: the rules add weight_decay * w.
//   kSgd             (no state)
//   kMomentum        state {velocity}
//   kAdam            state {m, v}
//   kAdagrad         state {accumulator}
//   kRowwiseAdagrad  state {accumulator [rows]}: one per row of [rows, dim]
//   kFtrl            state {accumulator n, linear z}
enum class UpdateRule : std::uint8_t { kSgd, kMomentum, kAdam, kAdagrad, kRowwiseAdagrad, kFtrl };
struct UpdateScalars {
  float lr = 0;
  float weight_decay = 0;  // coupled (added to g); Adam: 0 when decoupled
  float momentum = 0;      // kMomentum
  bool nesterov = false;   // kMomentum
  float beta_1 = 0, one_minus_beta_1 = 0, beta_2 = 0, one_minus_beta_2 = 0;  // kAdam
  float epsilon = 0;               // kAdam, kAdagrad, kRowwiseAdagrad
  float decoupled = 0;             // kAdam: lr * weight_decay of AdamW, else 0
  float adam_step = 0;             // kAdam: lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
  float l1 = 0, l2 = 0, beta = 0;  // kFtrl
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // What the backend chose on this machine, for `recblocks info` (the CPU
  // backend: its GEMM tiles' instruction set).
  virtual std::string details() const { return {}; }

  // c = alpha * op(a) @ op(b) + beta * c; a, b, c 2-D.
  virtual void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                    float beta, const Tensor& c) = 0;
  // Batched over axis 0: a [B,..], b [B,..] or 2-D (shared), c [B,..].
  virtual void batched_gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a,
                            const Tensor& b, float beta, const Tensor& c) = 0;

  // y = act(alpha (x @ w) + bias); x [M,K], w [K,N], bias [N] or
  // undefined, y [M,N]. alpha scales the input: alpha (x @ w) is
  // (alpha x) @ w, exactly so when alpha is a power of two.
  virtual void linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
                              float alpha, const Tensor& y) = 0;
  // dy [M,N] is overwritten with dz = dy * act'(y); then dx = alpha dz w^T,
  // dw = alpha x^T dz, dbias = sum_rows(dz), each only if wanted.
  virtual void linear_backward(const Tensor& x, const Tensor& w, const Tensor& y, Activation act,
                               float alpha, const Tensor& dy, const GradOut& dx, const GradOut& dw,
                               const GradOut& dbias) = 0;

  // Elementwise. a and b broadcast (numpy rules) to y's shape.
  virtual void binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& y) = 0;
  virtual void binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& dy,
                               const GradOut& da, const GradOut& db) = 0;
  virtual void unary_forward(Unary op, const Tensor& x, const Tensor& y) = 0;
  virtual void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& dy,
                              const GradOut& dx) = 0;
  // y (+)= alpha * x, same numel.
  virtual void scale(const Tensor& x, float alpha, const GradOut& y) = 0;

  // Reductions over one axis of x viewed as [outer, n, inner]:
  // y[outer, inner] = alpha * sum_n x;  its backward dx (+)= alpha * dy.
  virtual void reduce_sum(const Tensor& x, int axis, float alpha, const Tensor& y) = 0;
  virtual void broadcast_axis(const Tensor& dy, int axis, float alpha, const GradOut& dx) = 0;

  // dst[r, c] (+)= src[r, c] for a rows x cols block of two strided matrices.
  virtual void copy_matrix(const MatrixView& src, const MatrixView& dst, bool accumulate) = 0;
  // y = x with axes a0 and a1 (non-negative) swapped.
  virtual void transpose(const Tensor& x, int a0, int a1, const GradOut& y) = 0;

  // DLRM pairwise dot interaction of F feature matrices [B, D]:
  // out[b, p] = <x_i[b], x_j[b]> for pairs (i, j), i > j (i >= j with self
  // interaction) in row-major lower-triangle order, as in the DLRM paper's
  // reference. out [B, F(F-1)/2] or [B, F(F+1)/2].
  virtual void dot_interaction_forward(std::span<const MatrixView> x, bool self_interaction,
                                       const Tensor& out) = 0;
  // dx[f] (+)= ..., written in feature order per sample, so two features
  // that share one gradient buffer accumulate correctly (accumulate[f]).
  virtual void dot_interaction_backward(std::span<const MatrixView> x, bool self_interaction,
                                        const Tensor& dout, std::span<const MatrixView> dx,
                                        std::span<const bool> accumulate) = 0;

  // Row-wise L2 normalisation of x [R, D]: y = x / sqrt(max(sum x^2, eps)),
  // norms [R] receives the denominator.
  virtual void l2_normalize_forward(const Tensor& x, float eps, const Tensor& y,
                                    const Tensor& norms) = 0;
  virtual void l2_normalize_backward(const Tensor& y, const Tensor& norms, float eps,
                                     const Tensor& dy, const GradOut& dx) = 0;

  // Inverted dropout: y = x * keep / (1 - rate), keep drawn from the
  // counter-based stream `stream` (so backward regenerates the mask).
  virtual void dropout_forward(const Tensor& x, float rate, std::uint64_t stream,
                               const Tensor& y) = 0;
  virtual void dropout_backward(const Tensor& dy, float rate, std::uint64_t stream,
                                const GradOut& dx) = 0;

  // Batch normalisation of x [N, C] over N. Training: batch statistics
  // (var is the biased variance, invstd = 1 / sqrt(var + eps)), mean/invstd
  // [C] saved for backward. Evaluation: given mean/invstd.
  virtual void batch_norm_statistics(const Tensor& x, float eps, const Tensor& mean,
                                     const Tensor& var, const Tensor& invstd) = 0;
  // running = (1 - momentum) * running + momentum * batch, the variance
  // multiplied by `unbias` (n / (n - 1)) first.
  virtual void batch_norm_update_running(const Tensor& mean, const Tensor& var, float momentum,
                                         float unbias, const Tensor& running_mean,
                                         const Tensor& running_var) = 0;
  // invstd = 1 / sqrt(var + eps), for evaluation from running statistics.
  virtual void batch_norm_inverse_std(const Tensor& var, float eps, const Tensor& invstd) = 0;
  virtual void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                const Tensor& gamma, const Tensor& beta, const Tensor& y) = 0;
  virtual void batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                   const Tensor& gamma, const Tensor& dy, bool training,
                                   const GradOut& dx, const GradOut& dgamma,
                                   const GradOut& dbeta) = 0;
  // Layer normalisation of x [R, D] over D; mean/invstd [R] saved.
  virtual void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  float eps, const Tensor& y, const Tensor& mean,
                                  const Tensor& invstd) = 0;
  virtual void layer_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                   const Tensor& gamma, const Tensor& dy, const GradOut& dx,
                                   const GradOut& dgamma, const GradOut& dbeta) = 0;

  // Index of the first id outside [0, cardinality), or -1.
  virtual std::int64_t find_out_of_range(const Tensor& ids, std::int64_t cardinality) = 0;
  // out[b] = pool(table[ids[offsets[b] : offsets[b+1]]]); with offsets
  // undefined, one id per row: out[b] = table[ids[b]]. out [B, D].
  virtual void embedding_bag_forward(const Tensor& table, const Tensor& ids, const Tensor& offsets,
                                     Pooling pooling, const Tensor& out) = 0;
  // Gradient w.r.t. the table as unique rows with duplicates summed;
  // storage comes from `arena`.
  virtual SparseRows embedding_bag_backward(const Tensor& ids, const Tensor& offsets,
                                            Pooling pooling, const Tensor& dout, Arena& arena) = 0;
  // dense[rows[i]] += values[i].
  virtual void scatter_add_rows(const SparseRows& g, const Tensor& dense) = 0;

  // Softmax over the last axis of x [R, C] (log-softmax if `log`).
  virtual void softmax_forward(const Tensor& x, bool log, const Tensor& y) = 0;
  virtual void softmax_backward(const Tensor& y, bool log, const Tensor& dy, const GradOut& dx) = 0;

  // Mean losses over N elements / rows; `loss` is a float32 scalar.
  virtual void bce_with_logits_forward(const Tensor& logits, const Tensor& targets,
                                       const Tensor& loss) = 0;
  virtual void bce_with_logits_backward(const Tensor& logits, const Tensor& targets, float dloss,
                                        const GradOut& dlogits) = 0;
  virtual void mse_forward(const Tensor& pred, const Tensor& targets, const Tensor& loss) = 0;
  virtual void mse_backward(const Tensor& pred, const Tensor& targets, float dloss,
                            const GradOut& dpred) = 0;
  // logits [N, C], labels int [N] in [0, C); log_probs [N, C] saved.
  virtual void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                             const Tensor& log_probs, const Tensor& loss) = 0;
  virtual void softmax_cross_entropy_backward(const Tensor& log_probs, const Tensor& labels,
                                              float dloss, const GradOut& dlogits) = 0;

  // Retrieval loss of scores [R, C], positives int32|int64 [R] in [0, C)
  // (checked by the caller): loss, a float32 scalar, and unit [R, C], the
  // gradient w.r.t. the scores for an upstream gradient of 1. Throws
  // ValueError if a row's positive scores -inf. Scratch from `arena`.
  virtual void retrieval_loss_forward(const Tensor& scores, const Tensor& positives,
                                      const RetrievalLossArgs& args, const Tensor& unit,
                                      const Tensor& loss, Arena& arena) = 0;
  // dscores (+)= dloss * unit. dscores may be unit itself (not
  // accumulating): unit is then scaled in place.
  virtual void retrieval_loss_backward(const Tensor& unit, float dloss, const GradOut& dscores) = 0;

  // Index of the first non-finite element of float32 x, or -1.
  virtual std::int64_t find_non_finite(const Tensor& x) = 0;
  // True when every element of float32 x equals value.
  virtual bool all_equal(const Tensor& x, float value) = 0;
  // Sparse segments of one table summed: the union of their rows, sorted,
  // each row's values added in segment order. Storage from `arena`.
  virtual SparseRows merge_sparse_rows(std::span<const SparseRows> segments, Arena& arena) = 0;
  // One optimizer step on weights seen as [rows, dim] (rows = size(0)):
  // every element, grad of the weights' shape.
  virtual void optimizer_update(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
                                const Tensor& grad, std::span<const Tensor> state) = 0;
  // Only the rows of grad (the lazy update of a table).
  virtual void optimizer_update_rows(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
                                     const SparseRows& grad, std::span<const Tensor> state) = 0;
  // Every row, those absent from grad with a zero gradient, without
  // building the dense gradient.
  virtual void optimizer_update_all_rows(UpdateRule rule, const UpdateScalars& s,
                                         const Tensor& weights, const SparseRows& grad,
                                         std::span<const Tensor> state) = 0;
};

// The backend for a device: the one a ScopedBackend installed, else the
// built-in one.
Backend& backend(Device device = Device::kCpu);

// Installs `replacement` as the backend of `device` until destroyed, then
// restores the previous one (tests wrap the CPU backend to count or refuse
// calls). Scopes nest; install and remove them while no computation runs.
class ScopedBackend {
 public:
  ScopedBackend(Device device, Backend& replacement);
  ~ScopedBackend();
  ScopedBackend(const ScopedBackend&) = delete;
  ScopedBackend& operator=(const ScopedBackend&) = delete;

 private:
  Backend*& slot_;  // the installed backend of the scope's device
  Backend* previous_;
};

}  // namespace recblocks::kernels
