// MultiOptimizer: a rule per group of parameters, chosen by name prefix.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <set>

#include "optim/optimizer_base.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

// One update rule per group of parameters, chosen by name prefix.
class MultiImpl final : public OptimizerBase {
 public:
  MultiImpl(Optimizer default_optimizer, std::vector<optim::OptimizerGroup> groups)
      : groups_(std::move(groups)) {
    groups_.push_back({"", std::move(default_optimizer)});
    std::set<const OptimizerBase*> seen;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const optim::OptimizerGroup& group = groups_[g];
      const bool is_default = g + 1 == groups_.size();
      RB_CHECK(group.optimizer.defined(), ValueError, "MultiOptimizer: the {} has no optimizer",
               is_default ? std::string("default") : fmt::format("group '{}'", group.prefix));
      RB_CHECK(!group.optimizer.impl().routes_groups(), ValueError,
               "MultiOptimizer: a group's optimizer cannot itself be a MultiOptimizer");
      RB_CHECK(is_default || !group.prefix.empty(), ValueError,
               "MultiOptimizer: group {} has an empty prefix (it would take every parameter; "
               "make it the default optimizer instead)",
               g);
      RB_CHECK(seen.insert(&group.optimizer.impl()).second, ValueError,
               "MultiOptimizer: one optimizer object is given to two groups (each group needs "
               "its own: its state is per parameter)");
      for (std::size_t h = 0; h < g; ++h) {
        RB_CHECK(is_default || groups_[h].prefix != group.prefix, ValueError,
                 "MultiOptimizer: two groups have the prefix '{}'", group.prefix);
      }
    }
  }

  std::string_view type() const override { return "multi"; }
  bool routes_groups() const override { return true; }
  nlohmann::json to_json() const override {
    nlohmann::json groups = nlohmann::json::array();
    for (std::size_t g = 0; g + 1 < groups_.size(); ++g) {
      groups.push_back(
          {{"prefix", groups_[g].prefix}, {"optimizer", groups_[g].optimizer.to_json()}});
    }
    return {{"type", "multi"}, {"default", groups_.back().optimizer.to_json()}, {"groups", groups}};
  }

  // Each parameter goes to the first group whose prefix its name starts
  // with, else to the default optimizer.
  void init(const std::vector<std::pair<std::string, ParameterPtr>>& parameters) override {
    std::vector<std::vector<std::pair<std::string, ParameterPtr>>> parts(groups_.size());
    std::map<std::string, std::size_t> route;
    for (const auto& [name, p] : parameters) {
      std::size_t g = 0;
      while (g + 1 < groups_.size() && !name.starts_with(groups_[g].prefix)) ++g;
      parts[g].emplace_back(name, p);
      route[name] = g;
    }
    for (std::size_t g = 0; g + 1 < groups_.size(); ++g) {
      if (!parts[g].empty()) continue;
      std::vector<std::string> names;
      for (const auto& [name, p] : parameters) {
        if (names.size() == 8) {
          names.emplace_back("...");
          break;
        }
        names.push_back(name);
      }
      throw ValueError(
          fmt::format("MultiOptimizer.init: no parameter's name starts with the group prefix '{}' "
                      "(parameters: {})",
                      groups_[g].prefix, fmt::join(names, ", ")));
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].optimizer.init(parts[g]);
    route_ = std::move(route);
  }

  void check_step() override {
    for (auto& group : groups_) group.optimizer.impl().check_step();
  }
  void apply_step() override {
    for (auto& group : groups_) group.optimizer.impl().apply_step();
  }
  std::int64_t iterations() const override { return groups_.back().optimizer.iterations(); }
  float current_learning_rate() const override {
    return groups_.back().optimizer.current_learning_rate();
  }
  void fuse_sparse_updates(bool enable) override {
    for (auto& group : groups_) group.optimizer.fuse_sparse_updates(enable);
  }

  // The groups' slots ("<parameter>/<slot>", distinct since each parameter
  // is in one group) and one "iterations" (every group steps together).
  std::map<std::string, Tensor> state() const override {
    std::map<std::string, Tensor> out;
    for (const auto& group : groups_) out.merge(group.optimizer.state());
    return out;
  }

  void load_state(const std::map<std::string, Tensor>& state) override {
    std::vector<std::map<std::string, Tensor>> parts(groups_.size());
    std::vector<std::string> unknown;
    for (const auto& [key, value] : state) {
      if (key == "iterations") {
        for (auto& part : parts) part.emplace(key, value);
        continue;
      }
      const std::size_t slash = key.rfind('/');
      const auto it = slash == std::string::npos ? route_.end() : route_.find(key.substr(0, slash));
      if (it == route_.end()) {
        unknown.push_back(key);
      } else {
        parts[it->second].emplace(key, value);
      }
    }
    RB_CHECK(unknown.empty(), ValueError,
             "MultiOptimizer.load_state: unknown key(s) '{}': not a slot of this optimizer's "
             "parameters",
             fmt::join(unknown, "', '"));
    // A group that fails leaves the earlier ones as they were.
    std::vector<std::map<std::string, Tensor>> before;
    for (const auto& group : groups_) before.push_back(group.optimizer.state());
    std::size_t g = 0;
    try {
      for (; g < groups_.size(); ++g) groups_[g].optimizer.load_state(parts[g]);
    } catch (...) {
      for (std::size_t h = 0; h < g; ++h) groups_[h].optimizer.load_state(before[h]);
      throw;
    }
  }

 private:
  std::vector<optim::OptimizerGroup> groups_;  // the default last, prefix ""
  std::map<std::string, std::size_t> route_;   // parameter name -> group
};

}  // namespace

namespace optim {

Optimizer MultiOptimizer(Optimizer default_optimizer, std::vector<OptimizerGroup> groups) {
  return Optimizer(std::make_shared<MultiImpl>(std::move(default_optimizer), std::move(groups)));
}

}  // namespace optim
}  // namespace recblocks
