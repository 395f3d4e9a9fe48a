// Next-item prediction: NextItemPredictionTask (full softmax with weight
// tying, sampled softmax with the popularity sampler, logQ and accidental
// hits), YoutubeDNNRetrievalModel and its recommender. The logits against
// x W^T + b computed from the weights, the sampled columns against the
// items they must be, training on a planted sequential signal, save/load,
// errors, and on the real ml-100k with leave-last-out: YoutubeDNN beats
// popularity.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/movielens_testing.h"
#include "io/test_files.h"
#include "model/model_testing.h"
#include "recblocks/blocks/aggregation.h"
#include "recblocks/core/rng.h"
#include "recblocks/core/threads.h"
#include "recblocks/data/movielens.h"
#include "recblocks/data/sequences.h"
#include "recblocks/model/retrieval.h"
#include "recblocks/retrieval/recommender.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using retrieval::PopularityRecommender;
using retrieval::SeenItems;
using retrieval::TopKRecommender;
using testing::error_of;
using ::testing::HasSubstr;
using testing::OneThread;
using testing::TempDir;

const std::string kTask = "movieId/next_item_prediction_task";

// Sequences with a planted signal: 40 users, 48 items in 6 groups of 8;
// each user's next item is in the group after its previous item's with
// probability 0.8, and item 0 of a group is popular. Columns userId
// (USER_ID), movieId (ITEM_ID), timestamp, movieId_history (USER, up to 2).
Dataset sequences(std::int64_t per_user, std::uint64_t seed) {
  const Schema schema({
      ColumnSchema("userId", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID}).with_domain(0, 39),
      ColumnSchema("movieId", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM_ID})
          .with_domain(0, 47, "movieId"),
      ColumnSchema("timestamp", DType::kInt64, {Tags::TIME}),
  });
  Rng rng(seed);
  std::vector<std::int32_t> user, item;
  std::vector<std::int64_t> time;
  for (std::int32_t u = 0; u < 40; ++u) {
    std::int32_t group = static_cast<std::int32_t>(rng.next_u64() % 6);
    for (std::int64_t t = 0; t < per_user; ++t) {
      group =
          rng.uniform() < 0.8f ? (group + 1) % 6 : static_cast<std::int32_t>(rng.next_u64() % 6);
      const auto within = rng.uniform() < 0.3f ? 0 : static_cast<std::int32_t>(rng.next_u64() % 8);
      user.push_back(u);
      item.push_back(group * 8 + within);
      time.push_back(t);
    }
  }
  const auto rows = static_cast<std::int64_t>(user.size());
  const Dataset data(schema, {{"userId", Column{Tensor::from<std::int32_t>({rows}, user), {}}},
                              {"movieId", Column{Tensor::from<std::int32_t>({rows}, item), {}}},
                              {"timestamp", Column{Tensor::from<std::int64_t>({rows}, time), {}}}});
  return datasets::add_history(data, {.max_length = 2});
}

// A body reading the history (mean-pooled) and the user id, `dim` wide.
Block history_body(const Schema& schema, std::int64_t dim) {
  return EmbeddingFeatures::from_schema(schema.select_by_tag(Tags::USER), {.dim = dim})
      .connect(ConcatFeatures())
      .connect(MLPBlock({dim}, {.activation = "linear"}));
}

// The body's output and the head's logits on `data` as one batch.
struct Outputs {
  Tensor query, logits;
};
// `shared`: a tape kept across calls, whose random state the sampled
// softmax draws from (a fresh tape draws the same items every time).
Outputs run(const Model& model, const Dataset& data, bool training, Tape* shared = nullptr) {
  Tape own;
  Tape& tape = shared != nullptr ? *shared : own;
  tape.reset();
  const Batch batch(data);
  RunContext run(tape, batch, training);
  NoGradGuard no_grad;
  const Flow body = model.body().forward(Flow::inputs(batch), run);
  return {body.as_tensor("body").value().clone(),
          model.tasks()[0].head().forward(body, run).as_tensor("logits").value().clone()};
}

