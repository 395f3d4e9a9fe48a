#include "recblocks/tasks/tasks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "model/model_testing.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> metric_names(const PredictionTask& task) {
  std::vector<std::string> names;
  for (const Metric& m : task.make_metrics()) names.push_back(m.name());
  return names;
}

TEST(PredictionTask, NamesAndDefaultMetricsFollowMerlin) {
  const BinaryClassificationTask binary("rating_binary");
  EXPECT_EQ(binary.name(), "rating_binary/binary_classification_task");
  EXPECT_THAT(metric_names(binary), ElementsAre("precision", "recall", "binary_accuracy", "auc"));
  const RegressionTask regression("rating");
  EXPECT_EQ(regression.name(), "rating/regression_task");
  EXPECT_THAT(metric_names(regression), ElementsAre("root_mean_squared_error"));
  const MultiClassClassificationTask multi("genre", 4);
  EXPECT_EQ(multi.name(), "genre/multi_class_classification_task");
  EXPECT_EQ(multi.num_classes(), 4);
  EXPECT_THAT(metric_names(multi), ElementsAre("accuracy"));
  EXPECT_THAT(metric_names(testing::seed_task()), ElementsAre("auc"));
  EXPECT_EQ(BinaryClassificationTask("click", {.task_name = "ctr"}).name(), "ctr");
}

TEST(PredictionTask, MetricsAreFreshPerCall) {
  const BinaryClassificationTask task("y");
  auto first = task.make_metrics();
  first[3].update(Tensor::from({2}, {0.9f, 0.1f}), Tensor::from({2}, {1.0f, 0.0f}));
  EXPECT_DOUBLE_EQ(first[3].result(), 1.0);
  EXPECT_THROW(task.make_metrics()[3].result(), ValueError);  // no rows seen
}

TEST(PredictionTask, PredictionsAreSigmoidIdentityAndSoftmax) {
  const Tensor logits = Tensor::from({3, 1}, {0.0f, 2.0f, -1.0f});
  const Tensor p = BinaryClassificationTask("y").predictions(logits);
  ASSERT_EQ(p.shape(), Shape({3}));
  EXPECT_FLOAT_EQ(p.data<float>()[0], 0.5f);
  EXPECT_NEAR(p.data<float>()[1], 1 / (1 + std::exp(-2.0)), 1e-7);
  EXPECT_NEAR(p.data<float>()[2], 1 / (1 + std::exp(1.0)), 1e-7);
  const Tensor r = RegressionTask("y").predictions(logits);
  EXPECT_EQ(r.to_vector(), (std::vector<float>{0.0f, 2.0f, -1.0f}));
  const Tensor s =
      MultiClassClassificationTask("y", 3).predictions(Tensor::from({1, 3}, {1.0f, 2.0f, 3.0f}));
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(s.data<float>()[0], std::exp(1.0) / z, 1e-7);
  EXPECT_NEAR(s.data<float>()[2], std::exp(3.0) / z, 1e-7);
}

TEST(PredictionTask, TargetsAreCheckedAndNamed) {
  const BinaryClassificationTask binary("rating_binary");
  const Tensor t =
      binary.prepare_targets(Tensor::from<std::int32_t>({3}, std::vector<std::int32_t>{1, 0, 1}));
  EXPECT_EQ(t.shape(), Shape({3, 1}));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 0, 1}));
  try {
    binary.prepare_targets(Tensor::from<std::int32_t>({3}, std::vector<std::int32_t>{1, 0, 4}));
    FAIL() << "a label of 4 was accepted";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'rating_binary' row 2 is 4, expected 0 or 1"));
  }
  EXPECT_THAT(
      [&] {
        RegressionTask("r").prepare_targets(Tensor::from({2}, {1.0f, NAN}));
      },
      ::testing::ThrowsMessage<ValueError>(HasSubstr("row 1 is nan, expected a finite number")));
  const MultiClassClassificationTask multi("genre", 4);
  EXPECT_EQ(multi.prepare_targets(Tensor::from<std::int32_t>({2}, std::vector<std::int32_t>{3, 0}))
                .dtype(),
            DType::kInt64);
  EXPECT_THAT(
      [&] { multi.prepare_targets(Tensor::from<std::int32_t>({1}, std::vector<std::int32_t>{4})); },
      ::testing::ThrowsMessage<ValueError>(HasSubstr("row 0 is 4, expected a class id in [0, 4)")));
  EXPECT_THROW(MultiClassClassificationTask("genre", 1), ValueError);
}

TEST(PredictionTask, LossMatchesTheFormulas) {
  Tape tape;
  const Var logits = tape.constant(Tensor::from({2, 1}, {0.5f, -1.0f}));
  const Tensor y = Tensor::from({2, 1}, {1.0f, 0.0f});
  const double bce = (std::log1p(std::exp(-0.5)) + std::log1p(std::exp(-1.0))) / 2;
  EXPECT_NEAR(BinaryClassificationTask("y").loss(logits, y).value().item(), bce, 1e-6);
  EXPECT_NEAR(RegressionTask("y").loss(logits, y).value().item(), (0.25 + 1.0) / 2, 1e-6);
  const Var multi_logits = tape.constant(Tensor::from({1, 3}, {1.0f, 2.0f, 3.0f}));
  const Tensor label = Tensor::from<std::int64_t>({1}, std::vector<std::int64_t>{0});
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(MultiClassClassificationTask("y", 3).loss(multi_logits, label).value().item(),
              -std::log(std::exp(1.0) / z), 1e-6);
}

