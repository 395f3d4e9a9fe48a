// Retrieval scoring: a batch of queries against a batch of candidates
// (Merlin's ItemRetrievalScorer with in-batch negatives).
//
//   auto scorer = rb::ItemRetrievalScorer({.l2_normalization = true, .temperature = 0.1});
//   // input: the dict {"query": [B, d], "candidate": [B, d]} (TwoTowerBlock's output)
//   // output: scores [B, B]; row i holds query i against every candidate,
//   //         its positive on the diagonal, the other columns its negatives
//   //         ([B, U] when the candidates are a batch's U distinct items,
//   //         UniqueRows below; [B, U + S] with S drawn negatives)
//
// scores = q c^T / temperature, with q and c L2-normalised first when
// l2_normalization is set (cosine similarity: Merlin's L2Norm +
// LogitsTemperatureScaler). The output's width is the batch's, so the
// output spec is written [0] (the batch size, known per run).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/core/options.h"

namespace recblocks {

struct ItemRetrievalScorerOptions {
  std::string query = "query";
  std::string candidate = "candidate";
  bool l2_normalization = false;
  double temperature = 1.0;

  static auto option_fields() {
    using O = ItemRetrievalScorerOptions;
    using options::field;
    return options::table<O>(
        "ItemRetrievalScorer",
        field("query", &O::query, "the key of the query tower's output in the input dict"),
        field("candidate", &O::candidate,
              "the key of the candidate tower's output in the input dict"),
        field("l2_normalization", &O::l2_normalization,
              "L2-normalise queries and candidates first (cosine similarity)"),
        field("temperature", &O::temperature, "the scores are divided by it, > 0"));
  }

  nlohmann::json to_json() const;
  static ItemRetrievalScorerOptions from_json(const nlohmann::json& json);
};

class ItemRetrievalScorer : public Block {
 public:
  explicit ItemRetrievalScorer(ItemRetrievalScorerOptions options = {});
};

// Runs `block` once per distinct row of the batch in training: rows with
// the same `key` (an int id column) and equal `columns` are one row, kept
// in order of first appearance, so the output has one row per distinct
// candidate (UniqueRows feeds `block` only the key and `columns`). Its
// use: the candidate tower of an in-batch retrieval model (the key must be
// the ItemRetrievalTask's item column, which maps rows to columns by it),
// where popular
// items fill much of every batch. ItemRetrievalScorer then scores each
// query against each distinct candidate once ([B, U]) and the
// ItemRetrievalTask counts every candidate as many times as it occurs, so
// the loss and the gradients are those of the whole [B, B] matrix with
// less work (TwoTowerModel and MatrixFactorizationModel use it unless
// unique_candidates is off).
//
//   auto tower = rb::UniqueRows(candidate_tower, {.key = "movieId", .columns = {"genres"}});
//
// It changes nothing when it cannot be exact: at inference, for a batch
// where one key comes with different `columns`, and for a block whose
// training output for a row may depend on other rows or a random draw:
// dropout, batch normalisation, and any block type that does not declare
// itself row by row (BlockBase::row_independent).
struct UniqueRowsOptions {
  std::string key = {};
  std::vector<std::string> columns = {};

  static auto option_fields() {
    using O = UniqueRowsOptions;
    using options::field;
    return options::table<O>(
        "UniqueRows",
        field("key", &O::key, "the int id column whose rows are merged (the item column)")
            .required(),
        field("columns", &O::columns, "more columns that must be equal for rows to merge"));
  }

  nlohmann::json to_json() const;
  static UniqueRowsOptions from_json(const nlohmann::json& json);
};

class UniqueRows : public Block {
 public:
  UniqueRows(Block block, UniqueRowsOptions options);
};

// The distinct ids of a batch column, in order of first appearance: how
// UniqueRows picks the rows it runs, and how the item retrieval task maps
// each row to its candidate's column.
struct UniqueIds {
  std::vector<std::int64_t> ids;      // [U] the distinct ids
  std::vector<std::int64_t> first;    // [U] the row where each first appears
  std::vector<std::int64_t> counts;   // [U] how many rows hold it
  std::vector<std::int64_t> inverse;  // [rows] each row's index into ids
};

// ids: int32 or int64 [rows].
UniqueIds unique_in_order(const Tensor& ids);

}  // namespace recblocks
