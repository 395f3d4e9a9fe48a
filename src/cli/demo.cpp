// `recblocks demo`: the seed notebook, "Define your own architecture"
// (NVIDIA Merlin Models), end to end: MovieLens through Merlin's ETL, a
// batch of 4 validation rows, the custom DLRM built from blocks with the
// four connect methods, the binary task, compile, fit 5 epochs at batch
// 1024 with Adam, evaluate at batch 1024 and save to custom_dlrm/, printing
// what each notebook cell printed.
//
//   recblocks demo [--data DIR] [--variant ml-1m|ml-100k] [--source ZIP_OR_DIR]
//                  [--synthetic] [--ratings N] [--out DIR] [--epochs N] [--batch-size N]
//
// Data: the real MovieLens (downloaded into DIR, or --source for a local
// zip or directory). For ml-1m, when neither works (offline), or with
// --synthetic, it writes raw files in the ml-1m format with a planted
// signal (datasets::synthetic_movielens) and runs the very same importer
// and ETL on them, and says so.
#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "architectures.h"
#include "commands.h"
#include "flags.h"
#include "recblocks/io/paths.h"
#include "recblocks/recblocks.h"

namespace recblocks::cli {

namespace rb = recblocks;

namespace {

struct DemoArgs {
  std::filesystem::path data = "data";
  std::string variant = "ml-1m";
  std::filesystem::path source;
  bool synthetic = false;
  bool no_download = false;
  std::int64_t ratings = 1'000'209;
  std::filesystem::path out = "custom_dlrm";
  int epochs = 5;
  std::int64_t batch_size = 1024;
  bool overwrite = false;
};

// Flushed, so that the cells and the progress lines on stderr interleave in
// order when both go to one log.
void cell(std::string_view title) {
  fmt::print("\n### {}\n", title);
  std::fflush(stdout);
}

// In [3]: train, valid = get_movielens(variant="ml-1m")
std::pair<rb::Dataset, rb::Dataset> load_movielens(const DemoArgs& args) {
  const std::string name = args.variant == "ml-1m" ? "MovieLens 1M" : "MovieLens 100K";
  if (!args.synthetic) {
    try {
      auto splits = rb::datasets::movielens(args.variant, args.data,
                                            {.source = args.source, .download = !args.no_download});
      fmt::print("data: real {} from {}\n", name, (args.data / args.variant).string());
      return splits;
    } catch (const rb::Error& e) {
      if (args.variant != "ml-1m") throw;
      fmt::print("data: real {} not available:\n  {}\n", name, e.what());
    }
  }
  RB_CHECK(args.variant == "ml-1m", ValueError,
           "demo: --synthetic makes ml-1m-shaped data; drop --variant {}", args.variant);
  const auto raw = args.data / "ml-1m-synthetic" / "raw";
  const auto result = rb::datasets::synthetic_movielens(raw, {.ratings = args.ratings, .seed = 42});
  fmt::print(
      "data: SYNTHETIC ml-1m-shaped raw files in {} ({} ratings, best possible AUC {:.4f}),\n"
      "      imported by the same ml-1m importer and ETL\n",
      raw.string(), result.rows, result.bayes_auc);
  return rb::datasets::movielens("ml-1m", args.data / "ml-1m-synthetic",
                                 {.source = raw, .overwrite = true});
}

void print_shapes(const rb::Output& out) {
  for (const auto& [key, value] : out.dict()) fmt::print("\t{} : {}\n", key, value.shape());
}

void print_dict(const rb::Logs& logs) {
  std::string out = "{";
  for (const auto& [key, value] : logs)
    out += fmt::format("{}'{}': {}", out.size() > 1 ? ",\n " : "", key, value);
  fmt::print("{}}}\n", out);
}

// The demo writes the imported MovieLens into --data and the model to --out.
void check_outputs(const DemoArgs& args) {
  std::vector<std::string> entries = {"ml-1m-synthetic"};
  for (const char* entry : {"train", "valid", "etl", "import.json"}) {
    entries.push_back(args.variant + "/" + entry);
  }
  io::check_output({"--data", args.data, io::OutputKind::kFolder, entries},
                   {{"--source", args.source}}, args.overwrite);
  io::check_output({"--out", args.out, io::OutputKind::kModel},
                   {{"--data", args.data}, {"--source", args.source}}, args.overwrite);
}

void run_demo(const DemoArgs& args) {
  check_outputs(args);
  auto [train, valid] = load_movielens(args);
  fmt::print("train: {} rows, valid: {} rows\n", train.num_rows(), valid.num_rows());

  cell("In [4]: valid.head()");
  std::cout << rb::Batch(valid.slice_rows(0, 5)) << "\n";

  cell(
      "In [5]: batch = next(iter(BatchedDataset(valid, batch_size=4, shuffle=False)))[0]; "
      "batch.keys()");
  const rb::Batch batch =
      (*rb::Loader(valid, {.batch_size = 4, .shuffle = false}).begin()).features();
  fmt::print("{}\n", fmt::join(batch.names(), ", "));

  cell("In [6]: sub_schema = train.schema.select_by_name([...])");
  const rb::Schema sub_schema = train.schema().select_by_name(seed_columns());
  std::cout << sub_schema;

  cell(
      "In [7-8]: continuous_block = ContinuousFeatures.from_schema(sub_schema, "
      "tags=Tags.CONTINUOUS)");
  const auto continuous_block = rb::ContinuousFeatures::from_schema(sub_schema, Tags::CONTINUOUS);
  std::cout << continuous_block(batch) << "\n";

  cell("In [9]: deep_continuous_block = continuous_block.connect(MLPBlock([64])); ...shape");
  const auto deep_continuous_block = continuous_block.connect(rb::MLPBlock({64}));
  fmt::print("{}\n", deep_continuous_block(batch).shape());

  cell("In [10-11]: embedding_block = EmbeddingFeatures.from_schema(sub_schema)");
  const auto embedding_block = rb::EmbeddingFeatures::from_schema(sub_schema);
  const rb::Output embeddings = embedding_block(batch);
  fmt::print("keys: {}; userId: {}\n", fmt::join(embeddings.keys(), ", "),
             embeddings["userId"].shape());

  cell("In [12]: dlrm_input_block = ParallelBlock({embeddings, deep_continuous})");
  const auto dlrm_input_block = rb::ParallelBlock(
      {{"embeddings", embedding_block}, {"deep_continuous", deep_continuous_block}});
  fmt::print("Output shapes of DLRM input block:\n");
  print_shapes(dlrm_input_block(batch));

  cell(
      "In [13-14]: dlrm_interaction = "
      "dlrm_input_block.connect_with_shortcut(DotProductInteractionBlock(), ...)");
  const auto dlrm_interaction = dlrm_input_block.connect_with_shortcut(
      rb::DotProductInteractionBlock(),
      {.shortcut_filter = rb::Filter("deep_continuous"), .aggregation = "concat"});
  std::cout << dlrm_interaction(batch) << "\n";
  fmt::print(
      "(The notebook printed [4, 2080]: the Merlin version it ran interacted along the embedding\n"
      " axis. recblocks follows the DLRM paper: 5 feature vectors -> 10 dot products + 64 = "
      "74.)\n");

  cell("In [15]: deep_dlrm_interaction = dlrm_interaction.connect(MLPBlock([64, 128, 512]))");
  const auto deep_dlrm_interaction = dlrm_interaction.connect(rb::MLPBlock({64, 128, 512}));
  std::cout << deep_dlrm_interaction(batch) << "\n";

  cell(
      "In [16]: binary_task = BinaryClassificationTask(target, metrics=[AUC], "
      "pre=LogitsTemperatureScaler(2))");
  const std::string target = sub_schema.select_by_tag(Tags::TARGET).column_names()[0];
  const rb::PredictionTask binary_task = seed_dlrm_task(target);
  fmt::print("{}: target {}, metrics auc, pre LogitsTemperatureScaler(2)\n", binary_task.name(),
             target);

  cell("In [17]: model = deep_dlrm_interaction.connect(binary_task)");
  rb::Model model = deep_dlrm_interaction.connect(binary_task);
  fmt::print("recblocks::Model\n");

  cell(fmt::format(
      "In [18]: model.compile(optimizer=\"adam\"); model.fit(train, batch_size={}, epochs={})",
      args.batch_size, args.epochs));
  model.compile("adam");
  const auto fit_start = std::chrono::steady_clock::now();
  const rb::History history =
      model.fit(train.select(sub_schema), {.batch_size = args.batch_size, .epochs = args.epochs});
  const double fit_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - fit_start).count();
  for (std::size_t e = 0; e < history.epochs.size(); ++e) {
    const rb::Logs& logs = history.epochs[e];
    fmt::print("Epoch {}/{}: loss {:.4f}, auc {:.4f}\n", e + 1, args.epochs, logs.at("loss"),
               logs.at(binary_task.name() + "/auc"));
  }
  fmt::print("fit: {:.1f} s, {:.0f} rows/s\n", fit_seconds,
             static_cast<double>(train.num_rows()) * args.epochs / std::max(fit_seconds, 1e-9));

