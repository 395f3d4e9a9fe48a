// Feature blocks: the raw inputs of a batch -> a dict of float tensors, one
// entry per column, in schema order (Merlin's ContinuousFeatures,
// EmbeddingFeatures and SequenceEmbeddingFeatures).
//
//   auto continuous = rb::ContinuousFeatures::from_schema(schema);   // {TE_movieId_rating: [B, 1],
//   ...} auto embeddings = rb::EmbeddingFeatures::from_schema(schema);    // {userId: [B, 64], ...}
//   auto sequences = rb::SequenceEmbeddingFeatures::from_schema(schema, {.dim = 32}, 20);
//       // {genres: [B, 20, 32], genres__mask: [B, 20]}
//
// Columns tagged TARGET are never features: from_schema leaves them out
// (as Merlin's InputBlock does), so the seed's sub-schema with its
// rating_binary target can be passed as it is.
//
// Embedding tables are shared by domain name (Domain::name, which defaults
// to the column's name): columns with the same vocabulary use one table,
// also across the blocks of one model (BlockContext::shared_table). A table
// is [cardinality, dim], cardinality = domain.max + 1. Block::parameters()
// reports it once, under "<path to the first block using it>/<domain>"
// (e.g. "embeddings/userId" for the seed's ParallelBlock branch
// "embeddings").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/blocks/initializers.h"
#include "recblocks/core/options.h"

namespace recblocks {

// Merlin's EmbeddingOptions, with the same defaults.
//   rb::EmbeddingOptions{.dim = 32, .combiner = "sum"}
//   rb::EmbeddingOptions{.infer_dims = true, .ensure_multiple_of_8 = true}
struct EmbeddingOptions {
  std::int64_t dim = 64;
  std::map<std::string, std::int64_t> dims = {};
  // Precedence per column: dims[name], then the schema's dim (with
  // use_schema_dims), then the inferred one (with infer_dims), then `dim`.
  bool use_schema_dims = false;
  bool infer_dims = false;
  double infer_multiplier = 2.0;
  bool ensure_multiple_of_8 = false;
  // Merlin's default: TruncatedNormal(0, 0.05). A shared table takes the
  // initializer of its first column.
  Initializer initializer = Initializer::truncated_normal(0.0, 0.05);
  std::map<std::string, Initializer> initializers = {};
  // See the note on l2_reg in EmbeddingFeatures.
  float l2_reg = 0.0f;
  std::string combiner = "mean";
  // Different prefixes give separate tables for the same columns (NCF's
  // GMF and MLP embeddings, DeepFM's first-order weights).
  std::string table_prefix = "";

  static auto option_fields() {
    using O = EmbeddingOptions;
    using options::field;
    return options::table<O>(
        "EmbeddingOptions",
        field("dim", &O::dim,
              "a table's dimension when nothing else sets it (Merlin's embedding_dim_default)"),
        field("dims", &O::dims, "per column name; wins over everything else (embedding_dims)"),
        field("use_schema_dims", &O::use_schema_dims,
              "use the schema's embedding_dim where a column has one"),
        field("infer_dims", &O::infer_dims,
              "infer the dimension from the cardinality (infer_embedding_dim)"),
        field("infer_multiplier", &O::infer_multiplier, "the multiplier of infer_dims"),
        field("ensure_multiple_of_8", &O::ensure_multiple_of_8,
              "round inferred dimensions up to a multiple of 8"),
        field("initializer", &O::initializer, "of the tables"),
        field("initializers", &O::initializers, "per column name, overriding `initializer`"),
        field("l2_reg", &O::l2_reg, "the loss adds l2_reg * sum(table^2) for every table"),
        field("combiner", &O::combiner,
              R"(pools a list column's embeddings: "mean" (Merlin's default) or "sum")"),
        field("table_prefix", &O::table_prefix,
              "prepended to the tables' domain names; empty: tables shared by domain across the "
              "model")
            .omit_if_default());
  }

