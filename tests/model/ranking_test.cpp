// The prebuilt ranking models (model/ranking.h): each one's forward on fixed
// weights against a naive double-precision reference written here from the
// papers' formulas (reading the weights by name from the model's state),
// training on a planted signal, save/load, default tasks and errors.
#include "recblocks/model/ranking.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/test_files.h"
#include "model/model_testing.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::error_of;
using ::testing::HasSubstr;
using testing::planted_dataset;
using testing::TempDir;

using State = std::map<std::string, Tensor>;
using Vec = std::vector<double>;

const std::string kTask = "rating_binary/binary_classification_task";
const std::string kHead = kTask + "/output/dense_0/";

std::vector<PredictionTask> binary_task() { return {BinaryClassificationTask("rating_binary")}; }

// The one tensor whose name ends with `suffix`.
const Tensor& weight(const State& state, const std::string& suffix) {
  const Tensor* found = nullptr;
  for (const auto& [name, t] : state) {
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      EXPECT_EQ(found, nullptr) << "two weights end with " << suffix;
      found = &t;
    }
  }
  if (found == nullptr) {
    std::string names;
    for (const auto& [name, t] : state) names += name + " ";
    ADD_FAILURE() << "no weight ends with " << suffix << "; weights: " << names;
    static const Tensor none = Tensor::zeros({1, 1});
    return none;
  }
  return *found;
}

// x [n] (Keras layout: y = x W + b, W [n, m]).
Vec dense(const Vec& x, const Tensor& w, const Tensor& b, bool relu) {
  const std::int64_t n = w.size(0), m = w.size(1);
  EXPECT_EQ(static_cast<std::int64_t>(x.size()), n);
  Vec y(static_cast<std::size_t>(m));
  for (std::int64_t j = 0; j < m; ++j) {
    double s = b.defined() ? b.data<float>()[j] : 0.0;
    for (std::int64_t i = 0; i < n; ++i)
      s += x[static_cast<std::size_t>(i)] * w.data<float>()[i * m + j];
    y[static_cast<std::size_t>(j)] = relu ? std::max(s, 0.0) : s;
  }
  return y;
}

Vec row(const Tensor& table, std::int64_t id) {
  const std::int64_t d = table.size(1);
  return Vec(table.data<float>() + id * d, table.data<float>() + (id + 1) * d);
}

void append(Vec& out, const Vec& v) { out.insert(out.end(), v.begin(), v.end()); }

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

struct Row {
  std::int64_t user, movie, gender;
  double a, b;
};

Row row_of(const Dataset& data, std::int64_t r) {
  auto id = [&](const char* c) {
    return static_cast<std::int64_t>(data.column(c).values.data<std::int32_t>()[r]);
  };
  auto x = [&](const char* c) {
    return static_cast<double>(data.column(c).values.data<float>()[r]);
  };
  return {id("userId"), id("movieId"), id("gender"), x("TE_a"), x("TE_b")};
}

// Every row's probability from `reference` against the model's predict().
void expect_matches(const Model& model, const Dataset& data,
                    const std::function<double(const Row&)>& reference) {
  const Tensor p = model.predict(data).at(kTask);
  for (std::int64_t r = 0; r < data.num_rows(); ++r) {
    EXPECT_NEAR(p.data<float>()[r], reference(row_of(data, r)), 2e-6) << "row " << r;
  }
}

// Trained a little so that no weight is at its initial value by chance.
Model trained(Model model, const Dataset& data) {
  model.build(data.schema(), 3);
  model.compile(optim::Adam({.learning_rate = 0.01f}));
  model.fit(data, {.batch_size = 64, .epochs = 1, .progress = false});
  return model;
}

TEST(RankingModels, DCNStackedMatchesTheCrossNetworkFormula) {
  const Dataset data = planted_dataset(200, 1);
  const Model model = trained(
      DCNModel(data.schema(),
               {.depth = 2, .deep_block = MLPBlock({8}), .prediction_tasks = binary_task()}),
      data);
  const State s = model.state();
  expect_matches(model, data, [&](const Row& r) {
    // x0: the dict concatenated in key order: TE_a, TE_b, gender, movieId, userId.
    Vec x0 = {r.a, r.b};
    append(x0, row(weight(s, "/gender"), r.gender));
    append(x0, row(weight(s, "/movieId"), r.movie));
    append(x0, row(weight(s, "/userId"), r.user));
    Vec x = x0;
    for (int l = 0; l < 2; ++l) {
      const std::string layer = "cross_" + std::to_string(l) + "/";
      const Vec xw = dense(x, weight(s, layer + "kernel"), weight(s, layer + "bias"), false);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = x0[i] * xw[i] + x[i];
    }
    const Vec h = dense(x, weight(s, "1/dense_0/kernel"), weight(s, "1/dense_0/bias"), true);
    return sigmoid(dense(h, weight(s, kHead + "kernel"), weight(s, kHead + "bias"), false)[0]);
  });
}

