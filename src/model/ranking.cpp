#include "recblocks/model/ranking.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "recblocks/blocks/aggregation.h"
#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/transformations.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

Schema features_of(const Schema& schema, Tag tag) {
  return schema.select_by_tag(tag).remove_by_tag(Tags::TARGET);
}

Model with_tasks(Block body, const Schema& schema, std::vector<PredictionTask> tasks) {
  if (tasks.empty()) return Model::from_block(std::move(body), schema);
  return Model(std::move(body), std::move(tasks));
}

EmbeddingOptions with_dim(EmbeddingOptions options, std::int64_t dim) {
  RB_CHECK(dim > 0, ValueError, "embedding_dim is {}, expected > 0", dim);
  options.dim = dim;
  options.dims.clear();
  options.use_schema_dims = false;
  options.infer_dims = false;
  return options;
}

// A linear unit: Merlin's MLPBlock([1], activation="linear").
Block linear_unit() { return MLPBlock({1}, {.activation = "linear"}); }

}  // namespace

Block ranking_inputs(const Schema& schema, const EmbeddingOptions& embeddings) {
  const bool categorical = !features_of(schema, Tags::CATEGORICAL).empty();
  const bool continuous = !features_of(schema, Tags::CONTINUOUS).empty();
  RB_CHECK(
      categorical || continuous, ValueError,
      "ranking model: the schema has no categorical or continuous feature column (columns: {})",
      fmt::join(schema.column_names(), ", "));
  ParallelBlock::Branches branches;
  if (categorical)
    branches.emplace_back("categorical", EmbeddingFeatures::from_schema(schema, embeddings));
  if (continuous) branches.emplace_back("continuous", ContinuousFeatures::from_schema(schema));
  return ParallelBlock(std::move(branches));
}

Block DLRMBlock(const Schema& schema, const DLRMOptions& options) {
  RB_CHECK(!features_of(schema, Tags::CATEGORICAL).empty(), ValueError,
           "DLRMModel: the schema has no categorical column to embed (columns: {})",
           fmt::join(schema.column_names(), ", "));
  const auto embeddings = EmbeddingFeatures::from_schema(
      schema, with_dim(options.embedding_options, options.embedding_dim));
  Block interaction;
  if (features_of(schema, Tags::CONTINUOUS).empty()) {
    interaction = embeddings.connect(DotProductInteractionBlock());
  } else {
    RB_CHECK(options.bottom_block.has_value(), ValueError,
             "DLRMModel: the schema has continuous columns ({}), so a bottom_block is required "
             "(its output "
             "{} wide, e.g. MLPBlock({{128, {}}}))",
             fmt::join(features_of(schema, Tags::CONTINUOUS).column_names(), ", "),
             options.embedding_dim, options.embedding_dim);
    const auto continuous = ContinuousFeatures::from_schema(schema).connect(*options.bottom_block);
    const auto inputs =
        ParallelBlock({{"embeddings", embeddings}, {"deep_continuous", continuous}});
    interaction = inputs.connect_with_shortcut(
        DotProductInteractionBlock(),
        {.shortcut_filter = Filter("deep_continuous"), .aggregation = "concat"});
  }
  return options.top_block ? interaction.connect(*options.top_block) : interaction;
}

Model DLRMModel(const Schema& schema, DLRMOptions options) {
  Block body = DLRMBlock(schema, options);
  return with_tasks(std::move(body), schema, std::move(options.prediction_tasks));
}

Model DCNModel(const Schema& schema, DCNOptions options) {
  const Block deep = options.deep_block ? *options.deep_block : MLPBlock({512, 256});
  const Block cross = CrossBlock(options.depth, options.cross);
  const Block input = ranking_inputs(schema, options.embedding_options).connect(ConcatFeatures());
  Block body = options.stacked ? input.connect(cross).connect(deep)
                               : input.connect_branch({{"cross", cross}, {"deep", deep}}, "concat");
  return with_tasks(std::move(body), schema, std::move(options.prediction_tasks));
}

