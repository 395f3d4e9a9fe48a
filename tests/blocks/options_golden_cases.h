// One representative block of every registered type, with options away from
// their defaults where it has any, for the JSON round-trip tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "blocks/seed_data.h"
#include "recblocks/blocks/aggregation.h"
#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/crosses.h"
#include "recblocks/blocks/experts.h"
#include "recblocks/blocks/features.h"
#include "recblocks/blocks/interaction.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/blocks/retrieval.h"
#include "recblocks/blocks/transformations.h"
#include "recblocks/model/ranking.h"
#include "recblocks/model/retrieval.h"

namespace recblocks::testing {

// userId, gender (scalar categorical), genres (ragged list) and
// TE_movieId_rating (continuous): small enough to keep the JSON short.
inline Schema golden_schema() {
  return seed_schema().select_by_name({"userId", "gender", "genres", "TE_movieId_rating"});
}

inline std::vector<std::pair<std::string, Block>> golden_blocks() {
  const Schema schema = golden_schema();
  const Schema scalar = schema.select_by_name({"userId", "gender"});
  std::vector<std::pair<std::string, Block>> out;
  auto add = [&](std::string name, Block b) { out.emplace_back(std::move(name), std::move(b)); };

  add("MLPBlock", MLPBlock({16, 1}, {.activation = "tanh",
                                     .use_bias = false,
                                     .dropout = 0.25,
                                     .normalization = "layer_norm",
                                     .no_activation_last_layer = true,
                                     .kernel_initializer = Initializer::he_normal(),
                                     .bias_initializer = Initializer::constant(0.5),
                                     .kernel_regularizer_l2 = 1e-5,
                                     .bias_regularizer_l2 = 0.125}));
  add("MLPBlock defaults", MLPBlock({8}));
  add("DotProductInteractionBlock", DotProductInteractionBlock(true));
  add("FMPairwiseInteraction", FMPairwiseInteraction());
  add("CrossBlock", CrossBlock(3, {.low_rank_dim = 16,
                                   .use_bias = false,
                                   .kernel_initializer = Initializer::uniform(-0.1, 0.1),
                                   .bias_initializer = Initializer::ones(),
                                   .kernel_regularizer_l2 = 1e-4,
                                   .bias_regularizer_l2 = 2e-4}));
  add("CrossBlock defaults", CrossBlock());
  add("MMOEBlock", MMOEBlock({"a", "b"}, MLPBlock({4}), 2,
                             {.gate_block = MLPBlock({3}), .gate_softmax_temperature = 0.5}));
  add("CGCBlock", CGCBlock({"x", "y"}, MLPBlock({4}),
                           {.num_task_experts = 2,
                            .num_shared_experts = 1,
                            .add_shared_gate = true,
                            .gate_softmax_temperature = 2.0}));
  add("PLEBlock", PLEBlock(2, {"x", "y"}, MLPBlock({2}), {.num_shared_experts = 0}));
  add("HashedCrossFeatures",
      HashedCrossFeatures::from_schema(scalar, {.crosses = {{"userId", "gender"}},
                                                .max_level = 3,
                                                .num_bins = 100,
                                                .dim = 2,
                                                .initializer = Initializer::normal(0, 0.01),
                                                .table_prefix = "wide/"}));
  add("HashedCrossFeatures defaults", HashedCrossFeatures::from_schema(scalar));
  add("ContinuousFeatures", ContinuousFeatures({"a", "b"}));
  add("ContinuousFeatures from_schema", ContinuousFeatures::from_schema(schema));
  add("EmbeddingFeatures",
      EmbeddingFeatures::from_schema(
          schema, {.dim = 8,
                   .dims = {{"userId", 4}},
                   .use_schema_dims = true,
                   .infer_dims = true,
                   .infer_multiplier = 1.5,
                   .ensure_multiple_of_8 = true,
                   .initializer = Initializer::glorot_normal(),
                   .initializers = {{"gender", Initializer::uniform(-0.5, 0.25)}},
                   .l2_reg = 0.1f,
                   .combiner = "sum",
                   .table_prefix = "gmf/"}));
  add("EmbeddingFeatures defaults", EmbeddingFeatures::from_schema(schema));
  add("SequenceEmbeddingFeatures",
      SequenceEmbeddingFeatures::from_schema(schema, {.dim = 8}, 5, Tags::CATEGORICAL, false));
  add("SequenceEmbeddingFeatures defaults", SequenceEmbeddingFeatures::from_schema(schema));
  add("AsDenseFeatures", AsDenseFeatures(20));
  add("L2Norm", L2Norm());
  add("ReduceSum", ReduceSum());
  add("LogitsTemperatureScaler", LogitsTemperatureScaler(0.1));
  add("Dropout", Dropout(0.2));
  add("BatchNorm", BatchNorm({.momentum = 0.9, .epsilon = 1e-5, .center = false, .scale = true}));
  add("LayerNorm", LayerNorm({.epsilon = 1e-6, .center = true, .scale = false}));
  add("ConcatFeatures", ConcatFeatures());
  add("StackFeatures", StackFeatures(1));
  add("ElementwiseSum", ElementwiseSum());
  add("ElementwiseProduct", ElementwiseProduct());
  add("CosineSimilarity", CosineSimilarity());
  add("SequentialBlock", SequentialBlock({L2Norm(), ReduceSum()}));
  const Block shared = MLPBlock({2});
  add("ParallelBlock", ParallelBlock({{"p", shared}, {"q", shared}}, "concat"));
  add("ParallelBlock no aggregation", ParallelBlock({{"p", Identity()}}));
  add("Filter names", Filter(std::vector<std::string>{"a", "b"}, {.exclude = true}));
  add("Filter name", Filter("deep_continuous"));
  add("Filter tag", Filter(Tags::CONTINUOUS));
  add("Filter schema", Filter(scalar, {.exclude = true}));
  add("Identity", Identity());
  add("UniqueRows", UniqueRows(MLPBlock({2}), {.key = "movieId", .columns = {"genres"}}));
  add("ItemRetrievalScorer",
      ItemRetrievalScorer(
          {.query = "q", .candidate = "c", .l2_normalization = true, .temperature = 0.05}));
  add("ItemRetrievalScorer defaults", ItemRetrievalScorer());

  // Whole architectures, the "architecture" of a saved model.json.
  const Schema seed = seed_schema();
  add("DLRMModel body",
      DLRMModel(seed,
                {.embedding_dim = 8, .bottom_block = MLPBlock({8}), .top_block = MLPBlock({4})})
          .body());
  add("DCNModel body", DCNModel(seed, {.depth = 2, .deep_block = MLPBlock({4})}).body());
  add("DeepFMModel body",
      DeepFMModel(seed, {.embedding_dim = 4, .deep_block = MLPBlock({4})}).body());
  add("WideAndDeepModel body",
      WideAndDeepModel(seed, {.crosses = {.num_bins = 100}, .deep_block = MLPBlock({4})}).body());
  add("TwoTowerModel body", TwoTowerModel(seed, {.query_tower = MLPBlock({4})}).body());
  return out;
}

}  // namespace recblocks::testing
