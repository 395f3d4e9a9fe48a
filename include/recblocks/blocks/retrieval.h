// Retrieval scoring: a batch of queries against a batch of candidates
// (Merlin's ItemRetrievalScorer with in-batch negatives).
//
//   auto scorer = rb::ItemRetrievalScorer({.l2_normalization = true, .temperature = 0.1});
//   // input: the dict {"query": [B, d], "candidate": [B, d]} (TwoTowerBlock's output)
//   // output: scores [B, B]; row i holds query i against every candidate,
//   //         its positive on the diagonal, the other columns its negatives
//
// scores = q c^T / temperature, with q and c L2-normalised first when
// l2_normalization is set (cosine similarity: Merlin's L2Norm +
// LogitsTemperatureScaler). The output's width is the batch's, so the
// output spec is written [0] (the batch size, known per run).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "recblocks/blocks/block.h"

namespace recblocks {

struct ItemRetrievalScorerOptions {
  // The keys of the query and candidate towers' outputs in the input dict.
  std::string query = "query";
  std::string candidate = "candidate";
  bool l2_normalization = false;
  // > 0; the scores are divided by it.
  double temperature = 1.0;

  nlohmann::json to_json() const;
  static ItemRetrievalScorerOptions from_json(const nlohmann::json& json);
};

class ItemRetrievalScorer : public Block {
 public:
  explicit ItemRetrievalScorer(ItemRetrievalScorerOptions options = {});
};

}  // namespace recblocks
