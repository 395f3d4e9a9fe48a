#include "recblocks/model/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "io/test_files.h"
#include "model/model_testing.h"

namespace recblocks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::planted_dataset;
using testing::small_seed_model;

std::vector<std::string> keys(const Logs& logs) {
  std::vector<std::string> out;
  for (const auto& [k, v] : logs) out.push_back(k);
  return out;
}

TEST(Model, SeedModelLearnsThePlantedSignal) {
  const Dataset train = planted_dataset(4000, 1);
  const Dataset valid = planted_dataset(1000, 1).slice_rows(0, 1000);
  Model model = small_seed_model(train);
  model.compile(optim::Adam({.learning_rate = 1e-2f}));
  const History history = model.fit(train, {.batch_size = 128, .epochs = 4, .progress = false});
  ASSERT_EQ(history.epochs.size(), 4u);
  const auto loss = history["loss"];
  EXPECT_LT(loss.back(), loss.front());
  const Logs scores = model.evaluate(valid, {.batch_size = 256, .progress = false});
  EXPECT_THAT(keys(scores), ElementsAre("loss", "rating_binary/binary_classification_task/auc",
                                        "regularization_loss", "total_loss"));
  EXPECT_GT(scores.at("rating_binary/binary_classification_task/auc"), 0.75);
  EXPECT_EQ(scores.at("regularization_loss"), 0.0);
  EXPECT_EQ(scores.at("total_loss"), scores.at("loss"));
}

TEST(Model, EvaluateEqualsTheFormulasOnPredict) {
  const Dataset data = planted_dataset(700, 2);
  Model model = small_seed_model(data, 5);
  model.compile("adam");
  const Logs scores = model.evaluate(data, {.batch_size = 128, .progress = false});
  const Tensor p = model.predict(data, 100).at("rating_binary/binary_classification_task");
  ASSERT_EQ(p.shape(), Shape({700}));
  const auto* y = data.column("rating_binary").values.data<std::int32_t>();
  double bce = 0;
  std::vector<float> labels(700);
  for (int i = 0; i < 700; ++i) {
    const double pi = p.data<float>()[i];
    bce -= y[i] ? std::log(pi) : std::log(1 - pi);
    labels[i] = static_cast<float>(y[i]);
  }
  EXPECT_NEAR(scores.at("loss"), bce / 700, 1e-5);
  EXPECT_NEAR(scores.at("rating_binary/binary_classification_task/auc"),
              metrics::roc_auc(p.data<float>(), labels.data(), 700), 1e-12);
}

TEST(Model, RegularizationLossIsReportedAndAddedToTotal) {
  const Dataset data = planted_dataset(300, 3);
  Model model = small_seed_model(data, 0, {.kernel_regularizer_l2 = 1e-3});
  model.compile("sgd");
  const Logs scores = model.evaluate(data, {.progress = false});
  // The top MLP's two kernels carry the L2 term (the body is
  // Sequential[interaction, top MLP]).
  const auto state = model.state();
  double expected = 0;
  for (const char* name : {"1/dense_0/kernel", "1/dense_1/kernel"}) {
    ASSERT_TRUE(state.count(name)) << name;
    double s = 0;
    for (float w : state.at(name).to_vector()) s += static_cast<double>(w) * w;
    expected += 1e-3 * s;
  }
  EXPECT_GT(expected, 0);
  EXPECT_NEAR(scores.at("regularization_loss"), expected, 1e-6 * expected);
  EXPECT_DOUBLE_EQ(scores.at("total_loss"), scores.at("loss") + scores.at("regularization_loss"));
  const History h = model.fit(data, {.batch_size = 100, .epochs = 1, .progress = false});
  EXPECT_GT(h["regularization_loss"][0], 0);
}

TEST(Model, SeveralTasksWithLossWeights) {
  const Dataset data = planted_dataset(600, 4);
  Model model = Model::from_block(testing::small_dlrm_body(data.schema()), data.schema());
  ASSERT_EQ(model.tasks().size(), 3u);
  model.build(data.schema(), 1);
  model.compile(optim::Adam({.learning_rate = 1e-2f}), {.loss_weights = {1.0f, 0.5f, 2.0f}});
  const Logs s = model.evaluate(data, {.progress = false});
  EXPECT_NEAR(s.at("loss"),
              s.at("rating_binary/binary_classification_task/loss") +
                  0.5 * s.at("rating/regression_task/loss") +
                  2.0 * s.at("genre/multi_class_classification_task/loss"),
              1e-5);
  EXPECT_TRUE(s.count("rating/regression_task/root_mean_squared_error"));
  EXPECT_TRUE(s.count("genre/multi_class_classification_task/accuracy"));
  EXPECT_TRUE(s.count("rating_binary/binary_classification_task/precision"));
  const History h = model.fit(data, {.batch_size = 64, .epochs = 25, .progress = false});
  EXPECT_LT(h["loss"].back(), h["loss"].front());
  EXPECT_GT(model.evaluate(data, {.progress = false})
                .at("genre/multi_class_classification_task/accuracy"),
            0.6);
  EXPECT_THROW(model.compile("adam", {.loss_weights = {1.0f}}), ValueError);
}

