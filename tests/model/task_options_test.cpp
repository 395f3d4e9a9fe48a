// The tasks' option tables: the docs list every key a task's JSON has, and
// reading reports unknown keys and wrong types by name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/tasks/tasks.h"

namespace recblocks {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using json = nlohmann::json;

// The keys of a task's JSON, a section's as "<section>.<key>".
std::set<std::string> task_json_keys(const json& j) {
  std::set<std::string> out;
  for (const auto& [key, value] : j.items()) {
    if (key == "retrieval" || key == "next_item") {
      for (const auto& [k, v] : value.items()) out.insert(key + "." + k);
    } else {
      out.insert(key);
    }
  }
  return out;
}

PredictionTask task_of_kind(const std::string& kind) {
  if (kind == BinaryClassificationTask::kKind) return BinaryClassificationTask("y");
  if (kind == RegressionTask::kKind) return RegressionTask("y");
  if (kind == MultiClassClassificationTask::kKind) return MultiClassClassificationTask("y", 3);
  if (kind == ItemRetrievalTask::kKind) return ItemRetrievalTask("item");
  return NextItemPredictionTask("item", "item", 10);
}

TEST(TaskDocs, ListEveryKindWithTheKeysItsJsonHas) {
  std::vector<std::string> kinds;
  for (const TaskKindDoc& d : task_kind_docs()) {
    kinds.push_back(d.kind);
    std::set<std::string> documented;
    for (const options::FieldDoc& row : d.options) {
      documented.insert(row.key);
      EXPECT_FALSE(row.doc.empty()) << d.kind << " " << row.key;
    }
    EXPECT_EQ(documented, task_json_keys(task_of_kind(d.kind).to_json())) << d.kind;
  }
  EXPECT_THAT(kinds, ElementsAre("binary_classification_task", "regression_task",
                                 "multi_class_classification_task", "item_retrieval_task",
                                 "next_item_prediction_task"));
  const std::string help = task_kinds_help();
  EXPECT_THAT(help, HasSubstr("next_item_prediction_task\n  kind "));
  EXPECT_THAT(help, HasSubstr("  next_item.sampler "));
}

json retrieval_json() { return ItemRetrievalTask("item").to_json(); }
json next_item_json() { return NextItemPredictionTask("item", "item", 10).to_json(); }

TEST(TaskOptions, UnknownKeysAreNamedWithTheKnownOnes) {
  json j = BinaryClassificationTask("y").to_json();
  j["metric"] = json::array();
  EXPECT_THAT([&] { (void)PredictionTask::from_json(j); },
              ThrowsMessage<ValueError>(AllOf(HasSubstr("task: unknown key 'metric' (known: "),
                                              HasSubstr("metrics"), HasSubstr("next_item"))));
  j = retrieval_json();
  j["retrieval"]["temprature"] = 0.1;
  EXPECT_THAT([&] { (void)PredictionTask::from_json(j); },
              ThrowsMessage<ValueError>(
                  AllOf(HasSubstr("task 'item': retrieval: unknown key 'temprature' (known: "),
                        HasSubstr("temperature"))));
  j = next_item_json();
  j["next_item"]["samplers"] = "uniform";
  EXPECT_THAT([&] { (void)PredictionTask::from_json(j); },
              ThrowsMessage<ValueError>(
                  HasSubstr("task 'item': next_item: unknown key 'samplers' (known: ")));
}

TEST(TaskOptions, WrongTypesNameTheKeyTheTypeAndTheValue) {
  json j = retrieval_json();
  j["retrieval"]["temperature"] = "cold";
  EXPECT_THAT([&] { (void)PredictionTask::from_json(j); },
              ThrowsMessage<ValueError>(HasSubstr(
                  "task 'item': retrieval: 'temperature' must be a number, got \"cold\"")));
  j = next_item_json();
  j["next_item"]["num_sampled"] = 2.5;
  EXPECT_THAT([&] { (void)PredictionTask::from_json(j); },
              ThrowsMessage<ValueError>(
                  HasSubstr("task 'item': next_item: 'num_sampled' must be an integer, got 2.5")));
  j = RegressionTask("y").to_json();
  j["metrics"] = "mae";
  EXPECT_THAT([&] { (void)PredictionTask::from_json(j); },
              ThrowsMessage<ValueError>(
                  HasSubstr("task: 'metrics' must be a list of metric names, got \"mae\"")));
  j = RegressionTask("y").to_json();
  j["name"] = 3;
  EXPECT_THAT([&] { (void)PredictionTask::from_json(j); },
              ThrowsMessage<ValueError>(HasSubstr("task: 'name' must be a string, got 3")));
  j = RegressionTask("y").to_json();
  j.erase("target");
  EXPECT_THAT([&] { (void)PredictionTask::from_json(j); },
              ThrowsMessage<ValueError>(HasSubstr("task: missing 'target'")));
  j = retrieval_json();
  j["retrieval"] = 1;
  EXPECT_THAT([&] { (void)PredictionTask::from_json(j); },
              ThrowsMessage<ValueError>(HasSubstr("task: 'retrieval' must be an object, got 1")));
}

}  // namespace
}  // namespace recblocks
