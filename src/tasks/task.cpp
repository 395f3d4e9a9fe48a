#include "recblocks/tasks/task.h"

#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "recblocks/blocks/mlp.h"
#include "recblocks/core/error.h"

namespace recblocks {

using json = nlohmann::json;

namespace {

// The parts in order; with fold, the second to last only scales its input
// (input_scale) and is folded into the last one's forward_scaled.
class HeadImpl final : public BlockBase {
 public:
  HeadImpl(std::vector<std::pair<std::string, Block>> parts, bool fold)
      : parts_(std::move(parts)), fold_(fold) {}
  std::string_view type() const override { return "PredictionHead"; }
  json config() const override { return json::object(); }
  std::vector<std::pair<std::string, Block>> children() const override { return parts_; }
  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    FlowSpec spec = input;
    for (const auto& [key, block] : parts_) spec = block.build(spec, context);
    return spec;
  }
  // A scaling `pre` right before the output layer is folded into the
  // output layer's GEMM: the scaled [batch, width] copy and its gradient
  // pass are never made (bit-identical for a power-of-two temperature such
  // as the seed's 2, within rounding otherwise).
  Flow forward(const Flow& input, RunContext& run) const override {
    Flow flow = input;
    const std::size_t unfused = fold_ ? parts_.size() - 2 : parts_.size();
    for (std::size_t i = 0; i < unfused; ++i) flow = parts_[i].second.forward(flow, run);
    if (!fold_) return flow;
    const float scale = *parts_[parts_.size() - 2].second.impl().input_scale();
    return parts_.back().second.impl().forward_scaled(flow, run, scale);
  }

 private:
  std::vector<std::pair<std::string, Block>> parts_;
  bool fold_;
};

}  // namespace

Block task_head(std::vector<std::pair<std::string, Block>> parts) {
  return Block(std::make_shared<HeadImpl>(std::move(parts), false));
}

Block dense_task_head(const Block& task_block, const Block& pre, std::int64_t units) {
  std::vector<std::pair<std::string, Block>> parts;
  if (task_block.defined()) parts.emplace_back("task_block", task_block);
  if (pre.defined()) parts.emplace_back("pre", pre);
  parts.emplace_back("output", MLPBlock({units}, {.activation = "linear"}));
  const bool fold = pre.defined() && pre.impl().input_scale().has_value();
  return Block(std::make_shared<HeadImpl>(std::move(parts), fold));
}

// ---- TaskOptions ----------------------------------------------------------------

options::FunctionCodec<std::vector<Metric>> TaskOptions::metrics_codec() {
  return options::codec<std::vector<Metric>>(
      "[metric name]",
      [](const std::vector<Metric>& metrics) {
        json names = json::array();
        for (const Metric& m : metrics) names.push_back(m.name());
        return names;
      },
      [](const json& j, const options::Path& path) {
        if (!j.is_array()) options::type_error(path, "a list of metric names", j);
        std::vector<Metric> out;
        for (std::size_t i = 0; i < j.size(); ++i) {
          if (!j[i].is_string()) options::type_error(path[i], "a metric name", j[i]);
          out.push_back(metrics::by_name(j[i].get<std::string>()));
        }
        return out;
      });
}

options::FunctionCodec<Block> TaskOptions::block_codec() {
  return options::codec<Block>(
      "Block|null",
      [](const Block& block) { return block.defined() ? block.to_json() : json(nullptr); },
      [](const json& j, const options::Path&) {
        return j.is_null() ? Block() : Block::from_json(j);
      });
}

// ---- TaskBase ----------------------------------------------------------------

TaskBase::TaskBase(std::string_view kind, std::string target, std::int64_t num_classes,
                   TaskOptions options, std::vector<Metric> default_metrics)
    : num_classes_(num_classes),
      task_block_(std::move(options.task_block)),
      pre_(std::move(options.pre)) {
  RB_CHECK(!target.empty(), ValueError, "{}: the target name is empty", kind);
  name_ =
      options.task_name.empty() ? fmt::format("{}/{}", target, kind) : std::move(options.task_name);
  target_ = std::move(target);
  metrics_ = options.metrics.empty() ? std::move(default_metrics) : std::move(options.metrics);
  for (const Metric& m : metrics_) {
    RB_CHECK(m.defined(), ValueError, "task '{}': a metric is empty", name_);
  }
}

