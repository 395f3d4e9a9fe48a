#include "recblocks/blocks/experts.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdio>
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

// sum_e softmax(logits / temperature)[:, e] * experts[e]: [B, E] and E x
// [B, d] -> [B, d].
Var mixture(Var logits, const std::vector<Var>& experts, double temperature) {
  if (temperature != 1.0) logits = ops::scale(logits, static_cast<float>(1.0 / temperature));
  const std::int64_t b = logits.shape()[0], n = static_cast<std::int64_t>(experts.size());
  const Var mixed = ops::bmm(ops::reshape(ops::softmax(logits), {b, 1, n}), ops::stack(experts, 1));
  return ops::reshape(mixed, {b, mixed.shape()[2]});
}

void check_outputs(const std::vector<std::string>& outputs, const char* who) {
  RB_CHECK(!outputs.empty(), ValueError, "{}: no outputs (give the tasks' names)", who);
  RB_CHECK(std::set<std::string>(outputs.begin(), outputs.end()).size() == outputs.size(),
           ValueError, "{}: an output is named twice in [{}]", who, fmt::join(outputs, ", "));
}

void check_temperature(double temperature, const char* who) {
  RB_CHECK(std::isfinite(temperature) && temperature > 0, ValueError,
           "{}: gate_softmax_temperature is {}, expected > 0", who, temperature);
}

// An expert's output spec, checked to be [d] and the same for every expert.
void check_expert(const TensorSpec& out, TensorSpec& first, bool is_first, const std::string& name,
                  const char* who) {
  RB_CHECK(out.shape.rank() == 1, ShapeError, "{}: {} gives {}, expected a vector [d]", who, name,
           FlowSpec::tensor(out).str());
  RB_CHECK(is_first || out == first, ShapeError, "{}: {} gives {} but the first expert gives {}",
           who, name, FlowSpec::tensor(out).str(), FlowSpec::tensor(first).str());
  first = out;
}

// A CGCBlock's JSON config: the outputs, then CGCOptions' keys; the
// experts and gates are its children.
struct CGCConfig {
  std::vector<std::string> outputs = {};
  CGCOptions options = {};

  static auto option_fields() {
    return options::table<CGCConfig>(
        "CGCBlock",
        options::field("outputs", &CGCConfig::outputs, "one output (task name) per entry")
            .required(),
        options::flatten(&CGCConfig::options));
  }
};

