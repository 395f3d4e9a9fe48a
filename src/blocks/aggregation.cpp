#include "recblocks/blocks/aggregation.h"

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

// The dict's entries in name order (Merlin's aggregations sort by key).
template <class Entry>
std::vector<const Entry*> by_name(const std::vector<Entry>& entries) {
  std::vector<const Entry*> out;
  out.reserve(entries.size());
  for (const Entry& e : entries) out.push_back(&e);
  std::sort(out.begin(), out.end(),
            [](const Entry* a, const Entry* b) { return a->first < b->first; });
  return out;
}

// Every entry of `input` (a dict) with the same shape; returns it.
Shape common_shape(const FlowSpec& input, std::string_view who) {
  const FlowSpec::Dict& dict = input.dict();
  RB_CHECK(!dict.empty(), ValueError, "{}: the input dict is empty", who);
  const Shape& first = dict.front().second.shape;
  for (const auto& [k, t] : dict) {
    RB_CHECK(t.shape == first && t.dtype == DType::kFloat32, ShapeError,
             "{}: every input must have the same shape; '{}' is {} but '{}' is {}", who, k, t.shape,
             dict.front().first, first);
  }
  return first;
}

class ConcatImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "ConcatFeatures"; }
  bool row_independent() const override { return true; }
  json config() const override { return json::object(); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    return FlowSpec::tensor(input.as_tensor("ConcatFeatures"));
  }
  Flow forward(const Flow& input, RunContext&) const override {
    return Flow::tensor(input.as_tensor("ConcatFeatures"));
  }
};

struct StackConfig {
  int axis = -1;

  static auto option_fields() {
    return options::table<StackConfig>(
        "StackFeatures",
        options::field(
            "axis", &StackConfig::axis,
            "counts the batch axis: 1 gives [B, n, d], -1 (Merlin's default) [B, d, n]"));
  }
};

class StackImpl final : public BlockBase {
 public:
  explicit StackImpl(int axis) : axis_(axis) {}
  std::string_view type() const override { return "StackFeatures"; }
  bool row_independent() const override { return true; }
  json config() const override { return options::to_json(StackConfig{axis_}); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    const Shape row = common_shape(input, "StackFeatures");
    // The op's axis counts the batch axis; the spec has none.
    const int out_rank = row.rank() + 2;
    const int axis = axis_ < 0 ? axis_ + out_rank : axis_;
    RB_CHECK(axis >= 1 && axis < out_rank, ShapeError,
             "StackFeatures: axis {} is out of range for inputs of shape [batch, {}] (use 1 .. {} "
             "or -1)",
             axis_, fmt::join(row.dims(), ", "), out_rank - 1);
    axis_resolved_ = axis;
    return FlowSpec::tensor(
        {row.inserted(axis - 1, static_cast<std::int64_t>(input.dict().size())), DType::kFloat32});
  }
  Flow forward(const Flow& input, RunContext&) const override {
    std::vector<Var> parts;
    for (const auto* e : by_name(input.dict())) parts.push_back(e->second);
    return Flow::tensor(ops::stack(parts, axis_resolved_));
  }

 private:
  int axis_;
  int axis_resolved_ = 1;
};

class SumImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "ElementwiseSum"; }
  bool row_independent() const override { return true; }
  json config() const override { return json::object(); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    return FlowSpec::tensor({common_shape(input, "ElementwiseSum"), DType::kFloat32});
  }
  Flow forward(const Flow& input, RunContext&) const override {
    const Flow::Dict& dict = input.dict();
    Var sum = dict.front().second;
    for (std::size_t i = 1; i < dict.size(); ++i) sum = ops::add(sum, dict[i].second);
    return Flow::tensor(sum);
  }
};

class ProductImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "ElementwiseProduct"; }
  bool row_independent() const override { return true; }
  json config() const override { return json::object(); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    return FlowSpec::tensor({common_shape(input, "ElementwiseProduct"), DType::kFloat32});
  }
  Flow forward(const Flow& input, RunContext&) const override {
    const auto entries = by_name(input.dict());
    Var product = entries.front()->second;
    for (std::size_t i = 1; i < entries.size(); ++i)
      product = ops::mul(product, entries[i]->second);
    return Flow::tensor(product);
  }
};

class CosineImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "CosineSimilarity"; }
  bool row_independent() const override { return true; }
  json config() const override { return json::object(); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    const Shape row = common_shape(input, "CosineSimilarity");
    RB_CHECK(input.dict().size() == 2 && row.rank() == 1, ShapeError,
             "CosineSimilarity: expected two inputs of shape [batch, d], got {}", input.str());
    return FlowSpec::tensor({Shape{1}, DType::kFloat32});
  }
  Flow forward(const Flow& input, RunContext&) const override {
    const Flow::Dict& dict = input.dict();
    return Flow::tensor(ops::cosine_similarity(dict[0].second, dict[1].second));  // [B, 1]
  }
};

}  // namespace

ConcatFeatures::ConcatFeatures() : Block(std::make_shared<ConcatImpl>()) {}
StackFeatures::StackFeatures(int axis) : Block(std::make_shared<StackImpl>(axis)) {}
ElementwiseSum::ElementwiseSum() : Block(std::make_shared<SumImpl>()) {}
ElementwiseProduct::ElementwiseProduct() : Block(std::make_shared<ProductImpl>()) {}
CosineSimilarity::CosineSimilarity() : Block(std::make_shared<CosineImpl>()) {}

void register_aggregations() {
  using options::NoOptions;
  register_block_type<NoOptions>("ConcatFeatures",
                                 [](NoOptions, const BlockChildren&) { return ConcatFeatures(); });
  register_block_type<StackConfig>(
      "StackFeatures", [](StackConfig c, const BlockChildren&) { return StackFeatures(c.axis); });
  register_block_type<NoOptions>("ElementwiseSum",
                                 [](NoOptions, const BlockChildren&) { return ElementwiseSum(); });
  register_block_type<NoOptions>(
      "ElementwiseProduct", [](NoOptions, const BlockChildren&) { return ElementwiseProduct(); });
  register_block_type<NoOptions>(
      "CosineSimilarity", [](NoOptions, const BlockChildren&) { return CosineSimilarity(); });
}

}  // namespace recblocks
