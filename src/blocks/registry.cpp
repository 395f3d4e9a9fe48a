#include "blocks/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/blocks/config.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

std::map<std::string, BlockFactory>& factories() {
  static std::map<std::string, BlockFactory> map;
  return map;
}

// The docs of the types registered with them.
std::map<std::string, std::vector<options::FieldDoc>>& docs() {
  static std::map<std::string, std::vector<options::FieldDoc>> map;
  return map;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

// Registers every built-in block type once, on first use of the registry.
// True while ensure_builtins registers the built-in types (which call
// register_block_type themselves).
thread_local bool registering_builtins = false;

void ensure_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    registering_builtins = true;
    register_combinators();
    register_aggregations();
    register_features();
    register_transformations();
    register_layers();
    register_interaction_layers();
    register_experts();
    register_crosses();
    register_retrieval_blocks();
    registering_builtins = false;
  });
}

}  // namespace

void config::check_keys(const nlohmann::json& config, std::string_view type,
                        std::initializer_list<std::string_view> known) {
  RB_CHECK(config.is_object(), ValueError, "{} config: expected a JSON object, got {}", type,
           config.dump());
  for (const auto& [key, value] : config.items()) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    RB_CHECK(ok, ValueError, "{} config: unknown key '{}' (known: {})", type, key,
             known.size() == 0 ? std::string("none") : fmt::format("{}", fmt::join(known, ", ")));
  }
}

void register_block_type(std::string name, BlockFactory factory) {
  if (!registering_builtins) ensure_builtins();  // built-ins never overwrite a user's type
  const std::lock_guard lock(registry_mutex());
  docs().erase(name);
  factories()[std::move(name)] = std::move(factory);
}

void register_block_type(std::string name, BlockFactory factory,
                         std::vector<options::FieldDoc> options) {
  if (!registering_builtins) ensure_builtins();
  const std::lock_guard lock(registry_mutex());
  docs()[name] = std::move(options);
  factories()[std::move(name)] = std::move(factory);
}

std::vector<std::string> registered_block_types() {
  ensure_builtins();
  const std::lock_guard lock(registry_mutex());
  std::vector<std::string> names;
  for (const auto& [name, f] : factories()) names.push_back(name);
  return names;
}

std::vector<BlockTypeDoc> block_type_docs() {
  ensure_builtins();
  const std::lock_guard lock(registry_mutex());
  std::vector<BlockTypeDoc> out;
  for (const auto& [name, f] : factories()) {
    const auto it = docs().find(name);
    out.push_back(it == docs().end() ? BlockTypeDoc{name, {}, false}
                                     : BlockTypeDoc{name, it->second, true});
  }
  return out;
}

std::string block_types_help() {
  std::string out;
  for (const BlockTypeDoc& d : block_type_docs()) {
    out += d.type + "\n";
    if (!d.declared) {
      out += "  (options not declared)\n";
    } else if (d.options.empty()) {
      out += "  (no options)\n";
    } else {
      out += options::format_docs(d.options);
    }
  }
  return out;
}

Block make_block(const std::string& type, const nlohmann::json& config,
                 std::vector<std::pair<std::string, Block>> children) {
  ensure_builtins();
  BlockFactory factory;
  {
    const std::lock_guard lock(registry_mutex());
    const auto it = factories().find(type);
    if (it != factories().end()) factory = it->second;
  }
  if (!factory) {
    // The registered names, as many as fit in a readable line.
    std::string names;
    const std::vector<std::string> all = registered_block_types();
    std::size_t shown = 0;
    for (; shown < all.size() && names.size() < 160; ++shown)
      names += (shown ? ", " : "") + all[shown];
    if (shown < all.size())
      names += fmt::format(", ... and {} more (`recblocks blocks` lists them)", all.size() - shown);
    // The name as given, cut and without control characters (it is user text).
    std::string name = type.substr(0, 80);
    for (char& c : name) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
    }
    throw ValueError(fmt::format("unknown block type '{}'{}; registered: {}", name,
                                 type.size() > 80 ? "..." : "", names));
  }
  try {
    return factory(config, std::move(children));
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(fmt::format("{} config: {}", type, e.what()));
  }
}

namespace {

Block block_from_json(const nlohmann::json& json, std::map<int, Block>& shared) {
  RB_CHECK(json.is_object(), ValueError, "block JSON: expected an object, got {}",
           json.dump().substr(0, 200));
  if (json.contains("ref")) {
    config::check_keys(json, "block reference", {"ref"});
    const int ref = json["ref"].get<int>();
    auto it = shared.find(ref);
    RB_CHECK(it != shared.end(), ValueError,
             "block JSON: reference to block {} before its definition", ref);
    return it->second;
  }
  config::check_keys(json, "block", {"type", "config", "children", "id"});
  RB_CHECK(json.contains("type") && json["type"].is_string(), ValueError,
           "block JSON: missing string 'type' in {}", json.dump().substr(0, 200));
  const std::string type = json["type"].get<std::string>();
  std::vector<std::pair<std::string, Block>> children;
  const nlohmann::json kids = json.value("children", nlohmann::json::array());
  RB_CHECK(kids.is_array(), ValueError, "{}: 'children' must be an array", type);
  for (const auto& c : kids) {
    config::check_keys(c, "child", {"key", "block"});
    children.emplace_back(c.at("key").get<std::string>(), block_from_json(c.at("block"), shared));
  }
  Block block =
      make_block(type, json.value("config", nlohmann::json::object()), std::move(children));
  if (json.contains("id")) shared.emplace(json["id"].get<int>(), block);
  return block;
}

}  // namespace

Block Block::from_json(const nlohmann::json& json) {
  ensure_builtins();
  std::map<int, Block> shared;
  try {
    return block_from_json(json, shared);
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(fmt::format("block JSON: {}", e.what()));
  }
}

}  // namespace recblocks