class CGCImpl final : public BlockBase {
 public:
  // task_experts[k]: output k's experts; gates: one per output, then the
  // shared gate when there is one.
  CGCImpl(std::vector<std::string> outputs, double temperature,
          std::vector<std::vector<Block>> task_experts, std::vector<Block> shared_experts,
          std::vector<Block> gates, bool shared_gate)
      : outputs_(std::move(outputs)),
        temperature_(temperature),
        task_experts_(std::move(task_experts)),
        shared_experts_(std::move(shared_experts)),
        gates_(std::move(gates)),
        shared_gate_(shared_gate) {
    check_outputs(outputs_, "CGCBlock");
    check_temperature(temperature_, "CGCBlock");
    for (const std::string& o : outputs_) {
      RB_CHECK(o != kShared, ValueError, "CGCBlock: an output may not be named '{}'", kShared);
    }
    RB_CHECK(task_experts_.size() == outputs_.size() &&
                 gates_.size() == outputs_.size() + (shared_gate_ ? 1 : 0),
             ValueError, "CGCBlock: {} expert groups and {} gates for {} outputs",
             task_experts_.size(), gates_.size(), outputs_.size());
    RB_CHECK(task_experts_[0].size() + shared_experts_.size() >= 1, ValueError,
             "CGCBlock: no experts (num_task_experts and num_shared_experts are 0)");
  }
  std::string_view type() const override { return "CGCBlock"; }
  json config() const override {
    CGCConfig c{.outputs = outputs_};
    c.options.num_task_experts = static_cast<int>(task_experts_[0].size());
    c.options.num_shared_experts = static_cast<int>(shared_experts_.size());
    c.options.add_shared_gate = shared_gate_;
    c.options.gate_softmax_temperature = temperature_;
    return options::to_json(c);
  }
  std::vector<std::pair<std::string, Block>> children() const override {
    std::vector<std::pair<std::string, Block>> out;
    for (std::size_t k = 0; k < task_experts_.size(); ++k) {
      for (std::size_t i = 0; i < task_experts_[k].size(); ++i) {
        out.emplace_back(fmt::format("task_{}_expert_{}", k, i), task_experts_[k][i]);
      }
    }
    for (std::size_t i = 0; i < shared_experts_.size(); ++i) {
      out.emplace_back(fmt::format("shared_expert_{}", i), shared_experts_[i]);
    }
    for (std::size_t k = 0; k < outputs_.size(); ++k)
      out.emplace_back(fmt::format("gate_{}", k), gates_[k]);
    if (shared_gate_) out.emplace_back("shared_gate", gates_.back());
    return out;
  }

  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    TensorSpec expert;
    bool first = true;
    auto build_expert = [&](const Block& e, const FlowSpec& in, const std::string& name) {
      check_expert(e.build(in, context).as_tensor("CGCBlock expert"), expert, first, name,
                   "CGCBlock");
      first = false;
    };
    const std::vector<FlowSpec> ins = inputs_of(input);
    const FlowSpec& shared_in = ins.back();
    for (std::size_t k = 0; k < outputs_.size(); ++k) {
      for (std::size_t i = 0; i < task_experts_[k].size(); ++i) {
        build_expert(task_experts_[k][i], ins[k], fmt::format("task {} expert {}", k, i));
      }
    }
    for (std::size_t i = 0; i < shared_experts_.size(); ++i) {
      build_expert(shared_experts_[i], shared_in, fmt::format("shared expert {}", i));
    }
    FlowSpec::Dict dict;
    for (std::size_t g = 0; g < gates_.size(); ++g) {
      const bool shared = g == outputs_.size();
      const FlowSpec& in = ins[g];
      const auto want = static_cast<std::int64_t>(shared ? experts_total() : own_and_shared());
      const TensorSpec gate = gates_[g].build(in, context).as_tensor("CGCBlock gate");
      RB_CHECK(gate.shape == Shape{want}, ShapeError, "CGCBlock: gate {} gives {}, expected [{}]",
               g, FlowSpec::tensor(gate).str(), want);
      dict.emplace_back(shared ? std::string(kShared) : outputs_[g], expert);
    }
    return FlowSpec::dict(std::move(dict));
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    const std::vector<Flow> ins = inputs_of(input);
    const Flow& shared_in = ins.back();
    std::vector<Var> shared;
    for (const Block& e : shared_experts_)
      shared.push_back(e.forward(shared_in, run).as_tensor("CGCBlock expert"));
    std::vector<Var> all;
    Flow::Dict out;
    for (std::size_t k = 0; k < outputs_.size(); ++k) {
      const Flow& in = ins[k];
      std::vector<Var> experts;
      for (const Block& e : task_experts_[k])
        experts.push_back(e.forward(in, run).as_tensor("CGCBlock expert"));
      all.insert(all.end(), experts.begin(), experts.end());
      experts.insert(experts.end(), shared.begin(), shared.end());
      out.emplace_back(outputs_[k], mixture(gates_[k].forward(in, run).as_tensor("CGCBlock gate"),
                                            experts, temperature_));
    }
    if (shared_gate_) {
      all.insert(all.end(), shared.begin(), shared.end());
      out.emplace_back(
          kShared, mixture(gates_.back().forward(shared_in, run).as_tensor("CGCBlock gate"), all,
                           temperature_));
    }
    return Flow::dict(std::move(out));
  }

  static constexpr const char* kShared = "shared";

 private:
  std::size_t own_and_shared() const { return task_experts_[0].size() + shared_experts_.size(); }
  std::size_t experts_total() const {
    return task_experts_.size() * task_experts_[0].size() + shared_experts_.size();
  }

  // What each output's experts and gate read (in the order of outputs_),
  // then what the shared experts and the shared gate read: a per-task
  // dict's entries (a previous CGC layer's output), else the whole input
  // as one tensor, concatenated once.
  template <class F>
  std::vector<F> inputs_of(const F& input) const {
    std::vector<F> out;
    if (input.kind() == FlowSpec::Kind::kDict && per_task(input)) {
      auto entry = [&](const std::string& key) {
        for (const auto& [name, value] : input.dict()) {
          if (name == key) return F::tensor(value);
        }
        return F::tensor(input.dict().front().second);  // not reached: per_task checked the keys
      };
      for (const std::string& o : outputs_) out.push_back(entry(o));
      out.push_back(entry(kShared));
    } else {
      out.assign(outputs_.size() + 1, F::tensor(input.as_tensor("CGCBlock")));
    }
    return out;
  }
  // A dict with an entry per output and "shared".
  template <class F>
  bool per_task(const F& input) const {
    std::set<std::string> keys;
    for (const auto& e : input.dict()) keys.insert(e.first);
    for (const std::string& o : outputs_) {
      if (!keys.contains(o)) return false;
    }
    return keys.contains(kShared);
  }

  std::vector<std::string> outputs_;
  double temperature_;
  std::vector<std::vector<Block>> task_experts_;
  std::vector<Block> shared_experts_;
  std::vector<Block> gates_;
  bool shared_gate_;
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