TEST(Model, TrainingIsReproducibleAndFusedUpdatesChangeNothing) {
  const Dataset data = planted_dataset(500, 5);
  for (const char* name : {"adagrad", "sgd", "rowwise_adagrad", "lazy_adam", "adam"}) {
    SCOPED_TRACE(name);
    Model fused = small_seed_model(data, 9);
    fused.compile(name, {.fuse_sparse_updates = true});
    fused.fit(data, {.batch_size = 64, .epochs = 2, .seed = 3, .progress = false});
    Model plain = small_seed_model(data, 9);
    plain.compile(name, {.fuse_sparse_updates = false});
    plain.fit(data, {.batch_size = 64, .epochs = 2, .seed = 3, .progress = false});
    EXPECT_TRUE(testing::same_state(fused, plain));
  }
}

TEST(Model, ValidationDataAndEarlyStopping) {
  const Dataset data = planted_dataset(400, 6);
  Model model = small_seed_model(data);
  // A zero learning rate never improves val_loss after the first epoch.
  model.compile(optim::SGD({.learning_rate = 0.0f}));
  const History h =
      model.fit(data, {.batch_size = 100,
                       .epochs = 10,
                       .validation_data = data,
                       .callbacks = {EarlyStopping({.monitor = "val_loss", .patience = 1})},
                       .progress = false});
  EXPECT_EQ(h.epochs.size(), 2u);  // no improvement in epoch 2: patience 1 is spent
  EXPECT_TRUE(h.epochs[0].count("val_rating_binary/binary_classification_task/auc"));
  EXPECT_THROW(model.fit(data, {.epochs = 1,
                                .callbacks = {EarlyStopping({.monitor = "val_nothing"})},
                                .progress = false}),
               ValueError);
}

TEST(Model, RestoreBestWeights) {
  const Dataset data = planted_dataset(400, 7);
  Model model = small_seed_model(data);
  // A huge SGD step makes later epochs worse than the first.
  model.compile(optim::SGD({.learning_rate = 3.0f}));
  std::map<std::string, Tensor> after_first;
  struct Grab : Callback {
    std::map<std::string, Tensor>* out;
    explicit Grab(std::map<std::string, Tensor>* o) : out(o) {}
    bool on_epoch_end(Model& m, int epoch, const Logs&) override {
      if (epoch == 0)
        for (const auto& [k, v] : m.state()) out->emplace(k, v.clone());
      return true;
    }
  };
  const History h =
      model.fit(data, {.batch_size = 50,
                       .epochs = 4,
                       .validation_data = data,
                       .callbacks = {std::make_shared<Grab>(&after_first),
                                     EarlyStopping({.patience = 10, .restore_best_weights = true})},
                       .progress = false});
  const auto val = h["val_loss"];
  const auto best = std::min_element(val.begin(), val.end()) - val.begin();
  if (best == 0) {
    for (const auto& [k, v] : model.state()) {
      EXPECT_EQ(std::memcmp(v.raw(), after_first.at(k).raw(), v.nbytes()), 0) << k;
    }
  }
  EXPECT_NEAR(model.evaluate(data, {.progress = false}).at("loss"), val[best], 1e-6);
}

TEST(Model, NonFiniteInputNamesTheColumnAndStep) {
  Dataset data = planted_dataset(256, 8);
  data.column("TE_b").values.data<float>()[130] = NAN;
  Model model = small_seed_model(data);
  model.compile("adam");
  try {
    model.fit(data, {.batch_size = 64, .epochs = 1, .shuffle = false, .progress = false});
    FAIL() << "a NaN input trained";
  } catch (const NonFiniteError& e) {
    // ReLU drops the NaN in the forward pass (max(nan, 0) is 0), so the
    // loss is finite; the gradient is not, and the input is named.
    EXPECT_THAT(e.what(), HasSubstr("training stopped at step 3 (epoch 1, batch 3): "));
    EXPECT_THAT(e.what(),
                HasSubstr("first non-finite value: input column 'TE_b' is nan at batch row 2"));
  }
}

