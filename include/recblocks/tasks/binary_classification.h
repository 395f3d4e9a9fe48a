// BinaryClassificationTask (Merlin's): one output unit,
//   prediction = sigmoid(logits [B]), loss binary cross-entropy
// computed from the logits (bce_with_logits). Targets are 0/1 (float32 or
// an integer column). Default metrics: precision, recall,
// binary_accuracy, auc.
//
//   auto task = rb::BinaryClassificationTask(
//       "rating_binary", {.metrics = {rb::metrics::AUC()}, .pre =
//       rb::LogitsTemperatureScaler(2.0)});
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "recblocks/tasks/task.h"

namespace recblocks {

class BinaryClassificationTask : public PredictionTask {
 public:
  static constexpr std::string_view kKind = "binary_classification_task";

  explicit BinaryClassificationTask(std::string target, TaskOptions options = {});
  // The kind's part of PredictionTask::from_json (no section of its own).
  static PredictionTask from_task_json(std::string target, TaskOptions options,
                                       const nlohmann::json& json);
};

}  // namespace recblocks