// MMoE is CGC with shared experts only: each output's gate mixes all of
// them.
MMOEBlock::MMOEBlock(std::vector<std::string> outputs, const Block& expert_block, int num_experts,
                     MMOEOptions options)
    : Block([&] {
        check_outputs(outputs, "MMOEBlock");
        RB_CHECK(num_experts >= 1, ValueError, "MMOEBlock: num_experts is {}, expected >= 1",
                 num_experts);
        check_temperature(options.gate_softmax_temperature, "MMOEBlock");
        return static_cast<const Block&>(
            CGCBlock(std::move(outputs), expert_block,
                     {.num_task_experts = 0,
                      .num_shared_experts = num_experts,
                      .gate_block = options.gate_block,
                      .gate_softmax_temperature = options.gate_softmax_temperature}));
      }()) {}

CGCBlock::CGCBlock(std::vector<std::string> outputs, const Block& expert_block, CGCOptions options)
    : Block([&] {
        RB_CHECK(expert_block.defined(), ValueError, "CGCBlock: the expert block is empty");
        RB_CHECK(options.num_task_experts >= 0 && options.num_shared_experts >= 0, ValueError,
                 "CGCBlock: num_task_experts {} and num_shared_experts {} must be >= 0",
                 options.num_task_experts, options.num_shared_experts);
        std::vector<std::vector<Block>> task(outputs.size());
        for (auto& experts : task) {
          for (int i = 0; i < options.num_task_experts; ++i)
            experts.push_back(copy_of(expert_block));
        }
        std::vector<Block> shared;
        shared.reserve(static_cast<std::size_t>(options.num_shared_experts));
        for (int i = 0; i < options.num_shared_experts; ++i)
          shared.push_back(copy_of(expert_block));
        const int own = options.num_task_experts + options.num_shared_experts;
        std::vector<Block> gates = make_gates(outputs.size(), std::max(own, 1), options.gate_block);
        if (options.add_shared_gate) {
          const int all = static_cast<int>(outputs.size()) * options.num_task_experts +
                          options.num_shared_experts;
          std::vector<Block> more = make_gates(1, std::max(all, 1), options.gate_block);
          gates.push_back(more[0]);
        }
        return std::make_shared<CGCImpl>(std::move(outputs), options.gate_softmax_temperature,
                                         std::move(task), std::move(shared), std::move(gates),
                                         options.add_shared_gate);
      }()) {}

PLEBlock::PLEBlock(int num_layers, std::vector<std::string> outputs, const Block& expert_block,
                   CGCOptions options)
    : Block([&] {
        RB_CHECK(num_layers >= 1, ValueError, "PLEBlock: num_layers is {}, expected >= 1",
                 num_layers);
        std::vector<Block> layers;
        for (int l = 0; l < num_layers; ++l) {
          CGCOptions layer = options;
          layer.add_shared_gate = l + 1 < num_layers;
          layers.push_back(CGCBlock(outputs, expert_block, layer));
        }
        return static_cast<const Block&>(SequentialBlock(std::move(layers)));
      }()) {}

void register_experts() {
  register_block_type<CGCConfig>("CGCBlock", [](CGCConfig c, const BlockChildren& children) {
    const std::vector<std::string>& outputs = c.outputs;
    const bool shared_gate = c.options.add_shared_gate;
    std::vector<std::vector<Block>> task(outputs.size());
    std::vector<Block> shared, gates;
    Block shared_gate_block;
    for (const auto& [key, block] : children) {
      std::size_t k = 0;
      if (std::sscanf(key.c_str(), "task_%zu_expert_", &k) == 1 && k < outputs.size()) {
        task[k].push_back(block);
      } else if (key.starts_with("shared_expert_")) {
        shared.push_back(block);
      } else if (key == "shared_gate") {
        shared_gate_block = block;
      } else if (key.starts_with("gate_")) {
        gates.push_back(block);
      } else {
        throw ValueError(fmt::format("CGCBlock: unexpected child '{}'", key));
      }
    }
    // The expert counts are written for readers of the file; the children
    // are the experts, so the two must agree.
    for (std::size_t k = 0; k < task.size(); ++k) {
      RB_CHECK(static_cast<int>(task[k].size()) == c.options.num_task_experts, ValueError,
               "CGCBlock config: num_task_experts is {} but output {} has {} expert children",
               c.options.num_task_experts, k, task[k].size());
    }
    RB_CHECK(static_cast<int>(shared.size()) == c.options.num_shared_experts, ValueError,
             "CGCBlock config: num_shared_experts is {} but there are {} shared expert children",
             c.options.num_shared_experts, shared.size());
    if (shared_gate) gates.push_back(shared_gate_block);
    return CGCBlock(std::make_shared<CGCImpl>(outputs, c.options.gate_softmax_temperature,
                                              std::move(task), std::move(shared), std::move(gates),
                                              shared_gate));
  });
}

}  // namespace recblocks
