#include "recblocks/blocks/transformations.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>

#include "blocks/padding.h"
#include "blocks/registry.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/config.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using nlohmann::json;

// ---- elementwise transformations: a tensor, or each entry of a dict ----------

// The spec of a block that maps each float tensor to one of the same shape.
FlowSpec same_spec(const FlowSpec& input, std::string_view who) {
  auto check = [&](const std::string& what, const TensorSpec& t) {
    RB_CHECK(t.dtype == DType::kFloat32, ShapeError, "{}: {} is {} {}, expected float32", who, what,
             t.shape, dtype_name(t.dtype));
  };
  switch (input.kind()) {
    case FlowSpec::Kind::kTensor: check("the input", input.tensor()); break;
    case FlowSpec::Kind::kDict:
      for (const auto& [k, t] : input.dict()) check(fmt::format("'{}'", k), t);
      break;
    case FlowSpec::Kind::kInputs:
      throw ValueError(fmt::format(
          "{}: expected a tensor or a dict of tensors, got the raw inputs {}", who, input.str()));
  }
  return input;
}

template <class F>
Flow map_flow(const Flow& input, F f) {
  if (input.kind() == FlowSpec::Kind::kTensor) return Flow::tensor(f(input.tensor()));
  Flow::Dict out;
  out.reserve(input.dict().size());
  for (const auto& [k, v] : input.dict()) out.emplace_back(k, f(v));
  return Flow::dict(std::move(out));
}

class L2NormImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "L2Norm"; }
  bool row_independent() const override { return true; }
  json config() const override { return json::object(); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override { return same_spec(input, type()); }
  Flow forward(const Flow& input, RunContext&) const override {
    return map_flow(input, [](const Var& x) { return ops::l2_normalize(x); });
  }
};

class ReduceSumImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "ReduceSum"; }
  bool row_independent() const override { return true; }
  json config() const override { return json::object(); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    RB_CHECK(input.kind() == FlowSpec::Kind::kTensor, ShapeError,
             "ReduceSum: expected a tensor, got {} (aggregate a dict first)", input.str());
    const TensorSpec& t = input.tensor();
    RB_CHECK(t.shape.rank() >= 1 && t.dtype == DType::kFloat32, ShapeError,
             "ReduceSum: expected a float32 tensor [batch, ..., d], got {}", input.str());
    return FlowSpec::tensor({t.shape.with(t.shape.rank() - 1, 1), DType::kFloat32});
  }
  Flow forward(const Flow& input, RunContext&) const override {
    return Flow::tensor(ops::sum(input.tensor(), -1, /*keepdim=*/true));
  }
};

struct TemperatureConfig {
  double temperature = 1.0;

  static auto option_fields() {
    return options::table<TemperatureConfig>(
        "LogitsTemperatureScaler", options::field("temperature", &TemperatureConfig::temperature,
                                                  "the logits are divided by it, > 0")
                                       .required());
  }
};

struct DropoutConfig {
  double rate = 0.0;

  static auto option_fields() {
    return options::table<DropoutConfig>(
        "Dropout", options::field("rate", &DropoutConfig::rate,
                                  "probability of zeroing an element in training, in [0, 1)")
                       .required());
  }
};

struct AsDenseConfig {
  std::int64_t max_seq_length = 0;

  static auto option_fields() {
    return options::table<AsDenseConfig>(
        "AsDenseFeatures",
        options::field("max_seq_length", &AsDenseConfig::max_seq_length,
                       "length L of the padded lists; 0: each column's schema value_count.max"));
  }
};

class TemperatureImpl final : public BlockBase {
 public:
  explicit TemperatureImpl(double temperature) : temperature_(temperature) {
    RB_CHECK(temperature_ > 0.0 && std::isfinite(temperature_), ValueError,
             "LogitsTemperatureScaler: temperature is {}, expected > 0", temperature_);
  }
  std::string_view type() const override { return "LogitsTemperatureScaler"; }
  std::optional<float> input_scale() const override {
    return static_cast<float>(1.0 / temperature_);
  }
  bool row_independent() const override { return true; }
  json config() const override { return options::to_json(TemperatureConfig{temperature_}); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override { return same_spec(input, type()); }
  Flow forward(const Flow& input, RunContext&) const override {
    const auto inverse = static_cast<float>(1.0 / temperature_);
    return map_flow(input, [&](const Var& x) { return ops::scale(x, inverse); });
  }

 private:
  double temperature_;
};

class DropoutImpl final : public BlockBase {
 public:
  explicit DropoutImpl(double rate) : rate_(rate) {
    RB_CHECK(rate_ >= 0.0 && rate_ < 1.0, ValueError, "Dropout: rate is {}, expected in [0, 1)",
             rate_);
  }
  std::string_view type() const override { return "Dropout"; }
  // At rate 0 it passes rows through; else it draws each row's mask from
  // the batch's position in the random stream.
  bool row_independent() const override { return rate_ == 0.0; }
  json config() const override { return options::to_json(DropoutConfig{rate_}); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override { return same_spec(input, type()); }
  Flow forward(const Flow& input, RunContext& run) const override {
    const bool training = run.training();
    return map_flow(
        input, [&](const Var& x) { return ops::dropout(x, static_cast<float>(rate_), training); });
  }

 private:
  double rate_;
};

// ---- normalisations ---------------------------------------------------------------

// The feature width C of a [C] or [S, C] input (a dict concatenated).
std::int64_t channels(const FlowSpec& input, std::string_view who, int max_rank) {
  const TensorSpec t = input.as_tensor(who);
  RB_CHECK(t.dtype == DType::kFloat32 && t.shape.rank() >= 1 && t.shape.rank() <= max_rank,
           ShapeError, "{}: the input is [batch, {}] {}, expected float32 [batch, C]{}", who,
           fmt::join(t.shape.dims(), ", "), dtype_name(t.dtype),
           max_rank == 2 ? " or [batch, seq, C]" : " or [batch, ..., C]");
  return t.shape[t.shape.rank() - 1];
}

// gamma and beta: learned parameters, or fixed ones / zeros without scale / center.
struct Affine {
  ParameterPtr gamma, beta;
  Tensor fixed_gamma, fixed_beta;

