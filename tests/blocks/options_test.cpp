// Block configs through options reflection: every block type's JSON is
// byte for byte what the code before it wrote, reads back to the same
// bytes, and every registered type documents every key it writes; unknown
// keys, missing keys and wrong types are errors naming them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "blocks/options_golden.h"
#include "blocks/options_golden_cases.h"
#include "recblocks/blocks/block.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// Calls on_block(type, config) for every block in a block JSON tree.
void walk(const json& j, const std::function<void(const std::string&, const json&)>& on_block) {
  if (j.contains("ref")) return;
  on_block(j["type"].get<std::string>(), j.value("config", json::object()));
  for (const json& c : j.value("children", json::array())) walk(c["block"], on_block);
}

TEST(BlockOptions, EveryBlockTypeWritesTheJsonItWroteBefore) {
  const auto blocks = testing::golden_blocks();
  const auto& golden = testing::golden_block_json();
  ASSERT_EQ(blocks.size(), golden.size());
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    ASSERT_EQ(blocks[i].first, golden[i].first);
    EXPECT_EQ(blocks[i].second.to_json().dump(), golden[i].second) << blocks[i].first;
  }
}

TEST(BlockOptions, SavedJsonLoadsAndSavesByteForByteTheSame) {
  for (const auto& [name, text] : testing::golden_block_json()) {
    const Block block = Block::from_json(json::parse(text));
    EXPECT_EQ(block.to_json().dump(), text) << name;
  }
}

TEST(BlockOptions, TheGoldenCasesCoverEveryRegisteredType) {
  std::set<std::string> seen;
  for (const auto& [name, text] : testing::golden_block_json()) {
    walk(json::parse(text), [&](const std::string& type, const json&) { seen.insert(type); });
  }
  const std::vector<std::string> registered = registered_block_types();
  EXPECT_EQ(std::vector<std::string>(seen.begin(), seen.end()), registered);
}

TEST(BlockOptions, DocsListEveryRegisteredTypeAndEveryKeyItWrites) {
  // The keys each type writes across the golden cases (which set every
  // optional key of each type somewhere).
  std::map<std::string, std::set<std::string>> written;
  for (const auto& [name, text] : testing::golden_block_json()) {
    walk(json::parse(text), [&](const std::string& type, const json& config) {
      auto& keys = written[type];
      for (const auto& [key, value] : config.items()) keys.insert(key);
    });
  }
  const std::vector<BlockTypeDoc> docs = block_type_docs();
  std::vector<std::string> types;
  for (const BlockTypeDoc& d : docs) types.push_back(d.type);
  EXPECT_EQ(types, registered_block_types());

  const std::string help = block_types_help();
  for (const BlockTypeDoc& d : docs) {
    SCOPED_TRACE(d.type);
    EXPECT_TRUE(d.declared);
    std::set<std::string> documented;  // the config's own keys, not the nested ones
    for (const options::FieldDoc& f : d.options) {
      if (f.key.find('.') == std::string::npos) documented.insert(f.key);
      EXPECT_FALSE(f.type.empty()) << f.key;
      EXPECT_FALSE(f.doc.empty()) << f.key;
      EXPECT_FALSE(f.default_value.empty()) << f.key;
    }
    EXPECT_EQ(documented, written[d.type]);
    std::set<std::string> all;
    for (const options::FieldDoc& f : d.options) all.insert(f.key);
    EXPECT_EQ(all.size(), d.options.size());  // no key twice
    EXPECT_THAT(help, HasSubstr(d.type + "\n"));
    EXPECT_THAT(help, HasSubstr(options::format_docs(d.options)));
  }
}

TEST(BlockOptions, DocsShowTypesDefaultsAndRequiredKeys) {
  std::map<std::string, BlockTypeDoc> by_type;
  for (BlockTypeDoc& d : block_type_docs()) by_type[d.type] = d;
  auto row = [&](const std::string& type, const std::string& key) {
    for (const options::FieldDoc& f : by_type.at(type).options) {
      if (f.key == key) return f;
    }
    ADD_FAILURE() << type << " has no key " << key;
    return options::FieldDoc{};
  };
  EXPECT_EQ(row("MLPBlock", "dimensions").type, "[int]");
  EXPECT_TRUE(row("MLPBlock", "dimensions").required);
  EXPECT_EQ(row("MLPBlock", "activation").default_value, R"("relu")");
  EXPECT_EQ(row("MLPBlock", "kernel_initializer").type, "initializer");
  EXPECT_EQ(row("MLPBlock", "kernel_initializer").default_value,
            R"({"a":0.0,"b":0.0,"kind":"glorot_uniform"})");
  EXPECT_EQ(row("EmbeddingFeatures", "options").type, "EmbeddingOptions");
  EXPECT_EQ(row("EmbeddingFeatures", "options").default_value, "(object)");
  EXPECT_EQ(row("EmbeddingFeatures", "options.dim").default_value, "64");
  EXPECT_EQ(row("EmbeddingFeatures", "options.table_prefix").default_value, R"("")");
  EXPECT_EQ(row("HashedCrossFeatures", "options.num_bins").default_value, "10000");
  EXPECT_EQ(row("EmbeddingFeatures", "schema").default_value, "(required)");
  EXPECT_EQ(row("Filter", "schema").default_value, "(unset)");
  EXPECT_EQ(row("Dropout", "rate").default_value, "(required)");
  EXPECT_EQ(row("StackFeatures", "axis").default_value, "-1");
  EXPECT_TRUE(by_type.at("ConcatFeatures").options.empty());
  EXPECT_THAT(block_types_help(), HasSubstr("ConcatFeatures\n  (no options)\n"));
}