ParameterPtr parameter(const Model& model, const std::string& name) {
  for (const auto& [n, p] : model.parameters()) {
    if (n == name) return p;
  }
  ADD_FAILURE() << "no parameter " << name;
  return nullptr;
}

std::vector<std::string> names(const Model& model) {
  std::vector<std::string> out;
  for (const auto& [n, p] : model.parameters()) out.push_back(n);
  return out;
}

TEST(NextItem, FullLogitsAreTheTiedItemTableTimesTheQuery) {
  const Dataset data = sequences(4, 1).slice_rows(0, 12);
  for (bool cosine : {false, true}) {
    Model model(
        history_body(data.schema(), 6),
        {NextItemPredictionTask::from_schema(
            data.schema(), {.l2_normalization = cosine, .temperature = cosine ? 0.25 : 1.0})});
    model.build(data.schema(), 2);
    // Tied: one movieId table, the body's (its history column looks it up).
    const auto all = names(model);
    EXPECT_THAT(all, ::testing::Contains("0/0/movieId"));
    EXPECT_THAT(all, ::testing::Not(::testing::Contains(HasSubstr("item_embeddings"))));
    const ParameterPtr table = parameter(model, "0/0/movieId");
    const ParameterPtr bias = parameter(model, kTask + "/output/item_bias");
    ASSERT_TRUE(table && bias);
    ASSERT_EQ(table->value().shape(), Shape({48, 6}));
    // A bias that is not zero.
    for (std::int64_t j = 0; j < 48; ++j)
      bias->value().data<float>()[j] = 0.01f * static_cast<float>(j % 7);
    const Outputs out = run(model, data, false);
    ASSERT_EQ(out.logits.shape(), Shape({12, 48}));
    const float* w = table->value().data<float>();
    for (std::int64_t i = 0; i < 12; ++i) {
      for (std::int64_t j = 0; j < 48; ++j) {
        double dot = 0, qn = 0, wn = 0;
        for (std::int64_t d = 0; d < 6; ++d) {
          const double q = out.query.data<float>()[i * 6 + d];
          dot += q * w[j * 6 + d];
          qn += q * q;
          wn += static_cast<double>(w[j * 6 + d]) * w[j * 6 + d];
        }
        const double expected =
            cosine ? (dot / std::sqrt(qn * wn) + bias->value().data<float>()[j]) / 0.25
                   : dot + bias->value().data<float>()[j];
        EXPECT_NEAR(out.logits.data<float>()[i * 48 + j], expected, 1e-4)
            << i << " " << j << " cosine " << cosine;
      }
    }
  }
}

TEST(NextItem, SampledLogitsHoldThePositiveAndTheDrawnItems) {
  const Dataset train = sequences(20, 3);
  Model model(history_body(train.schema(), 8),
              {NextItemPredictionTask::from_schema(train.schema(),
                                                   {.sampled_softmax = true, .num_sampled = 10})});
  model.compile("adam");
  model.fit(train, {.batch_size = 200, .epochs = 1, .progress = false});  // counts the items
  const Dataset batch = train.slice_rows(0, 50);
  const Outputs full = run(model, batch, false);
  std::vector<double> count(48, 0);
  for (std::int64_t r = 0; r < train.num_rows(); ++r)
    ++count[train.column("movieId").values.data<std::int32_t>()[r]];
  auto log_q = [&](std::int64_t id) {
    return std::log(std::max(count[id], 1.0) / static_cast<double>(train.num_rows()));
  };
  std::map<std::int64_t, int> drawn;
  const auto* items = batch.column("movieId").values.data<std::int32_t>();
  Tape tape;
  for (int repeat = 0; repeat < 40; ++repeat) {
    const Outputs sampled = run(model, batch, true, &tape);
    ASSERT_EQ(sampled.logits.shape(), Shape({50, 11}));
    const float* s = sampled.logits.data<float>();
    for (std::int64_t i = 0; i < 50; ++i) {
      // Column 0: the row's own item, logQ-corrected.
      EXPECT_NEAR(s[i * 11], full.logits.data<float>()[i * 48 + items[i]] - log_q(items[i]), 1e-4);
    }
    // Each other column is one item for every row: find it from a row
    // where it is not masked, then check all rows.
    for (std::int64_t j = 1; j <= 10; ++j) {
      std::int64_t found = -1;
      for (std::int64_t id = 0; id < 48 && found < 0; ++id) {
        bool all = true;
        for (std::int64_t i = 0; i < 50 && all; ++i) {
          const float v = s[i * 11 + j];
          all = items[i] == id
                    ? v == -std::numeric_limits<float>::infinity()
                    : std::abs(v - (full.logits.data<float>()[i * 48 + id] - log_q(id))) < 1e-4;
        }
        if (all) found = id;
      }
      ASSERT_GE(found, 0) << "column " << j << " is no item's logits";
      ++drawn[found];
    }
  }
  // 400 draws by popularity: each item's share near its training share.
  for (std::int64_t id = 0; id < 48; ++id) {
    const double expected = 400.0 * count[id] / static_cast<double>(train.num_rows());
    EXPECT_NEAR(drawn[id], expected, 4.5 * std::sqrt(expected) + 2) << "item " << id;
  }
}

