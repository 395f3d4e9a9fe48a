// Combinators: blocks made of blocks, and the Filter that picks features.
//
//   SequentialBlock({a, b, c})        a -> b -> c (Block::connect builds one)
//   ParallelBlock({{"embeddings", e}, {"deep_continuous", d}})
//       every branch gets the same input; a branch's tensor output goes in
//       the result dict under its name, a dict output is merged in (keys
//       must not collide); an aggregation ("concat", "stack",
//       "element-wise-sum", "cosine") turns the dict into a tensor
//   Filter("deep_continuous"), Filter({"a", "b"}), Filter(Tags::CONTINUOUS),
//   Filter(schema)
//       on the raw inputs: those columns; on a dict: those entries (names
//       missing from a dict are an error naming the available keys)
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/core/options.h"

namespace recblocks {

class SequentialBlock : public Block {
 public:
  explicit SequentialBlock(std::vector<Block> blocks);
};

class ParallelBlock : public Block {
 public:
  using Branches = std::vector<std::pair<std::string, Block>>;
  explicit ParallelBlock(Branches branches, std::string aggregation = "");
};

struct FilterOptions {
  bool exclude = false;

  static auto option_fields() {
    return options::table<FilterOptions>(
        "FilterOptions",
        options::field("exclude", &FilterOptions::exclude, "keep everything except the selection"));
  }
};

class Filter : public Block {
 public:
  explicit Filter(std::string name, FilterOptions options = {});
  explicit Filter(std::vector<std::string> names, FilterOptions options = {});
  explicit Filter(Tag tag, FilterOptions options = {});
  explicit Filter(const Schema& schema, FilterOptions options = {});
};

// Passes its input through: the default shortcut of connect_with_shortcut.
class Identity : public Block {
 public:
  Identity();
};

// An aggregation block by Merlin's registry name: "concat",
// "stack", "element-wise-sum" (or "sum"), "cosine" (or
// "cosine-similarity"). Throws listing the names for an unknown one.
Block aggregation_block(const std::string& name);

}  // namespace recblocks
