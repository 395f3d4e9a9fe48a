#include "recblocks/tasks/tasks.h"

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>

#include "recblocks/core/error.h"

namespace recblocks {

using json = nlohmann::json;

namespace {

// The task kinds by their JSON "kind": each reads its own section.
using TaskFromJson = PredictionTask (*)(std::string target, TaskOptions options, const json& json);
struct TaskKind {
  std::string_view name;
  TaskFromJson from_json;
};
constexpr TaskKind kTaskKinds[] = {
    {BinaryClassificationTask::kKind, &BinaryClassificationTask::from_task_json},
    {RegressionTask::kKind, &RegressionTask::from_task_json},
    {MultiClassClassificationTask::kKind, &MultiClassClassificationTask::from_task_json},
    {ItemRetrievalTask::kKind, &ItemRetrievalTask::from_task_json},
    {NextItemPredictionTask::kKind, &NextItemPredictionTask::from_task_json}};

const TaskKind& task_kind(const std::string& name) {
  for (const TaskKind& kind : kTaskKinds) {
    if (kind.name == name) return kind;
  }
  std::string expected;
  constexpr std::size_t n = std::size(kTaskKinds);
  for (std::size_t i = 0; i < n; ++i) {
    expected += fmt::format("{}{}", i == 0 ? "" : i + 1 == n ? " or " : ", ", kTaskKinds[i].name);
  }
  throw ValueError(fmt::format("task kind '{}' is unknown (expected {})", name, expected));
}

PredictionTask from_json_checked(const json& j) {
  RB_CHECK(j.is_object(), ValueError, "a task must be a JSON object, got {}", j.dump());
  for (const auto& [key, value] : j.items()) {
    RB_CHECK(key == "kind" || key == "target" || key == "name" || key == "num_classes" ||
                 key == "metrics" || key == "task_block" || key == "pre" || key == "retrieval" ||
                 key == "next_item",
             ValueError,
             "task: unknown key '{}' (expected kind, target, name, num_classes, metrics, "
             "task_block, pre, retrieval, "
             "next_item)",
             key);
  }
  for (const char* key : {"kind", "target"}) {
    RB_CHECK(j.contains(key) && j[key].is_string(), ValueError,
             "task: '{}' is missing or not a string in {}", key, j.dump());
  }
  TaskOptions options;
  if (j.contains("name")) options.task_name = j["name"].get<std::string>();
  if (j.contains("metrics")) {
    for (const json& m : j["metrics"])
      options.metrics.push_back(metrics::by_name(m.get<std::string>()));
  }
  if (j.contains("task_block") && !j["task_block"].is_null())
    options.task_block = Block::from_json(j["task_block"]);
  if (j.contains("pre") && !j["pre"].is_null()) options.pre = Block::from_json(j["pre"]);
  const TaskKind& kind = task_kind(j["kind"].get<std::string>());
  return kind.from_json(j["target"].get<std::string>(), std::move(options), j);
}

}  // namespace

PredictionTask PredictionTask::from_json(const json& j) {
  try {
    return from_json_checked(j);
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("task {}: a value has the wrong type: {}", j.dump(), e.what()));
  }
}

std::vector<PredictionTask> prediction_tasks(const Schema& schema) {
  std::vector<PredictionTask> tasks;
  for (const ColumnSchema& column : schema) {
    if (!column.has_tag(Tags::TARGET)) continue;
    if (column.has_tag(Tags::BINARY_CLASSIFICATION) || column.has_tag(Tags::BINARY)) {
      tasks.push_back(BinaryClassificationTask(column.name()));
    } else if (column.has_tag(Tags::REGRESSION)) {
      tasks.push_back(RegressionTask(column.name()));
    } else if (column.has_tag(Tags::MULTI_CLASS)) {
      tasks.push_back(MultiClassClassificationTask(column.name(), column.cardinality()));
    } else {
      throw ValueError(
          fmt::format("target column '{}' (tags {}) has no task tag: expected "
                      "binary_classification, regression or "
                      "multi_class",
                      column.name(), to_string(column.tags())));
    }
  }
  RB_CHECK(!tasks.empty(), ValueError,
           "the schema has no TARGET column to derive prediction tasks from");
  return tasks;
}

}  // namespace recblocks
