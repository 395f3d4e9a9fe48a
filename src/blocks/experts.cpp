#include "recblocks/blocks/experts.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <set>

#include "blocks/registry.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/config.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using nlohmann::json;

// A fresh, unbuilt copy of `block` with its own weights (through its JSON).
Block copy_of(const Block& block) { return Block::from_json(block.to_json()); }

class MMOEImpl final : public BlockBase {
 public:
  MMOEImpl(std::vector<std::string> outputs, double temperature, std::vector<Block> experts,
           std::vector<Block> gates)
      : outputs_(std::move(outputs)),
        temperature_(temperature),
        experts_(std::move(experts)),
        gates_(std::move(gates)) {
    RB_CHECK(!outputs_.empty(), ValueError, "MMOEBlock: no outputs (give the tasks' names)");
    RB_CHECK(std::set<std::string>(outputs_.begin(), outputs_.end()).size() == outputs_.size(),
             ValueError, "MMOEBlock: an output is named twice in [{}]", fmt::join(outputs_, ", "));
    RB_CHECK(!experts_.empty(), ValueError, "MMOEBlock: num_experts is 0, expected >= 1");
    RB_CHECK(std::isfinite(temperature_) && temperature_ > 0, ValueError,
             "MMOEBlock: gate_softmax_temperature is {}, expected > 0", temperature_);
    RB_CHECK(gates_.size() == outputs_.size(), ValueError, "MMOEBlock: {} gates for {} outputs",
             gates_.size(), outputs_.size());
  }
  std::string_view type() const override { return "MMOEBlock"; }
  json config() const override {
    return {{"outputs", outputs_},
            {"num_experts", static_cast<int>(experts_.size())},
            {"gate_softmax_temperature", temperature_}};
  }
  std::vector<std::pair<std::string, Block>> children() const override {
    std::vector<std::pair<std::string, Block>> out;
    for (std::size_t e = 0; e < experts_.size(); ++e)
      out.emplace_back(fmt::format("expert_{}", e), experts_[e]);
    for (std::size_t k = 0; k < gates_.size(); ++k)
      out.emplace_back(fmt::format("gate_{}", k), gates_[k]);
    return out;
  }
  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    const FlowSpec x = FlowSpec::tensor(input.as_tensor("MMOEBlock"));
    TensorSpec expert;
    for (std::size_t e = 0; e < experts_.size(); ++e) {
      const TensorSpec out = experts_[e].build(x, context).as_tensor("MMOEBlock expert");
      RB_CHECK(out.shape.rank() == 1, ShapeError,
               "MMOEBlock: expert {} gives [{}], expected a vector [d]", e,
               fmt::join(out.shape.dims(), ", "));
      RB_CHECK(e == 0 || out == expert, ShapeError,
               "MMOEBlock: expert {} gives {} but expert 0 gives {}", e,
               FlowSpec::tensor(out).str(), FlowSpec::tensor(expert).str());
      expert = out;
    }
    const auto experts = static_cast<std::int64_t>(experts_.size());
    FlowSpec::Dict dict;
    for (std::size_t k = 0; k < gates_.size(); ++k) {
      const TensorSpec gate = gates_[k].build(x, context).as_tensor("MMOEBlock gate");
      RB_CHECK(gate.shape == Shape{experts}, ShapeError,
               "MMOEBlock: gate {} gives {}, expected [{}]", k, FlowSpec::tensor(gate).str(),
               experts);
      dict.emplace_back(outputs_[k], expert);
    }
    return FlowSpec::dict(std::move(dict));
  }
  Flow forward(const Flow& input, RunContext& run) const override {
    const Var x = input.as_tensor("MMOEBlock");
    const Flow in = Flow::tensor(x);
    std::vector<Var> experts;
    experts.reserve(experts_.size());
    for (const Block& e : experts_)
      experts.push_back(e.forward(in, run).as_tensor("MMOEBlock expert"));
    const Var stacked = ops::stack(experts, 1);  // [B, E, d]
    const std::int64_t b = x.shape()[0], n = static_cast<std::int64_t>(experts_.size());
    Flow::Dict out;
    for (std::size_t k = 0; k < gates_.size(); ++k) {
      Var logits = gates_[k].forward(in, run).as_tensor("MMOEBlock gate");  // [B, E]
      if (temperature_ != 1.0) logits = ops::scale(logits, static_cast<float>(1.0 / temperature_));
      const Var weights = ops::reshape(ops::softmax(logits), {b, 1, n});
      const Var mixed = ops::bmm(weights, stacked);  // [B, 1, d]
      out.emplace_back(outputs_[k], ops::reshape(mixed, {b, mixed.shape()[2]}));
    }
    return Flow::dict(std::move(out));
  }

 private:
  std::vector<std::string> outputs_;
  double temperature_;
  std::vector<Block> experts_;
  std::vector<Block> gates_;
};

std::vector<Block> make_gates(std::size_t outputs, int num_experts, const Block& gate_block) {
  std::vector<Block> gates;
  for (std::size_t k = 0; k < outputs; ++k) {
    const Block dense = MLPBlock({num_experts}, {.activation = "linear"});
    gates.push_back(gate_block.defined() ? copy_of(gate_block).connect(dense) : dense);
  }
  return gates;
}

}  // namespace

MMOEBlock::MMOEBlock(std::vector<std::string> outputs, const Block& expert_block, int num_experts,
                     MMOEOptions options)
    : Block([&] {
        RB_CHECK(expert_block.defined(), ValueError, "MMOEBlock: the expert block is empty");
        RB_CHECK(num_experts >= 1, ValueError, "MMOEBlock: num_experts is {}, expected >= 1",
                 num_experts);
        std::vector<Block> experts;
        for (int e = 0; e < num_experts; ++e) experts.push_back(copy_of(expert_block));
        std::vector<Block> gates = make_gates(outputs.size(), num_experts, options.gate_block);
        return std::make_shared<MMOEImpl>(std::move(outputs), options.gate_softmax_temperature,
                                          std::move(experts), std::move(gates));
      }()) {}

void register_experts() {
  register_block_type("MMOEBlock", [](const json& c,
                                      std::vector<std::pair<std::string, Block>> children) {
    config::check_keys(c, "MMOEBlock", {"outputs", "num_experts", "gate_softmax_temperature"});
    const auto outputs = c.at("outputs").get<std::vector<std::string>>();
    const int num_experts = c.at("num_experts").get<int>();
    std::vector<Block> experts, gates;
    for (auto& [key, block] : children) {
      if (key.starts_with("expert_"))
        experts.push_back(std::move(block));
      else if (key.starts_with("gate_"))
        gates.push_back(std::move(block));
      else
        throw ValueError(fmt::format("MMOEBlock: unexpected child '{}'", key));
    }
    RB_CHECK(static_cast<int>(experts.size()) == num_experts, ValueError,
             "MMOEBlock: num_experts is {} but {} experts are saved", num_experts, experts.size());
    return MMOEBlock(std::make_shared<MMOEImpl>(outputs, c.value("gate_softmax_temperature", 1.0),
                                                std::move(experts), std::move(gates)));
  });
}

}  // namespace recblocks
