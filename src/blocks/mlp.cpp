#include "recblocks/blocks/mlp.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "blocks/registry.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/config.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using kernels::Activation;
using nlohmann::json;

// Keras' BatchNormalization(momentum = 0.99) in ops::batch_norm's
// convention (the weight of the new batch), and Keras' epsilons.
constexpr float kBatchNormMomentum = 0.01f;
constexpr float kNormEpsilon = 1e-3f;

// An activation: fused into ops::linear where the kernel has it, else an
// op applied after a linear layer without activation.
struct ActivationSpec {
  Activation fused = Activation::kNone;
  Var (*after)(const Var&) = nullptr;
};

ActivationSpec parse_activation(const std::string& name) {
  if (name == "relu") return {Activation::kRelu, nullptr};
  if (name == "sigmoid") return {Activation::kSigmoid, nullptr};
  if (name == "tanh") return {Activation::kTanh, nullptr};
  if (name == "linear" || name == "none") return {Activation::kNone, nullptr};
  if (name == "gelu") return {Activation::kNone, &ops::gelu};
  if (name == "softplus") return {Activation::kNone, &ops::softplus};
  throw ValueError(fmt::format("MLPBlock: unknown activation '{}'; expected one of: {}", name,
                               fmt::join(mlp_activation_names(), ", ")));
}

// The JSON config of an MLPBlock: the units, then MLPOptions' keys.
struct MLPConfig {
  std::vector<std::int64_t> dimensions;
  MLPOptions options;

  static auto option_fields() {
    return options::table<MLPConfig>(
        "MLPBlock",
        options::field("dimensions", &MLPConfig::dimensions, "units of each layer, each > 0")
            .required(),
        options::flatten(&MLPConfig::options));
  }
};

struct Layer {
  ParameterPtr kernel, bias;
  ParameterPtr gamma, beta, moving_mean, moving_variance;  // normalization
};

class MLPImpl final : public BlockBase {
 public:
  MLPImpl(std::vector<std::int64_t> dims, MLPOptions options)
      : dims_(std::move(dims)), options_(std::move(options)) {
    RB_CHECK(!dims_.empty(), ValueError,
             "MLPBlock: dims is empty; give the units of at least one layer");
    for (std::size_t i = 0; i < dims_.size(); ++i) {
      RB_CHECK(dims_[i] > 0, ValueError,
               "MLPBlock: layer {} has {} units, expected > 0 (dims [{}])", i, dims_[i],
               fmt::join(dims_, ", "));
    }
    activation_ = parse_activation(options_.activation);
    RB_CHECK(options_.dropout >= 0 && options_.dropout < 1, ValueError,
             "MLPBlock: dropout rate {} is outside [0, 1)", options_.dropout);
    const std::string& norm = options_.normalization;
    RB_CHECK(
        norm.empty() || norm == "batch_norm" || norm == "layer_norm", ValueError,
        "MLPBlock: unknown normalization '{}'; expected \"\", \"batch_norm\" or \"layer_norm\"",
        norm);
    RB_CHECK(options_.kernel_regularizer_l2 >= 0 && options_.bias_regularizer_l2 >= 0, ValueError,
             "MLPBlock: regularizer factors must be >= 0, got kernel {} and bias {}",
             options_.kernel_regularizer_l2, options_.bias_regularizer_l2);
  }

  std::string_view type() const override { return "MLPBlock"; }
  // Dropout draws per batch and batch normalisation mixes the batch's rows.
  bool row_independent() const override {
    return options_.dropout == 0.0 && options_.normalization != "batch_norm";
  }