  void make(BlockContext& context, std::int64_t c, bool scale, bool center) {
    if (scale) {
      gamma = context.constant_parameter("gamma", Shape{c}, 1.0f);
    } else {
      fixed_gamma = Tensor::full({c}, 1.0f);
    }
    if (center) {
      beta = context.constant_parameter("beta", Shape{c}, 0.0f);
    } else {
      fixed_beta = Tensor::zeros({c});
    }
  }
  Var gamma_var(RunContext& run) const {
    return gamma ? run.param(gamma) : run.tape().constant(fixed_gamma);
  }
  Var beta_var(RunContext& run) const {
    return beta ? run.param(beta) : run.tape().constant(fixed_beta);
  }
  void add_to(std::vector<std::pair<std::string, ParameterPtr>>& out) const {
    if (gamma) out.emplace_back("gamma", gamma);
    if (beta) out.emplace_back("beta", beta);
  }
};

class BatchNormImpl final : public BlockBase {
 public:
  explicit BatchNormImpl(BatchNormOptions options) : options_(options) {
    RB_CHECK(options_.momentum >= 0.0 && options_.momentum <= 1.0, ValueError,
             "BatchNorm: momentum is {}, expected in [0, 1] (Keras' convention: the weight of the "
             "old value)",
             options_.momentum);
    RB_CHECK(options_.epsilon > 0.0, ValueError, "BatchNorm: epsilon is {}, expected > 0",
             options_.epsilon);
  }
  std::string_view type() const override { return "BatchNorm"; }
  json config() const override { return options::to_json(options_); }
  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    const std::int64_t c = channels(input, type(), 2);
    affine_.make(context, c, options_.scale, options_.center);
    moving_mean_ = context.constant_parameter("moving_mean", Shape{c}, 0.0f, /*trainable=*/false);
    moving_variance_ =
        context.constant_parameter("moving_variance", Shape{c}, 1.0f, /*trainable=*/false);
    return FlowSpec::tensor(input.as_tensor(type()));
  }
  Flow forward(const Flow& input, RunContext& run) const override {
    ops::BatchNormOptions o;
    o.training = run.training();
    o.momentum = static_cast<float>(1.0 - options_.momentum);  // Keras -> PyTorch convention
    o.eps = static_cast<float>(options_.epsilon);
    return Flow::tensor(ops::batch_norm(input.as_tensor(type()), affine_.gamma_var(run),
                                        affine_.beta_var(run), *moving_mean_, *moving_variance_,
                                        o));
  }
  std::vector<std::pair<std::string, ParameterPtr>> own_parameters() const override {
    std::vector<std::pair<std::string, ParameterPtr>> out;
    affine_.add_to(out);
    if (moving_mean_) {
      out.emplace_back("moving_mean", moving_mean_);
      out.emplace_back("moving_variance", moving_variance_);
    }
    return out;
  }

 private:
  BatchNormOptions options_;
  Affine affine_;
  ParameterPtr moving_mean_, moving_variance_;
};

class LayerNormImpl final : public BlockBase {
 public:
  explicit LayerNormImpl(LayerNormOptions options) : options_(options) {
    RB_CHECK(options_.epsilon > 0.0, ValueError, "LayerNorm: epsilon is {}, expected > 0",
             options_.epsilon);
  }
  std::string_view type() const override { return "LayerNorm"; }
  bool row_independent() const override { return true; }
  json config() const override { return options::to_json(options_); }
  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    affine_.make(context, channels(input, type(), Shape::kMaxRank - 1), options_.scale,
                 options_.center);
    return FlowSpec::tensor(input.as_tensor(type()));
  }
  Flow forward(const Flow& input, RunContext& run) const override {
    return Flow::tensor(ops::layer_norm(input.as_tensor(type()), affine_.gamma_var(run),
                                        affine_.beta_var(run),
                                        static_cast<float>(options_.epsilon)));
  }
  std::vector<std::pair<std::string, ParameterPtr>> own_parameters() const override {
    std::vector<std::pair<std::string, ParameterPtr>> out;
    affine_.add_to(out);
    return out;
  }

