// MultiClassClassificationTask (Merlin's): num_classes output units,
//   prediction = softmax(logits [B, C]), loss categorical cross-entropy
// on integer class ids (Keras' sparse form), from the logits
// (log-softmax). Targets are integer ids in [0, num_classes). Default
// metric: accuracy.
//
//   auto task = rb::MultiClassClassificationTask("genre", 18);
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "recblocks/tasks/task.h"

namespace recblocks {

class MultiClassClassificationTask : public PredictionTask {
 public:
  static constexpr std::string_view kKind = "multi_class_classification_task";

  // num_classes >= 2; the schema's cardinality of the target, usually.
  MultiClassClassificationTask(std::string target, std::int64_t num_classes,
                               TaskOptions options = {});
  // The kind's part of PredictionTask::from_json: num_classes is required.
  static PredictionTask from_task_json(std::string target, TaskOptions options,
                                       const nlohmann::json& json);
};

}  // namespace recblocks
