#include "recblocks/blocks/retrieval.h"

#include <cmath>

#include "blocks/registry.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/config.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using nlohmann::json;

class ItemRetrievalScorerImpl final : public BlockBase {
 public:
  explicit ItemRetrievalScorerImpl(ItemRetrievalScorerOptions options) : options_(std::move(options)) {
    RB_CHECK(std::isfinite(options_.temperature) && options_.temperature > 0, ValueError,
             "ItemRetrievalScorer: temperature is {}, expected a number > 0", options_.temperature);
    RB_CHECK(!options_.query.empty() && !options_.candidate.empty() && options_.query != options_.candidate,
             ValueError, "ItemRetrievalScorer: the query and candidate keys must be two different names, got '{}' "
             "and '{}'", options_.query, options_.candidate);
  }
  std::string_view type() const override { return "ItemRetrievalScorer"; }
  json config() const override { return options_.to_json(); }

  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    RB_CHECK(input.kind() == FlowSpec::Kind::kDict, ValueError,
             "ItemRetrievalScorer: expected the dict {{'{}': [d], '{}': [d]}} of a two-tower body, got {}",
             options_.query, options_.candidate, input.str());
    const TensorSpec* q = nullptr;
    const TensorSpec* c = nullptr;
    for (const auto& [key, spec] : input.dict()) {
      if (key == options_.query) q = &spec;
      if (key == options_.candidate) c = &spec;
    }
    RB_CHECK(q != nullptr && c != nullptr, ValueError, "ItemRetrievalScorer: the input {} lacks '{}' or '{}'",
             input.str(), options_.query, options_.candidate);
    RB_CHECK(q->dtype == DType::kFloat32 && c->dtype == DType::kFloat32 && q->shape.rank() == 1 &&
                 q->shape == c->shape,
             ShapeError, "ItemRetrievalScorer: query {} and candidate {} must be float32 vectors of one width",
             q->shape, c->shape);
    return FlowSpec::tensor({Shape{0}});
  }

  Flow forward(const Flow& input, RunContext&) const override {
    Var q = input.at(options_.query);
    Var c = input.at(options_.candidate);
    if (options_.l2_normalization) {
      q = ops::l2_normalize(q);
      c = ops::l2_normalize(c);
    }
    Var scores = ops::matmul(q, c, false, true);
    if (options_.temperature != 1.0) scores = ops::scale(scores, static_cast<float>(1.0 / options_.temperature));
    return Flow::tensor(scores);
  }

 private:
  ItemRetrievalScorerOptions options_;
};

}  // namespace

json ItemRetrievalScorerOptions::to_json() const {
  return {{"query", query},
          {"candidate", candidate},
          {"l2_normalization", l2_normalization},
          {"temperature", temperature}};
}

ItemRetrievalScorerOptions ItemRetrievalScorerOptions::from_json(const json& j) {
  config::check_keys(j, "ItemRetrievalScorer", {"query", "candidate", "l2_normalization", "temperature"});
  ItemRetrievalScorerOptions o;
  try {
    o.query = j.value("query", o.query);
    o.candidate = j.value("candidate", o.candidate);
    o.l2_normalization = j.value("l2_normalization", o.l2_normalization);
    o.temperature = j.value("temperature", o.temperature);
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("ItemRetrievalScorer config {}: a value has the wrong type: {}", j.dump(),
                                 e.what()));
  }
  return o;
}

ItemRetrievalScorer::ItemRetrievalScorer(ItemRetrievalScorerOptions options)
    : Block(std::make_shared<ItemRetrievalScorerImpl>(std::move(options))) {}

void register_retrieval_blocks() {
  register_block_type("ItemRetrievalScorer", [](const json& c, auto) {
    return ItemRetrievalScorer(ItemRetrievalScorerOptions::from_json(c));
  });
}

}  // namespace recblocks