TEST(PredictionTask, HeadIsPreThenDenseOutput) {
  // The seed's task: x / 2 -> Dense(1); its parameters are the output layer's.
  const PredictionTask task = testing::seed_task();
  BlockContext context(3);
  task.head().build(FlowSpec::tensor({Shape({4})}), context);
  const auto params = task.head().parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "output/dense_0/kernel");
  EXPECT_EQ(params[0].second->value().shape(), Shape({4, 1}));
  EXPECT_EQ(params[1].first, "output/dense_0/bias");
  const Tensor x = Tensor::from({1, 4}, {2.0f, 4.0f, -6.0f, 8.0f});
  Tape tape;
  const Batch empty;
  RunContext run(tape, empty, false);
  const Var out = task.head().forward(Flow::tensor(tape.constant(x)), run).tensor();
  const float* k = params[0].second->value().data<float>();
  const float expected = 1.0f * k[0] + 2.0f * k[1] - 3.0f * k[2] + 4.0f * k[3];
  EXPECT_NEAR(out.value().item(), expected, 1e-6);
}

TEST(PredictionTask, JsonRoundTrip) {
  const PredictionTask task = testing::seed_task();
  const PredictionTask again = PredictionTask::from_json(task.to_json());
  EXPECT_EQ(again.to_json(), task.to_json());
  EXPECT_EQ(again.name(), task.name());
  EXPECT_THAT(metric_names(again), ElementsAre("auc"));
  const auto multi = PredictionTask::from_json(MultiClassClassificationTask("g", 5).to_json());
  EXPECT_EQ(multi.num_classes(), 5);
  EXPECT_THAT(
      [] {
        PredictionTask::from_json({{"kind", "ranking_task"}, {"target", "y"}});
      },
      ::testing::ThrowsMessage<ValueError>(HasSubstr("task kind 'ranking_task' is unknown")));
  EXPECT_THAT(
      [] {
        PredictionTask::from_json({{"kind", "regression_task"}, {"target", "y"}, {"weight", 2}});
      },
      ::testing::ThrowsMessage<ValueError>(HasSubstr("unknown key 'weight'")));
}

TEST(PredictionTasks, OnePerTargetFromTheSchemaTags) {
  const auto tasks = prediction_tasks(testing::planted_dataset(4).schema());
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].impl().kind_name(), BinaryClassificationTask::kKind);
  EXPECT_EQ(tasks[0].target(), "rating_binary");
  EXPECT_EQ(tasks[1].impl().kind_name(), RegressionTask::kKind);
  EXPECT_EQ(tasks[2].impl().kind_name(), MultiClassClassificationTask::kKind);
  EXPECT_EQ(tasks[2].num_classes(), 4);
  const Schema untagged({ColumnSchema("y", DType::kFloat32, {Tags::TARGET})});
  EXPECT_THAT([&] { prediction_tasks(untagged); },
              ::testing::ThrowsMessage<ValueError>(
                  HasSubstr("target column 'y' (tags {target}) has no task tag")));
  EXPECT_THAT(
      [] { prediction_tasks(Schema({ColumnSchema("x", DType::kFloat32, {Tags::CONTINUOUS})})); },
      ::testing::ThrowsMessage<ValueError>(HasSubstr("no TARGET column")));
}

// Each kind is its own class: typed access finds only its own kind, and
// shares the task's state.
TEST(TaskKinds, TypedAccessFindsOnlyItsOwnKind) {
  const std::vector<PredictionTask> ranking = {BinaryClassificationTask("y"), RegressionTask("y"),
                                               MultiClassClassificationTask("y", 3)};
  for (const PredictionTask& task : ranking) {
    EXPECT_FALSE(task.as_item_retrieval().has_value()) << task.name();
    EXPECT_FALSE(task.as_next_item().has_value()) << task.name();
    EXPECT_FALSE(task.impl().recommends_items()) << task.name();
  }
  const PredictionTask retrieval = ItemRetrievalTask("movieId", {.temperature = 0.5});
  ASSERT_TRUE(retrieval.as_item_retrieval().has_value());
  EXPECT_FALSE(retrieval.as_next_item().has_value());
  EXPECT_EQ(retrieval.as_item_retrieval()->options().temperature, 0.5);
  const PredictionTask next = NextItemPredictionTask("movieId", "movieId", 10, {.temperature = 2});
  ASSERT_TRUE(next.as_next_item().has_value());
  EXPECT_FALSE(next.as_item_retrieval().has_value());
  EXPECT_EQ(next.as_next_item()->options().temperature, 2);
  EXPECT_EQ(next.as_next_item()->domain(), "movieId");
  // The typed handle shares the state: counts set through it are the task's.
  const std::vector<std::int64_t> counts = {1, 2, 3};
  retrieval.as_item_retrieval()->set_item_counts(Tensor::from<std::int64_t>({3}, counts));
  EXPECT_EQ(retrieval.to_json().at("retrieval").at("item_counts"), nlohmann::json({1, 2, 3}));
}

