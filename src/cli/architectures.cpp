#include "architectures.h"

#include <fmt/format.h>

#include <filesystem>

#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/features.h"
#include "recblocks/blocks/interaction.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/blocks/transformations.h"
#include "recblocks/io/json.h"
#include "recblocks/io/paths.h"
#include "recblocks/model/ranking.h"
#include "recblocks/model/retrieval.h"

namespace recblocks::cli {

using json = nlohmann::json;

const std::vector<std::string>& seed_columns() {
  static const std::vector<std::string> kColumns = {
      "userId",       "movieId", "title", "gender", "TE_zipcode_rating", "TE_movieId_rating",
      "rating_binary"};
  return kColumns;
}

namespace {

// Every block and task that can throw (MLPBlock on a bad width, the tasks
// on an unknown --target) is built into a variable before the options
// struct that holds it: GCC 12 miscompiles the cleanup of an aggregate
// initialization that an initializer leaves by an exception, destroying a
// member it already built (DLRMOptions' EmbeddingOptions) twice, which
// aborted `recblocks train --embedding-dim 0` with "free(): double free
// detected". Moving finished blocks into the options cannot throw.
Block dlrm_body(const Schema& schema, std::int64_t embedding_dim,
                const std::vector<std::int64_t>& bottom, const std::vector<std::int64_t>& top) {
  RB_CHECK(
      !bottom.empty() && bottom.back() == embedding_dim, ValueError,
      "DLRM: the bottom MLP must end with the embedding dim {} (the dot products pair it with the "
      "embeddings), got [{}]",
      embedding_dim, fmt::join(bottom, ", "));
  Block bottom_block = MLPBlock(bottom);
  Block top_block = MLPBlock(top);
  return DLRMBlock(schema, {.embedding_dim = embedding_dim,
                            .bottom_block = std::move(bottom_block),
                            .top_block = std::move(top_block)});
}

std::string first_binary_target(const Schema& schema) {
  for (const ColumnSchema& c : schema) {
    if (c.has_tag(Tags::TARGET) &&
        (c.has_tag(Tags::BINARY_CLASSIFICATION) || c.has_tag(Tags::BINARY))) {
      return c.name();
    }
  }
  throw ValueError(
      fmt::format("the data has no binary target column (columns: {}); name one with --target",
                  fmt::join(schema.column_names(), ", ")));
}

// The presets' tasks: the one named by --target, or every target.
std::vector<PredictionTask> preset_tasks(const ArchitectureOptions& options, const Schema& schema) {
  if (options.target.empty()) return {};
  for (const PredictionTask& task : prediction_tasks(schema)) {
    if (task.target() == options.target) return {task};
  }
  throw ValueError(fmt::format("--target {}: not a target column of the data (targets: {})",
                               options.target,
                               fmt::join(schema.select_by_tag(Tags::TARGET).column_names(), ", ")));
}

std::vector<std::int64_t> or_default(const std::vector<std::int64_t>& given,
                                     const std::vector<std::int64_t>& preset) {
  return given.empty() ? preset : given;
}

json read_json(const std::filesystem::path& path) {
  io::check_input_file(path);  // a FIFO would block the read
  RB_CHECK(std::filesystem::is_regular_file(path), ValueError,
           "--model {}: not a preset ({}) and no such file", path.string(),
           fmt::join(preset_names(), ", "));
  return io::read_json_file(path);
}

}  // namespace

Block seed_dlrm_body(const Schema& schema, std::int64_t embedding_dim) {
  return dlrm_body(schema, embedding_dim, {64}, {64, 128, 512});
}

PredictionTask seed_dlrm_task(const std::string& target) {
  return BinaryClassificationTask(
      target, {.metrics = {metrics::AUC()}, .pre = LogitsTemperatureScaler(2.0)});
}

Model make_model(const ArchitectureOptions& options, const Schema& schema) {
  const bool is_retrieval = options.model == "two_tower" || options.model == "mf";
  RB_CHECK(is_retrieval || (options.sampled_negatives == 0 && options.unique_candidates),
           ValueError,
           "--sampled-negatives and --no-unique-candidates are for two_tower and mf, not {}",
           options.model);
  if (options.model == "custom-dlrm") {
    const std::vector<std::int64_t> bottom =
        options.bottom.empty() ? std::vector<std::int64_t>{options.embedding_dim} : options.bottom;
    const std::vector<std::int64_t> top =
        options.top.empty() ? std::vector<std::int64_t>{64, 128, 512} : options.top;
    const std::string target =
        options.target.empty() ? first_binary_target(schema) : options.target;
    return dlrm_body(schema, options.embedding_dim, bottom, top).connect(seed_dlrm_task(target));
  }
  if (options.model == "dlrm") {
    // Merlin's DLRMModel example: bottom [128, 64], top [128, 64, 32].
    const Block body = dlrm_body(schema, options.embedding_dim,
                                 or_default(options.bottom, {128, options.embedding_dim}),
                                 or_default(options.top, {128, 64, 32}));
    std::vector<PredictionTask> tasks = preset_tasks(options, schema);
    return tasks.empty() ? Model::from_block(body, schema) : Model(body, std::move(tasks));
  }
  // As in dlrm_body: what can throw is built before the options struct.
  const auto deep = [&](const std::vector<std::int64_t>& preset) {
    return Block(MLPBlock(or_default(options.top, preset)));
  };
  if (options.model == "dcn") {
    // The Exploring-different-models notebook's DCN-v2: stacked, depth 2, deep [64, 32].
    Block deep_block = deep({64, 32});
    std::vector<PredictionTask> tasks = preset_tasks(options, schema);
    return DCNModel(schema, {.depth = options.cross_depth,
                             .deep_block = std::move(deep_block),
                             .stacked = !options.parallel,
                             .cross = {.low_rank_dim = options.low_rank_dim},
                             .prediction_tasks = std::move(tasks)});
  }
  if (options.model == "deepfm") {
    Block deep_block = deep({64});
    std::vector<PredictionTask> tasks = preset_tasks(options, schema);
    return DeepFMModel(schema, {.embedding_dim = options.embedding_dim,
                                .deep_block = std::move(deep_block),
                                .prediction_tasks = std::move(tasks)});
  }
  if (options.model == "wide_deep") {
    // The notebook's Wide&Deep: one-hot and every pair of categorical columns
    // crossed (wide), deep [128, 64, 32].
    Block deep_block = deep({128, 64, 32});
    std::vector<PredictionTask> tasks = preset_tasks(options, schema);
    return WideAndDeepModel(schema, {.crosses = {.num_bins = options.num_bins},
                                     .deep_block = std::move(deep_block),
                                     .embedding_options = {.dim = options.embedding_dim},
                                     .prediction_tasks = std::move(tasks)});
  }
  if (options.model == "ncf") {
    Block mlp_block = deep({128, 64});
    std::vector<PredictionTask> tasks = preset_tasks(options, schema);
    return NCFModel(schema, {.embedding_dim = options.embedding_dim,
                             .mlp_block = std::move(mlp_block),
                             .prediction_tasks = std::move(tasks)});
  }
  if (options.model == "mmoe") {
    Block expert_block = deep({64});
    std::vector<PredictionTask> tasks = preset_tasks(options, schema);
    return MMOEModel(schema, {.expert_block = std::move(expert_block),
                              .num_experts = options.num_experts,
                              .embedding_options = {.dim = options.embedding_dim},
                              .prediction_tasks = std::move(tasks)});
  }
  if (options.model == "ple") {
    Block expert_block = deep({64});
    std::vector<PredictionTask> tasks = preset_tasks(options, schema);
    return PLEModel(schema, {.num_layers = options.cross_depth,
                             .expert_block = std::move(expert_block),
                             .embedding_options = {.dim = options.embedding_dim},
                             .prediction_tasks = std::move(tasks)});
  }
  const ItemRetrievalOptions retrieval{.l2_normalization = options.l2_normalization,
                                       .temperature = options.temperature,
                                       .loss = options.retrieval_loss,
                                       .logq_correction = options.logq_correction,
                                       .num_sampled = options.sampled_negatives};
  if (options.model == "two_tower") {
    // Merlin's retrieval example: towers MLP [128, 64], the last one linear.
    Block query_tower =
        MLPBlock(or_default(options.top, {128, 64}), {.no_activation_last_layer = true});
    return TwoTowerModel(schema, {.query_tower = std::move(query_tower),
                                  .embedding_options = {.dim = options.embedding_dim},
                                  .retrieval = retrieval,
                                  .unique_candidates = options.unique_candidates});
  }
  if (options.model == "mf") {
    return MatrixFactorizationModel(schema, {.dim = options.embedding_dim,
                                             .retrieval = retrieval,
                                             .unique_candidates = options.unique_candidates});
  }
  if (options.model == "youtube_dnn") {
    RB_CHECK(options.retrieval_loss == "categorical_crossentropy" || options.retrieval_loss == "ce",
             ValueError,
             "--retrieval-loss {} is for two_tower and mf; youtube_dnn trains a (sampled) softmax",
             options.retrieval_loss);
    // Merlin's YoutubeDNNRetrievalModel: the USER-tagged columns (on
    // MovieLens the user id, the user's target encodings and the
    // movieId_history list, mean-pooled), MLP [64],
    // a sampled softmax over its own output table.
    Block top_block = deep({64});
    return YoutubeDNNRetrievalModel(schema, {.top_block = std::move(top_block),
                                             .embedding_options = {.dim = options.embedding_dim},
                                             .l2_normalization = options.l2_normalization,
                                             .temperature = options.temperature,
                                             .sampled_softmax = options.sampled_softmax,
                                             .num_sampled = options.num_sampled,
                                             .logq_correction = options.logq_correction});
  }
  if (options.model == "mlp") {
    std::vector<PredictionTask> tasks = preset_tasks(options, schema);
    return MLPModel(schema, {.dims = or_default(options.top, {64, 32}),
                             .embedding_options = {.dim = options.embedding_dim},
                             .prediction_tasks = std::move(tasks)});
  }
  const json j = read_json(options.model);
  RB_CHECK(j.is_object() && j.contains("architecture"), ValueError,
           "{}: expected an object with \"architecture\" (a block) and optionally \"tasks\"",
           options.model);
  try {
    Block body = Block::from_json(j["architecture"]);
    if (!j.contains("tasks")) return Model::from_block(std::move(body), schema);
    std::vector<PredictionTask> tasks;
    for (const json& t : j["tasks"]) tasks.push_back(PredictionTask::from_json(t));
    return Model(std::move(body), std::move(tasks));
  } catch (const Error& e) {
    throw ValueError(fmt::format("{}: {}", options.model, e.what()));
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("{}: {}", options.model, e.what()));
  }
}

