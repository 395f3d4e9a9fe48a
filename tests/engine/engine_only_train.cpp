// Linked against recblocks::engine alone (no curl, libarchive or FAISS): the
// seed's kind of model built from blocks, trained with Adam on an in-memory
// dataset with a planted signal, evaluated and ranked by the exact top-k.
// Exits non-zero unless training lowers the loss and the validation AUC
// beats chance by a margin. tests/engine/check_engine_links.cmake then
// checks that this executable and the engine library reference none of
// the three.
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/features.h"
#include "recblocks/blocks/interaction.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/blocks/transformations.h"
#include "recblocks/core/rng.h"
#include "recblocks/data/dataset.h"
#include "recblocks/metrics/metrics.h"
#include "recblocks/model/model.h"
#include "recblocks/model/ranking.h"
#include "recblocks/optim/optim.h"
#include "recblocks/retrieval/topk.h"

namespace rb = recblocks;
using rb::Tags;

namespace {

// userId (50 ids), movieId (40), TE_a float, rating_binary from a logistic
// model of per-user and per-movie effects and TE_a.
rb::Dataset planted(std::int64_t rows, std::uint64_t seed) {
  const rb::Schema schema({
      rb::ColumnSchema("userId", rb::DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID})
          .with_domain(0, 49),
      rb::ColumnSchema("movieId", rb::DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM_ID})
          .with_domain(0, 39),
      rb::ColumnSchema("TE_a", rb::DType::kFloat32, {Tags::CONTINUOUS}),
      rb::ColumnSchema("rating_binary", rb::DType::kInt32,
                       {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
  });
  rb::Rng effects(7);  // the same planted effects for train and valid
  std::vector<float> user_effect(50), movie_effect(40);
  for (float& e : user_effect) e = 1.5f * effects.normal();
  for (float& e : movie_effect) e = 1.5f * effects.normal();
  rb::Rng rng(seed);
  std::vector<std::int32_t> user(rows), movie(rows), label(rows);
  std::vector<float> a(rows);
  for (std::int64_t i = 0; i < rows; ++i) {
    user[i] = static_cast<std::int32_t>(rng.next_u64() % 50);
    movie[i] = static_cast<std::int32_t>(rng.next_u64() % 40);
    a[i] = rng.normal();
    const float score = user_effect[user[i]] + movie_effect[movie[i]] + a[i];
    label[i] = rng.uniform() < 1.0f / (1.0f + std::exp(-score)) ? 1 : 0;
  }
  auto i32 = [&](const std::vector<std::int32_t>& v) {
    return rb::Column{rb::Tensor::from<std::int32_t>({rows}, v), {}};
  };
  return rb::Dataset(schema, {{"userId", i32(user)},
                              {"movieId", i32(movie)},
                              {"TE_a", rb::Column{rb::Tensor::from<float>({rows}, a), {}}},
                              {"rating_binary", i32(label)}});
}

}  // namespace

int main() try {
  const rb::Dataset train = planted(4000, 1);
  const rb::Dataset valid = planted(1000, 2);
  const rb::Schema& schema = train.schema();
  const auto embeddings = rb::EmbeddingFeatures::from_schema(schema, {.dim = 8});
  const auto continuous = rb::ContinuousFeatures::from_schema(schema).connect(rb::MLPBlock({8}));
  const auto body = rb::ParallelBlock({{"embeddings", embeddings}, {"deep_continuous", continuous}})
                        .connect_with_shortcut(rb::DotProductInteractionBlock(),
                                               {.shortcut_filter = rb::Filter("deep_continuous"),
                                                .aggregation = "concat"})
                        .connect(rb::MLPBlock({16, 8}));
  rb::Model model = body.connect(rb::BinaryClassificationTask(
      "rating_binary", {.metrics = {rb::metrics::AUC()}, .pre = rb::LogitsTemperatureScaler(2.0)}));
  model.compile(rb::optim::Adam({.learning_rate = 1e-2f}));
  const rb::History history =
      model.fit(train, {.batch_size = 128, .epochs = 4, .seed = 3, .progress = false});
  const std::vector<double> loss = history["loss"];
  const rb::Logs scores = model.evaluate(valid, {.batch_size = 256, .progress = false});
  const double auc = scores.at("rating_binary/binary_classification_task/auc");
  fmt::print("loss {:.4f} -> {:.4f}, validation auc {:.4f}\n", loss.front(), loss.back(), auc);

  // The exact top-k of the engine (retrieval/topk.h): a query equal to an
  // item finds that item first.
  const rb::Tensor items = rb::Tensor::from({3, 2}, {1.0f, 0.0f, 0.0f, 1.0f, -1.0f, 0.0f});
  const rb::Tensor query = rb::Tensor::from({1, 2}, {0.0f, 1.0f});
  const rb::retrieval::TopK top = rb::retrieval::top_k(query, items, 2);
  const bool top_ok = top.ids.data<std::int64_t>()[0] == 1;

  const bool ok = loss.size() == 4 && loss.back() < loss.front() && auc > 0.7 && top_ok;
  fmt::print("{}\n", ok ? "engine-only training OK" : "engine-only training FAILED");
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
} catch (const rb::Error& e) {
  fmt::print(stderr, "engine_only_train: error: {}\n", e.what());
  return EXIT_FAILURE;
}