std::pair<Tensor, Tensor> TaskBase::metric_inputs(const Tensor& logits,
                                                  const Tensor& prepared) const {
  return {predictions(logits), prepared};
}

json TaskBase::to_json() const {
  const TaskOptions in_use{
      .metrics = metrics_, .pre = pre_, .task_block = task_block_, .task_name = name_};
  json out = options::to_json(in_use);
  out["kind"] = std::string(kind_name());
  out["target"] = target_;
  out["num_classes"] = num_classes_;
  add_json(out);
  return out;
}

void TaskBase::check_target_shape(const Tensor& column) const {
  RB_CHECK(column.rank() == 1 || (column.rank() == 2 && column.size(1) == 1), ShapeError,
           "task '{}': target column '{}' has shape {}, expected [rows]", name_, target_,
           column.shape());
}

double TaskBase::target_value(const Tensor& column, std::int64_t row) const {
  switch (column.dtype()) {
    case DType::kFloat32: return column.data<float>()[row];
    case DType::kInt32: return column.data<std::int32_t>()[row];
    case DType::kInt64: return static_cast<double>(column.data<std::int64_t>()[row]);
    default:
      throw ValueError(fmt::format(
          "task '{}': target column '{}' has dtype {}, expected float32, int32 or int64", name_,
          target_, dtype_name(column.dtype())));
  }
}

Tensor TaskBase::number_targets(const Tensor& column, bool zero_or_one) const {
  check_target_shape(column);
  const std::int64_t rows = column.rank() == 0 ? 0 : column.size(0);
  Tensor out = Tensor::empty({rows, 1});
  float* o = out.data<float>();
  for (std::int64_t i = 0; i < rows; ++i) {
    const double v = target_value(column, i);
    RB_CHECK(std::isfinite(v), ValueError,
             "task '{}': target column '{}' row {} is {}, expected a finite number", name_, target_,
             i, v);
    RB_CHECK(!zero_or_one || v == 0 || v == 1, ValueError,
             "task '{}': target column '{}' row {} is {}, expected 0 or 1", name_, target_, i, v);
    o[i] = static_cast<float>(v);
  }
  return out;
}

Tensor TaskBase::item_id_targets(const Tensor& column, std::int64_t items) const {
  check_target_shape(column);
  const std::int64_t rows = column.rank() == 0 ? 0 : column.size(0);
  RB_CHECK(is_integer(column.dtype()), ValueError,
           "task '{}': item id column '{}' has dtype {}, expected int32 or int64", name_, target_,
           dtype_name(column.dtype()));
  Tensor out = Tensor::empty({rows}, DType::kInt64);
  auto* o = out.data<std::int64_t>();
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t v = column.dtype() == DType::kInt64 ? column.data<std::int64_t>()[i]
                                                           : column.data<std::int32_t>()[i];
    RB_CHECK(v >= 0 && (items < 0 || v < items), ValueError,
             "task '{}': item id column '{}' row {} is {}, expected an id in [0, {})", name_,
             target_, i, v, items < 0 ? std::string("inf") : std::to_string(items));
    o[i] = v;
  }
  return out;
}

// ---- PredictionTask -----------------------------------------------------------

TaskBase& PredictionTask::impl() const {
  RB_CHECK(impl_ != nullptr, ValueError, "the prediction task is empty (default-constructed)");
  return *impl_;
}

std::vector<Metric> PredictionTask::make_metrics() const {
  std::vector<Metric> out;
  out.reserve(impl().metrics().size());
  for (const Metric& m : impl().metrics()) out.push_back(m.clone());
  return out;
}

}  // namespace recblocks
