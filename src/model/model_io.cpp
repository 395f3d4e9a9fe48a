// Model directories and checkpoints (the layout is documented in model.h).
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "model/model_impl.h"
#include "recblocks/io/atomic.h"
#include "recblocks/io/safetensors.h"
#include "recblocks/version.h"

namespace recblocks {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "recblocks.model";

json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  RB_CHECK(in.good(), ValueError, "{}: cannot open the file (is this a model directory?)", path.string());
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  RB_CHECK(out.good(), Error, "{}: write failed", path.string());
}

json model_json(const Model& model, const Model::Impl& impl) {
  json params = json::array();
  for (const auto& [name, p] : model.parameters()) {
    params.push_back({{"name", name}, {"shape", p->value().shape().dims()}, {"trainable", p->trainable()}});
  }
  json tasks = json::array();
  for (const PredictionTask& task : impl.tasks) tasks.push_back(task.to_json());
  json compile = nullptr;
  if (impl.compiled) {
    compile = {{"optimizer", impl.optimizer.to_json()},
               {"loss_weights", impl.compile.loss_weights},
               {"fuse_sparse_updates", impl.compile.fuse_sparse_updates}};
  }
  return {{"format", kFormat},
          {"format_version", kModelFormatVersion},
          {"recblocks_version", kVersion},
          {"seed", impl.seed},
          {"architecture", impl.body.to_json()},
          {"tasks", tasks},
          {"compile", compile},
          {"parameters", params}};
}

// model.json, weights.safetensors, schema.json and etl/ into `dir`.
void write_model_files(const Model& model, const Model::Impl& impl, const fs::path& dir, const SaveOptions& options) {
  write_text(dir / "model.json", model_json(model, impl).dump(2) + "\n");
  io::write_safetensors(dir / "weights.safetensors", model.state(),
                        {{"format", kFormat}, {"format_version", std::to_string(kModelFormatVersion)}});
  impl.schema.save(dir / "schema.json");
  if (options.etl) {
    RB_CHECK(fs::is_directory(*options.etl), ValueError, "save: the ETL state {} is not a directory",
             options.etl->string());
    fs::copy(*options.etl, dir / "etl", fs::copy_options::recursive);
  }
}

}  // namespace

void Model::save(const fs::path& dir, SaveOptions options) const {
  RB_CHECK(built(), ValueError, "save: the model is not built yet (fit it, or build it from a schema)");
  io::StagedDirectory staged(dir);
  write_model_files(*this, *impl_, staged.path(), options);
  staged.commit();
}

Model Model::load(const fs::path& dir) {
  RB_CHECK(fs::is_directory(dir), ValueError, "{}: no such model directory", dir.string());
  const fs::path json_path = dir / "model.json";
  const json j = read_json_file(json_path);
  RB_CHECK(j.is_object() && j.value("format", "") == kFormat, ValueError,
           "{}: not a recblocks model (\"format\" is {}, expected \"{}\")", json_path.string(),
           j.is_object() && j.contains("format") ? j["format"].dump() : "missing", kFormat);
  RB_CHECK(j.contains("format_version") && j["format_version"].is_number_integer() &&
               j["format_version"].get<int>() == kModelFormatVersion,
           ValueError, "{}: format_version {} is not supported (this recblocks {} reads version {})",
           json_path.string(), j.contains("format_version") ? j["format_version"].dump() : "missing", kVersion,
           kModelFormatVersion);
  for (const char* key : {"architecture", "tasks", "seed"}) {
    RB_CHECK(j.contains(key), ValueError, "{}: '{}' is missing", json_path.string(), key);
  }
  Block body;
  std::vector<PredictionTask> tasks;
  try {
    body = Block::from_json(j["architecture"]);
    for (const json& t : j["tasks"]) tasks.push_back(PredictionTask::from_json(t));
  } catch (const Error& e) {
    throw ValueError(fmt::format("{}: {}", json_path.string(), e.what()));
  }
  Model model(std::move(body), std::move(tasks));
  const Schema schema = Schema::load(dir / "schema.json");
  model.build(schema, j["seed"].get<std::uint64_t>());

  const fs::path weights_path = dir / "weights.safetensors";
  const io::SafetensorsFile weights = io::read_safetensors(weights_path);
  try {
    model.load_state(weights.tensors);
  } catch (const Error& e) {
    throw ValueError(fmt::format("{}: {}", weights_path.string(), e.what()));
  }
  if (j.contains("compile") && !j["compile"].is_null()) {
    const json& c = j["compile"];
    CompileOptions options;
    options.loss_weights = c.value("loss_weights", std::vector<float>{});
    options.fuse_sparse_updates = c.value("fuse_sparse_updates", true);
    model.compile(Optimizer::from_json(c.at("optimizer")), std::move(options));
  }
  return model;
}

