// The JSON of every task kind, with non-default options, as the code before
// options reflection wrote it (commit 31ce016, PredictionTask::to_json()
// .dump()). Saved models keep loading and saving byte for byte the same.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "recblocks/blocks/transformations.h"
#include "recblocks/core/tensor.h"
#include "recblocks/metrics/metrics.h"
#include "recblocks/tasks/tasks.h"

namespace recblocks {
namespace {

struct GoldenTask {
  std::string name;
  PredictionTask task;
  std::string json;
};

Tensor counts(std::vector<std::int64_t> v) {
  return Tensor::from<std::int64_t>({static_cast<std::int64_t>(v.size())}, v);
}

// clang-format off
std::vector<GoldenTask> golden_tasks() {
  ItemRetrievalTask retrieval("item_id", {.metrics = {metrics::RecallAt(5), metrics::NDCGAt(20)},
                                          .task_name = "retrieve",
                                          .l2_normalization = true, .temperature = 0.05,
                                          .loss = "ce", .margin = 0.5f, .logq_correction = true,
                                          .remove_accidental_hits = false, .num_sampled = 7});
  retrieval.set_item_counts(counts({3, 0, 2, 5}));
  NextItemPredictionTask next("item_id", "item", 50,
                              {.metrics = {metrics::MRRAt(3)}, .task_name = "next",
                               .task_block = LogitsTemperatureScaler(0.5),
                               .weight_tying = false, .l2_normalization = true,
                               .temperature = 0.25, .sampled_softmax = true, .num_sampled = 10,
                               .sampler = "uniform", .min_sampled_id = 2,
                               .logq_correction = false, .remove_accidental_hits = false});
  NextItemPredictionTask next_counts("item_id", "item_id", 6, {.sampled_softmax = true,
                                                               .num_sampled = 2});
  next_counts.set_item_counts(counts({1, 1, 0, 4, 2, 9}));
  return {
      {"binary", BinaryClassificationTask("click", {.metrics = {metrics::AUC(), metrics::LogLoss()},
                                                    .pre = LogitsTemperatureScaler(2.0),
                                                    .task_block = LogitsTemperatureScaler(4.0),
                                                    .task_name = "ctr"}),
       R"({"kind":"binary_classification_task","metrics":["auc","logloss"],"name":"ctr","num_cla)"
       R"(sses":1,"pre":{"config":{"temperature":2.0},"type":"LogitsTemperatureScaler"},"target")"
       R"(:"click","task_block":{"config":{"temperature":4.0},"type":"LogitsTemperatureScaler"}})"},
      {"binary defaults", BinaryClassificationTask("click"),
       R"({"kind":"binary_classification_task","metrics":["precision","recall","binary_accuracy")"
       R"(,"auc"],"name":"click/binary_classification_task","num_classes":1,"pre":null,"target":)"
       R"("click","task_block":null})"},
      {"regression", RegressionTask("rating", {.metrics = {metrics::MAE()},
                                               .pre = LogitsTemperatureScaler(0.5)}),
       R"({"kind":"regression_task","metrics":["mean_absolute_error"],"name":"rating/regression_)"
       R"(task","num_classes":1,"pre":{"config":{"temperature":0.5},"type":"LogitsTemperatureSca)"
       R"(ler"},"target":"rating","task_block":null})"},
      {"multi-class", MultiClassClassificationTask("genre", 5, {.task_name = "genres"}),
       R"({"kind":"multi_class_classification_task","metrics":["accuracy"],"name":"genres","num_)"
       R"(classes":5,"pre":null,"target":"genre","task_block":null})"},
      {"item retrieval", retrieval,
       R"({"kind":"item_retrieval_task","metrics":["recall_at_5","ndcg_at_20"],"name":"retrieve")"
       R"(,"num_classes":1,"pre":null,"retrieval":{"item_counts":[3,0,2,5],"l2_normalization":tr)"
       R"(ue,"logq_correction":true,"loss":"categorical_crossentropy","margin":0.5,"num_sampled")"
       R"(:7,"remove_accidental_hits":false,"temperature":0.05},"target":"item_id","task_block":)"
       R"(null})"},
      {"item retrieval defaults", ItemRetrievalTask("item_id"),
       R"({"kind":"item_retrieval_task","metrics":["recall_at_10","mrr_at_10","ndcg_at_10","map_)"
       R"(at_10","precision_at_10"],"name":"item_id/item_retrieval_task","num_classes":1,"pre":n)"
       R"(ull,"retrieval":{"item_counts":null,"l2_normalization":false,"logq_correction":false,")"
       R"(loss":"categorical_crossentropy","margin":1.0,"num_sampled":0,"remove_accidental_hits")"
       R"(:true,"temperature":1.0},"target":"item_id","task_block":null})"},
      {"next item", next,
       R"({"kind":"next_item_prediction_task","metrics":["mrr_at_3"],"name":"next","next_item":{)"
       R"("domain":"item","item_counts":null,"l2_normalization":true,"logq_correction":false,"mi)"
       R"(n_sampled_id":2,"num_sampled":10,"remove_accidental_hits":false,"sampled_softmax":true)"
       R"(,"sampler":"uniform","temperature":0.25,"weight_tying":false},"num_classes":50,"pre":n)"
       R"(ull,"target":"item_id","task_block":{"config":{"temperature":0.5},"type":"LogitsTemper)"
       R"(atureScaler"}})"},
      {"next item with counts", next_counts,
       R"({"kind":"next_item_prediction_task","metrics":["recall_at_10","mrr_at_10","ndcg_at_10")"
       R"(,"map_at_10","precision_at_10"],"name":"item_id/next_item_prediction_task","next_item")"
       R"(:{"domain":"item_id","item_counts":[1,1,0,4,2,9],"l2_normalization":false,"logq_correc)"
       R"(tion":true,"min_sampled_id":0,"num_sampled":2,"remove_accidental_hits":true,"sampled_s)"
       R"(oftmax":true,"sampler":"popularity","temperature":1.0,"weight_tying":true},"num_classe)"
       R"(s":6,"pre":null,"target":"item_id","task_block":null})"},
  };
}
// clang-format on

TEST(TaskJsonGolden, WritesTheSameJsonAsBefore) {
  for (const GoldenTask& g : golden_tasks()) {
    EXPECT_EQ(g.task.to_json().dump(), g.json) << g.name;
  }
}

TEST(TaskJsonGolden, ReadsAndWritesTheGoldenJsonByteForByte) {
  for (const GoldenTask& g : golden_tasks()) {
    const PredictionTask loaded = PredictionTask::from_json(nlohmann::json::parse(g.json));
    EXPECT_EQ(loaded.to_json().dump(), g.json) << g.name;
  }
}

}  // namespace
}  // namespace recblocks