Model DeepFMModel(const Schema& schema, DeepFMOptions options) {
  const Schema categorical = features_of(schema, Tags::CATEGORICAL);
  RB_CHECK(!categorical.empty(), ValueError,
           "DeepFMModel: the schema has no categorical column (columns: {})",
           fmt::join(schema.column_names(), ", "));
  const bool continuous = !features_of(schema, Tags::CONTINUOUS).empty();
  // First order: one weight per category (dim-1 tables, lists summed), plus
  // a linear layer on the continuous columns.
  EmbeddingOptions weights = with_dim(options.embedding_options, 1);
  weights.combiner = "sum";
  weights.l2_reg = 0.0f;
  weights.table_prefix = "first_order_";
  ParallelBlock::Branches first;
  first.emplace_back("categorical",
                     EmbeddingFeatures::from_schema(schema, weights).connect(ElementwiseSum()));
  if (continuous) {
    first.emplace_back("continuous",
                       ContinuousFeatures::from_schema(schema).connect(linear_unit()));
  }
  const Block first_order = ParallelBlock(std::move(first), "element-wise-sum");
  // Second order and deep, on one lookup of the tables.
  const Block inputs =
      ranking_inputs(schema, with_dim(options.embedding_options, options.embedding_dim));
  const Block second_order =
      Filter(categorical.column_names()).connect(FMPairwiseInteraction()).connect(ReduceSum());
  const Block deep = ConcatFeatures()
                         .connect(options.deep_block ? *options.deep_block : MLPBlock({64}))
                         .connect(linear_unit());
  const Block fm_deep =
      inputs.connect_branch({{"fm", second_order}, {"deep", deep}}, "element-wise-sum");
  Block body =
      ParallelBlock({{"first_order", first_order}, {"fm_deep", fm_deep}}, "element-wise-sum");
  return with_tasks(std::move(body), schema, std::move(options.prediction_tasks));
}

Model WideAndDeepModel(const Schema& schema, WideAndDeepOptions options) {
  const Schema wide_schema =
      options.wide_schema ? *options.wide_schema : features_of(schema, Tags::CATEGORICAL);
  const Schema deep_schema = options.deep_schema ? *options.deep_schema : schema;
  const Schema categorical = features_of(wide_schema, Tags::CATEGORICAL);
  const Schema continuous = features_of(wide_schema, Tags::CONTINUOUS);
  RB_CHECK(!categorical.empty() || !continuous.empty(), ValueError,
           "WideAndDeepModel: the wide schema has no categorical or continuous feature column "
           "(columns: {})",
           fmt::join(wide_schema.column_names(), ", "));
  ParallelBlock::Branches wide;
  if (!categorical.empty()) {
    EmbeddingOptions weights = with_dim(options.embedding_options, 1);
    weights.combiner = "sum";
    weights.l2_reg = 0.0f;
    weights.initializer = Initializer::zeros();
    weights.initializers.clear();
    weights.table_prefix = "wide_";
    wide.emplace_back(
        "categorical",
        EmbeddingFeatures::from_schema(wide_schema, weights).connect(ElementwiseSum()));
    std::size_t scalar = 0;
    for (const ColumnSchema& c : categorical) scalar += c.is_list() ? 0 : 1;
    if (options.cross && (scalar >= 2 || !options.crosses.crosses.empty())) {
      HashedCrossOptions crosses = options.crosses;
      crosses.dim = 1;
      crosses.table_prefix = "wide_";
      wide.emplace_back(
          "crosses",
          HashedCrossFeatures::from_schema(wide_schema, crosses).connect(ElementwiseSum()));
    }
  }
  if (!continuous.empty()) {
    wide.emplace_back("continuous",
                      ContinuousFeatures::from_schema(wide_schema).connect(linear_unit()));
  }
  const Block deep =
      ranking_inputs(deep_schema, options.embedding_options)
          .connect(ConcatFeatures())
          .connect(options.deep_block ? *options.deep_block : MLPBlock({128, 64, 32}))
          .connect(linear_unit());
  Block body =
      ParallelBlock({{"wide", ParallelBlock(std::move(wide), "element-wise-sum")}, {"deep", deep}},
                    "element-wise-sum");
  return with_tasks(std::move(body), schema, std::move(options.prediction_tasks));
}