  nlohmann::json to_json() const;
  // Unknown keys are reported by name.
  static EmbeddingOptions from_json(const nlohmann::json& json);
};

// Merlin's rule of thumb: ceil(cardinality^0.25 * multiplier), rounded up
// to a multiple of 8 when asked (Merlin's infer_embedding_dim defaults to
// true; EmbeddingOptions::ensure_multiple_of_8 to false, as in Merlin).
// ml-1m: userId (6041) -> 24, movieId (3953) -> 16, gender (3) -> 8.
std::int64_t infer_embedding_dim(const ColumnSchema& column, double multiplier = 2.0,
                                 bool ensure_multiple_of_8 = true);

// Continuous columns as they are: {name: float32 [B, 1]} for a scalar
// column, [B, n] for a fixed-length list of n; int columns are converted to
// float32. Ragged list columns are refused (AsDenseFeatures first).
class ContinuousFeatures : public Block {
 public:
  explicit ContinuousFeatures(std::vector<std::string> features);
  // The columns of `schema` having `tags` (TARGET columns left out); throws
  // ValueError naming the tag and listing the columns when none has it.
  static ContinuousFeatures from_schema(const Schema& schema, Tag tags = Tags::CONTINUOUS);

 private:
  explicit ContinuousFeatures(std::shared_ptr<BlockBase> impl) : Block(std::move(impl)) {}
};

// One embedding lookup per categorical column: {name: [B, dim]}.
//   scalar column [B]            -> table rows
//   ragged list (genres)         -> rows pooled by options.combiner
//   fixed-length list [B, n]     -> the n rows pooled by options.combiner
// Ids outside [0, cardinality) throw ValueError naming the column, the id
// and the cardinality.
//
// Differences from Merlin, on purpose:
//  - l2_reg regularises the whole table (factor * sum(table^2), reported by
//    regularizers()); Merlin's legacy block adds factor * sum(lookups^2)
//    over the batch's looked-up vectors instead.
//  - a fixed-length list [B, n] is pooled over its n values; Merlin's legacy
//    block looked up only the first value ([:, 0], marked TODO there).
class EmbeddingFeatures : public Block {
 public:
  // The columns of `schema` having `tags` (TARGET columns left out), each
  // needing an integer domain. Throws ValueError naming the column when
  // one has none, or naming the tag when no column has it.
  static EmbeddingFeatures from_schema(const Schema& schema, EmbeddingOptions options = {},
                                       Tag tags = Tags::CATEGORICAL);

  // Each column's table dimension, resolved from the options and schema.
  std::map<std::string, std::int64_t> dims() const;
  // The table a column looks up (after build); throws for an unknown column.
  ParameterPtr table(std::string_view column) const;

 private:
  explicit EmbeddingFeatures(std::shared_ptr<BlockBase> impl) : Block(std::move(impl)) {}
};

// Sequences of ids -> sequences of embeddings (Merlin's
// SequenceEmbeddingFeatures), for categorical list columns:
//   {name: [B, L, dim], name__mask: float32 [B, L]}   (mask entries with mask_zero)
// Each row is padded with id 0 or truncated to L. Id 0 is padding, as in
// Merlin: its positions hold table row 0 (Merlin gathers it too) and have
// mask 0; every other position has mask 1. L is max_sequence_length, or
// when that is 0 the column's schema value_count.max (a fixed length is
// needed for the output spec, as Merlin's AsDenseFeatures needs one; an
// unbounded column without max_sequence_length is an error naming it).
//
// The mask travels as an extra dict entry "<name>__mask" because a Flow
// has no side channel for Keras masks; pass mask_zero = false to leave it
// out (then the dict holds only [B, L, dim] entries and can be stacked or
// concatenated).
class SequenceEmbeddingFeatures : public Block {
 public:
  // The categorical list columns of `schema` having `tags` (TARGET columns
  // left out).
  static SequenceEmbeddingFeatures from_schema(const Schema& schema, EmbeddingOptions options = {},
                                               std::int64_t max_sequence_length = 0,
                                               Tag tags = Tags::CATEGORICAL, bool mask_zero = true);

  std::map<std::string, std::int64_t> dims() const;
  ParameterPtr table(std::string_view column) const;

 private:
  explicit SequenceEmbeddingFeatures(std::shared_ptr<BlockBase> impl) : Block(std::move(impl)) {}
};

// The suffix of the mask entries of SequenceEmbeddingFeatures.
inline constexpr std::string_view kMaskSuffix = "__mask";

}  // namespace recblocks
