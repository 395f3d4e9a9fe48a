#include "recblocks/tasks/multi_class_classification.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "recblocks/autograd/ops.h"
#include "recblocks/core/error.h"

namespace recblocks {

namespace {

class MultiClassClassificationImpl final : public TaskBase {
 public:
  MultiClassClassificationImpl(std::string target, std::int64_t num_classes, TaskOptions options)
      : TaskBase(MultiClassClassificationTask::kKind, std::move(target), num_classes,
                 std::move(options), {metrics::Accuracy()}) {
    set_head(dense_task_head(task_block(), pre(), num_classes));
  }

  std::string_view kind_name() const override { return MultiClassClassificationTask::kKind; }

  Var loss(const Var& logits, const Tensor& targets) const override {
    return ops::softmax_cross_entropy(logits, targets);
  }

  // Class probabilities [B, C].
  Tensor predictions(const Tensor& logits) const override {
    const std::int64_t rows = logits.size(0);
    const float* x = logits.data<float>();
    const std::int64_t c = num_classes();
    Tensor out = Tensor::empty({rows, c});
    float* y = out.data<float>();
    for (std::int64_t i = 0; i < rows; ++i) {
      float top = x[i * c];
      for (std::int64_t j = 1; j < c; ++j) top = std::max(top, x[i * c + j]);
      double total = 0;
      for (std::int64_t j = 0; j < c; ++j) total += (y[i * c + j] = std::exp(x[i * c + j] - top));
      for (std::int64_t j = 0; j < c; ++j) y[i * c + j] = static_cast<float>(y[i * c + j] / total);
    }
    return out;
  }

  Shape prediction_shape(std::int64_t rows) const override { return Shape{rows, num_classes()}; }

  Tensor prepare_targets(const Tensor& column) const override {
    check_target_shape(column);
    const std::int64_t rows = column.rank() == 0 ? 0 : column.size(0);
    Tensor out = Tensor::empty({rows}, DType::kInt64);
    auto* o = out.data<std::int64_t>();
    for (std::int64_t i = 0; i < rows; ++i) {
      const double v = target_value(column, i);
      RB_CHECK(v >= 0 && v < static_cast<double>(num_classes()) && v == std::floor(v), ValueError,
               "task '{}': target column '{}' row {} is {}, expected a class id in [0, {})", name(),
               target(), i, v, num_classes());
      o[i] = static_cast<std::int64_t>(v);
    }
    return out;
  }
};

}  // namespace

MultiClassClassificationTask::MultiClassClassificationTask(std::string target,
                                                           std::int64_t num_classes,
                                                           TaskOptions options)
    : PredictionTask([&] {
        RB_CHECK(num_classes >= 2, ValueError,
                 "MultiClassClassificationTask '{}': num_classes is {}, expected at least 2",
                 target, num_classes);
        return std::make_shared<MultiClassClassificationImpl>(std::move(target), num_classes,
                                                              std::move(options));
      }()) {}

PredictionTask MultiClassClassificationTask::from_task_json(std::string target, TaskOptions options,
                                                            const nlohmann::json& json) {
  RB_CHECK(json.contains("num_classes") && json["num_classes"].is_number_integer(), ValueError,
           "task '{}': num_classes is missing", target);
  return MultiClassClassificationTask(std::move(target), json["num_classes"].get<std::int64_t>(),
                                      std::move(options));
}

}  // namespace recblocks