// What Model::predict and the recommender ask is each kind's answer.
TEST(TaskKinds, PredictionPropertiesPerKind) {
  EXPECT_EQ(BinaryClassificationTask("y").impl().prediction_shape(7), Shape({7}));
  EXPECT_EQ(RegressionTask("y").impl().prediction_shape(7), Shape({7}));
  EXPECT_EQ(MultiClassClassificationTask("y", 3).impl().prediction_shape(7), Shape({7, 3}));
  const NextItemPredictionTask next("movieId", "movieId", 10);
  EXPECT_EQ(next.impl().prediction_shape(7), Shape({7, 10}));
  EXPECT_TRUE(next.impl().scores_catalogue());
  EXPECT_FALSE(next.impl().scores_within_batch());
  EXPECT_TRUE(next.impl().recommends_items());
  const ItemRetrievalTask retrieval("movieId");
  EXPECT_TRUE(retrieval.impl().scores_within_batch());
  EXPECT_FALSE(retrieval.impl().scores_catalogue());
  EXPECT_TRUE(retrieval.impl().recommends_items());
  for (const PredictionTask& task : {PredictionTask(BinaryClassificationTask("y")),
                                     PredictionTask(MultiClassClassificationTask("y", 3))}) {
    EXPECT_FALSE(task.impl().scores_within_batch());
    EXPECT_FALSE(task.impl().scores_catalogue());
  }
}

// The optional interfaces are offered exactly when the settings need them.
TEST(TaskKinds, OptionalInterfacesFollowTheSettings) {
  EXPECT_EQ(BinaryClassificationTask("y").item_counts_user(), nullptr);
  EXPECT_EQ(BinaryClassificationTask("y").negative_drawer(), nullptr);
  EXPECT_EQ(MultiClassClassificationTask("y", 3).item_counts_user(), nullptr);
  EXPECT_EQ(ItemRetrievalTask("m").item_counts_user(), nullptr);
  EXPECT_EQ(ItemRetrievalTask("m").negative_drawer(), nullptr);
  EXPECT_NE(ItemRetrievalTask("m", {.logq_correction = true}).item_counts_user(), nullptr);
  EXPECT_EQ(ItemRetrievalTask("m", {.logq_correction = true}).negative_drawer(), nullptr);
  const ItemRetrievalTask sampled("m", {.num_sampled = 4});
  EXPECT_NE(sampled.item_counts_user(), nullptr);
  EXPECT_NE(sampled.negative_drawer(), nullptr);
  EXPECT_EQ(NextItemPredictionTask("m", "m", 10).item_counts_user(), nullptr);
  EXPECT_NE(NextItemPredictionTask("m", "m", 10, {.sampled_softmax = true, .num_sampled = 3})
                .item_counts_user(),
            nullptr);
  EXPECT_EQ(NextItemPredictionTask(
                "m", "m", 10, {.sampled_softmax = true, .num_sampled = 3, .sampler = "uniform"})
                .item_counts_user(),
            nullptr);
  EXPECT_EQ(NextItemPredictionTask("m", "m", 10).negative_drawer(), nullptr);
  // Without num_sampled there is no catalogue to set.
  EXPECT_THAT([] { ItemRetrievalTask("m").set_item_catalogue(testing::planted_dataset(4)); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("only an item retrieval task with "
                                                             "num_sampled draws items")));
}

// A pre that only scales is folded into the output layer, whatever its
// type, by its declared input_scale: the head's output is the unfolded
// forward's.
TEST(TaskKinds, AScalingPreIsFoldedIntoTheOutputLayer) {
  const BinaryClassificationTask task("y", {.pre = LogitsTemperatureScaler(4.0)});
  const Block& head = task.head();
  BlockContext context(1);
  head.build(FlowSpec::tensor({Shape{3}}), context);
  Block output;
  for (const auto& [key, child] : head.impl().children()) {
    if (key == "output") output = child;
  }
  ASSERT_TRUE(output.defined());
  const Tensor x = testing::uniform({5, 3}, 2, -1.0f, 1.0f);
  NoGradGuard no_grad;
  Tape tape;
  const Batch none;
  RunContext run(tape, none, false);
  const Tensor folded = head.forward(Flow::tensor(tape.constant(x)), run).tensor().value();
  const Tensor plain =
      output.forward(Flow::tensor(ops::scale(tape.constant(x), 0.25f)), run).tensor().value();
  ASSERT_EQ(folded.shape(), plain.shape());
  for (std::int64_t i = 0; i < folded.numel(); ++i)
    EXPECT_EQ(folded.data<float>()[i], plain.data<float>()[i]) << i;
}

}  // namespace
}  // namespace recblocks