Model NCFModel(const Schema& schema, NCFOptions options) {
  const Schema ids = features_of(schema, Tags::USER_ID) + features_of(schema, Tags::ITEM_ID);
  RB_CHECK(features_of(schema, Tags::USER_ID).size() == 1 &&
               features_of(schema, Tags::ITEM_ID).size() == 1,
           ValueError, "NCFModel: expected one USER_ID and one ITEM_ID column, got [{}] and [{}]",
           fmt::join(features_of(schema, Tags::USER_ID).column_names(), ", "),
           fmt::join(features_of(schema, Tags::ITEM_ID).column_names(), ", "));
  RB_CHECK(options.embedding_dim > 0, ValueError, "NCFModel: embedding_dim is {}, expected > 0",
           options.embedding_dim);
  auto tables = [&](const char* prefix) {
    return EmbeddingOptions{
        .dim = options.embedding_dim, .l2_reg = options.embeddings_l2_reg, .table_prefix = prefix};
  };
  const Block gmf =
      EmbeddingFeatures::from_schema(ids, tables("mf_")).connect(ElementwiseProduct());
  const Block mlp = EmbeddingFeatures::from_schema(ids, tables("mlp_"))
                        .connect(ConcatFeatures())
                        .connect(options.mlp_block ? *options.mlp_block : MLPBlock({128, 64}));
  Block body = ParallelBlock({{"mf", gmf}, {"mlp", mlp}}, "concat");
  return with_tasks(std::move(body), schema, std::move(options.prediction_tasks));
}

namespace {

// The tasks given, or the schema's; and the names their outputs go by.
std::vector<PredictionTask> tasks_or_schema(const std::vector<PredictionTask>& tasks,
                                            const Schema& schema) {
  return tasks.empty() ? prediction_tasks(schema) : tasks;
}

std::vector<std::string> task_names(const std::vector<PredictionTask>& tasks) {
  std::vector<std::string> names;
  names.reserve(tasks.size());
  for (const PredictionTask& t : tasks) names.push_back(t.name());
  return names;
}

}  // namespace

Model MMOEModel(const Schema& schema, MMOEModelOptions options) {
  std::vector<PredictionTask> tasks = tasks_or_schema(std::move(options.prediction_tasks), schema);
  const Block experts =
      MMOEBlock(task_names(tasks), options.expert_block ? *options.expert_block : MLPBlock({64}),
                options.num_experts);
  Block body =
      ranking_inputs(schema, options.embedding_options).connect(ConcatFeatures()).connect(experts);
  return Model(std::move(body), std::move(tasks));
}

Model PLEModel(const Schema& schema, PLEModelOptions options) {
  std::vector<PredictionTask> tasks = tasks_or_schema(std::move(options.prediction_tasks), schema);
  const Block experts = PLEBlock(options.num_layers, task_names(tasks),
                                 options.expert_block ? *options.expert_block : MLPBlock({64}),
                                 {.num_task_experts = options.num_task_experts,
                                  .num_shared_experts = options.num_shared_experts});
  Block body =
      ranking_inputs(schema, options.embedding_options).connect(ConcatFeatures()).connect(experts);
  return Model(std::move(body), std::move(tasks));
}

Model MLPModel(const Schema& schema, MLPModelOptions options) {
  Block body = ranking_inputs(schema, options.embedding_options)
                   .connect(ConcatFeatures())
                   .connect(MLPBlock(options.dims, options.mlp));
  return with_tasks(std::move(body), schema, std::move(options.prediction_tasks));
}

}  // namespace recblocks
