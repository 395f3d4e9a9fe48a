#include "testing/tiny_dlrm.h"

#include <fmt/format.h>

#include <cmath>

#include "recblocks/autograd/ops.h"
#include "testing/tensor_testing.h"

namespace recblocks::testing {

TinyDlrm::TinyDlrm(TinyDlrmOptions options) : options_(options) {
  const std::int64_t d = options.dim;
  std::uint64_t seed = options.seed * 1000;
  tables_.reserve(4);
  for (std::size_t t = 0; t < kCardinalities.size(); ++t) {
    tables_.emplace_back(fmt::format("embeddings/{}", t),
                         uniform({kCardinalities[t], d}, ++seed, -0.1f, 0.1f));
  }
  // bottom [13, D]; top: [D + 10, 32], [32, 16], [16, 8]; final [8, 1].
  const std::int64_t shapes[5][2] = {{kDense, d}, {d + 10, 32}, {32, 16}, {16, 8}, {8, 1}};
  const char* names[5] = {"bottom_mlp/0", "top_mlp/0", "top_mlp/1", "top_mlp/2", "top_mlp/3"};
  kernels_.reserve(5);
  biases_.reserve(5);
  for (int l = 0; l < 5; ++l) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(shapes[l][0]));
    kernels_.emplace_back(fmt::format("{}/kernel", names[l]),
                          uniform({shapes[l][0], shapes[l][1]}, ++seed, -scale, scale));
    biases_.emplace_back(fmt::format("{}/bias", names[l]),
                         uniform({shapes[l][1]}, ++seed, -0.1f, 0.1f));
  }
  for (Parameter& p : tables_) all_.push_back(&p);
  for (int l = 0; l < 5; ++l) {
    all_.push_back(&kernels_[l]);
    all_.push_back(&biases_[l]);
  }
}

TinyDlrmBatch TinyDlrm::make_batch(std::uint64_t seed) const {
  const std::int64_t b = options_.batch;
  TinyDlrmBatch batch;
  batch.dense = uniform({b, kDense}, seed * 7 + 1, 0.0f, 2.0f);
  for (int t = 0; t < 3; ++t) batch.ids[t] = random_ids({b}, kCardinalities[t], seed * 7 + 2 + t);
  TestRng rng(seed * 7 + 5);
  std::vector<std::int64_t> offsets = {0};
  for (std::int64_t i = 0; i < b; ++i)
    offsets.push_back(offsets.back() + rng.below(4));  // 0..3 ids
  batch.bag_offsets = Tensor::from<std::int64_t>({b + 1}, offsets);
  batch.bag_values = random_ids({offsets.back()}, kCardinalities[3], seed * 7 + 6);
  batch.labels = uniform({b, 1}, seed * 7 + 7, 0.0f, 1.0f);
  for (std::int64_t i = 0; i < b; ++i) {
    batch.labels.data<float>()[i] = batch.labels.data<float>()[i] < 0.3f ? 1.0f : 0.0f;
  }
  return batch;
}

Var TinyDlrm::forward(Tape& tape, const TinyDlrmBatch& batch) {
  using kernels::Activation;
  Var bottom = ops::linear(tape.constant(batch.dense), tape.parameter(kernels_[0]),
                           tape.parameter(biases_[0]), Activation::kRelu);
  const std::array<Var, 5> features = {
      bottom,
      ops::embedding(tape.parameter(tables_[0]), batch.ids[0]),
      ops::embedding(tape.parameter(tables_[1]), batch.ids[1]),
      ops::embedding(tape.parameter(tables_[2]), batch.ids[2]),
      ops::embedding_bag(tape.parameter(tables_[3]), batch.bag_values, batch.bag_offsets,
                         kernels::Pooling::kMean),
  };
  const std::array<Var, 2> joined = {bottom, ops::dot_interaction(features)};
  Var h = ops::concat(joined, 1);
  h = ops::linear(h, tape.parameter(kernels_[1]), tape.parameter(biases_[1]), Activation::kRelu);
  if (options_.dropout) h = ops::dropout(h, 0.1f, true);
  h = ops::linear(h, tape.parameter(kernels_[2]), tape.parameter(biases_[2]), Activation::kRelu);
  h = ops::linear(h, tape.parameter(kernels_[3]), tape.parameter(biases_[3]), Activation::kRelu);
  return ops::linear(h, tape.parameter(kernels_[4]), tape.parameter(biases_[4]));
}

float TinyDlrm::train_step(Tape& tape, const TinyDlrmBatch& batch, float learning_rate) {
  Var loss = ops::bce_with_logits(forward(tape, batch), batch.labels);
  const float value = loss.value().data<float>()[0];
  tape.backward(loss);
  for (Parameter* p : all_) {
    float* w = p->value().data<float>();
    if (p->has_dense_grad()) {
      const float* g = p->dense_grad().data<float>();
      for (std::int64_t i = 0; i < p->value().numel(); ++i) w[i] -= learning_rate * g[i];
    }
    const std::int64_t dim = p->value().rank() == 2 ? p->value().size(1) : 1;
    for (const kernels::SparseRows& s : p->sparse_grads()) {
      const std::int64_t* rows = s.rows.data<std::int64_t>();
      const float* values = s.values.data<float>();
      for (std::int64_t i = 0; i < s.rows.numel(); ++i) {
        for (std::int64_t d = 0; d < dim; ++d)
          w[rows[i] * dim + d] -= learning_rate * values[i * dim + d];
      }
    }
    p->zero_grad();
  }
  tape.reset();
  return value;
}

}  // namespace recblocks::testing