TEST(BlockOptions, TypesRegisteredWithoutDocsAreListedAsUndeclared) {
  register_block_type("OptionsTestUndocumented",
                      [](const json&, std::vector<std::pair<std::string, Block>>) -> Block {
                        throw ValueError("not built in this test");
                      });
  bool found = false;
  for (const BlockTypeDoc& d : block_type_docs()) {
    if (d.type != "OptionsTestUndocumented") continue;
    found = true;
    EXPECT_FALSE(d.declared);
  }
  EXPECT_TRUE(found);
  EXPECT_THAT(block_types_help(), HasSubstr("OptionsTestUndocumented\n  (options not declared)\n"));
}

// The golden JSON of `name` with config[key] replaced by `value`.
json with_config(const std::string& name, const std::vector<std::string>& path, json value) {
  for (const auto& [n, text] : testing::golden_block_json()) {
    if (n != name) continue;
    json j = json::parse(text);
    json* at = &j["config"];
    for (std::size_t i = 0; i + 1 < path.size(); ++i) at = &(*at)[path[i]];
    if (value.is_null()) {
      at->erase(path.back());
    } else {
      (*at)[path.back()] = std::move(value);
    }
    return j;
  }
  ADD_FAILURE() << "no golden case " << name;
  return {};
}

TEST(BlockOptions, UnknownKeysNameTheTypeTheKeyAndTheKnownKeys) {
  const std::vector<std::tuple<std::string, std::vector<std::string>, std::string>> cases = {
      {"MLPBlock",
       {"activaton"},
       "MLPBlock config: unknown key 'activaton' (known: dimensions, activation, use_bias, "
       "dropout, normalization, no_activation_last_layer, kernel_initializer, bias_initializer, "
       "kernel_regularizer_l2, bias_regularizer_l2)"},
      {"CrossBlock", {"low_rank"}, "CrossBlock config: unknown key 'low_rank' (known: depth, "},
      {"CGCBlock",
       {"experts"},
       "CGCBlock config: unknown key 'experts' (known: outputs, num_task_experts, "
       "num_shared_experts, add_shared_gate, gate_softmax_temperature)"},
      {"Filter names",
       {"tag"},
       "Filter config: unknown key 'tag' (known: exclude, names, tags, schema)"},
      {"ParallelBlock", {"agg"}, "ParallelBlock config: unknown key 'agg' (known: aggregation)"},
      {"ReduceSum", {"axis"}, "ReduceSum config: unknown key 'axis' (known: none)"},
      {"UniqueRows", {"cols"}, "UniqueRows config: unknown key 'cols' (known: key, columns)"},
      {"ItemRetrievalScorer",
       {"temp"},
       "ItemRetrievalScorer config: unknown key 'temp' (known: query, candidate, "
       "l2_normalization, temperature)"},
      {"EmbeddingFeatures",
       {"options", "dimension"},
       "EmbeddingFeatures config: 'options': EmbeddingOptions: unknown key 'dimension' (known: "
       "dim, dims,"},
      {"HashedCrossFeatures",
       {"options", "bins"},
       "HashedCrossFeatures config: 'options': HashedCrossOptions: unknown key 'bins' (known: "
       "crosses, max_level, num_bins, dim, initializer, table_prefix)"},
      {"MLPBlock",
       {"kernel_initializer", "std"},
       "MLPBlock config: 'kernel_initializer': initializer: unknown key 'std' (known: kind, a, "
       "b)"},
  };
  for (const auto& [name, path, message] : cases) {
    const json j = with_config(name, path, 1);
    EXPECT_THAT([&] { Block::from_json(j); }, ThrowsMessage<ValueError>(HasSubstr(message)))
        << name;
  }
}

