// Prebuilt retrieval models (Merlin's models/retrieval): a query tower and a
// candidate tower whose outputs meet in an ItemRetrievalTask.
//
//   auto model = rb::TwoTowerModel(schema, {.query_tower = rb::MLPBlock({128, 64})});
//   model.compile(rb::optim::Adam({.learning_rate = 0.005}));
//   model.fit(train, {.batch_size = 1024, .epochs = 5});
//   rb::retrieval::TopKRecommender top(model, items);     // retrieval/recommender.h
//   auto scores = top.evaluate(valid, {.ks = {10}, .seen = &train});
//
// The body of each is TwoTowerBlock's: ParallelBlock({"query": query
// tower, "candidate": candidate tower}), giving the dict
// {"query": [B, d], "candidate": [B, d]} that ItemRetrievalTask scores and
// that TopKRecommender splits to embed queries and items apart.
#pragma once

#include <cstdint>
#include <optional>

#include "recblocks/blocks/features.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/model/model.h"

namespace recblocks {

// Merlin's TwoTowerModel: each tower reads the schema's CATEGORICAL
// (embedded, list columns pooled) and CONTINUOUS columns carrying its tag
// (USER for the query, ITEM for the candidate), concatenated, through its
// top block.
struct TwoTowerOptions {
  // The query tower's top block. Default MLPBlock({128, 64}) without an
  // activation on the last layer.
  std::optional<Block> query_tower = std::nullopt;
  // The candidate tower's; default a fresh copy of the query tower's
  // configuration (Merlin's item_tower=None), with its own weights.
  std::optional<Block> item_tower = std::nullopt;
  Tag query_tower_tag = Tags::USER;
  Tag item_tower_tag = Tags::ITEM;
  EmbeddingOptions embedding_options = {};
  ItemRetrievalOptions retrieval = {};
  // TwoTowerModel: in training, run the candidate tower and score once per
  // distinct item of the batch (UniqueRows, blocks/retrieval.h): the same
  // loss and gradients as scoring every row, with less work when items
  // repeat. Its parameters are then named "candidate/block/...".
  // TwoTowerBlock ignores it: its candidate output is always [B, d].
  bool unique_candidates = true;
};
Block TwoTowerBlock(const Schema& schema, const TwoTowerOptions& options = {});
// The task is ItemRetrievalTask on the schema's ITEM_ID column.
Model TwoTowerModel(const Schema& schema, TwoTowerOptions options = {});

// Merlin's MatrixFactorizationModel: the query is the USER_ID column's
// embedding, the candidate the ITEM_ID column's, both `dim` wide; the
// score their dot product.
struct MatrixFactorizationOptions {
  std::int64_t dim = 64;
  Initializer initializer = Initializer::truncated_normal(0.0, 0.05);
  float embeddings_l2_reg = 0.0f;
  ItemRetrievalOptions retrieval = {};
  bool unique_candidates = true;  // as TwoTowerOptions'
};
Model MatrixFactorizationModel(const Schema& schema, MatrixFactorizationOptions options = {});

// Merlin's YoutubeDNNRetrievalModel (Covington et al. 2016): the query is
// the schema's CATEGORICAL and CONTINUOUS columns tagged query_tag (USER):
// the user's id and features and the history of items they interacted
// with (a list column, its item embeddings mean-pooled; MovieLens' history
// column, movielens.h), concatenated, through top_block; a
// NextItemPredictionTask on the ITEM_ID column scores it against the
// catalogue with its own output table (no weight tying, as Merlin's).
//
//   auto model = rb::YoutubeDNNRetrievalModel(schema, {.top_block = rb::MLPBlock({128, 64}),
//                                                      .temperature = 0.1});
//
// The task's settings are fields here, with Merlin's defaults: top_block
// MLPBlock({64}), l2_normalization, sampled_softmax with num_sampled = 100
// items drawn by popularity and logQ correction.
struct YoutubeDNNOptions {
  std::optional<Block> top_block = std::nullopt;
  Tag query_tag = Tags::USER;
  EmbeddingOptions embedding_options = {};
  bool l2_normalization = true;
  double temperature = 1.0;
  bool sampled_softmax = true;
  std::int64_t num_sampled = 100;
  std::string sampler = "popularity";  // or "uniform"
  bool logq_correction = true;
  bool remove_accidental_hits = true;
  // Default: RecallAt, MRRAt, NDCGAt, AvgPrecisionAt, PrecisionAt at 10.
  std::vector<Metric> metrics = {};
};
Model YoutubeDNNRetrievalModel(const Schema& schema, YoutubeDNNOptions options = {});

}  // namespace recblocks