  json config() const override { return options::to_json(MLPConfig{dims_, options_}); }

  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    const TensorSpec in = input.as_tensor("MLPBlock");
    RB_CHECK(in.shape.rank() == 1 || in.shape.rank() == 2, ShapeError,
             "MLPBlock: input has shape [batch, {}], expected rank 2 [batch, features] or rank 3 "
             "[batch, seq, features]",
             fmt::join(in.shape.dims(), ", "));
    std::int64_t fan_in = in.shape[-1];
    layers_.clear();
    for (std::size_t i = 0; i < dims_.size(); ++i) {
      const std::int64_t units = dims_[i];
      Layer layer;
      const std::string dense = fmt::format("dense_{}/", i);
      layer.kernel =
          context.parameter(dense + "kernel", Shape{fan_in, units}, options_.kernel_initializer);
      if (options_.use_bias) {
        layer.bias = context.parameter(dense + "bias", Shape{units}, options_.bias_initializer);
      }
      if (!options_.normalization.empty()) {
        const std::string norm = fmt::format("{}_{}/", options_.normalization, i);
        layer.gamma = context.constant_parameter(norm + "gamma", Shape{units}, 1.0f);
        layer.beta = context.constant_parameter(norm + "beta", Shape{units}, 0.0f);
        if (options_.normalization == "batch_norm") {
          layer.moving_mean =
              context.constant_parameter(norm + "moving_mean", Shape{units}, 0.0f, false);
          layer.moving_variance =
              context.constant_parameter(norm + "moving_variance", Shape{units}, 1.0f, false);
        }
      }
      layers_.push_back(std::move(layer));
      fan_in = units;
    }
    return FlowSpec::tensor({in.shape.with(-1, dims_.back()), DType::kFloat32});
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    return forward_scaled(input, run, 1.0f);
  }

  // The forward of input * input_scale, the scale folded into the first
  // layer's GEMM.
  Flow forward_scaled(const Flow& input, RunContext& run, float input_scale) const override {
    Var x = input.as_tensor("MLPBlock");
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const Layer& layer = layers_[i];
      const bool plain_last = options_.no_activation_last_layer && i + 1 == layers_.size();
      const ActivationSpec act = plain_last ? ActivationSpec{} : activation_;
      x = ops::linear(x, run.param(layer.kernel), layer.bias ? run.param(layer.bias) : Var(),
                      act.fused, i == 0 ? input_scale : 1.0f);
      if (act.after != nullptr) x = act.after(x);
      if (options_.dropout > 0 && !plain_last) {
        x = ops::dropout(x, static_cast<float>(options_.dropout), run.training());
      }
      if (layer.moving_mean) {
        x = ops::batch_norm(
            x, run.param(layer.gamma), run.param(layer.beta), *layer.moving_mean,
            *layer.moving_variance,
            {.training = run.training(), .momentum = kBatchNormMomentum, .eps = kNormEpsilon});
      } else if (layer.gamma) {
        x = ops::layer_norm(x, run.param(layer.gamma), run.param(layer.beta), kNormEpsilon);
      }
    }
    return Flow::tensor(x);
  }

  std::vector<std::pair<std::string, ParameterPtr>> own_parameters() const override {
    std::vector<std::pair<std::string, ParameterPtr>> out;
    for (const Layer& layer : layers_) {
      for (const ParameterPtr& p : {layer.kernel, layer.bias, layer.gamma, layer.beta,
                                    layer.moving_mean, layer.moving_variance}) {
        if (p) out.emplace_back(p->name(), p);
      }
    }
    return out;
  }

  std::vector<std::pair<ParameterPtr, float>> regularizers() const override {
    std::vector<std::pair<ParameterPtr, float>> out;
    for (const Layer& layer : layers_) {
      if (options_.kernel_regularizer_l2 > 0) {
        out.emplace_back(layer.kernel, static_cast<float>(options_.kernel_regularizer_l2));
      }
      if (options_.bias_regularizer_l2 > 0 && layer.bias) {
        out.emplace_back(layer.bias, static_cast<float>(options_.bias_regularizer_l2));
      }
    }
    return out;
  }

 private:
  std::vector<std::int64_t> dims_;
  MLPOptions options_;
  ActivationSpec activation_;
  std::vector<Layer> layers_;
};

}  // namespace

const std::vector<std::string>& mlp_activation_names() {
  static const std::vector<std::string> kNames = {"relu", "sigmoid", "tanh",    "linear",
                                                  "none", "gelu",    "softplus"};
  return kNames;
}

MLPBlock::MLPBlock(std::vector<std::int64_t> dims, MLPOptions options)
    : Block(std::make_shared<MLPImpl>(std::move(dims), std::move(options))) {}

void register_layers() {
  register_block_type<MLPConfig>("MLPBlock", [](MLPConfig c, const BlockChildren&) {
    return MLPBlock(std::move(c.dimensions), std::move(c.options));
  });
}

}  // namespace recblocks
