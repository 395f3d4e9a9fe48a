// Prebuilt ranking models (Merlin's models/ranking.py and benchmark.py),
// each built from a schema and returning a Model ready to compile and fit:
//
//   auto model = rb::DCNModel(schema, {.depth = 2, .deep_block = rb::MLPBlock({64, 32})});
//   model.compile("adam");
//   model.fit(train, {.batch_size = 1024, .epochs = 1});
//
// The tasks: options.prediction_tasks, or when empty one task per TARGET
// column of the schema (prediction_tasks(schema), Merlin's OutputBlock).
// Feature columns are the schema's CATEGORICAL and CONTINUOUS columns,
// TARGET columns left out. Each model is a plain block tree, so
// summary(), save/load and the JSON architecture format work as for a
// hand-built model.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "recblocks/blocks/crosses.h"
#include "recblocks/blocks/experts.h"
#include "recblocks/blocks/features.h"
#include "recblocks/blocks/interaction.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/model/model.h"

namespace recblocks {

// Merlin's DLRMModel (Naumov et al. 2019): the categorical columns'
// embeddings (dim embedding_dim) and the continuous columns through
// bottom_block, their pairwise dot products (DotProductInteractionBlock)
// with the bottom output as a shortcut, then top_block.
struct DLRMOptions {
  std::int64_t embedding_dim = 64;
  // The tables' options; its dim is replaced by embedding_dim.
  EmbeddingOptions embedding_options = {};
  // Required when the schema has continuous columns; its output must be
  // embedding_dim wide (the build says so otherwise). Merlin's example:
  // MLPBlock({128, 64}).
  std::optional<Block> bottom_block = std::nullopt;
  // None: the interaction goes to the tasks as it is. Merlin's example:
  // MLPBlock({128, 64, 32}).
  std::optional<Block> top_block = std::nullopt;
  std::vector<PredictionTask> prediction_tasks = {};
};
Model DLRMModel(const Schema& schema, DLRMOptions options = {});
// The model's body without the tasks (Merlin's DLRMBlock).
Block DLRMBlock(const Schema& schema, const DLRMOptions& options);

// Merlin's DCNModel (DCN-v2, Wang et al. 2021) on InputBlockV2's input: the
// categorical embeddings (dims inferred from the cardinalities, Merlin's
// V2 default) and the continuous columns, concatenated [B, D].
//   stacked:  input -> CrossBlock(depth) -> deep_block
//   parallel: input -> {CrossBlock(depth), deep_block} -> concat
struct DCNOptions {
  int depth = 1;  // cross layers, >= 1
  // None: MLPBlock({512, 256}), Merlin's default.
  std::optional<Block> deep_block = std::nullopt;
  bool stacked = true;
  // low_rank_dim > 0 gives DCN-v2's low-rank cross layers.
  CrossOptions cross = {};
  EmbeddingOptions embedding_options = {.infer_dims = true};
  std::vector<PredictionTask> prediction_tasks = {};
};
Model DCNModel(const Schema& schema, DCNOptions options = {});

// Merlin's DeepFMModel (Guo et al. 2017): the element-wise sum of
//   first order:  one weight per category of each categorical column
//                 (dim-1 embeddings, lists summed: a multi-hot linear
//                 model) plus a linear layer on the continuous columns;
//   second order: FMPairwiseInteraction of the categorical embeddings
//                 (dim embedding_dim), summed over the dim (Rendle's FM);
//   deep:         the same embeddings and the continuous columns,
//                 concatenated, through deep_block and a linear unit;
// each [B, 1], then the tasks. The FM and deep parts share one lookup of
// the tables. (Merlin's FMBlock stacks the embeddings on the last axis,
// which interacts embedding components instead of features: see
// FMPairwiseInteraction.)
struct DeepFMOptions {
  std::int64_t embedding_dim = 64;
  // None: MLPBlock({64}), Merlin's default.
  std::optional<Block> deep_block = std::nullopt;
  // The second-order and deep tables' options; dim is replaced by
  // embedding_dim.
  EmbeddingOptions embedding_options = {};
  std::vector<PredictionTask> prediction_tasks = {};
};
Model DeepFMModel(const Schema& schema, DeepFMOptions options = {});

// Merlin's WideAndDeepModel (Cheng et al. 2016): the element-wise sum of
//   wide: a linear model, [B, 1]: one weight per category of each
//         categorical column of wide_schema (dim-1 tables named
//         "wide_<domain>", lists summed: one-hot and multi-hot), one weight
//         per bin of each hashed cross of its scalar categorical columns
//         (HashedCrossFeatures with `crosses`; every pair by default,
//         Merlin's HashedCrossAll), and a linear layer on its continuous
//         columns if it has any; the tables start at zero;
//   deep: deep_schema's categorical embeddings and continuous columns,
//         concatenated, through deep_block and a linear unit, [B, 1];
// then the tasks. The wide part's parameters are named "wide/...", the deep
// part's "deep/...", so the wide part gets its own optimizer with
//   model.compile(rb::optim::MultiOptimizer(
//       rb::optim::Adam(), {{"wide/", rb::optim::Ftrl({.learning_rate = 0.05f})}}));
// (Merlin's wide_optimizer / deep_optimizer). Without crosses (cross = false,
// or fewer than two scalar categorical columns and no explicit crosses) the
// wide part is the one-hot linear model alone.
struct WideAndDeepOptions {
  // None: the schema's categorical feature columns.
  std::optional<Schema> wide_schema = std::nullopt;
  // None: the schema's categorical and continuous feature columns.
  std::optional<Schema> deep_schema = std::nullopt;
  bool cross = true;
  // num_bins: Merlin's example uses 100; 10000 keeps the user x item crosses
  // of MovieLens from colliding much.
  HashedCrossOptions crosses = {};
  // None: MLPBlock({128, 64, 32}), the Exploring-different-models notebook's.
  std::optional<Block> deep_block = std::nullopt;
  EmbeddingOptions embedding_options = {};
  std::vector<PredictionTask> prediction_tasks = {};
};
Model WideAndDeepModel(const Schema& schema, WideAndDeepOptions options = {});
// The wide part's parameter-name prefix, for MultiOptimizer groups.
inline constexpr const char* kWidePrefix = "wide/";

// Merlin's benchmark.NCFModel (He et al. 2017): the USER_ID and ITEM_ID
// columns' embeddings twice, in separate tables: their element-wise product
// (GMF) and their concatenation through mlp_block (MLP), concatenated.
struct NCFOptions {
  std::int64_t embedding_dim = 64;
  // None: MLPBlock({128, 64}), the Exploring-different-models notebook's.
  std::optional<Block> mlp_block = std::nullopt;
  float embeddings_l2_reg = 0.0f;
  std::vector<PredictionTask> prediction_tasks = {};
};
Model NCFModel(const Schema& schema, NCFOptions options = {});

// Merlin's MLP model, Model.from_block(MLPBlock(dims), schema): the
// categorical embeddings (dim 64, Merlin's InputBlock default) and the
// continuous columns, concatenated, through an MLP.
struct MLPModelOptions {
  std::vector<std::int64_t> dims = {64, 32};
  MLPOptions mlp = {};
  EmbeddingOptions embedding_options = {};
  std::vector<PredictionTask> prediction_tasks = {};
};
Model MLPModel(const Schema& schema, MLPModelOptions options = {});

// Multi-task ranking: the categorical embeddings and the continuous columns
// concatenated, then MMOEBlock or PLEBlock with an output per task (the
// tasks: prediction_tasks, or one per TARGET column of the schema), each
// task reading its own output. Compile with CompileOptions::loss_weights
// to weight the tasks' losses.
struct MMOEModelOptions {
  // None: MLPBlock({64}).
  std::optional<Block> expert_block = std::nullopt;
  int num_experts = 4;
  EmbeddingOptions embedding_options = {};
  std::vector<PredictionTask> prediction_tasks = {};
};
Model MMOEModel(const Schema& schema, MMOEModelOptions options = {});

struct PLEModelOptions {
  int num_layers = 2;
  // None: MLPBlock({64}).
  std::optional<Block> expert_block = std::nullopt;
  int num_task_experts = 1;
  int num_shared_experts = 1;
  EmbeddingOptions embedding_options = {};
  std::vector<PredictionTask> prediction_tasks = {};
};
Model PLEModel(const Schema& schema, PLEModelOptions options = {});

// InputBlockV2 with aggregation=None: {column: tensor} for every categorical
// column (EmbeddingFeatures with `embeddings`) and every continuous column
// (ContinuousFeatures), TARGET columns left out. A schema with neither
// throws ValueError listing its columns.
Block ranking_inputs(const Schema& schema, const EmbeddingOptions& embeddings);

}  // namespace recblocks
