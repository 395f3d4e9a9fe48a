// A small DLRM-like model written directly with ops, for the tests that
// need a whole training step (allocation counting, determinism):
//   dense [B, 13] -> bottom linear+relu [B, D]
//   3 embeddings (one id per row) + 1 embedding bag (ragged, mean) [B, D]
//   dot_interaction of the 5 vectors [B, 10], concat with the bottom output
//   3 linear+relu layers (optional dropout after the first), final linear
//   bce_with_logits; plain SGD written here (dense and sparse rows).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "recblocks/autograd/parameter.h"
#include "recblocks/autograd/tape.h"

namespace recblocks::testing {

struct TinyDlrmOptions {
  std::int64_t batch = 128;
  std::int64_t dim = 16;
  bool dropout = false;
  std::uint64_t seed = 1;
};

struct TinyDlrmBatch {
  Tensor dense;               // float32 [B, 13]
  std::array<Tensor, 3> ids;  // int64 [B]
  Tensor bag_values;          // int64 [nnz]
  Tensor bag_offsets;         // int64 [B + 1]
  Tensor labels;              // float32 [B, 1]
};

class TinyDlrm {
 public:
  static constexpr std::int64_t kDense = 13;
  static constexpr std::array<std::int64_t, 4> kCardinalities = {100, 50, 30, 20};

  explicit TinyDlrm(TinyDlrmOptions options);
  TinyDlrm(const TinyDlrm&) = delete;
  TinyDlrm& operator=(const TinyDlrm&) = delete;

  // A batch with its own seed; allocated once, reused every step.
  TinyDlrmBatch make_batch(std::uint64_t seed) const;
  // Logits [B, 1].
  Var forward(Tape& tape, const TinyDlrmBatch& batch);
  // forward, loss, backward, SGD, zero_grad, tape.reset(); returns the loss.
  // Makes no heap allocation once the tape's arena has grown.
  float train_step(Tape& tape, const TinyDlrmBatch& batch, float learning_rate);

  const std::vector<Parameter*>& parameters() const { return all_; }

 private:
  TinyDlrmOptions options_;
  std::vector<Parameter> tables_;
  std::vector<Parameter> kernels_;  // bottom, top 0..2, final
  std::vector<Parameter> biases_;
  std::vector<Parameter*> all_;
};

}  // namespace recblocks::testing