void Model::save_checkpoint(const fs::path& dir) const {
  RB_CHECK(compiled() && built(), ValueError, "save_checkpoint: the model must be built and compiled");
  const Impl& impl = *impl_;
  const Impl::Position& pos = impl.position;
  io::StagedDirectory staged(dir);
  write_model_files(*this, impl, staged.path(), {});
  io::write_safetensors(staged.path() / "optimizer.safetensors", impl.optimizer.state(),
                        {{"optimizer", impl.optimizer.to_json().dump()}});
  json history = json::array();
  for (const Logs& logs : pos.history.epochs) history.push_back(logs);
  const json trainer = {{"epoch", pos.epoch},
                        {"batch_in_epoch", pos.batch_in_epoch},
                        {"global_step", pos.global_step},
                        {"loader_seed", pos.loader_seed},
                        {"batch_size", pos.batch_size},
                        {"loss_sum", pos.loss_sum},
                        {"regularization_sum", pos.regularization_sum},
                        {"task_loss_sums", pos.task_loss_sums},
                        {"rows", pos.rows},
                        {"history", history},
                        {"dropout_rng_state", impl_->tape.rng().state()}};
  write_text(staged.path() / "trainer.json", trainer.dump(2) + "\n");
  staged.commit();
}

void Model::resume_checkpoint(const fs::path& dir) {
  Impl& impl = *impl_;
  const json j = read_json_file(dir / "model.json");
  RB_CHECK(j.value("architecture", json()) == impl.body.to_json(), ValueError,
           "{}: the checkpoint's architecture differs from this model's", (dir / "model.json").string());
  const fs::path weights_path = dir / "weights.safetensors";
  try {
    load_state(io::read_safetensors(weights_path).tensors);
  } catch (const Error& e) {
    throw ValueError(fmt::format("{}: {}", weights_path.string(), e.what()));
  }
  const fs::path optimizer_path = dir / "optimizer.safetensors";
  try {
    impl.optimizer.load_state(io::read_safetensors(optimizer_path).tensors);
  } catch (const Error& e) {
    throw ValueError(fmt::format("{}: {}", optimizer_path.string(), e.what()));
  }
  const fs::path trainer_path = dir / "trainer.json";
  const json t = read_json_file(trainer_path);
  try {
    Impl::Position& pos = impl.position;
    pos.epoch = t.at("epoch").get<int>();
    pos.batch_in_epoch = t.at("batch_in_epoch").get<std::int64_t>();
    pos.global_step = t.at("global_step").get<std::int64_t>();
    pos.loader_seed = t.at("loader_seed").get<std::uint64_t>();
    pos.batch_size = t.at("batch_size").get<std::int64_t>();
    pos.loss_sum = t.at("loss_sum").get<double>();
    pos.regularization_sum = t.at("regularization_sum").get<double>();
    pos.task_loss_sums = t.at("task_loss_sums").get<std::vector<double>>();
    pos.rows = t.at("rows").get<std::int64_t>();
    pos.history.epochs.clear();
    for (const json& logs : t.at("history")) pos.history.epochs.push_back(logs.get<Logs>());
    impl.tape.rng().set_state(t.at("dropout_rng_state").get<std::uint64_t>());
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("{}: {}", trainer_path.string(), e.what()));
  }
  RB_CHECK(impl.position.task_loss_sums.size() == impl.tasks.size(), ValueError,
           "{}: {} task loss sums for {} tasks", trainer_path.string(), impl.position.task_loss_sums.size(),
           impl.tasks.size());
}

}  // namespace recblocks
