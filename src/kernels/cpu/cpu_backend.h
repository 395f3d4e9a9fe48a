// The CPU backend: OpenMP over one pool, BLAS for GEMM, vector code through
// the compiler (-march=native by default, see RECBLOCKS_NATIVE).
#pragma once

#include "kernels/cpu/parallel.h"
#include "recblocks/kernels/backend.h"

namespace recblocks::kernels::cpu {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  std::string details() const override;

  void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c) override;
  void batched_gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                    float beta, const Tensor& c) override;
  void linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Activation act,
                      float alpha, const Tensor& y) override;
  void linear_backward(const Tensor& x, const Tensor& w, const Tensor& y, Activation act,
                       float alpha, const Tensor& dy, const GradOut& dx, const GradOut& dw,
                       const GradOut& dbias) override;
  void binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& y) override;
  void binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& dy,
                       const GradOut& da, const GradOut& db) override;
  void unary_forward(Unary op, const Tensor& x, const Tensor& y) override;
  void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& dy,
                      const GradOut& dx) override;
  void scale(const Tensor& x, float alpha, const GradOut& y) override;
  void reduce_sum(const Tensor& x, int axis, float alpha, const Tensor& y) override;
  void broadcast_axis(const Tensor& dy, int axis, float alpha, const GradOut& dx) override;
  void copy_matrix(const MatrixView& src, const MatrixView& dst, bool accumulate) override;
  void transpose(const Tensor& x, int a0, int a1, const GradOut& y) override;
  void dot_interaction_forward(std::span<const MatrixView> x, bool self_interaction,
                               const Tensor& out) override;
  void dot_interaction_backward(std::span<const MatrixView> x, bool self_interaction,
                                const Tensor& dout, std::span<const MatrixView> dx,
                                std::span<const bool> accumulate) override;
  void l2_normalize_forward(const Tensor& x, float eps, const Tensor& y,
                            const Tensor& norms) override;
  void l2_normalize_backward(const Tensor& y, const Tensor& norms, float eps, const Tensor& dy,
                             const GradOut& dx) override;
  void dropout_forward(const Tensor& x, float rate, std::uint64_t stream, const Tensor& y) override;
  void dropout_backward(const Tensor& dy, float rate, std::uint64_t stream,
                        const GradOut& dx) override;
  void batch_norm_statistics(const Tensor& x, float eps, const Tensor& mean, const Tensor& var,
                             const Tensor& invstd) override;
  void batch_norm_update_running(const Tensor& mean, const Tensor& var, float momentum,
                                 float unbias, const Tensor& running_mean,
                                 const Tensor& running_var) override;
  void batch_norm_inverse_std(const Tensor& var, float eps, const Tensor& invstd) override;
  void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                        const Tensor& gamma, const Tensor& beta, const Tensor& y) override;
  void batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                           const Tensor& gamma, const Tensor& dy, bool training, const GradOut& dx,
                           const GradOut& dgamma, const GradOut& dbeta) override;
  void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                          const Tensor& y, const Tensor& mean, const Tensor& invstd) override;
  void layer_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                           const Tensor& gamma, const Tensor& dy, const GradOut& dx,
                           const GradOut& dgamma, const GradOut& dbeta) override;
  std::int64_t find_out_of_range(const Tensor& ids, std::int64_t cardinality) override;
  void embedding_bag_forward(const Tensor& table, const Tensor& ids, const Tensor& offsets,
                             Pooling pooling, const Tensor& out) override;
  SparseRows embedding_bag_backward(const Tensor& ids, const Tensor& offsets, Pooling pooling,
                                    const Tensor& dout, Arena& arena) override;
  void scatter_add_rows(const SparseRows& g, const Tensor& dense) override;
  void softmax_forward(const Tensor& x, bool log, const Tensor& y) override;
  void softmax_backward(const Tensor& y, bool log, const Tensor& dy, const GradOut& dx) override;
  void bce_with_logits_forward(const Tensor& logits, const Tensor& targets,
                               const Tensor& loss) override;
  void bce_with_logits_backward(const Tensor& logits, const Tensor& targets, float dloss,
                                const GradOut& dlogits) override;
  void mse_forward(const Tensor& pred, const Tensor& targets, const Tensor& loss) override;
  void mse_backward(const Tensor& pred, const Tensor& targets, float dloss,
                    const GradOut& dpred) override;
  void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                     const Tensor& log_probs, const Tensor& loss) override;
  void softmax_cross_entropy_backward(const Tensor& log_probs, const Tensor& labels, float dloss,
                                      const GradOut& dlogits) override;
  void retrieval_loss_forward(const Tensor& scores, const Tensor& positives,
                              const RetrievalLossArgs& args, const Tensor& unit, const Tensor& loss,
                              Arena& arena) override;
  void retrieval_loss_backward(const Tensor& unit, float dloss, const GradOut& dscores) override;
  std::int64_t find_non_finite(const Tensor& x) override;
  bool all_equal(const Tensor& x, float value) override;
  SparseRows merge_sparse_rows(std::span<const SparseRows> segments, Arena& arena) override;
  void optimizer_update(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
                        const Tensor& grad, std::span<const Tensor> state) override;
  void optimizer_update_rows(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
                             const SparseRows& grad, std::span<const Tensor> state) override;
  void optimizer_update_all_rows(UpdateRule rule, const UpdateScalars& s, const Tensor& weights,
                                 const SparseRows& grad, std::span<const Tensor> state) override;
};

// Raw row-major sgemm used by the kernels: C = alpha op(A) op(B) + beta C,
// split over the pool in sgemm_parts parts.
void sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
           const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
           std::int64_t ldc);

// Below this many multiply-adds a GEMM runs on one thread.
inline constexpr std::int64_t kSplitWork = 1 << 17;

// The rectangle [r0, r1) x [c0, c1) of an M x N result; n is N when the
// part splits the columns (0: the part has all of them).
struct GemmPart {
  std::int64_t r0, r1, c0, c1;
  std::int64_t n = 0;
};

// How many parts sgemm splits an M x N x K product into (1 below
// kSplitWork or inside a parallel region), part `part` of them (rows when
// M >= N, else columns), and that part's product alone on the calling
// thread: for kernels that run a GEMM inside their own parallel region.
int sgemm_parts(std::int64_t m, std::int64_t n, std::int64_t k);
GemmPart sgemm_part(std::int64_t m, std::int64_t n, int part, int parts);
void sgemm_run_part(const GemmPart& p, bool trans_a, bool trans_b, std::int64_t k, float alpha,
                    const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
                    float* c, std::int64_t ldc);

// Writes or adds: dst = v, or dst += v.
inline void store(float* dst, float v, bool accumulate) { *dst = accumulate ? *dst + v : v; }

}  // namespace recblocks::kernels::cpu