  cell(fmt::format("In [19]: model.evaluate(valid, batch_size={}, return_dict=True)",
                   args.batch_size));
  print_dict(model.evaluate(valid.select(sub_schema), {.batch_size = args.batch_size}));

  cell(fmt::format("In [20]: model.save(\"{}\")", args.out.string()));
  model.save(args.out, {.etl = train.path().parent_path() / "etl"});
  const rb::Model again = rb::Model::load(args.out);
  const rb::Batch check =
      *rb::Loader(valid.select(sub_schema), {.batch_size = 1024, .shuffle = false}).begin();
  const bool same = rb::allclose(again.predict(check).at(binary_task.name()),
                                 model.predict(check).at(binary_task.name()), 0, 0);
  fmt::print("saved to {}: model.json, weights.safetensors, schema.json, etl/\n",
             args.out.string());
  fmt::print("Model::load(\"{}\") predicts the same scores: {}\n", args.out.string(),
             same ? "identical" : "DIFFER");
  RB_CHECK(same, Error, "demo: the loaded model's predictions differ from the trained model's");
}

}  // namespace

void register_demo(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd =
      app.add_subcommand("demo",
                         "The seed notebook end to end: MovieLens, the custom DLRM, fit, "
                         "evaluate, save");
  cmd->add_option("--data", args->data, "Where the MovieLens files are (or are downloaded to)")
      ->capture_default_str();
  cmd->add_option("--variant", args->variant, "MovieLens variant")
      ->check(CLI::IsMember({"ml-1m", "ml-100k"}))
      ->capture_default_str();
  cmd->add_option("--source", args->source, "A local zip or folder with the raw MovieLens files");
  cmd->add_flag("--synthetic", args->synthetic, "Use the synthetic ml-1m-shaped data");
  cmd->add_flag("--no-download", args->no_download,
                "Never download (ml-1m falls back to synthetic data)");
  cmd->add_option("--ratings", args->ratings, "Ratings of the synthetic data")
      ->capture_default_str()
      ->check(integer_in(1, kMaxRows, "ratings"));
  cmd->add_option("--out", args->out, "Where to save the model")->capture_default_str();
  add_overwrite_flag(*cmd, args->overwrite);
  cmd->add_option("--epochs", args->epochs, "Epochs")
      ->capture_default_str()
      ->check(integer_in(0, kMaxEpochs, "epochs"));
  cmd->add_option("--batch-size", args->batch_size, "Rows per step")
      ->capture_default_str()
      ->check(integer_in(1, kMaxBatchSize, "rows per step"));
  cmd->callback([args] { run_demo(*args); });
}

}  // namespace recblocks::cli
