// Crossed categorical features for wide (linear) models: Merlin's
// HashedCross / HashedCrossAll followed by a one-hot encoding and a linear
// layer, done as one lookup per cross in a table of weights.
//
//   auto crosses = rb::HashedCrossFeatures::from_schema(schema, {.num_bins = 10000});
//   // {userId_x_movieId: [B, 1], userId_x_gender: [B, 1], ...}
//
// A cross of the scalar categorical columns c1..ck (ids x1..xk, cardinalities
// n1..nk) maps each row to one bin:
//   - when n1 * ... * nk <= num_bins, the cross has exactly that many bins and
//     the bin is the mixed-radix index ((x1 * n2 + x2) * n3 + x3) ...: every
//     combination has its own weight (Merlin hashes these too, colliding for
//     nothing);
//   - otherwise it has num_bins bins and the bin is
//       h = 0x9E3779B97F4A7C15; for each xi: h = splitmix64(h ^ xi);
//       bin = h mod num_bins
//     (splitmix64: Steele et al.'s finaliser; fixed, so a saved model maps
//     ids to the same bins on every machine).
// Each cross looks its bin up in its own table [bins, dim] named
// "<table_prefix><c1>_x_<c2>..." (dim 1: a one-hot linear weight). With dim
// 1 and the tables summed this is the wide part of Wide&Deep.
// Ids outside [0, n) throw ValueError naming the column, the id and n.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/blocks/initializers.h"
#include "recblocks/core/options.h"

namespace recblocks {

struct HashedCrossOptions {
  std::vector<std::vector<std::string>> crosses = {};
  int max_level = 2;
  std::int64_t num_bins = 10000;
  std::int64_t dim = 1;
  Initializer initializer = Initializer::zeros();
  std::string table_prefix = "";

  static auto option_fields() {
    using O = HashedCrossOptions;
    using options::field;
    return options::table<O>(
        "HashedCrossOptions",
        field("crosses", &O::crosses,
              "each a list of >= 2 column names; empty: every combination of 2 to max_level of "
              "the selected columns (HashedCrossAll), in schema order")
            .omit_if_default(),
        field("max_level", &O::max_level, "the most columns of one cross when crosses is empty"),
        field("num_bins", &O::num_bins, "the most bins of one cross"),
        field("dim", &O::dim, "the tables' dimension (1: a one-hot linear weight)"),
        field("initializer", &O::initializer, "of the tables"),
        field("table_prefix", &O::table_prefix, "prepended to the tables' names")
            .omit_if_default());
  }

  nlohmann::json to_json() const;
  // Unknown keys are reported by name.
  static HashedCrossOptions from_json(const nlohmann::json& json);
};

class HashedCrossFeatures : public Block {
 public:
  // The scalar (non-list) columns of `schema` having `tags` (TARGET columns
  // left out), each needing an integer domain. Throws ValueError when a
  // cross names a column outside them, a list column, or when fewer than
  // two columns are left to cross.
  static HashedCrossFeatures from_schema(const Schema& schema, HashedCrossOptions options = {},
                                         Tag tags = Tags::CATEGORICAL);

  // The crosses' output names, in order, and each one's number of bins.
  std::vector<std::string> names() const;
  std::int64_t bins(std::string_view name) const;

 private:
  explicit HashedCrossFeatures(std::shared_ptr<BlockBase> impl) : Block(std::move(impl)) {}
};

// The bin of one row of a cross (the rule above): ids and cardinalities in
// the cross's column order, num_bins the option. Ids must be in range.
std::int64_t hashed_cross_bin(const std::vector<std::int64_t>& ids,
                              const std::vector<std::int64_t>& cardinalities,
                              std::int64_t num_bins);
// The number of bins of a cross: min(n1 * ... * nk, num_bins).
std::int64_t hashed_cross_bins(const std::vector<std::int64_t>& cardinalities,
                               std::int64_t num_bins);

}  // namespace recblocks