TEST(Model, DivergenceStopsWithTheFirstBadTensor) {
  const Dataset data = planted_dataset(512, 9);
  Model model = small_seed_model(data);
  model.compile(optim::SGD({.learning_rate = 1e30f}));
  try {
    model.fit(data, {.batch_size = 64, .epochs = 3, .progress = false});
    FAIL() << "lr 1e30 trained without an error";
  } catch (const NonFiniteError& e) {
    EXPECT_THAT(e.what(), HasSubstr("training stopped at step "));
    EXPECT_THAT(e.what(),
                ::testing::AnyOf(HasSubstr("parameter '"), HasSubstr("the output of op '"),
                                 HasSubstr("is not finite"), HasSubstr("non-finite")));
  }
}

TEST(Model, PredictToWritesADataset) {
  const Dataset data = planted_dataset(300, 10);
  Model model = small_seed_model(data, 2);
  model.compile("adam");
  testing::TempDir dir;
  model.predict_to(data, dir / "scored", 64);
  const Dataset scored = Dataset::load(dir / "scored");
  EXPECT_EQ(scored.num_rows(), 300);
  const Tensor expected = model.predict(data).at("rating_binary/binary_classification_task");
  const Tensor& got = scored.column("rating_binary_prediction").values;
  EXPECT_EQ(std::memcmp(got.raw(), expected.raw(), expected.nbytes()), 0);
  EXPECT_EQ(scored.column("userId").values.data<std::int32_t>()[7],
            data.column("userId").values.data<std::int32_t>()[7]);
}

TEST(Model, CompileBuildEvaluateAndFitInAnyOrder) {
  const Dataset data = planted_dataset(300, 12);
  Model a = testing::small_dlrm_body(data.schema()).connect(testing::seed_task());
  a.compile("adam");
  a.build(data.schema(), 4);  // compile first, then build: fit still initialises the optimizer
  a.evaluate(data, {.progress = false});
  a.fit(data, {.batch_size = 100, .epochs = 1, .progress = false});
  Model b = small_seed_model(data, 4);
  b.compile("adam");
  b.fit(data, {.batch_size = 100, .epochs = 1, .progress = false});
  EXPECT_TRUE(testing::same_state(a, b));
}

TEST(Model, RecompilingStopsTheOldOptimizersFusedUpdates) {
  const Dataset data = planted_dataset(300, 13);
  Model model = small_seed_model(data, 1);
  Optimizer lazy = optim::LazyAdam();
  model.compile(lazy);
  model.fit(data, {.batch_size = 100, .epochs = 1, .progress = false});
  // Now plain SGD at lr 0: nothing may move, although `lazy` is still alive.
  model.compile(optim::SGD({.learning_rate = 0.0f}));
  std::map<std::string, Tensor> before;
  for (const auto& [k, v] : model.state()) before.emplace(k, v.clone());
  model.fit(data, {.batch_size = 100, .epochs = 1, .progress = false});
  for (const auto& [k, v] : model.state()) {
    EXPECT_EQ(std::memcmp(v.raw(), before.at(k).raw(), v.nbytes()), 0) << k;
  }
}

TEST(Model, UndefinedMetricIsNaNNotAnAbortedEpoch) {
  Dataset data = planted_dataset(200, 14);
  auto* y = data.column("rating_binary").values.data<std::int32_t>();
  for (int i = 0; i < 200; ++i) y[i] = 1;  // one class: AUC is undefined
  Model model = small_seed_model(data);
  model.compile("adam");
  const History h = model.fit(data, {.batch_size = 100, .epochs = 1, .progress = false});
  EXPECT_TRUE(std::isnan(h["rating_binary/binary_classification_task/auc"][0]));
  EXPECT_TRUE(std::isnan(model.evaluate(data, {.progress = false})
                             .at("rating_binary/binary_classification_task/auc")));
}

TEST(Model, ErrorsNameWhatIsWrong) {
  const Dataset data = planted_dataset(100, 11);
  Model model = testing::small_dlrm_body(data.schema()).connect(testing::seed_task());
  EXPECT_THAT([&] { model.fit(data, {.progress = false}); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("not compiled")));
  model.compile("adam");
  const Dataset no_target = data.select_by_name({"userId", "movieId", "gender", "TE_a", "TE_b"});
  EXPECT_THAT([&] { model.fit(no_target, {.progress = false}); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("no target column 'rating_binary'")));
  EXPECT_THAT([&] { model.fit(data, {.batch_size = 0}); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("batch_size is 0")));
  EXPECT_THAT([] { Model(Block(), {testing::seed_task()}); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("body block is empty")));
  EXPECT_THAT([] { optim::by_name("rmsprop"); }, ::testing::Throws<ValueError>());
  EXPECT_THAT([] { Model().evaluate(planted_dataset(10)); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("this Model is empty")));
}

}  // namespace
}  // namespace recblocks
