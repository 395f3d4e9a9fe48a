#include "recblocks/blocks/interaction.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "blocks/registry.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/config.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using nlohmann::json;

// n feature vectors of width d.
struct Features {
  std::int64_t n = 0;
  std::int64_t d = 0;
};

std::string row_shape(const Shape& s) {
  return fmt::format("[batch, {}]", fmt::join(s.dims(), ", "));
}

// Checks that `input` is n feature vectors: a dict of [batch, d] entries or
// a tensor [batch, n, d].
Features feature_vectors(const FlowSpec& input, std::string_view who) {
  if (input.kind() == FlowSpec::Kind::kTensor) {
    const TensorSpec& t = input.tensor();
    RB_CHECK(
        t.shape.rank() == 2 && t.dtype == DType::kFloat32, ShapeError,
        "{}: input tensor has shape {} ({}), expected float32 [batch, n_features, dim] (rank 3)",
        who, row_shape(t.shape), dtype_name(t.dtype));
    return {t.shape[0], t.shape[1]};
  }
  RB_CHECK(input.kind() == FlowSpec::Kind::kDict && !input.dict().empty(), ValueError,
           "{}: expected a dict of [batch, dim] feature vectors or a tensor [batch, n_features, "
           "dim], got {}",
           who, input.str());
  const auto& dict = input.dict();
  const auto& [first_name, first] = dict.front();
  for (const auto& [name, t] : dict) {
    RB_CHECK(t.shape.rank() == 1 && t.dtype == DType::kFloat32, ShapeError,
             "{}: feature '{}' has shape {} ({}), expected float32 [batch, dim] (rank 2)", who,
             name, row_shape(t.shape), dtype_name(t.dtype));
    RB_CHECK(t.shape == first.shape, ShapeError,
             "{}: every feature vector must have the same width; '{}' is {} but '{}' is {}", who,
             name, row_shape(t.shape), first_name, row_shape(first.shape));
  }
  return {static_cast<std::int64_t>(dict.size()), first.shape[0]};
}

// The dict's values in key order (Merlin's StackFeatures sorts by key).
std::vector<Var> sorted_values(const Flow::Dict& dict) {
  std::vector<const std::pair<std::string, Var>*> entries;
  entries.reserve(dict.size());
  for (const auto& e : dict) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  std::vector<Var> out;
  out.reserve(entries.size());
  for (const auto* e : entries) out.push_back(e->second);
  return out;
}

// ---- DotProductInteractionBlock -----------------------------------------------

struct DotProductConfig {
  bool self_interaction = false;

  static auto option_fields() {
    return options::table<DotProductConfig>(
        "DotProductInteractionBlock",
        options::field("self_interaction", &DotProductConfig::self_interaction,
                       "also each feature with itself: n(n+1)/2 outputs instead of n(n-1)/2"));
  }
};

class DotProductImpl final : public BlockBase {
 public:
  explicit DotProductImpl(bool self_interaction) : self_interaction_(self_interaction) {}
  std::string_view type() const override { return "DotProductInteractionBlock"; }
  bool row_independent() const override { return true; }
  json config() const override { return options::to_json(DotProductConfig{self_interaction_}); }

  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    const Features f = feature_vectors(input, "DotProductInteractionBlock");
    const std::int64_t outputs = ops::dot_interaction_size(f.n, self_interaction_);
    RB_CHECK(outputs > 0, ShapeError,
             "DotProductInteractionBlock: {} feature vector(s) have no pairs to interact; give at "
             "least 2 "
             "(input {})",
             f.n, input.str());
    return FlowSpec::tensor({Shape{outputs}, DType::kFloat32});
  }

  Flow forward(const Flow& input, RunContext&) const override {
    if (input.kind() == FlowSpec::Kind::kTensor) {
      return Flow::tensor(ops::dot_interaction(input.tensor(), self_interaction_));
    }
    const std::vector<Var> features = sorted_values(input.dict());
    return Flow::tensor(ops::dot_interaction(features, self_interaction_));
  }

 private:
  bool self_interaction_;
};

// ---- FMPairwiseInteraction --------------------------------------------------

class FMPairwiseImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "FMPairwiseInteraction"; }
  bool row_independent() const override { return true; }
  json config() const override { return json::object(); }

  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    const Features f = feature_vectors(input, "FMPairwiseInteraction");
    return FlowSpec::tensor({Shape{f.d}, DType::kFloat32});
  }

  // 0.5 * ((sum_i v_i)^2 - sum_i v_i^2), per component.
  Flow forward(const Flow& input, RunContext&) const override {
    Var sum, sum_of_squares;
    if (input.kind() == FlowSpec::Kind::kTensor) {
      const Var& x = input.tensor();
      sum = ops::sum(x, 1);
      sum_of_squares = ops::sum(ops::mul(x, x), 1);
    } else {
      for (const Var& v : sorted_values(input.dict())) {
        const Var square = ops::mul(v, v);
        sum = sum.defined() ? ops::add(sum, v) : v;
        sum_of_squares = sum_of_squares.defined() ? ops::add(sum_of_squares, square) : square;
      }
    }
    return Flow::tensor(ops::scale(ops::sub(ops::mul(sum, sum), sum_of_squares), 0.5f));
  }
};

// ---- CrossBlock -----------------------------------------------------------------

