// Optimizer::from_json and optim::by_name: the JSON form of every optimizer.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "recblocks/core/error.h"
#include "recblocks/optim/optim.h"

namespace recblocks {
namespace {

using nlohmann::json;

// Reads an optimizer's options from JSON, remembering the keys it knows so
// the rest can be reported by name.
class OptionReader {
 public:
  OptionReader(const json& j, std::string_view type) : j_(j), type_(type) {}

  void read(const char* key, float& out) {
    known_.push_back(key);
    if (!j_.contains(key)) return;
    RB_CHECK(j_[key].is_number(), ValueError, "{}: '{}' must be a number, got {}", type_, key,
             j_[key].dump());
    out = j_[key].get<float>();
  }
  void read(const char* key, bool& out) {
    known_.push_back(key);
    if (!j_.contains(key)) return;
    RB_CHECK(j_[key].is_boolean(), ValueError, "{}: '{}' must be true or false, got {}", type_, key,
             j_[key].dump());
    out = j_[key].get<bool>();
  }
  void read(const char* key, LearningRate& out) {
    known_.push_back(key);
    if (j_.contains(key)) out = LearningRate::from_json(j_[key]);
  }
  void finish() const {
    for (const auto& [key, value] : j_.items()) {
      RB_CHECK(key == "type" || std::find(known_.begin(), known_.end(), key) != known_.end(),
               ValueError, "{}: unknown option '{}' (known: {})", type_, key,
               fmt::join(known_, ", "));
    }
  }

 private:
  const json& j_;
  std::string_view type_;
  std::vector<std::string> known_;
};

constexpr std::string_view kKnownNames =
    "sgd, adam, lazy_adam (or lazyadam), adagrad, rowwise_adagrad, ftrl";

// The canonical type for a name, or "" if unknown.
std::string canonical_type(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "lazyadam") return "lazy_adam";
  for (const char* type : {"sgd", "adam", "lazy_adam", "adagrad", "rowwise_adagrad", "ftrl"}) {
    if (lower == type) return type;
  }
  return "";
}

}  // namespace

Optimizer Optimizer::from_json(const nlohmann::json& j) {
  RB_CHECK(j.is_object(), ValueError, "optimizer: expected an object, got {}", j.dump());
  RB_CHECK(j.contains("type") && j["type"].is_string(), ValueError,
           "optimizer: 'type' must be a string (one of {})", kKnownNames);
  const std::string name = j["type"].get<std::string>();
  if (name == "multi") {
    for (const auto& [key, value] : j.items()) {
      RB_CHECK(key == "type" || key == "default" || key == "groups", ValueError,
               "multi: unknown option '{}' (known: default, groups)", key);
    }
    RB_CHECK(j.contains("default"), ValueError,
             "multi: 'default' (the default optimizer) is missing");
    RB_CHECK(j.value("groups", json::array()).is_array(), ValueError,
             "multi: 'groups' must be an array of {{\"prefix\": ..., \"optimizer\": ...}}");
    std::vector<optim::OptimizerGroup> groups;
    for (const json& g : j.value("groups", json::array())) {
      RB_CHECK(g.is_object() && g.size() == 2 && g.contains("prefix") && g["prefix"].is_string() &&
                   g.contains("optimizer"),
               ValueError,
               "multi: a group must be {{\"prefix\": string, \"optimizer\": {{...}}}}, got {}",
               g.dump());
      groups.push_back({g["prefix"].get<std::string>(), from_json(g["optimizer"])});
    }
    return optim::MultiOptimizer(from_json(j["default"]), std::move(groups));
  }
  const std::string type = canonical_type(name);
  RB_CHECK(!type.empty(), ValueError, "optimizer: unknown type '{}'; known: {}", name, kKnownNames);
  OptionReader reader(j, type);
  if (type == "sgd") {
    optim::SGDOptions o;
    reader.read("learning_rate", o.learning_rate);
    reader.read("momentum", o.momentum);
    reader.read("nesterov", o.nesterov);
    reader.read("weight_decay", o.weight_decay);
    reader.finish();
    return optim::SGD(o);
  }
  if (type == "adam" || type == "lazy_adam") {
    optim::AdamOptions o;
    reader.read("learning_rate", o.learning_rate);
    reader.read("beta_1", o.beta_1);
    reader.read("beta_2", o.beta_2);
    reader.read("epsilon", o.epsilon);
    reader.read("weight_decay", o.weight_decay);
    reader.read("decoupled_weight_decay", o.decoupled_weight_decay);
    reader.finish();
    return type == "adam" ? optim::Adam(o) : optim::LazyAdam(o);
  }
  if (type == "ftrl") {
    optim::FtrlOptions o;
    reader.read("learning_rate", o.learning_rate);
    reader.read("initial_accumulator_value", o.initial_accumulator_value);
    reader.read("l1", o.l1);
    reader.read("l2", o.l2);
    reader.read("beta", o.beta);
    reader.finish();
    return optim::Ftrl(o);
  }
  optim::AdagradOptions o;
  reader.read("learning_rate", o.learning_rate);
  reader.read("initial_accumulator_value", o.initial_accumulator_value);
  reader.read("epsilon", o.epsilon);
  reader.read("weight_decay", o.weight_decay);
  reader.finish();
  return type == "adagrad" ? optim::Adagrad(o) : optim::RowWiseAdagrad(o);
}

namespace optim {

Optimizer by_name(std::string_view name) {
  const std::string type = canonical_type(name);
  RB_CHECK(!type.empty(), ValueError, "optimizer: unknown name '{}'; known: {}", name, kKnownNames);
  return Optimizer::from_json({{"type", type}});
}

}  // namespace optim
}  // namespace recblocks