TEST(RankingModels, DCNParallelLowRankMatchesTheFormula) {
  const Dataset data = planted_dataset(200, 2);
  const Model model = trained(DCNModel(data.schema(), {.depth = 1,
                                                       .deep_block = MLPBlock({8}),
                                                       .stacked = false,
                                                       .cross = {.low_rank_dim = 3},
                                                       .prediction_tasks = binary_task()}),
                              data);
  const State s = model.state();
  expect_matches(model, data, [&](const Row& r) {
    Vec x0 = {r.a, r.b};
    append(x0, row(weight(s, "/gender"), r.gender));
    append(x0, row(weight(s, "/movieId"), r.movie));
    append(x0, row(weight(s, "/userId"), r.user));
    // x1 = x0 * ((x0 U) V + b) + x0, U [d, 3], V [3, d].
    const Vec u = dense(x0, weight(s, "cross_0/kernel_u"), Tensor(), false);
    const Vec xw = dense(u, weight(s, "cross_0/kernel"), weight(s, "cross_0/bias"), false);
    Vec out(x0.size());
    for (std::size_t i = 0; i < x0.size(); ++i) out[i] = x0[i] * xw[i] + x0[i];
    // The branches concatenated in key order: cross, deep.
    append(out, dense(x0, weight(s, "deep/dense_0/kernel"), weight(s, "deep/dense_0/bias"), true));
    return sigmoid(dense(out, weight(s, kHead + "kernel"), weight(s, kHead + "bias"), false)[0]);
  });
}

TEST(RankingModels, DeepFMIsFirstOrderPlusFMPlusDeep) {
  const Dataset data = planted_dataset(200, 3);
  const Model model = trained(DeepFMModel(data.schema(), {.embedding_dim = 4,
                                                          .deep_block = MLPBlock({8}),
                                                          .prediction_tasks = binary_task()}),
                              data);
  const State s = model.state();
  expect_matches(model, data, [&](const Row& r) {
    // First order: a weight per category, and a linear unit on TE_a, TE_b.
    double first = row(weight(s, "first_order_gender"), r.gender)[0] +
                   row(weight(s, "first_order_movieId"), r.movie)[0] +
                   row(weight(s, "first_order_userId"), r.user)[0];
    first += dense({r.a, r.b}, weight(s, "continuous/1/dense_0/kernel"),
                   weight(s, "continuous/1/dense_0/bias"), false)[0];
    // Second order (Rendle): the sum over pairs of features of <v_i, v_j>.
    const std::vector<Vec> v = {row(weight(s, "categorical/gender"), r.gender),
                                row(weight(s, "categorical/movieId"), r.movie),
                                row(weight(s, "categorical/userId"), r.user)};
    double fm = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      for (std::size_t j = i + 1; j < v.size(); ++j) {
        for (std::size_t d = 0; d < v[i].size(); ++d) fm += v[i][d] * v[j][d];
      }
    }
    // Deep: the same embeddings and the continuous columns, in key order.
    Vec x = {r.a, r.b};
    for (const Vec& e : v) append(x, e);
    const Vec h =
        dense(x, weight(s, "deep/0/1/dense_0/kernel"), weight(s, "deep/0/1/dense_0/bias"), true);
    const double deep =
        dense(h, weight(s, "deep/1/dense_0/kernel"), weight(s, "deep/1/dense_0/bias"), false)[0];
    return sigmoid(dense({first + fm + deep}, weight(s, kHead + "kernel"),
                         weight(s, kHead + "bias"), false)[0]);
  });
}