TEST(YoutubeDNN, LearnsTheSequentialSignalAndBeatsPopularity) {
  const OneThread one_thread;
  const Dataset all = sequences(60, 5);
  // Each user's last 5 interactions are validation.
  std::vector<std::int64_t> train_rows, valid_rows;
  for (std::int64_t r = 0; r < all.num_rows(); ++r)
    (r % 60 >= 55 ? valid_rows : train_rows).push_back(r);
  const Dataset train = all.take(train_rows);
  const Dataset valid = all.take(valid_rows);
  const double popular =
      PopularityRecommender(train, "movieId").evaluate(valid, {.ks = {8}}).at("recall_at_8");
  for (bool sampled : {true, false}) {
    Model model = YoutubeDNNRetrievalModel(train.schema(), {.top_block = MLPBlock({32, 16}),
                                                            .embedding_options = {.dim = 16},
                                                            .temperature = 0.1,
                                                            .sampled_softmax = sampled,
                                                            .num_sampled = 20});
    model.compile(optim::Adam({.learning_rate = 0.01}));
    const History history = model.fit(train, {.batch_size = 64, .epochs = 10, .progress = false});
    EXPECT_LT(history["loss"].back(), history["loss"].front());
    EXPECT_TRUE(history.epochs.back().count(kTask + "/recall_at_10"));
    const double recall =
        TopKRecommender(model, train).evaluate(valid, {.ks = {8}}).at("recall_at_8");
    // 8 of 48 items are the next group's: the model that learnt the
    // sequence ranks them first (popularity cannot know the group).
    EXPECT_GT(recall, popular + 0.15)
        << "sampled " << sampled << ": " << recall << " vs " << popular;
    // evaluate() scores the whole catalogue: same recall as the
    // recommender without exclusions.
    const Logs logs = model.evaluate(valid, {.batch_size = 1000, .progress = false});
    EXPECT_NEAR(logs.at(kTask + "/recall_at_10"),
                TopKRecommender(model, train).evaluate(valid, {.ks = {10}}).at("recall_at_10"),
                0.03);
  }
}