struct CrossLayer {
  ParameterPtr kernel_u;  // [d, r], low rank only
  ParameterPtr kernel;    // [d, d] or [r, d]
  ParameterPtr bias;      // [d]
};

// The JSON config of a CrossBlock: the depth, then CrossOptions' keys.
struct CrossConfig {
  int depth = 1;
  CrossOptions options;

  static auto option_fields() {
    return options::table<CrossConfig>(
        "CrossBlock", options::field("depth", &CrossConfig::depth, "number of cross layers, >= 1"),
        options::flatten(&CrossConfig::options));
  }
};

class CrossImpl final : public BlockBase {
 public:
  CrossImpl(int depth, CrossOptions options) : depth_(depth), options_(std::move(options)) {
    RB_CHECK(depth_ > 0, ValueError,
             "CrossBlock: number of cross layers (depth) should be positive but is {}", depth_);
    RB_CHECK(options_.low_rank_dim >= 0, ValueError,
             "CrossBlock: low_rank_dim is {}, expected 0 (full rank) or > 0",
             options_.low_rank_dim);
    RB_CHECK(options_.kernel_regularizer_l2 >= 0 && options_.bias_regularizer_l2 >= 0, ValueError,
             "CrossBlock: regularizer factors must be >= 0, got kernel {} and bias {}",
             options_.kernel_regularizer_l2, options_.bias_regularizer_l2);
  }

  std::string_view type() const override { return "CrossBlock"; }
  bool row_independent() const override { return true; }

  json config() const override { return options::to_json(CrossConfig{depth_, options_}); }

  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    const TensorSpec in = input.as_tensor("CrossBlock");
    RB_CHECK(in.shape.rank() == 1, ShapeError,
             "CrossBlock: input has shape {}, expected [batch, features] (rank 2)",
             row_shape(in.shape));
    const std::int64_t d = in.shape[0];
    const std::int64_t r = options_.low_rank_dim;
    layers_.clear();
    for (int l = 0; l < depth_; ++l) {
      const std::string prefix = fmt::format("cross_{}/", l);
      CrossLayer layer;
      // Merlin builds dense (and its bias) before dense_u.
      layer.kernel = context.parameter(prefix + "kernel", Shape{r > 0 ? r : d, d},
                                       options_.kernel_initializer);
      if (options_.use_bias) {
        layer.bias = context.parameter(prefix + "bias", Shape{d}, options_.bias_initializer);
      }
      if (r > 0) {
        layer.kernel_u =
            context.parameter(prefix + "kernel_u", Shape{d, r}, options_.kernel_initializer);
      }
      layers_.push_back(std::move(layer));
    }
    return FlowSpec::tensor(in);
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    const Var x0 = input.as_tensor("CrossBlock");
    Var x = x0;
    for (const CrossLayer& layer : layers_) {
      const Var bias = layer.bias ? run.param(layer.bias) : Var();
      const Var projected = layer.kernel_u ? ops::linear(ops::linear(x, run.param(layer.kernel_u)),
                                                         run.param(layer.kernel), bias)
                                           : ops::linear(x, run.param(layer.kernel), bias);
      x = ops::add(ops::mul(x0, projected), x);
    }
    return Flow::tensor(x);
  }

  std::vector<std::pair<std::string, ParameterPtr>> own_parameters() const override {
    std::vector<std::pair<std::string, ParameterPtr>> out;
    for (const CrossLayer& layer : layers_) {
      for (const ParameterPtr& p : {layer.kernel_u, layer.kernel, layer.bias}) {
        if (p) out.emplace_back(p->name(), p);
      }
    }
    return out;
  }

  std::vector<std::pair<ParameterPtr, float>> regularizers() const override {
    std::vector<std::pair<ParameterPtr, float>> out;
    const auto kernel_factor = static_cast<float>(options_.kernel_regularizer_l2);
    const auto bias_factor = static_cast<float>(options_.bias_regularizer_l2);
    for (const CrossLayer& layer : layers_) {
      if (kernel_factor > 0) {
        if (layer.kernel_u) out.emplace_back(layer.kernel_u, kernel_factor);
        out.emplace_back(layer.kernel, kernel_factor);
      }
      if (bias_factor > 0 && layer.bias) out.emplace_back(layer.bias, bias_factor);
    }
    return out;
  }

 private:
  int depth_;
  CrossOptions options_;
  std::vector<CrossLayer> layers_;
};

}  // namespace

DotProductInteractionBlock::DotProductInteractionBlock(bool self_interaction)
    : Block(std::make_shared<DotProductImpl>(self_interaction)) {}

FMPairwiseInteraction::FMPairwiseInteraction() : Block(std::make_shared<FMPairwiseImpl>()) {}

CrossBlock::CrossBlock(int depth, CrossOptions options)
    : Block(std::make_shared<CrossImpl>(depth, std::move(options))) {}

void register_interaction_layers() {
  register_block_type<DotProductConfig>("DotProductInteractionBlock",
                                        [](DotProductConfig c, const BlockChildren&) {
                                          return DotProductInteractionBlock(c.self_interaction);
                                        });
  register_block_type<options::NoOptions>(
      "FMPairwiseInteraction",
      [](options::NoOptions, const BlockChildren&) { return FMPairwiseInteraction(); });
  register_block_type<CrossConfig>("CrossBlock", [](CrossConfig c, const BlockChildren&) {
    return CrossBlock(c.depth, std::move(c.options));
  });
}

}  // namespace recblocks
