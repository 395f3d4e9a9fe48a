// What the Optimizer handle calls (not installed): one update rule
// (RuleOptimizer, rule_optimizer.h) or a rule per group of parameters
// (MultiOptimizer, multi_optimizer.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recblocks/optim/optim.h"

namespace recblocks {

class OptimizerBase {
 public:
  OptimizerBase() = default;
  virtual ~OptimizerBase() = default;
  OptimizerBase(const OptimizerBase&) = delete;
  OptimizerBase& operator=(const OptimizerBase&) = delete;

  virtual std::string_view type() const = 0;
  // Whether it hands groups of parameters to other optimizers
  // (MultiOptimizer): such an optimizer cannot be a group's.
  virtual bool routes_groups() const { return false; }
  virtual nlohmann::json to_json() const = 0;
  virtual void init(const std::vector<std::pair<std::string, ParameterPtr>>& parameters) = 0;
  // step() is check_step() then apply_step(): a MultiOptimizer checks every
  // group's gradients before any group changes a weight.
  void step() {
    check_step();
    apply_step();
  }
  virtual void check_step() = 0;
  virtual void apply_step() = 0;
  virtual std::int64_t iterations() const = 0;
  virtual float current_learning_rate() const = 0;
  virtual void fuse_sparse_updates(bool enable) = 0;
  virtual std::map<std::string, Tensor> state() const = 0;
  // Checks everything before changing anything.
  virtual void load_state(const std::map<std::string, Tensor>& state) = 0;
};

}  // namespace recblocks