TEST(BlockOptions, WrongTypesNameTheKeyTheExpectedTypeAndTheValue) {
  const std::vector<std::tuple<std::string, std::vector<std::string>, json, std::string>> cases = {
      {"MLPBlock",
       {"dropout"},
       "high",
       "MLPBlock config: 'dropout' must be a number, got \"high\""},
      {"MLPBlock", {"use_bias"}, 0, "MLPBlock config: 'use_bias' must be true or false, got 0"},
      {"MLPBlock", {"activation"}, 3, "MLPBlock config: 'activation' must be a string, got 3"},
      {"MLPBlock",
       {"dimensions"},
       json::array({8, 2.5}),
       "MLPBlock config: 'dimensions[1]' must be an integer, got 2.5"},
      {"MLPBlock", {"dimensions"}, 8, "MLPBlock config: 'dimensions' must be a list of int, got 8"},
      {"CrossBlock",
       {"depth"},
       1.5,
       "CrossBlock config: 'depth' must be an integer in [-2147483648, 2147483647], got 1.5"},
      {"StackFeatures", {"axis"}, "1", "StackFeatures config: 'axis' must be an integer"},
      {"Filter names",
       {"names"},
       json::array({1}),
       "Filter config: 'names[0]' must be a string, got 1"},
      {"Filter names",
       {"exclude"},
       "yes",
       "Filter config: 'exclude' must be true or false, got \"yes\""},
      {"EmbeddingFeatures",
       {"options", "dim"},
       "x",
       "EmbeddingFeatures config: 'options': EmbeddingOptions: 'dim' must be an integer, got "
       "\"x\""},
      {"EmbeddingFeatures",
       {"options", "dims"},
       json::array(),
       "EmbeddingFeatures config: 'options': EmbeddingOptions: 'dims' must be an object of "
       "string to int, got []"},
      {"EmbeddingFeatures",
       {"options", "l2_reg"},
       false,
       "EmbeddingFeatures config: 'options': EmbeddingOptions: 'l2_reg' must be a number"},
      {"SequenceEmbeddingFeatures",
       {"mask_zero"},
       1,
       "SequenceEmbeddingFeatures config: 'mask_zero' must be true or false, got 1"},
      {"HashedCrossFeatures",
       {"options", "crosses"},
       json::array({json::array({"userId", 2})}),
       "HashedCrossFeatures config: 'options': HashedCrossOptions: 'crosses[0][1]' must be a "
       "string, got 2"},
      {"ItemRetrievalScorer",
       {"temperature"},
       "0.1",
       "ItemRetrievalScorer config: 'temperature' must be a number, got \"0.1\""},
      {"UniqueRows",
       {"columns"},
       "genres",
       "UniqueRows config: 'columns' must be a list of string, got \"genres\""},
      {"AsDenseFeatures",
       {"max_seq_length"},
       -2.5,
       "AsDenseFeatures config: 'max_seq_length' must be an integer, got -2.5"},
      {"MLPBlock",
       {"kernel_initializer", "kind"},
       7,
       "MLPBlock config: 'kernel_initializer': initializer: 'kind' must be a string, got 7"},
  };
  for (const auto& [name, path, value, message] : cases) {
    const json j = with_config(name, path, value);
    EXPECT_THAT([&] { Block::from_json(j); }, ThrowsMessage<ValueError>(HasSubstr(message)))
        << name << " " << value.dump();
  }
}

TEST(BlockOptions, MissingRequiredKeysAreErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"MLPBlock", "dimensions"},
      {"Dropout", "rate"},
      {"LogitsTemperatureScaler", "temperature"},
      {"UniqueRows", "key"},
      {"EmbeddingFeatures", "schema"},
      {"HashedCrossFeatures", "schema"},
      {"ContinuousFeatures", "features"},
      {"CGCBlock", "outputs"},
  };
  for (const auto& [type, key] : cases) {
    const json j = with_config(type, {key}, nullptr);
    EXPECT_THAT([&] { Block::from_json(j); },
                ThrowsMessage<ValueError>(HasSubstr(type + " config: missing '" + key + "'")));
  }
  EXPECT_THAT([&] { Block::from_json(with_config("Filter names", {"names"}, nullptr)); },
              ThrowsMessage<ValueError>(HasSubstr("Filter config: missing 'names', 'tags' or")));
}

TEST(BlockOptions, AbsentOptionalKeysTakeTheStructDefaults) {
  // An MLPBlock config with only its dimensions is an MLPBlock with
  // MLPOptions{}: the defaults live in the struct.
  const Block mlp = Block::from_json({{"type", "MLPBlock"}, {"config", {{"dimensions", {8}}}}});
  for (const auto& [name, text] : testing::golden_block_json()) {
    if (name == "MLPBlock defaults") {
      EXPECT_EQ(mlp.to_json().dump(), text);
    }
  }
  const Block cross = Block::from_json({{"type", "CrossBlock"}});
  for (const auto& [name, text] : testing::golden_block_json()) {
    if (name == "CrossBlock defaults") {
      EXPECT_EQ(cross.to_json().dump(), text);
    }
  }
}

TEST(BlockOptions, CGCExpertCountsMustMatchItsChildren) {
  const json j = with_config("CGCBlock", {"num_task_experts"}, 3);
  EXPECT_THAT([&] { Block::from_json(j); },
              ThrowsMessage<ValueError>(HasSubstr(
                  "CGCBlock config: num_task_experts is 3 but output 0 has 2 expert children")));
  const json k = with_config("CGCBlock", {"num_shared_experts"}, 0);
  EXPECT_THAT([&] { Block::from_json(k); },
              ThrowsMessage<ValueError>(HasSubstr(
                  "CGCBlock config: num_shared_experts is 0 but there are 1 shared expert")));
}

}  // namespace
}  // namespace recblocks
