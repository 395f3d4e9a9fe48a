// Model directories and checkpoints (the layout is documented in model.h).
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <set>

#include "model/model_impl.h"
#include "recblocks/core/memory.h"
#include "recblocks/io/atomic.h"
#include "recblocks/io/json.h"
#include "recblocks/io/safetensors.h"
#include "recblocks/version.h"

namespace recblocks {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "recblocks.model";

// A model directory's JSON file; a missing one is named as such.
json read_json_file(const fs::path& path) {
  RB_CHECK(fs::exists(path), ValueError, "{}: missing (is this a model directory?)", path.string());
  return io::read_json_file(path);
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
    params.push_back(
        {{"name", name}, {"shape", p->value().shape().dims()}, {"trainable", p->trainable()}});
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
void write_model_files(const Model& model, const Model::Impl& impl, const fs::path& dir,
                       const SaveOptions& options) {
  write_text(dir / "model.json", model_json(model, impl).dump(2) + "\n");
  io::write_safetensors(
      dir / "weights.safetensors", model.state(),
      {{"format", kFormat}, {"format_version", std::to_string(kModelFormatVersion)}});
  impl.schema.save(dir / "schema.json");
  if (options.etl) {
    RB_CHECK(fs::is_directory(*options.etl), ValueError,
             "save: the ETL state {} is not a directory", options.etl->string());
    fs::copy(*options.etl, dir / "etl", fs::copy_options::recursive);
  }
}

// An error's message with the file it came from in front, unless it
// names a file of the model directory already.
std::string named(const fs::path& file, const std::exception& e) {
  std::string what = e.what();
  if (what.find(file.parent_path().string()) != std::string::npos) return what;
  return fmt::format("{}: {}", file.string(), what);
}

// The planned parameters against the weights file's header: every
// parameter there as float32 of its shape, nothing else.
void check_weights_header(const std::vector<std::pair<std::string, ParameterPtr>>& parameters,
                          const io::SafetensorsHeader& header, const fs::path& json_path,
                          const fs::path& weights_path) {
  std::set<std::string> known;
  for (const auto& [name, p] : parameters) {
    known.insert(name);
    const auto it = header.tensors.find(name);
    RB_CHECK(it != header.tensors.end(), ValueError,
             "{}: tensor '{}' {} is missing (a float32 parameter of the architecture in {})",
             weights_path.string(), name, p->value().shape(), json_path.string());
    const io::SafetensorsHeader::Entry& entry = it->second;
    RB_CHECK(entry.dtype == DType::kFloat32 && entry.shape == p->value().shape(), ValueError,
             "{}: tensor '{}' is {} {}, expected float32 {} (the architecture in {})",
             weights_path.string(), name, dtype_name(entry.dtype), entry.shape, p->value().shape(),
             json_path.string());
  }
  for (const auto& [name, entry] : header.tensors) {
    RB_CHECK(known.count(name) == 1, ValueError,
             "{}: tensor '{}' {} is not a parameter of this model (the architecture in {} has {} "
             "parameters)",
             weights_path.string(), name, entry.shape, json_path.string(), parameters.size());
  }
}

// Weights must be finite numbers: a NaN or an infinity would turn every
// prediction into NaN without a word.
void check_finite_weights(const std::map<std::string, Tensor>& tensors, const fs::path& path) {
  for (const auto& [name, t] : tensors) {
    if (t.dtype() != DType::kFloat32) continue;
    const float* p = t.data<float>();
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      RB_CHECK(std::isfinite(p[i]), NonFiniteError,
               "{}: tensor '{}' {} holds the value {} at flat index {} (expected finite weights)",
               path.string(), name, t.shape(), p[i], i);
    }
  }
}

}  // namespace

void Model::save(const fs::path& dir, const SaveOptions& options) const {
  RB_CHECK(built(), ValueError,
           "save: the model is not built yet (fit it, or build it from a schema)");
  io::StagedDirectory staged(dir);
  write_model_files(*this, *impl_, staged.path(), options);
  staged.commit();
}

Model Model::load(const fs::path& dir) {
  try {
    return load_model(dir);
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("{}: model.json has a value of the wrong type: {}",
                                 (dir / "model.json").string(), e.what()));
  }
}

