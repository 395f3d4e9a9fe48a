#include "recblocks/model/retrieval.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "recblocks/blocks/aggregation.h"
#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/retrieval.h"
#include "recblocks/core/error.h"
#include "recblocks/model/ranking.h"

namespace recblocks {
namespace {

Schema features_of(const Schema& schema, Tag tag) {
  return schema.select_by_tag(tag).remove_by_tag(Tags::TARGET);
}

// The CATEGORICAL and CONTINUOUS columns tagged `tag`.
Block tower_inputs(const Schema& schema, Tag tag, const EmbeddingOptions& embeddings,
                   const char* who, const char* model = "TwoTowerModel") {
  const Schema columns = features_of(schema, tag);
  const Schema usable = columns.select_by_tag({Tags::CATEGORICAL, Tags::CONTINUOUS});
  RB_CHECK(!usable.empty(), ValueError,
           "{}: no categorical or continuous column is tagged {} for the {} tower (columns: {})",
           model, to_string(TagSet{tag}), who, fmt::join(schema.column_names(), ", "));
  return ranking_inputs(usable, embeddings);
}

// The candidate tower run once per distinct item in training, keyed by the
// schema's ITEM_ID column and compared on the tower's other inputs; as it
// is when the tower's inputs hold no ITEM_ID column.
Block unique_candidates(const Schema& schema, Tag tag, Block tower) {
  const Schema inputs =
      features_of(schema, tag).select_by_tag({Tags::CATEGORICAL, Tags::CONTINUOUS});
  const Schema ids = inputs.select_by_tag(Tags::ITEM_ID);
  if (ids.size() != 1) return tower;
  return UniqueRows(std::move(tower),
                    {.key = ids.first().name(), .columns = inputs.column_names()});
}

// TwoTowerBlock's towers, the candidate one under UniqueRows when `unique`.
Block two_tower_body(const Schema& schema, const TwoTowerOptions& options, bool unique) {
  const Block query_top = options.query_tower
                              ? *options.query_tower
                              : MLPBlock({128, 64}, {.no_activation_last_layer = true});
  const Block item_top =
      options.item_tower ? *options.item_tower : Block::from_json(query_top.to_json());
  RB_CHECK(query_top.defined() && item_top.defined(), ValueError,
           "TwoTowerModel: a tower block is empty");
  const Block query =
      tower_inputs(schema, options.query_tower_tag, options.embedding_options, "query")
          .connect(query_top);
  Block candidate =
      tower_inputs(schema, options.item_tower_tag, options.embedding_options, "candidate")
          .connect(item_top);
  if (unique) candidate = unique_candidates(schema, options.item_tower_tag, std::move(candidate));
  return ParallelBlock({{"query", query}, {"candidate", candidate}});
}

}  // namespace

// Every row's candidate, as documented: a body for other heads too.
Block TwoTowerBlock(const Schema& schema, const TwoTowerOptions& options) {
  return two_tower_body(schema, options, false);
}

Model TwoTowerModel(const Schema& schema, TwoTowerOptions options) {
  Block body = two_tower_body(schema, options, options.unique_candidates);
  return Model(std::move(body),
               {ItemRetrievalTask::from_schema(schema, std::move(options.retrieval))});
}

Model MatrixFactorizationModel(const Schema& schema, MatrixFactorizationOptions options) {
  const Schema users = features_of(schema, Tags::USER_ID);
  const Schema items = features_of(schema, Tags::ITEM_ID);
  RB_CHECK(
      users.size() == 1 && items.size() == 1, ValueError,
      "MatrixFactorizationModel: expected one USER_ID and one ITEM_ID column, got [{}] and [{}]",
      fmt::join(users.column_names(), ", "), fmt::join(items.column_names(), ", "));
  RB_CHECK(options.dim > 0, ValueError, "MatrixFactorizationModel: dim is {}, expected > 0",
           options.dim);
  const EmbeddingOptions tables{
      .dim = options.dim, .initializer = options.initializer, .l2_reg = options.embeddings_l2_reg};
  Block candidate = EmbeddingFeatures::from_schema(items, tables).connect(ConcatFeatures());
  if (options.unique_candidates) {
    candidate = UniqueRows(std::move(candidate), {.key = items.first().name(), .columns = {}});
  }
  Block body = ParallelBlock(
      {{"query", EmbeddingFeatures::from_schema(users, tables).connect(ConcatFeatures())},
       {"candidate", std::move(candidate)}});
  return Model(std::move(body),
               {ItemRetrievalTask::from_schema(schema, std::move(options.retrieval))});
}

Model YoutubeDNNRetrievalModel(const Schema& schema, YoutubeDNNOptions options) {
  const Block top = options.top_block ? *options.top_block : MLPBlock({64});
  RB_CHECK(top.defined(), ValueError, "YoutubeDNNRetrievalModel: the top block is empty");
  Block body = tower_inputs(schema, options.query_tag, options.embedding_options, "query",
                            "YoutubeDNNRetrievalModel")
                   .connect(top);
  NextItemOptions task{.metrics = std::move(options.metrics),
                       .weight_tying = false,
                       .l2_normalization = options.l2_normalization,
                       .temperature = options.temperature,
                       .sampled_softmax = options.sampled_softmax,
                       .num_sampled = options.num_sampled,
                       .sampler = std::move(options.sampler),
                       .logq_correction = options.logq_correction,
                       .remove_accidental_hits = options.remove_accidental_hits};
  return Model(std::move(body), {NextItemPredictionTask::from_schema(schema, std::move(task))});
}

}  // namespace recblocks
