#include "recblocks/blocks/combinators.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

#include "recblocks/blocks/aggregation.h"
#include "recblocks/blocks/config.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using nlohmann::json;

// ---- SequentialBlock ----------------------------------------------------------

class SequentialImpl final : public BlockBase {
 public:
  explicit SequentialImpl(std::vector<Block> blocks) : blocks_(std::move(blocks)) {
    RB_CHECK(!blocks_.empty(), ValueError, "SequentialBlock needs at least one block");
    for (const Block& b : blocks_)
      RB_CHECK(b.defined(), ValueError, "SequentialBlock got an empty Block");
  }
  std::string_view type() const override { return "SequentialBlock"; }
  bool row_independent() const override { return children_row_independent(); }
  json config() const override { return json::object(); }
  std::vector<std::pair<std::string, Block>> children() const override {
    std::vector<std::pair<std::string, Block>> out;
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      out.emplace_back(std::to_string(i), blocks_[i]);
    return out;
  }
  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    FlowSpec spec = input;
    for (const Block& b : blocks_) spec = b.build(spec, context);
    return spec;
  }
  Flow forward(const Flow& input, RunContext& run) const override {
    Flow flow = input;
    for (const Block& b : blocks_) flow = b.forward(flow, run);
    return flow;
  }

 private:
  std::vector<Block> blocks_;
};

// ---- ParallelBlock ------------------------------------------------------------

struct ParallelConfig {
  std::string aggregation = "";

  static auto option_fields() {
    return options::table<ParallelConfig>(
        "ParallelBlock",
        options::field("aggregation", &ParallelConfig::aggregation,
                       "\"\" (the dict of the branches' outputs), concat, stack, "
                       "element-wise-sum (sum), element-wise-multiply (product) or cosine"));
  }
};

class ParallelImpl final : public BlockBase {
 public:
  ParallelImpl(ParallelBlock::Branches branches, std::string aggregation)
      : branches_(std::move(branches)), aggregation_name_(std::move(aggregation)) {
    RB_CHECK(!branches_.empty(), ValueError, "ParallelBlock needs at least one branch");
    for (std::size_t i = 0; i < branches_.size(); ++i) {
      RB_CHECK(branches_[i].second.defined(), ValueError,
               "ParallelBlock branch '{}' is an empty Block", branches_[i].first);
      for (std::size_t j = 0; j < i; ++j) {
        RB_CHECK(branches_[i].first != branches_[j].first, ValueError,
                 "ParallelBlock has two branches named '{}'", branches_[i].first);
      }
    }
    if (!aggregation_name_.empty()) aggregation_ = aggregation_block(aggregation_name_);
  }
  std::string_view type() const override { return "ParallelBlock"; }
  bool parallel_branches() const override { return true; }
  bool row_independent() const override { return children_row_independent(); }
  json config() const override { return options::to_json(ParallelConfig{aggregation_name_}); }
  std::vector<std::pair<std::string, Block>> children() const override { return branches_; }

  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    FlowSpec::Dict merged;
    for (const auto& [name, branch] : branches_) {
      const FlowSpec out = branch.build(input, context);
      switch (out.kind()) {
        case FlowSpec::Kind::kTensor: add(merged, name, out.tensor()); break;
        case FlowSpec::Kind::kDict:
          for (const auto& [k, t] : out.dict()) add(merged, k, t);
          break;
        case FlowSpec::Kind::kInputs:
          throw ValueError(fmt::format(
              "ParallelBlock branch '{}' returns the raw inputs ({}); turn them into tensors first "
              "(ContinuousFeatures, EmbeddingFeatures)",
              name, out.str()));
      }
    }
    const FlowSpec dict = FlowSpec::dict(std::move(merged));
    return aggregation_.defined() ? aggregation_.build(dict, context) : dict;
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    Flow::Dict merged;
    merged.reserve(branches_.size());
    for (const auto& [name, branch] : branches_) {
      const Flow out = branch.forward(input, run);
      if (out.kind() == FlowSpec::Kind::kTensor) {
        merged.emplace_back(name, out.tensor());
      } else {
        for (const auto& e : out.dict()) merged.push_back(e);
      }
    }
    const Flow dict = Flow::dict(std::move(merged));
    return aggregation_.defined() ? aggregation_.forward(dict, run) : dict;
  }

 private:
  static void add(FlowSpec::Dict& dict, const std::string& key, const TensorSpec& spec) {
    for (const auto& e : dict) {
      RB_CHECK(e.first != key, ValueError,
               "ParallelBlock: two branches produce the output '{}'; rename a branch", key);
    }
    dict.emplace_back(key, spec);
  }

  ParallelBlock::Branches branches_;
  std::string aggregation_name_;
  Block aggregation_;
};