TEST(RankingModels, DLRMIsDotInteractionOfEmbeddingsAndBottomMLPThenTop) {
  const Dataset data = planted_dataset(200, 5);
  const Model model = trained(DLRMModel(data.schema(), {.embedding_dim = 4,
                                                        .bottom_block = MLPBlock({4}),
                                                        .top_block = MLPBlock({8}),
                                                        .prediction_tasks = binary_task()}),
                              data);
  const State s = model.state();
  expect_matches(model, data, [&](const Row& r) {
    // Bottom MLP on the continuous columns, ReLU (Merlin's MLPBlock).
    const Vec bottom = dense({r.a, r.b}, weight(s, "deep_continuous/1/dense_0/kernel"),
                             weight(s, "deep_continuous/1/dense_0/bias"), true);
    // The interaction's vectors in the dict's key order: deep_continuous,
    // then the embeddings (gender, movieId, userId).
    const std::vector<Vec> v = {bottom, row(weight(s, "embeddings/gender"), r.gender),
                                row(weight(s, "embeddings/movieId"), r.movie),
                                row(weight(s, "embeddings/userId"), r.user)};
    // The DLRM paper's strict lower triangle, row by row: (1,0), (2,0), (2,1), ...
    Vec x;
    for (std::size_t i = 1; i < v.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        double dot = 0;
        for (std::size_t d = 0; d < v[i].size(); ++d) dot += v[i][d] * v[j][d];
        x.push_back(dot);
      }
    }
    // Shortcut concatenated after the pairs ("block" before "shortcut" in key order).
    append(x, bottom);
    // The top MLP (its names are a suffix of the bottom MLP's: looked up whole).
    const Vec h = dense(x, s.at("1/dense_0/kernel"), s.at("1/dense_0/bias"), true);
    return sigmoid(dense(h, weight(s, kHead + "kernel"), weight(s, kHead + "bias"), false)[0]);
  });
}