TEST(NextItem, SaveAndLoadRecommendTheSame) {
  const Dataset train = sequences(20, 9);
  // Setting one option keeps Merlin's other defaults (cosine, sampled, untied).
  Model model =
      YoutubeDNNRetrievalModel(train.schema(), {.embedding_options = {.dim = 8}, .num_sampled = 7});
  EXPECT_TRUE(model.tasks()[0].as_next_item()->options().l2_normalization);
  EXPECT_TRUE(model.tasks()[0].as_next_item()->options().sampled_softmax);
  EXPECT_FALSE(model.tasks()[0].as_next_item()->options().weight_tying);
  model.compile("adam");
  model.fit(train, {.batch_size = 100, .epochs = 1, .progress = false});
  EXPECT_THAT(names(model), ::testing::Contains(kTask + "/output/item_embeddings"));
  TempDir dir;
  model.save(dir / "model");
  const Model loaded = Model::load(dir / "model");
  ASSERT_EQ(loaded.tasks()[0].to_json(), model.tasks()[0].to_json());
  EXPECT_TRUE(loaded.tasks()[0].to_json().at("next_item").at("item_counts").is_array());
  const auto a = TopKRecommender(model, train).recommend(train.slice_rows(0, 20), 10);
  const auto b = TopKRecommender(loaded, train).recommend(train.slice_rows(0, 20), 10);
  for (std::int64_t i = 0; i < a.ids.numel(); ++i) {
    EXPECT_EQ(a.ids.data<std::int64_t>()[i], b.ids.data<std::int64_t>()[i]);
    EXPECT_EQ(a.scores.data<float>()[i], b.scores.data<float>()[i]);
  }
  // The recommender's scores are the task's logits.
  const Outputs out = run(model, train.slice_rows(0, 20), false);
  for (std::int64_t i = 0; i < 20; ++i) {
    const std::int64_t best = a.ids.data<std::int64_t>()[i * 10];
    EXPECT_NEAR(a.scores.data<float>()[i * 10], out.logits.data<float>()[i * 48 + best], 1e-4);
  }
  Model reloaded = Model::load(dir / "model");
  EXPECT_DOUBLE_EQ(reloaded.evaluate(train, {.batch_size = 100, .progress = false}).at("loss"),
                   model.evaluate(train, {.batch_size = 100, .progress = false}).at("loss"));
}

// Stops a fit after `at` steps.
struct StopAt : Callback {
  std::int64_t at;
  explicit StopAt(std::int64_t step) : at(step) {}
  void on_batch_end(Model&, std::int64_t step, const Logs&) override {
    if (step == at) throw std::runtime_error("stop");
  }
};

// The sampled negatives follow the tape's random state, which checkpoints
// keep: a fit resumed mid-epoch ends with the same weights.
TEST(NextItem, ResumedSampledFitEndsWithTheSameWeights) {
  const Dataset train = sequences(10, 12);  // 400 rows: 4 batches of 100
  auto make = [&] {
    Model m = YoutubeDNNRetrievalModel(train.schema(),
                                       {.embedding_options = {.dim = 8}, .num_sampled = 10});
    m.build(train.schema(), 4);
    m.compile("adam");
    return m;
  };
  Model whole = make();
  whole.fit(train, {.batch_size = 100, .epochs = 2, .seed = 3, .progress = false});
  TempDir dir;
  Model first = make();
  EXPECT_THROW(first.fit(train, {.batch_size = 100,
                                 .epochs = 2,
                                 .seed = 3,
                                 .callbacks = {ModelCheckpoint(dir / "ckpt", {.every_n_steps = 1}),
                                               std::make_shared<StopAt>(6)},
                                 .progress = false}),
               std::runtime_error);
  Model resumed = make();
  resumed.fit(
      train,
      {.batch_size = 100, .epochs = 2, .seed = 3, .progress = false, .resume_from = dir / "ckpt"});
  const auto a = whole.state(), b = resumed.state();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    EXPECT_EQ(std::memcmp(t.raw(), b.at(name).raw(), t.nbytes()), 0) << name;
  }
}

