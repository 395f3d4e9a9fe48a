// Optimizer::from_json and optim::by_name: the JSON form of every optimizer.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "recblocks/core/error.h"
#include "recblocks/core/options.h"
#include "recblocks/optim/optim.h"

namespace recblocks {
namespace {

using nlohmann::json;

// The optimizer types with one options struct, by their JSON "type": each
// reads and documents its struct's option_fields().
struct OptimizerKind {
  std::string_view type;
  Optimizer (*from_json)(const json& j, std::string_view type);
  std::vector<options::FieldDoc> (*document)();
};

template <class Options, Optimizer (*kMake)(Options)>
Optimizer read_kind(const json& j, std::string_view type) {
  // "type" is read by Optimizer::from_json.
  return kMake(options::from_json<Options>(j, type, {.noun = "option", .also_allowed = {"type"}}));
}

template <class Options, Optimizer (*kMake)(Options)>
constexpr OptimizerKind kind(std::string_view type) {
  return {type, &read_kind<Options, kMake>, &options::document<Options>};
}

constexpr OptimizerKind kKinds[] = {
    kind<optim::SGDOptions, &optim::SGD>("sgd"),
    kind<optim::AdamOptions, &optim::Adam>("adam"),
    kind<optim::AdamOptions, &optim::LazyAdam>("lazy_adam"),
    kind<optim::AdagradOptions, &optim::Adagrad>("adagrad"),
    kind<optim::AdagradOptions, &optim::RowWiseAdagrad>("rowwise_adagrad"),
    kind<optim::FtrlOptions, &optim::Ftrl>("ftrl"),
};

constexpr std::string_view kKnownNames =
    "sgd, adam, lazy_adam (or lazyadam), adagrad, rowwise_adagrad, ftrl";

// The kind for a name (any case, "lazyadam" too), or null if unknown.
const OptimizerKind* find_kind(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "lazyadam") lower = "lazy_adam";
  for (const OptimizerKind& k : kKinds) {
    if (k.type == lower) return &k;
  }
  return nullptr;
}

// MultiOptimizer's keys (its reader, and its docs below).
constexpr const char* kMultiType = "multi";
constexpr const char* kDefaultKey = "default";
constexpr const char* kGroupsKey = "groups";

Optimizer multi_from_json(const json& j) {
  for (const auto& [key, value] : j.items()) {
    RB_CHECK(key == "type" || key == kDefaultKey || key == kGroupsKey, ValueError,
             "multi: unknown option '{}' (known: {}, {})", key, kDefaultKey, kGroupsKey);
  }
  RB_CHECK(j.contains(kDefaultKey), ValueError,
           "multi: 'default' (the default optimizer) is missing");
  const json groups_json = j.value(kGroupsKey, json::array());
  RB_CHECK(groups_json.is_array(), ValueError,
           "multi: 'groups' must be an array of {{\"prefix\": ..., \"optimizer\": ...}}");
  std::vector<optim::OptimizerGroup> groups;
  for (const json& g : groups_json) {
    RB_CHECK(g.is_object() && g.size() == 2 && g.contains("prefix") && g["prefix"].is_string() &&
                 g.contains("optimizer"),
             ValueError,
             "multi: a group must be {{\"prefix\": string, \"optimizer\": {{...}}}}, got {}",
             g.dump());
    groups.push_back({g["prefix"].get<std::string>(), Optimizer::from_json(g["optimizer"])});
  }
  return optim::MultiOptimizer(Optimizer::from_json(j[kDefaultKey]), std::move(groups));
}

}  // namespace

Optimizer Optimizer::from_json(const nlohmann::json& j) {
  RB_CHECK(j.is_object(), ValueError, "optimizer: expected an object, got {}", j.dump());
  RB_CHECK(j.contains("type") && j["type"].is_string(), ValueError,
           "optimizer: 'type' must be a string (one of {})", kKnownNames);
  const std::string name = j["type"].get<std::string>();
  if (name == kMultiType) return multi_from_json(j);
  const OptimizerKind* k = find_kind(name);
  RB_CHECK(k != nullptr, ValueError, "optimizer: unknown type '{}'; known: {}", name, kKnownNames);
  return k->from_json(j, k->type);
}

namespace optim {

Optimizer by_name(std::string_view name) {
  const OptimizerKind* k = find_kind(name);
  RB_CHECK(k != nullptr, ValueError, "optimizer: unknown name '{}'; known: {}", name, kKnownNames);
  return k->from_json(json::object(), k->type);
}

std::vector<OptimizerTypeDoc> optimizer_type_docs() {
  std::vector<OptimizerTypeDoc> out;
  for (const OptimizerKind& k : kKinds) out.push_back({std::string(k.type), k.document()});
  out.push_back(
      {kMultiType,
       {{kDefaultKey, "optimizer", "(required)", "the optimizer of the parameters no group takes",
         true},
        {kGroupsKey, "[{prefix, optimizer}]", "[]",
         "a parameter goes to the first group whose prefix its name starts with", false}}});
  return out;
}

std::string optimizer_types_help() {
  std::string out;
  for (const OptimizerTypeDoc& d : optimizer_type_docs()) {
    out += d.type + "\n" + options::format_docs(d.options);
  }
  out += "learning_rate (a schedule: LearningRate)\n" +
         options::format_docs(options::document<LearningRate>());
  return out;
}

}  // namespace optim
}  // namespace recblocks