// The bin of a two-column cross (crosses.h), written out here.
std::int64_t cross_bin(std::int64_t a, std::int64_t na, std::int64_t b, std::int64_t nb,
                       std::int64_t num_bins) {
  if (na * nb <= num_bins) return a * nb + b;
  auto mix = [](std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  std::uint64_t h = 0x9E3779B97F4A7C15ull;
  h = mix(h ^ static_cast<std::uint64_t>(a));
  h = mix(h ^ static_cast<std::uint64_t>(b));
  return static_cast<std::int64_t>(h % static_cast<std::uint64_t>(num_bins));
}

Model wide_and_deep(const Schema& schema) {
  return WideAndDeepModel(schema, {.crosses = {.num_bins = 100},
                                   .deep_block = MLPBlock({8}),
                                   .embedding_options = {.dim = 4},
                                   .prediction_tasks = binary_task()});
}

Optimizer wide_ftrl_deep_adam() {
  return optim::MultiOptimizer(optim::Adam({.learning_rate = 0.01f}),
                               {{kWidePrefix, optim::Ftrl({.learning_rate = 0.5f})}});
}

TEST(RankingModels, WideAndDeepIsALinearModelOverCrossesPlusDeep) {
  const Dataset data = planted_dataset(200, 11);
  Model model = wide_and_deep(data.schema());
  model.build(data.schema(), 3);
  for (const auto& [name, p] : model.parameters()) {
    EXPECT_TRUE(name.starts_with("wide/") || name.starts_with("deep/") || name.starts_with(kTask))
        << name;
    if (name.starts_with("wide/")) {  // the wide tables start at zero
      EXPECT_EQ(p->value().to_vector(), std::vector<float>(p->value().numel(), 0.0f)) << name;
    }
  }
  model.compile(wide_ftrl_deep_adam());
  model.fit(data, {.batch_size = 64, .epochs = 1, .progress = false});
  const State s = model.state();
  expect_matches(model, data, [&](const Row& r) {
    // Wide: a weight per category and per bin of each cross (user 40,
    // movie 30, gender 3; 100 bins: user x movie and user x gender hashed,
    // movie x gender exact).
    double wide = row(weight(s, "/wide_userId"), r.user)[0] +
                  row(weight(s, "/wide_movieId"), r.movie)[0] +
                  row(weight(s, "/wide_gender"), r.gender)[0];
    wide += row(weight(s, "wide_userId_x_movieId"), cross_bin(r.user, 40, r.movie, 30, 100))[0];
    wide += row(weight(s, "wide_userId_x_gender"), cross_bin(r.user, 40, r.gender, 3, 100))[0];
    wide += row(weight(s, "wide_movieId_x_gender"), r.movie * 3 + r.gender)[0];
    // Deep: the embeddings and the continuous columns, in key order.
    Vec x = {r.a, r.b};
    append(x, row(weight(s, "categorical/gender"), r.gender));
    append(x, row(weight(s, "categorical/movieId"), r.movie));
    append(x, row(weight(s, "categorical/userId"), r.user));
    const Vec h =
        dense(x, weight(s, "deep/0/1/dense_0/kernel"), weight(s, "deep/0/1/dense_0/bias"), true);
    const double deep =
        dense(h, weight(s, "deep/1/dense_0/kernel"), weight(s, "deep/1/dense_0/bias"), false)[0];
    return sigmoid(
        dense({wide + deep}, weight(s, kHead + "kernel"), weight(s, kHead + "bias"), false)[0]);
  });
  // The wide part moved under FTRL: its slots are FTRL's.
  const auto opt_state = model.optimizer().state();
  EXPECT_TRUE(opt_state.contains("wide/crosses/0/wide_userId_x_movieId/linear"));
}

TEST(RankingModels, WideAndDeepLearnsSavesLoadsAndResumes) {
  const Dataset train = planted_dataset(3000, 12);
  Model model = wide_and_deep(train.schema());
  model.compile(wide_ftrl_deep_adam());
  model.fit(train, {.batch_size = 128, .epochs = 4, .progress = false});
  EXPECT_GT(model.evaluate(train, {.progress = false}).at(kTask + "/auc"), 0.75);
  TempDir dir;
  model.save(dir / "m");
  Model again = Model::load(dir / "m");
  EXPECT_TRUE(testing::tensors_bitwise_equal(again.predict(train).at(kTask),
                                             model.predict(train).at(kTask)));
  EXPECT_EQ(again.optimizer().to_json(), model.optimizer().to_json());
  again.fit(train, {.batch_size = 128, .epochs = 1, .progress = false});
  // The wide part alone (no crosses, no deep continuous) also builds.
  const Model plain = WideAndDeepModel(
      train.schema(),
      {.cross = false, .deep_block = MLPBlock({4}), .prediction_tasks = binary_task()});
  EXPECT_THAT(plain.body().summary(), ::testing::Not(HasSubstr("HashedCrossFeatures")));
}

TEST(RankingModels, NCFConcatenatesGMFAndMLPOnSeparateTables) {
  const Dataset data = planted_dataset(200, 4);
  const Model model = trained(
      NCFModel(data.schema(),
               {.embedding_dim = 4, .mlp_block = MLPBlock({8}), .prediction_tasks = binary_task()}),
      data);
  const State s = model.state();
  EXPECT_EQ(weight(s, "mf_userId").shape(), (Shape{40, 4}));
  EXPECT_EQ(weight(s, "mlp_userId").shape(), (Shape{40, 4}));
  expect_matches(model, data, [&](const Row& r) {
    const Vec pu = row(weight(s, "mf_userId"), r.user), qi = row(weight(s, "mf_movieId"), r.movie);
    Vec out(pu.size());
    for (std::size_t d = 0; d < pu.size(); ++d) out[d] = pu[d] * qi[d];
    Vec x = row(weight(s, "mlp_movieId"), r.movie);  // key order: movieId, userId
    append(x, row(weight(s, "mlp_userId"), r.user));
    append(out, dense(x, weight(s, "mlp/1/dense_0/kernel"), weight(s, "mlp/1/dense_0/bias"), true));
    return sigmoid(dense(out, weight(s, kHead + "kernel"), weight(s, kHead + "bias"), false)[0]);
  });
}

TEST(RankingModels, MLPModelConcatenatesEmbeddingsAndContinuous) {
  const Dataset data = planted_dataset(200, 5);
  const Model model = trained(
      MLPModel(data.schema(),
               {.dims = {8}, .embedding_options = {.dim = 4}, .prediction_tasks = binary_task()}),
      data);
  const State s = model.state();
  expect_matches(model, data, [&](const Row& r) {
    Vec x = {r.a, r.b};
    append(x, row(weight(s, "/gender"), r.gender));
    append(x, row(weight(s, "/movieId"), r.movie));
    append(x, row(weight(s, "/userId"), r.user));
    const Vec h = dense(x, weight(s, "1/dense_0/kernel"), weight(s, "1/dense_0/bias"), true);
    return sigmoid(dense(h, weight(s, kHead + "kernel"), weight(s, kHead + "bias"), false)[0]);
  });
}

// Each model learns the planted signal (the training rows' AUC: another
// seed plants other effects), saves and loads with identical predictions,
// and trains on after loading.
TEST(RankingModels, EachLearnsSavesAndLoads) {
  const Dataset train = planted_dataset(3000, 6);
  const std::vector<std::pair<std::string, std::function<Model()>>> makers = {
      {"dlrm",
       [&] {
         return DLRMModel(train.schema(), {.embedding_dim = 8,
                                           .bottom_block = MLPBlock({8}),
                                           .top_block = MLPBlock({16}),
                                           .prediction_tasks = binary_task()});
       }},
      {"dcn",
       [&] {
         return DCNModel(
             train.schema(),
             {.depth = 2, .deep_block = MLPBlock({16}), .prediction_tasks = binary_task()});
       }},
      {"deepfm",
       [&] {
         return DeepFMModel(
             train.schema(),
             {.embedding_dim = 8, .deep_block = MLPBlock({16}), .prediction_tasks = binary_task()});
       }},
      {"ncf",
       [&] {
         return NCFModel(
             train.schema(),
             {.embedding_dim = 8, .mlp_block = MLPBlock({16}), .prediction_tasks = binary_task()});
       }},
      {"mlp",
       [&] {
         return MLPModel(
             train.schema(),
             {.dims = {16}, .embedding_options = {.dim = 8}, .prediction_tasks = binary_task()});
       }},
  };
  for (const auto& [name, make] : makers) {
    SCOPED_TRACE(name);
    Model model = make();
    model.compile(optim::Adam({.learning_rate = 0.01f}));
    model.fit(train, {.batch_size = 128, .epochs = 4, .progress = false});
    const Logs logs = model.evaluate(train, {.progress = false});
    EXPECT_GT(logs.at("rating_binary/binary_classification_task/auc"), 0.75);
    TempDir dir;
    model.save(dir / "m");
    Model again = Model::load(dir / "m");
    EXPECT_TRUE(testing::tensors_bitwise_equal(again.predict(train).at(kTask),
                                               model.predict(train).at(kTask)));
    again.fit(train, {.batch_size = 128, .epochs = 1, .progress = false});
  }
}

TEST(RankingModels, MultiTaskModelsGiveEachTaskItsOwnOutput) {
  const Dataset data = planted_dataset(400, 10);
  for (Model model : {MMOEModel(data.schema(), {.expert_block = MLPBlock({6}), .num_experts = 3}),
                      PLEModel(data.schema(), {.num_layers = 2, .expert_block = MLPBlock({6})})}) {
    SCOPED_TRACE(model.body().summary());
    ASSERT_EQ(model.tasks().size(), 3u);  // rating_binary, rating, genre
    model.build(data.schema(), 2);
    model.compile("adam", {.loss_weights = {1.0f, 0.5f, 0.25f}});
    model.fit(data, {.batch_size = 100, .epochs = 1, .progress = false});
    for (const auto& [name, p] : model.parameters()) {
      if (name.ends_with("/output/dense_0/kernel")) {
        EXPECT_EQ(p->value().size(0), 6) << name;  // its expert mixture, not a concatenation
      }
    }
    const auto predictions = model.predict(data);
    EXPECT_EQ(predictions.size(), 3u);
  }
}

TEST(RankingModels, TasksComeFromTheSchemaWhenNoneAreGiven) {
  const Dataset data = planted_dataset(50, 8);
  const Model model = DCNModel(data.schema(), {.deep_block = MLPBlock({4})});
  ASSERT_EQ(model.tasks().size(), 3u);  // rating_binary, rating, genre
  EXPECT_EQ(model.tasks()[0].target(), "rating_binary");
  EXPECT_EQ(model.tasks()[2].target(), "genre");
}

TEST(RankingModels, ErrorsNameTheProblem) {
  const Dataset data = planted_dataset(50, 9);
  EXPECT_THAT(error_of([&] { DLRMModel(data.schema(), {.embedding_dim = 4}); }),
              HasSubstr("DLRMModel: the schema has continuous columns (TE_a, TE_b), so a "
                        "bottom_block is required"));
  const Schema no_ids = data.schema().remove_by_tag(Tags::ITEM_ID);
  EXPECT_THAT(
      error_of([&] { NCFModel(no_ids); }),
      HasSubstr("NCFModel: expected one USER_ID and one ITEM_ID column, got [userId] and []"));
  EXPECT_THAT(error_of([&] { DCNModel(data.schema(), {.depth = 0}); }), HasSubstr("depth"));
  EXPECT_THAT(error_of([&] {
                WideAndDeepModel(data.schema(),
                                 {.wide_schema = data.schema().select_by_tag(Tags::TARGET)});
              }),
              HasSubstr("WideAndDeepModel: the wide schema has no categorical or continuous"));
  EXPECT_THAT(error_of([&] { DeepFMModel(data.schema().remove_by_tag(Tags::CATEGORICAL)); }),
              HasSubstr("DeepFMModel: the schema has no categorical column"));
  const Schema targets_only = data.schema().select_by_tag(Tags::TARGET);
  EXPECT_THAT(
      error_of([&] { MLPModel(targets_only); }),
      HasSubstr("ranking model: the schema has no categorical or continuous feature column"));
}

}  // namespace
}  // namespace recblocks