// ---- Filter -------------------------------------------------------------------

// A Filter's JSON config: FilterOptions' keys and one selection, written
// as `schema`, else `tags`, else `names`.
struct FilterConfig {
  FilterOptions options = {};
  std::optional<std::vector<std::string>> names = {};
  std::optional<std::vector<std::string>> tags = {};
  std::optional<Schema> schema = {};

  static auto option_fields() {
    using O = FilterConfig;
    return options::table<O>(
        "Filter", options::flatten(&O::options),
        options::field("names", &O::names, "the columns or dict entries to select"),
        options::field("tags", &O::tags, "select the columns having this tag (one tag)"),
        options::field("schema", &O::schema, "select the columns of this schema"));
  }
};

class FilterImpl final : public BlockBase {
 public:
  FilterImpl(std::vector<std::string> names, std::vector<Tag> tags, Schema schema, bool by_schema,
             FilterOptions options)
      : names_(std::move(names)),
        tags_(std::move(tags)),
        schema_(std::move(schema)),
        by_schema_(by_schema),
        options_(options) {}

  std::string_view type() const override { return "Filter"; }
  bool row_independent() const override { return true; }
  json config() const override {
    FilterConfig c{.options = options_};
    if (by_schema_) {
      c.schema = schema_;
    } else if (!tags_.empty()) {
      c.tags.emplace();
      for (Tag t : tags_) c.tags->emplace_back(t.name());
    } else {
      c.names = names_;
    }
    return options::to_json(c);
  }

  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    if (input.kind() == FlowSpec::Kind::kInputs) {
      selected_ = select(input.schema().column_names(), [&](const std::string& name) {
        return input.schema().column(name).tags();
      });
      return FlowSpec::inputs(input.schema().select_by_name(selected_));
    }
    RB_CHECK(tags_.empty(), ValueError,
             "Filter by tags needs the raw inputs (which carry tags), got {}", input.str());
    std::vector<std::string> keys;
    for (const auto& [k, t] : input.dict()) keys.push_back(k);
    selected_ = select(keys, [](const std::string&) { return TagSet{}; });
    FlowSpec::Dict out;
    for (const auto& [k, t] : input.dict()) {
      if (std::find(selected_.begin(), selected_.end(), k) != selected_.end())
        out.emplace_back(k, t);
    }
    return FlowSpec::dict(std::move(out));
  }

  Flow forward(const Flow& input, RunContext&) const override {
    if (input.kind() == FlowSpec::Kind::kInputs)
      return Flow::inputs(input.batch().select(selected_));
    Flow::Dict out;
    for (const auto& e : input.dict()) {
      if (std::find(selected_.begin(), selected_.end(), e.first) != selected_.end())
        out.push_back(e);
    }
    return Flow::dict(std::move(out));
  }

 private:
  // The names among `available` that the filter keeps, in `available`'s order.
  template <class TagsOf>
  std::vector<std::string> select(const std::vector<std::string>& available, TagsOf tags_of) const {
    std::vector<std::string> wanted = names_;
    if (by_schema_) wanted = schema_.column_names();
    if (!tags_.empty()) {
      wanted.clear();
      for (const std::string& name : available) {
        const TagSet tags = tags_of(name);
        if (std::any_of(tags_.begin(), tags_.end(), [&](Tag t) { return tags.has(t); }))
          wanted.push_back(name);
      }
    }
    for (const std::string& name : wanted) {
      RB_CHECK(std::find(available.begin(), available.end(), name) != available.end(), ValueError,
               "Filter: no feature '{}' in its input; available: {}", name,
               fmt::join(available, ", "));
    }
    std::vector<std::string> out;
    for (const std::string& name : available) {
      const bool in = std::find(wanted.begin(), wanted.end(), name) != wanted.end();
      if (in != options_.exclude) out.push_back(name);
    }
    return out;
  }

  std::vector<std::string> names_;
  std::vector<Tag> tags_;
  Schema schema_;
  bool by_schema_ = false;
  FilterOptions options_;
  std::vector<std::string> selected_;
};

// ---- Identity -----------------------------------------------------------------

class IdentityImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "Identity"; }
  bool row_independent() const override { return true; }
  json config() const override { return json::object(); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override { return input; }
  Flow forward(const Flow& input, RunContext&) const override { return input; }
};

}  // namespace

