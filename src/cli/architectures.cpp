#include "architectures.h"

#include <fmt/format.h>

#include <filesystem>

#include "recblocks/blocks/combinators.h"
#include "recblocks/blocks/features.h"
#include "recblocks/blocks/interaction.h"
#include "recblocks/blocks/mlp.h"
#include "recblocks/blocks/transformations.h"
#include "recblocks/io/json.h"

namespace recblocks::cli {

using json = nlohmann::json;

const std::vector<std::string>& seed_columns() {
  static const std::vector<std::string> columns = {
      "userId", "movieId", "title", "gender", "TE_zipcode_rating", "TE_movieId_rating", "rating_binary"};
  return columns;
}

namespace {

Block dlrm_body(const Schema& schema, std::int64_t embedding_dim, const std::vector<std::int64_t>& bottom,
                const std::vector<std::int64_t>& top) {
  RB_CHECK(!bottom.empty() && bottom.back() == embedding_dim, ValueError,
           "DLRM: the bottom MLP must end with the embedding dim {} (the dot products pair it with the "
           "embeddings), got [{}]",
           embedding_dim, fmt::join(bottom, ", "));
  const auto embeddings = EmbeddingFeatures::from_schema(schema, {.dim = embedding_dim});
  const auto continuous = ContinuousFeatures::from_schema(schema, Tags::CONTINUOUS).connect(MLPBlock(bottom));
  const auto inputs = ParallelBlock({{"embeddings", embeddings}, {"deep_continuous", continuous}});
  const auto interaction = inputs.connect_with_shortcut(
      DotProductInteractionBlock(), {.shortcut_filter = Filter("deep_continuous"), .aggregation = "concat"});
  return interaction.connect(MLPBlock(top));
}

std::string first_binary_target(const Schema& schema) {
  for (const ColumnSchema& c : schema) {
    if (c.has_tag(Tags::TARGET) && (c.has_tag(Tags::BINARY_CLASSIFICATION) || c.has_tag(Tags::BINARY))) {
      return c.name();
    }
  }
  throw ValueError(fmt::format("the data has no binary target column (columns: {}); name one with --target",
                               fmt::join(schema.column_names(), ", ")));
}

json read_json(const std::filesystem::path& path) {
  RB_CHECK(std::filesystem::is_regular_file(path), ValueError,
           "--model {}: not a preset (custom-dlrm, dlrm) and no such file", path.string());
  return io::read_json_file(path);
}

}  // namespace

Block seed_dlrm_body(const Schema& schema, std::int64_t embedding_dim) {
  return dlrm_body(schema, embedding_dim, {64}, {64, 128, 512});
}

PredictionTask seed_dlrm_task(const std::string& target) {
  return BinaryClassificationTask(target, {.metrics = {metrics::AUC()}, .pre = LogitsTemperatureScaler(2.0)});
}

Model make_model(const ArchitectureOptions& options, const Schema& schema) {
  if (options.model == "custom-dlrm") {
    const std::vector<std::int64_t> bottom = options.bottom.empty() ? std::vector<std::int64_t>{options.embedding_dim}
                                                                    : options.bottom;
    const std::vector<std::int64_t> top = options.top.empty() ? std::vector<std::int64_t>{64, 128, 512} : options.top;
    const std::string target = options.target.empty() ? first_binary_target(schema) : options.target;
    return dlrm_body(schema, options.embedding_dim, bottom, top).connect(seed_dlrm_task(target));
  }
  if (options.model == "dlrm") {
    // Merlin's DLRMModel example: bottom [128, 64], top [128, 64, 32].
    const std::vector<std::int64_t> bottom =
        options.bottom.empty() ? std::vector<std::int64_t>{128, options.embedding_dim} : options.bottom;
    const std::vector<std::int64_t> top = options.top.empty() ? std::vector<std::int64_t>{128, 64, 32} : options.top;
    const Block body = dlrm_body(schema, options.embedding_dim, bottom, top);
    if (!options.target.empty()) {
      for (const PredictionTask& task : prediction_tasks(schema)) {
        if (task.target() == options.target) return body.connect(task);
      }
      throw ValueError(fmt::format("--target {}: not a target column of the data (targets: {})", options.target,
                                   fmt::join(schema.select_by_tag(Tags::TARGET).column_names(), ", ")));
    }
    return Model::from_block(body, schema);
  }
  const json j = read_json(options.model);
  RB_CHECK(j.is_object() && j.contains("architecture"), ValueError,
           "{}: expected an object with \"architecture\" (a block) and optionally \"tasks\"", options.model);
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

std::string architecture_help() {
  return "custom-dlrm (the seed notebook's DLRM), dlrm (Merlin's DLRMModel: bottom [128, 64], top [128, 64, 32], "
         "a task per target), or a JSON file {\"architecture\": ..., \"tasks\": [...]}";
}

}  // namespace recblocks::cli
