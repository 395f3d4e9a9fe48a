// RegressionTask (Merlin's): one output unit, prediction = logits [B],
// loss mean squared error. The target is any finite number. Default
// metric: root_mean_squared_error.
//
//   auto task = rb::RegressionTask("rating");
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "recblocks/tasks/task.h"

namespace recblocks {

class RegressionTask : public PredictionTask {
 public:
  static constexpr std::string_view kKind = "regression_task";

  explicit RegressionTask(std::string target, TaskOptions options = {});
  // The kind's part of PredictionTask::from_json (no section of its own).
  static PredictionTask from_task_json(std::string target, TaskOptions options,
                                       const nlohmann::json& json);
};

}  // namespace recblocks