SequentialBlock::SequentialBlock(std::vector<Block> blocks)
    : Block(std::make_shared<SequentialImpl>(std::move(blocks))) {}

ParallelBlock::ParallelBlock(Branches branches, std::string aggregation)
    : Block(std::make_shared<ParallelImpl>(std::move(branches), std::move(aggregation))) {}

Filter::Filter(std::string name, FilterOptions options)
    : Filter(std::vector<std::string>{std::move(name)}, options) {}

Filter::Filter(std::vector<std::string> names, FilterOptions options)
    : Block(std::make_shared<FilterImpl>(std::move(names), std::vector<Tag>{}, Schema{}, false,
                                         options)) {}

Filter::Filter(Tag tag, FilterOptions options)
    : Block(std::make_shared<FilterImpl>(std::vector<std::string>{}, std::vector<Tag>{tag},
                                         Schema{}, false, options)) {}

Filter::Filter(const Schema& schema, FilterOptions options)
    : Block(std::make_shared<FilterImpl>(std::vector<std::string>{}, std::vector<Tag>{}, schema,
                                         true, options)) {}

Identity::Identity() : Block(std::make_shared<IdentityImpl>()) {}

Block aggregation_block(const std::string& name) {
  if (name == "concat") return ConcatFeatures();
  if (name == "stack") return StackFeatures();
  if (name == "element-wise-sum" || name == "sum") return ElementwiseSum();
  if (name == "element-wise-multiply" || name == "product") return ElementwiseProduct();
  if (name == "cosine" || name == "cosine-similarity") return CosineSimilarity();
  throw ValueError(
      fmt::format("unknown aggregation '{}'; expected concat, stack, element-wise-sum (sum), "
                  "element-wise-multiply (product) or cosine",
                  name));
}

// ---- the connect methods ------------------------------------------------------

Block Block::connect(const Block& next) const { return SequentialBlock({*this, next}); }

Block Block::connect_branch(const std::vector<Block>& branches,
                            const std::string& aggregation) const {
  ParallelBlock::Branches named;
  for (std::size_t i = 0; i < branches.size(); ++i)
    named.emplace_back(std::to_string(i), branches[i]);
  return connect_branch(named, aggregation);
}

Block Block::connect_branch(const std::vector<std::pair<std::string, Block>>& branches,
                            const std::string& aggregation) const {
  return connect(ParallelBlock(branches, aggregation));
}

Block Block::connect_with_shortcut(const Block& block) const {
  return connect_with_shortcut(block, {});
}

Block Block::connect_with_shortcut(const Block& block, const ShortcutOptions& options) const {
  const Block shortcut = options.shortcut_filter ? *options.shortcut_filter : Identity();
  return connect(ParallelBlock({{"shortcut", shortcut}, {"block", block}}, options.aggregation));
}

Block Block::connect_with_residual(const Block& block) const {
  // The shortcut is the input as one tensor (a dict is concatenated), so
  // only the block's output is added to it, as Merlin's ResidualBlock does.
  return connect_with_shortcut(
      block, {.shortcut_filter = ConcatFeatures(), .aggregation = "element-wise-sum"});
}

// ---- rebuilding from JSON -----------------------------------------------------

void register_combinators() {
  using options::NoOptions;
  register_block_type<NoOptions>("SequentialBlock", [](NoOptions, const BlockChildren& children) {
    std::vector<Block> blocks;
    blocks.reserve(children.size());
    for (const auto& [key, b] : children) blocks.push_back(b);
    return SequentialBlock(std::move(blocks));
  });
  register_block_type<ParallelConfig>(
      "ParallelBlock", [](ParallelConfig c, BlockChildren children) {
        return ParallelBlock(std::move(children), std::move(c.aggregation));
      });
  register_block_type<FilterConfig>("Filter", [](FilterConfig c, const BlockChildren&) -> Block {
    if (c.schema) return Filter(*c.schema, c.options);
    if (c.tags) {
      RB_CHECK(c.tags->size() == 1, ValueError, "Filter config: expected one tag, got {}",
               c.tags->size());
      return Filter(Tag::parse(c.tags->front()), c.options);
    }
    RB_CHECK(c.names.has_value(), ValueError, "Filter config: missing 'names', 'tags' or 'schema'");
    return Filter(std::move(*c.names), c.options);
  });
  register_block_type<NoOptions>("Identity",
                                 [](NoOptions, const BlockChildren&) { return Identity(); });
}

}  // namespace recblocks