Model Model::load_model(const fs::path& dir) {
  RB_CHECK(fs::is_directory(dir), ValueError, "{}: no such model directory", dir.string());
  const fs::path json_path = dir / "model.json";
  const json j = read_json_file(json_path);
  RB_CHECK(j.is_object() && j.value("format", "") == kFormat, ValueError,
           "{}: not a recblocks model (\"format\" is {}, expected \"{}\")", json_path.string(),
           j.is_object() && j.contains("format") ? j["format"].dump() : "missing", kFormat);
  RB_CHECK(
      j.contains("format_version") && j["format_version"].is_number_integer() &&
          j["format_version"].get<int>() == kModelFormatVersion,
      ValueError, "{}: format_version {} is not supported (this recblocks {} reads version {})",
      json_path.string(), j.contains("format_version") ? j["format_version"].dump() : "missing",
      kVersion, kModelFormatVersion);
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
  RB_CHECK(j["seed"].is_number_unsigned(), ValueError,
           "{}: 'seed' is {}, expected a non-negative integer", json_path.string(),
           j["seed"].dump().substr(0, 40));

  // The weights file's header is read and checked against the planned
  // parameters before any parameter is allocated: a model.json whose
  // architecture does not match its weights (or asks for a huge layer)
  // costs nothing.
  const fs::path weights_path = dir / "weights.safetensors";
  const io::SafetensorsHeader header = io::read_safetensors_header(weights_path);
  try {
    model.build(schema, j["seed"].get<std::uint64_t>(),
                [&](const std::vector<std::pair<std::string, ParameterPtr>>& parameters) {
                  check_weights_header(parameters, header, json_path, weights_path);
                });
  } catch (const MemoryLimitError& e) {
    throw MemoryLimitError(named(json_path, e));
  } catch (const ShapeError& e) {
    throw ShapeError(named(json_path, e));
  } catch (const ValueError& e) {
    throw ValueError(named(json_path, e));
  }

  const io::SafetensorsFile weights = io::read_safetensors(weights_path);
  check_finite_weights(weights.tensors, weights_path);
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
  RB_CHECK(compiled() && built(), ValueError,
           "save_checkpoint: the model must be built and compiled");
  const Impl& impl = *impl_;
  const Impl::Position& pos = impl.position;
  io::StagedDirectory staged(dir);
  write_model_files(*this, impl, staged.path(), {});
  io::write_safetensors(staged.path() / "optimizer.safetensors", impl.optimizer.state(),
                        {{"optimizer", impl.optimizer.to_json().dump()}});
  // NaN figures (an undefined metric) are written as null.
  json history = json::array();
  for (const Logs& logs : pos.history.epochs) history.push_back(logs);
  const json trainer = {{"epoch", pos.epoch},
                        {"batch_in_epoch", pos.batch_in_epoch},
                        {"global_step", pos.global_step},
                        {"loader_seed", pos.loader_seed},
                        {"batch_size", pos.batch_size},
                        {"shuffle", pos.shuffle},
                        {"train_rows", pos.train_rows},
                        {"optimizer", impl.optimizer.to_json()},
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
  Impl::Position& pos = impl.position;
  // Everything is read and checked before anything changes.
  const fs::path trainer_path = dir / "trainer.json";
  const json t = read_json_file(trainer_path);
  Impl::Position saved;
  std::uint64_t rng_state = 0;
  json optimizer_config;
  try {
    saved.epoch = t.at("epoch").get<int>();
    saved.batch_in_epoch = t.at("batch_in_epoch").get<std::int64_t>();
    saved.global_step = t.at("global_step").get<std::int64_t>();
    saved.loader_seed = t.at("loader_seed").get<std::uint64_t>();
    saved.batch_size = t.at("batch_size").get<std::int64_t>();
    saved.shuffle = t.at("shuffle").get<bool>();
    saved.train_rows = t.at("train_rows").get<std::int64_t>();
    optimizer_config = t.at("optimizer");
    saved.loss_sum = t.at("loss_sum").get<double>();
    saved.regularization_sum = t.at("regularization_sum").get<double>();
    saved.task_loss_sums = t.at("task_loss_sums").get<std::vector<double>>();
    saved.rows = t.at("rows").get<std::int64_t>();
    for (const json& logs : t.at("history")) {
      Logs epoch;
      for (const auto& [key, value] : logs.items()) {
        epoch[key] =
            value.is_null() ? std::numeric_limits<double>::quiet_NaN() : value.get<double>();
      }
      saved.history.epochs.push_back(std::move(epoch));
    }
    rng_state = t.at("dropout_rng_state").get<std::uint64_t>();
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("{}: {}", trainer_path.string(), e.what()));
  }
  RB_CHECK(saved.batch_size == pos.batch_size && saved.loader_seed == pos.loader_seed &&
               saved.shuffle == pos.shuffle && saved.train_rows == pos.train_rows,
           ValueError,
           "fit: the checkpoint {} was written with batch_size {}, seed {}, shuffle {} on {} rows; "
           "this fit has {}, "
           "{}, {} on {} rows: resuming would not continue the same run",
           dir.string(), saved.batch_size, saved.loader_seed, saved.shuffle, saved.train_rows,
           pos.batch_size, pos.loader_seed, pos.shuffle, pos.train_rows);
  RB_CHECK(
      optimizer_config == impl.optimizer.to_json(), ValueError,
      "fit: the checkpoint {} was written with the optimizer {}, this model is compiled with {}",
      dir.string(), optimizer_config.dump(), impl.optimizer.to_json().dump());
  RB_CHECK(saved.task_loss_sums.size() == impl.tasks.size(), ValueError,
           "{}: {} task loss sums for {} tasks", trainer_path.string(), saved.task_loss_sums.size(),
           impl.tasks.size());
  const json j = read_json_file(dir / "model.json");
  RB_CHECK(j.is_object() && j.contains("architecture") && j["architecture"] == impl.body.to_json(),
           ValueError, "{}: the checkpoint's architecture differs from this model's",
           (dir / "model.json").string());

  const fs::path weights_path = dir / "weights.safetensors";
  const io::SafetensorsFile weights = io::read_safetensors(weights_path);
  check_finite_weights(weights.tensors, weights_path);
  try {
    check_state(weights.tensors);
  } catch (const Error& e) {
    throw ValueError(fmt::format("{}: {}", weights_path.string(), e.what()));
  }
  const fs::path optimizer_path = dir / "optimizer.safetensors";
  try {
    impl.optimizer.load_state(io::read_safetensors(optimizer_path).tensors);
  } catch (const Error& e) {
    throw ValueError(fmt::format("{}: {}", optimizer_path.string(), e.what()));
  }
  load_state(weights.tensors);
  pos = std::move(saved);
  impl.tape.rng().set_state(rng_state);
}

}  // namespace recblocks
