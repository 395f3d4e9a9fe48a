// Small datasets with a planted signal for the model tests, and the seed's
// model on them.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "recblocks/recblocks.h"

namespace recblocks::testing {

// `rows` rows: userId (40 ids), movieId (30), gender (3) int32
// categorical; TE_a, TE_b float32 continuous; rating_binary int32 0/1
// drawn from a logistic model of per-user and per-movie effects and TE_a;
// rating float32 (regression, 1..5 from the same score); genre int32
// multi-class target in [0, 4) (a function of movieId, with noise).
inline Dataset planted_dataset(std::int64_t rows, std::uint64_t seed = 1) {
  const Schema schema({
      ColumnSchema("userId", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID}).with_domain(0, 39),
      ColumnSchema("movieId", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM_ID}).with_domain(0, 29),
      ColumnSchema("gender", DType::kInt32, {Tags::CATEGORICAL, Tags::USER}).with_domain(0, 2),
      ColumnSchema("TE_a", DType::kFloat32, {Tags::CONTINUOUS}),
      ColumnSchema("TE_b", DType::kFloat32, {Tags::CONTINUOUS}),
      ColumnSchema("rating_binary", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
      ColumnSchema("rating", DType::kFloat32, {Tags::TARGET, Tags::REGRESSION}),
      ColumnSchema("genre", DType::kInt32, {Tags::TARGET, Tags::MULTI_CLASS_CLASSIFICATION})
          .with_domain(0, 3),
  });
  Rng rng(seed);
  std::vector<float> user_effect(40), movie_effect(30);
  for (float& e : user_effect) e = 1.5f * rng.normal();
  for (float& e : movie_effect) e = 1.5f * rng.normal();
  std::vector<std::int32_t> user(rows), movie(rows), gender(rows), label(rows), genre(rows);
  std::vector<float> a(rows), b(rows), rating(rows);
  for (std::int64_t i = 0; i < rows; ++i) {
    user[i] = static_cast<std::int32_t>(rng.next_u64() % 40);
    movie[i] = static_cast<std::int32_t>(rng.next_u64() % 30);
    gender[i] = user[i] % 3;
    a[i] = rng.normal();
    b[i] = rng.normal();
    const float score = user_effect[user[i]] + movie_effect[movie[i]] + a[i];
    label[i] = rng.uniform() < 1.0f / (1.0f + std::exp(-score)) ? 1 : 0;
    rating[i] = std::clamp(3.0f + score, 1.0f, 5.0f);
    genre[i] = rng.uniform() < 0.8f ? movie[i] % 4 : static_cast<std::int32_t>(rng.next_u64() % 4);
  }
  auto i32 = [&](const std::vector<std::int32_t>& v) {
    return Column{Tensor::from<std::int32_t>({rows}, v), {}};
  };
  auto f32 = [&](const std::vector<float>& v) {
    return Column{Tensor::from<float>({rows}, v), {}};
  };
  return Dataset(schema, {{"userId", i32(user)},
                          {"movieId", i32(movie)},
                          {"gender", i32(gender)},
                          {"TE_a", f32(a)},
                          {"TE_b", f32(b)},
                          {"rating_binary", i32(label)},
                          {"rating", f32(rating)},
                          {"genre", i32(genre)}});
}

// The seed notebook's body at a small width: embeddings (dim) and
// continuous -> MLP[dim] in parallel, dot interaction with the shortcut,
// then an MLP.
inline Block small_dlrm_body(const Schema& schema, std::int64_t dim = 8,
                             MLPOptions top_options = {}) {
  const auto features = schema.select_by_name({"userId", "movieId", "gender", "TE_a", "TE_b"});
  const auto embeddings = EmbeddingFeatures::from_schema(features, {.dim = dim});
  const auto continuous = ContinuousFeatures::from_schema(features).connect(MLPBlock({dim}));
  const auto inputs = ParallelBlock({{"embeddings", embeddings}, {"deep_continuous", continuous}});
  return inputs
      .connect_with_shortcut(
          DotProductInteractionBlock(),
          {.shortcut_filter = Filter("deep_continuous"), .aggregation = "concat"})
      .connect(MLPBlock({16, 8}, top_options));
}

inline PredictionTask seed_task() {
  return BinaryClassificationTask(
      "rating_binary", {.metrics = {metrics::AUC()}, .pre = LogitsTemperatureScaler(2.0)});
}

inline Model small_seed_model(const Dataset& data, std::uint64_t seed = 0,
                              MLPOptions top_options = {}) {
  Model model = small_dlrm_body(data.schema(), 8, top_options).connect(seed_task());
  model.build(data.schema(), seed);
  return model;
}

// One thread for a training test: ctest runs two tests at once on two
// cores, and a pool of two spinning threads per test then waits on every
// barrier for a descheduled thread (20x slower); results do not depend on
// the thread count's timing either way.
class OneThread {
 public:
  OneThread() : before_(num_threads()) { set_num_threads(1); }
  ~OneThread() { set_num_threads(before_); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int before_;
};

inline bool same_state(const Model& a, const Model& b) {
  const auto sa = a.state();
  const auto sb = b.state();
  if (sa.size() != sb.size()) return false;
  for (const auto& [name, t] : sa) {
    const auto it = sb.find(name);
    if (it == sb.end() || !(it->second.shape() == t.shape())) return false;
    if (std::memcmp(it->second.raw(), t.raw(), t.nbytes()) != 0) return false;
  }
  return true;
}

}  // namespace recblocks::testing
