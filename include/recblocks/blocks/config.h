// Block configs (JSON) declared once, with core/options.h: a block type's
// config is a struct with a field table, and register_block_type<Config>
// reads it (unknown keys, missing keys and wrong types are errors naming the
// block type) and records its docs for block_type_docs().
//
//   struct StackConfig {
//     int axis = -1;
//     static auto option_fields() {
//       return options::table<StackConfig>("StackFeatures",
//           options::field("axis", &StackConfig::axis, "1: [B, n, d]; -1: [B, d, n]"));
//     }
//   };
//   json config() const override { return options::to_json(StackConfig{axis_}); }
//   register_block_type<StackConfig>("StackFeatures",
//       [](StackConfig c, BlockChildren) { return StackFeatures(c.axis); });
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/core/options.h"
#include "recblocks/schema/schema.h"

namespace recblocks {

namespace options {

// A schema in a block config: Schema::to_json's format; read errors name
// the block ("Filter config: ...").
template <>
struct Codec<Schema> {
  std::string type_name() const { return "schema"; }
  nlohmann::json write(const Schema& s) const { return s.to_json(); }
  Schema read(const nlohmann::json& j, const Path& path) const {
    return Schema::from_json(j, path.context);
  }
};

}  // namespace options

namespace config {

// Throws ValueError naming the first key of `config` not in `known` (and
// listing the known ones). For the block JSON's own structure (type,
// config, children); block configs use register_block_type<Config>.
void check_keys(const nlohmann::json& config, std::string_view type,
                std::initializer_list<std::string_view> known);

}  // namespace config

using BlockChildren = std::vector<std::pair<std::string, Block>>;

// Registers block type `name` whose JSON config is a Config: the factory
// reads it with options::from_json (context "<name> config") and calls
// `make`; the field table's docs are kept for block_type_docs().
template <options::Described Config>
void register_block_type(std::string name, std::function<Block(Config, BlockChildren)> make) {
  const std::string context = name + " config";
  BlockFactory factory = [context, make = std::move(make)](const nlohmann::json& config,
                                                           BlockChildren children) {
    return make(options::from_json<Config>(config, context), std::move(children));
  };
  register_block_type(std::move(name), std::move(factory), options::document<Config>());
}

}  // namespace recblocks