TEST(NextItem, Errors) {
  const Dataset train = sequences(3, 10);
  EXPECT_THAT(error_of([&] {
                NextItemPredictionTask::from_schema(train.schema().remove_by_tag(Tags::ITEM_ID));
              }),
              HasSubstr("expected one ITEM_ID column in the schema, got []"));
  EXPECT_THAT(
      error_of([&] { NextItemPredictionTask("movieId", "movieId", 48, {.sampler = "zipf"}); }),
      HasSubstr("sampler 'zipf' is unknown"));
  EXPECT_THAT(error_of([&] {
                NextItemPredictionTask("movieId", "movieId", 48, {.sampled_softmax = true});
              }),
              HasSubstr("num_sampled is 100, expected [1, 47)"));
  EXPECT_THAT(
      error_of([&] { NextItemPredictionTask("movieId", "movieId", 48, {.temperature = 0}); }),
      HasSubstr("temperature is 0"));
  // Tying a 6-wide body to the 8-wide movieId table of the history.
  Model wide(EmbeddingFeatures::from_schema(train.schema().select_by_tag(Tags::USER), {.dim = 8})
                 .connect(ConcatFeatures())
                 .connect(MLPBlock({6})),
             {NextItemPredictionTask::from_schema(train.schema())});
  EXPECT_THAT(error_of([&] { wide.build(train.schema(), 0); }),
              HasSubstr("weight tying to the 'movieId' table of shape [48, 8] needs the body's "
                        "output to be 8 wide"));
  // Tying needs the body to embed the item domain.
  Model untied_body(
      EmbeddingFeatures::from_schema(train.schema().select_by_tag(Tags::USER_ID), {.dim = 4})
          .connect(ConcatFeatures()),
      {NextItemPredictionTask::from_schema(train.schema())});
  EXPECT_THAT(error_of([&] { untied_body.build(train.schema(), 0); }),
              HasSubstr("weight tying needs the body to embed the 'movieId' domain"));
  EXPECT_THAT(
      error_of([&] { NextItemPredictionTask("movieId", "movieId", 48, {.min_sampled_id = 3}); }),
      HasSubstr("it bounds the uniform sampler"));
  EXPECT_THAT(error_of([&] {
                NextItemPredictionTask(
                    "movieId", "movieId", 48,
                    {.sampled_softmax = true, .num_sampled = std::int64_t{1} << 62});
              }),
              HasSubstr("expected [1, 47)"));
  // predict_to would write a column per item: refused, pointing to recommend.
  Model ytdnn =
      YoutubeDNNRetrievalModel(train.schema(), {.embedding_options = {.dim = 4}, .num_sampled = 5});
  ytdnn.build(train.schema(), 0);
  EXPECT_EQ(ytdnn.predict(train).at(kTask).shape(), Shape({train.num_rows(), 48}));
  testing::TempDir out;
  EXPECT_THAT(error_of([&] { ytdnn.predict_to(train, out / "p"); }),
              HasSubstr("recblocks recommend --queries"));
  // A target outside the catalogue.
  Model model(history_body(train.schema(), 4),
              {NextItemPredictionTask("movieId", "movieId", 20, {.weight_tying = false})});
  model.compile("adam");
  EXPECT_THAT(error_of([&] { model.fit(train, {.progress = false}); }),
              HasSubstr("expected an id in [0, 20)"));
}

// Real data: ml-100k, each user's latest rating held out, histories of 20;
// the settings of bench/retrieval (cosine scores at temperature 0.1, 10
// epochs: about 2x popularity there).
TEST(NextItemMovieLens, YoutubeDNNBeatsPopularityOnLeaveLastOut) {
  RB_REQUIRE_TEST_DATA(ml100k, "ml-100k", "u.data");
  const OneThread one_thread;
  testing_ml::TempDir dir;
  const auto [train, valid] = datasets::movielens("ml-100k", dir.path(),
                                                  {.source = ml100k,
                                                   .download = false,
                                                   .progress = false,
                                                   .split = datasets::MovieLensSplit::kLeaveLastOut,
                                                   .history_length = 20});
  const SeenItems seen(train, "userId", "movieId");
  const Logs popular =
      PopularityRecommender(train, "movieId").evaluate(valid, {.ks = {10}, .seen = &seen});
  Model model = YoutubeDNNRetrievalModel(train.schema(), {.temperature = 0.1});
  model.compile(optim::Adam({.learning_rate = 0.005}));
  model.fit(train, {.batch_size = 1024, .epochs = 10, .progress = false});
  const Logs logs = TopKRecommender(model, train).evaluate(valid, {.ks = {10}, .seen = &seen});
  for (const char* key : {"recall_at_10", "ndcg_at_10"}) {
    EXPECT_GT(logs.at(key), popular.at(key) * 1.25)
        << key << " youtube_dnn " << logs.at(key) << " popularity " << popular.at(key);
  }
  std::cout << "ml-100k leave-last-out: popularity recall@10 " << popular.at("recall_at_10")
            << " ndcg@10 " << popular.at("ndcg_at_10") << "; youtube_dnn "
            << logs.at("recall_at_10") << " " << logs.at("ndcg_at_10") << "\n";
}

}  // namespace
}  // namespace recblocks