namespace {

Optimizer by_name_at(const std::string& name, double learning_rate) {
  Optimizer optimizer = optim::by_name(name);
  if (learning_rate <= 0) return optimizer;
  json config = optimizer.to_json();
  config["learning_rate"] = LearningRate(static_cast<float>(learning_rate)).to_json();
  return Optimizer::from_json(config);
}

// The wide part's rate when --wide-learning-rate is not given, by the
// optimizer's canonical type: a preset (kWidePresetRates), else 0 (the
// optimizer's own default).
double wide_preset_rate(const std::string& wide_name) {
  const Optimizer wide = optim::by_name(wide_name);  // canonical: "FTRL" is "ftrl"
  for (const auto& [type, rate] : kWidePresetRates) {
    if (wide.type() == type) return rate;
  }
  return 0;
}

}  // namespace

Optimizer make_optimizer(const OptimizerChoice& choice, const std::string& model) {
  Optimizer optimizer = by_name_at(choice.name, choice.learning_rate);
  std::string wide = choice.wide_name;
  if (wide.empty() && model == "wide_deep") wide = "ftrl";
  if (wide.empty()) {
    RB_CHECK(choice.wide_learning_rate <= 0, ValueError,
             "--wide-learning-rate needs --wide-optimizer (or --model wide_deep)");
    return optimizer;
  }
  const double rate =
      choice.wide_learning_rate > 0 ? choice.wide_learning_rate : wide_preset_rate(wide);
  return optim::MultiOptimizer(std::move(optimizer), {{kWidePrefix, by_name_at(wide, rate)}});
}

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> kNames = {"custom-dlrm", "dlrm",      "dcn", "deepfm",
                                                  "wide_deep",   "ncf",       "mlp", "mmoe",
                                                  "ple",         "two_tower", "mf",  "youtube_dnn"};
  return kNames;
}

