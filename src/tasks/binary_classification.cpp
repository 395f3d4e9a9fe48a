#include "recblocks/tasks/binary_classification.h"

#include <cmath>
#include <memory>
#include <utility>

#include "recblocks/autograd/ops.h"

namespace recblocks {

namespace {

class BinaryClassificationImpl final : public TaskBase {
 public:
  BinaryClassificationImpl(std::string target, TaskOptions options)
      : TaskBase(
            BinaryClassificationTask::kKind, std::move(target), 1, std::move(options),
            {metrics::Precision(), metrics::Recall(), metrics::BinaryAccuracy(), metrics::AUC()}) {
    set_head(dense_task_head(task_block(), pre(), 1));
  }

  std::string_view kind_name() const override { return BinaryClassificationTask::kKind; }

  Var loss(const Var& logits, const Tensor& targets) const override {
    return ops::bce_with_logits(logits, targets);
  }

  Tensor predictions(const Tensor& logits) const override {
    const std::int64_t rows = logits.size(0);
    const float* x = logits.data<float>();
    Tensor out = Tensor::empty({rows});
    float* y = out.data<float>();
    for (std::int64_t i = 0; i < rows; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
    return out;
  }

  Tensor prepare_targets(const Tensor& column) const override {
    return number_targets(column, true);
  }
};

}  // namespace

BinaryClassificationTask::BinaryClassificationTask(std::string target, TaskOptions options)
    : PredictionTask(
          std::make_shared<BinaryClassificationImpl>(std::move(target), std::move(options))) {}

PredictionTask BinaryClassificationTask::from_task_json(std::string target, TaskOptions options,
                                                        const nlohmann::json&) {
  return BinaryClassificationTask(std::move(target), std::move(options));
}

}  // namespace recblocks