 private:
  LayerNormOptions options_;
  Affine affine_;
};

// ---- AsDenseFeatures --------------------------------------------------------------

class AsDenseImpl final : public BlockBase {
 public:
  explicit AsDenseImpl(std::int64_t max_seq_length) : max_seq_length_(max_seq_length) {
    RB_CHECK(max_seq_length_ >= 0, ValueError,
             "AsDenseFeatures: max_seq_length is {}, expected >= 0", max_seq_length_);
  }
  std::string_view type() const override { return "AsDenseFeatures"; }
  bool row_independent() const override { return true; }
  json config() const override { return options::to_json(AsDenseConfig{max_seq_length_}); }

  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    RB_CHECK(input.kind() == FlowSpec::Kind::kInputs, ValueError,
             "AsDenseFeatures: expected the raw inputs of a batch, got {}", input.str());
    Schema schema = input.schema();
    dense_.clear();
    for (const ColumnSchema& c : input.schema()) {
      if (!c.is_ragged()) continue;
      const std::int64_t length = max_seq_length_ > 0 ? max_seq_length_
                                  : c.value_count()   ? c.value_count()->max
                                                      : 0;
      RB_CHECK(length > 0, ValueError,
               "AsDenseFeatures: list column '{}' has no maximum length in the schema "
               "(value_count.max); give "
               "max_seq_length",
               c.name());
      ColumnSchema dense = c.with_list(true, /*is_ragged=*/false, ValueCount{length, length});
      schema = schema.with_column(dense);
      dense_.emplace_back(std::move(dense), length);
    }
    return FlowSpec::inputs(std::move(schema));
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    Batch batch = input.batch();
    for (const auto& [column, length] : dense_) {
      if (!batch.contains(column.name()) || !batch.is_list(column.name())) continue;
      const RaggedTensor& r = batch.ragged(column.name());
      RB_CHECK(r.values().rank() == 1, ShapeError,
               "AsDenseFeatures: column '{}' has values of shape {}, expected [nnz]", column.name(),
               r.values().shape());
      batch = batch.with_column(column, detail::pad_to_dense(r.values(), r.offsets(), batch.rows(),
                                                             length, run.tape().arena()));
    }
    return Flow::inputs(batch);
  }

 private:
  std::int64_t max_seq_length_;
  std::vector<std::pair<ColumnSchema, std::int64_t>> dense_;
};

}  // namespace

AsDenseFeatures::AsDenseFeatures(std::int64_t max_seq_length)
    : Block(std::make_shared<AsDenseImpl>(max_seq_length)) {}
L2Norm::L2Norm() : Block(std::make_shared<L2NormImpl>()) {}
ReduceSum::ReduceSum() : Block(std::make_shared<ReduceSumImpl>()) {}
LogitsTemperatureScaler::LogitsTemperatureScaler(double temperature)
    : Block(std::make_shared<TemperatureImpl>(temperature)) {}
Dropout::Dropout(double rate) : Block(std::make_shared<DropoutImpl>(rate)) {}
BatchNorm::BatchNorm(BatchNormOptions options) : Block(std::make_shared<BatchNormImpl>(options)) {}
LayerNorm::LayerNorm(LayerNormOptions options) : Block(std::make_shared<LayerNormImpl>(options)) {}

void register_transformations() {
  using options::NoOptions;
  register_block_type<AsDenseConfig>("AsDenseFeatures", [](AsDenseConfig c, const BlockChildren&) {
    return AsDenseFeatures(c.max_seq_length);
  });
  register_block_type<NoOptions>("L2Norm",
                                 [](NoOptions, const BlockChildren&) { return L2Norm(); });
  register_block_type<NoOptions>("ReduceSum",
                                 [](NoOptions, const BlockChildren&) { return ReduceSum(); });
  register_block_type<TemperatureConfig>("LogitsTemperatureScaler",
                                         [](TemperatureConfig c, const BlockChildren&) {
                                           return LogitsTemperatureScaler(c.temperature);
                                         });
  register_block_type<DropoutConfig>(
      "Dropout", [](DropoutConfig c, const BlockChildren&) { return Dropout(c.rate); });
  register_block_type<BatchNormOptions>(
      "BatchNorm", [](BatchNormOptions o, const BlockChildren&) { return BatchNorm(o); });
  register_block_type<LayerNormOptions>(
      "LayerNorm", [](LayerNormOptions o, const BlockChildren&) { return LayerNorm(o); });
}

}  // namespace recblocks
