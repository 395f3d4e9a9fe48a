// The seed notebook's DLRM written directly with the engine's ops: four
// embeddings of 64, a bottom MLP [64] over two continuous features, the
// pairwise dot interaction of the five vectors plus the 64-wide shortcut
// (10 + 64 = 74), a top MLP [64, 128, 512], a one-unit logit scaled by a
// temperature of 2, and binary cross-entropy; trained with plain SGD on
// synthetic data whose label depends on the features.
//
//   ./build/examples/engine_dlrm [steps]
#include <recblocks/recblocks.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace rb = recblocks;
using rb::Var;
using rb::ops::Activation;

namespace {

rb::ParameterPtr make_param(const std::string& name, rb::Shape shape, float scale, rb::Rng& rng) {
  rb::Tensor t = rb::Tensor::empty(shape);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = scale * rng.normal();
  return std::make_shared<rb::Parameter>(name, t);
}

struct Dense {
  rb::ParameterPtr kernel, bias;
};

Dense make_dense(const std::string& name, std::int64_t in, std::int64_t out, rb::Rng& rng) {
  const float scale = std::sqrt(2.0f / static_cast<float>(in + out));  // Glorot normal
  auto bias = std::make_shared<rb::Parameter>(name + "/bias", rb::Tensor::zeros({out}));
  return {make_param(name + "/kernel", {in, out}, scale, rng), bias};
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 200;
  const std::int64_t batch = 1024, dim = 64;
  const std::int64_t cardinality[4] = {6041, 3953, 3883, 3};  // userId, movieId, title, gender
  rb::Rng rng(7);

  std::vector<rb::ParameterPtr> tables;
  for (std::int64_t c : cardinality)
    tables.push_back(
        make_param("embeddings/" + std::to_string(tables.size()), {c, dim}, 0.05f, rng));
  Dense bottom = make_dense("bottom_mlp/0", 2, 64, rng);
  std::vector<Dense> top = {
      make_dense("top_mlp/0", 74, 64, rng), make_dense("top_mlp/1", 64, 128, rng),
      make_dense("top_mlp/2", 128, 512, rng), make_dense("output", 512, 1, rng)};
  std::vector<rb::ParameterPtr> params = {bottom.kernel, bottom.bias};
  for (auto& t : tables) params.push_back(t);
  for (auto& d : top) params.insert(params.end(), {d.kernel, d.bias});

  // Synthetic batch: the label is 1 when a hidden score of the ids and the
  // continuous features is positive, so the model has something to learn.
  rb::Tensor ids[4], continuous = rb::Tensor::empty({batch, 2}),
                     labels = rb::Tensor::empty({batch, 1});
  for (int f = 0; f < 4; ++f) ids[f] = rb::Tensor::empty({batch}, rb::DType::kInt32);
  auto fill_batch = [&] {
    for (std::int64_t b = 0; b < batch; ++b) {
      float score = 0;
      for (int f = 0; f < 4; ++f) {
        const auto id = static_cast<std::int32_t>(rng.next_u64() % cardinality[f]);
        ids[f].data<std::int32_t>()[b] = id;
        score += (id % 7 < 3 ? 1.0f : -1.0f) * 0.5f;
      }
      const float c0 = rng.uniform(), c1 = rng.uniform();
      continuous.data<float>()[2 * b] = c0;
      continuous.data<float>()[2 * b + 1] = c1;
      labels.data<float>()[b] = score + 2 * (c0 - c1) > 0 ? 1.0f : 0.0f;
    }
  };

  rb::Tape tape;
  const float lr = 0.05f;
  for (int step = 0; step < steps; ++step) {
    fill_batch();
    Var x = tape.constant(continuous);
    Var deep = rb::ops::linear(x, tape.parameter(*bottom.kernel), tape.parameter(*bottom.bias),
                               Activation::kRelu);
    Var features[5];
    for (int f = 0; f < 4; ++f)
      features[f] = rb::ops::embedding(tape.parameter(*tables[f]), ids[f]);
    features[4] = deep;
    Var pairs = rb::ops::dot_interaction(std::span<const Var>(features, 5));
    Var parts[2] = {deep, pairs};
    Var h = rb::ops::concat(parts, 1);  // [batch, 74]
    for (std::size_t l = 0; l < top.size(); ++l) {
      const Activation act = l + 1 < top.size() ? Activation::kRelu : Activation::kNone;
      h = rb::ops::linear(h, tape.parameter(*top[l].kernel), tape.parameter(*top[l].bias), act);
    }
    Var logits = rb::ops::scale(h, 0.5f);  // temperature 2
    Var loss = rb::ops::bce_with_logits(logits, labels);
    tape.backward(loss);

    for (auto& p : params) {  // plain SGD, sparse rows for the tables
      float* w = p->value().data<float>();
      if (p->has_dense_grad()) {
        const float* g = p->dense_grad().data<float>();
        for (std::int64_t i = 0; i < p->value().numel(); ++i) w[i] -= lr * g[i];
      }
      const std::int64_t d = p->value().shape()[-1];
      for (const auto& s : p->sparse_grads()) {
        for (std::int64_t r = 0; r < s.rows.numel(); ++r) {
          float* row = w + s.rows.data<std::int64_t>()[r] * d;
          const float* g = s.values.data<float>() + r * d;
          for (std::int64_t k = 0; k < d; ++k) row[k] -= lr * g[k];
        }
      }
      p->zero_grad();
    }
    if (step % 20 == 0 || step + 1 == steps)
      std::printf("step %4d  loss %.4f\n", step, static_cast<double>(loss.value().item()));
    tape.reset();
  }
  return 0;
}
