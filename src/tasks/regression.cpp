#include "recblocks/tasks/regression.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "recblocks/autograd/ops.h"

namespace recblocks {

namespace {

class RegressionImpl final : public TaskBase {
 public:
  RegressionImpl(std::string target, TaskOptions options)
      : TaskBase(RegressionTask::kKind, std::move(target), 1, std::move(options),
                 {metrics::RMSE()}) {
    set_head(dense_task_head(task_block(), pre(), 1));
  }

  std::string_view kind_name() const override { return RegressionTask::kKind; }

  Var loss(const Var& logits, const Tensor& targets) const override {
    return ops::mse(logits, targets);
  }

  Tensor predictions(const Tensor& logits) const override {
    const std::int64_t rows = logits.size(0);
    const float* x = logits.data<float>();
    Tensor out = Tensor::empty({rows});
    std::copy(x, x + rows, out.data<float>());
    return out;
  }

  Tensor prepare_targets(const Tensor& column) const override {
    return number_targets(column, false);
  }
};

}  // namespace

RegressionTask::RegressionTask(std::string target, TaskOptions options)
    : PredictionTask(std::make_shared<RegressionImpl>(std::move(target), std::move(options))) {}

PredictionTask RegressionTask::from_task_json(std::string target, TaskOptions options,
                                              const nlohmann::json&) {
  return RegressionTask(std::move(target), std::move(options));
}

}  // namespace recblocks