std::string architecture_help() {
  return "custom-dlrm (the seed notebook's DLRM), dlrm (Merlin's DLRMModel: bottom [128, 64], top "
         "[128, 64, 32]), "
         "dcn (DCNModel: stacked, --cross-depth 2, deep [64, 32]), deepfm (DeepFMModel: deep "
         "[64]), wide_deep "
         "(WideAndDeepModel: one-hot and pairwise crosses into --num-bins, trained by "
         "--wide-optimizer; deep [128, 64, "
         "32]), ncf (NCFModel: MLP [128, 64]), mlp (MLP [64, 32]), mmoe (MMoE, --num-experts 4, "
         "experts MLP [64]), ple "
         "(PLE, --cross-depth layers, experts MLP [64]); --top sets the deep/MLP/expert units of "
         "the last seven; the "
         "presets "
         "train every target, or --target. Retrieval (an ItemRetrievalTask on the ITEM_ID column, "
         "in-batch negatives): "
         "two_tower (TwoTowerModel: USER and ITEM columns, towers MLP [128, 64] or --top), mf "
         "(MatrixFactorizationModel, --embedding-dim). Next-item: youtube_dnn "
         "(YoutubeDNNRetrievalModel: USER columns "
         "with the movieId_history list of `data movielens --history N`, MLP [64] or --top, "
         "sampled softmax over "
         "--num-sampled popularity-drawn items). Or a JSON file {\"architecture\": ..., \"tasks\": "
         "[...]}";
}

}  // namespace recblocks::cli
