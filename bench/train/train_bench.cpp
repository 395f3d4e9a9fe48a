// train_bench: recblocks' side of the training benchmark (bench/train/run.sh
// runs it and the PyTorch reference on the same dataset directories).
//
//   train_bench --model seed|criteo|dlrm|dcn|deepfm|wide_deep|ncf|mlp|mmoe|ple --data DIR
//               [--batch-size N] [--epochs E]
//               [--optimizer adam|sgd|...] [--learning-rate X] [--threads T]
//               [--seed S] [--save-initial DIR] [--valid-every-epoch]
//               [--eval-repeat N] [--seed-columns] [--embedding-dim D]
//               [--deep U,U,...] [--loss-weights W,W,...]
//               [--wide-optimizer NAME] [--wide-learning-rate X] [--low-rank-dim R]
//
// --seed sets the initial weights' seed and the loader's; --save-initial
// writes the initial model directory (for the PyTorch side's
// --init-weights DIR/weights.safetensors); --valid-every-epoch adds
// "val_auc_per_epoch" (then the training time includes the validations).
//
// DIR holds train/ and valid/ dataset directories. `seed` is the seed
// notebook's custom DLRM on its columns (src/cli/architectures.cpp);
// `criteo` is facebookresearch/dlrm's Kaggle configuration: embedding dim
// 16, bottom 13-512-256-64-16, top 367-512-256-1 (the `dlrm` preset with
// those sizes). dlrm, dcn, deepfm, ncf, mlp are the CLI's ranking presets
// (src/cli/architectures.cpp, model/ranking.h) on the first binary target,
// with --embedding-dim and --deep (their deep/MLP units, the CLI's --top);
// --seed-columns keeps the seed notebook's columns only (all scalar, as the
// PyTorch references read them); mmoe and ple train every target (with
// --seed-columns: rating and rating_binary), weighted by --loss-weights,
// val_logloss then being the binary task's loss and val_rmse the
// regression's. Prints one JSON line:
//   {"impl": "recblocks", "model", "batch_size", "threads", "epochs",
//    "train_samples_per_s", "eval_samples_per_s", "first_step_s",
//    "peak_rss_mib", "val_auc", "val_logloss", "final_loss", "train_rows"}
// train_samples_per_s counts the training steps only (no validation);
// first_step_s is from process start to the end of the first step;
// eval_samples_per_s is over --eval-repeat evaluations of valid/ (default 1;
// each computes the scores and the metrics).
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "cli/architectures.h"
#include "recblocks/recblocks.h"

namespace rb = recblocks;

namespace {

const auto kStart = std::chrono::steady_clock::now();

double since_start() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - kStart).count();
}

struct Args {
  std::string model = "seed";
  std::filesystem::path data;
  std::int64_t batch_size = 1024;
  int epochs = 1;
  std::string optimizer;
  double learning_rate = 0;
  std::string wide_optimizer;
  double wide_learning_rate = 0;
  std::int64_t low_rank_dim = 0;
  int threads = 0;
  std::uint64_t seed = 0;
  std::filesystem::path save_initial;
  bool valid_every_epoch = false;
  int eval_repeat = 1;
  bool seed_columns = false;
  std::int64_t embedding_dim = 0;   // presets: 0 = the preset's
  std::vector<std::int64_t> deep;   // presets: empty = the preset's
  std::vector<float> loss_weights;  // mmoe, ple: in task order
};

// "a,b,c" -> {a, b, c}, each read by `read` (std::stoll, std::stof).
template <class T, class Read>
std::vector<T> parse_list(const std::string& text, Read read) {
  std::vector<T> values;
  for (std::size_t begin = 0; begin <= text.size();) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    values.push_back(static_cast<T>(read(text.substr(begin, end - begin))));
    begin = end + 1;
  }
  return values;
}

bool is_preset(const std::string& model) {
  for (const std::string& name : rb::cli::preset_names()) {
    if (name == model && name != "custom-dlrm") return true;
  }
  return false;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw rb::ValueError(fmt::format("{} needs a value", arg));
      return argv[++i];
    };
    if (arg == "--model")
      a.model = value();
    else if (arg == "--data")
      a.data = value();
    else if (arg == "--batch-size")
      a.batch_size = std::stoll(value());
    else if (arg == "--epochs")
      a.epochs = std::stoi(value());
    else if (arg == "--optimizer")
      a.optimizer = value();
    else if (arg == "--learning-rate")
      a.learning_rate = std::stod(value());
    else if (arg == "--threads")
      a.threads = std::stoi(value());
    else if (arg == "--seed")
      a.seed = std::stoull(value());
    else if (arg == "--save-initial")
      a.save_initial = value();
    else if (arg == "--valid-every-epoch")
      a.valid_every_epoch = true;
    else if (arg == "--eval-repeat")
      a.eval_repeat = std::stoi(value());
    else if (arg == "--seed-columns")
      a.seed_columns = true;
    else if (arg == "--low-rank-dim")
      a.low_rank_dim = std::stoll(value());
    else if (arg == "--wide-optimizer")
      a.wide_optimizer = value();
    else if (arg == "--wide-learning-rate")
      a.wide_learning_rate = std::stod(value());
    else if (arg == "--embedding-dim")
      a.embedding_dim = std::stoll(value());
    else if (arg == "--deep") {
      a.deep =
          parse_list<std::int64_t>(value(), [](const std::string& v) { return std::stoll(v); });
    } else if (arg == "--loss-weights") {
      a.loss_weights =
          parse_list<float>(value(), [](const std::string& v) { return std::stof(v); });
    } else
      throw rb::ValueError(fmt::format("unknown argument '{}'", arg));
  }
  RB_CHECK(a.model == "seed" || a.model == "criteo" || is_preset(a.model), rb::ValueError,
           "--model {}: expected seed, criteo or a preset ({})", a.model,
           fmt::join(rb::cli::preset_names(), ", "));
  RB_CHECK(!a.data.empty(), rb::ValueError, "--data DIR is required");
  RB_CHECK(a.epochs >= 1, rb::ValueError, "--epochs {}: expected at least 1", a.epochs);
  RB_CHECK(a.eval_repeat >= 1, rb::ValueError, "--eval-repeat {}: expected at least 1",
           a.eval_repeat);
  RB_CHECK(a.batch_size >= 1, rb::ValueError, "--batch-size {}: expected at least 1", a.batch_size);
  return a;
}

// Records when the first step ended.
struct FirstStep : rb::Callback {
  double at = -1;
  void on_batch_end(rb::Model&, std::int64_t step, const rb::Logs&) override {
    if (step == 1) at = since_start();
  }
};

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  if (args.threads > 0) rb::set_num_threads(args.threads);
  rb::Dataset train = rb::Dataset::load(args.data / "train");
  rb::Dataset valid = rb::Dataset::load(args.data / "valid");
  rb::cli::ArchitectureOptions arch;
  std::string optimizer = args.optimizer;
  double lr = args.learning_rate;
  const bool multi_task = args.model == "mmoe" || args.model == "ple";
  if (args.model == "seed" || args.seed_columns) {
    std::vector<std::string> columns = rb::cli::seed_columns();
    if (multi_task)
      columns.insert(columns.begin(),
                     "rating");  // the second target, before rating_binary as in the schema
    train = train.select_by_name(columns);
    valid = valid.select_by_name(columns);
  }
  if (args.model == "seed") {
    arch.model = "custom-dlrm";
    if (optimizer.empty()) optimizer = "adam";
  } else if (is_preset(args.model)) {
    arch.model = args.model;
    if (args.embedding_dim > 0) arch.embedding_dim = args.embedding_dim;
    arch.top = args.deep;
    arch.low_rank_dim = args.low_rank_dim;
    if (args.model == "dlrm") arch.bottom = {128, arch.embedding_dim};
    for (const rb::ColumnSchema& c : train.schema()) {
      if (multi_task) break;  // every target
      if (c.has_tag(rb::Tags::TARGET) &&
          (c.has_tag(rb::Tags::BINARY_CLASSIFICATION) || c.has_tag(rb::Tags::BINARY))) {
        arch.target = c.name();
        break;
      }
    }
    if (optimizer.empty()) optimizer = "adam";
  } else {
    arch = {.model = "dlrm", .embedding_dim = 16, .bottom = {512, 256, 64, 16}, .top = {512, 256}};
    if (optimizer.empty()) optimizer = "sgd";
    if (lr == 0) lr = 0.1;
  }
  rb::Model model = rb::cli::make_model(arch, train.schema());
  model.build(train.schema(), args.seed);
  if (!args.save_initial.empty()) model.save(args.save_initial);
  model.compile(rb::cli::make_optimizer({.name = optimizer,
                                         .learning_rate = lr,
                                         .wide_name = args.wide_optimizer,
                                         .wide_learning_rate = args.wide_learning_rate},
                                        arch.model),
                {.loss_weights = args.loss_weights});

  auto first = std::make_shared<FirstStep>();
  const auto t0 = std::chrono::steady_clock::now();
  rb::FitOptions fit{.batch_size = args.batch_size,
                     .epochs = args.epochs,
                     .seed = args.seed,
                     .train_metrics_steps = 0,
                     .callbacks = {first},
                     .progress = false};
  if (args.valid_every_epoch) fit.validation_data = valid;
  const rb::History history = model.fit(train, fit);
  const double train_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto t1 = std::chrono::steady_clock::now();
  rb::Logs scores;
  for (int r = 0; r < args.eval_repeat; ++r) {
    scores = model.evaluate(valid, {.batch_size = args.batch_size, .progress = false});
  }
  const double eval_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double auc = 0, logloss = scores.at("loss"), rmse = -1;
  for (const auto& [k, v] : scores) {
    if (k.size() > 4 && k.ends_with("/auc")) auc = v;
    if (k.ends_with("/root_mean_squared_error")) rmse = v;
    if (multi_task && k.ends_with("binary_classification_task/loss")) logloss = v;
  }
  nlohmann::json line = {
      {"impl", "recblocks"},
      {"model", args.model},
      {"batch_size", args.batch_size},
      {"threads", rb::num_threads()},
      {"epochs", args.epochs},
      {"train_rows", train.num_rows()},
      {"optimizer", optimizer},
      {"train_samples_per_s", static_cast<double>(train.num_rows()) * args.epochs / train_s},
      {"eval_samples_per_s", static_cast<double>(valid.num_rows()) * args.eval_repeat / eval_s},
      {"first_step_s", first->at},
      {"peak_rss_mib", static_cast<double>(usage.ru_maxrss) / 1024.0},
      {"val_auc", auc},
      {"val_logloss", logloss},
      {"val_rmse", rmse},
      {"final_loss", history.epochs.back().at("loss")}};
  if (args.valid_every_epoch) {
    std::vector<double> per_epoch;
    for (const rb::Logs& logs : history.epochs) {
      for (const auto& [k, v] : logs) {
        if (k.starts_with("val_") && k.ends_with("/auc")) per_epoch.push_back(v);
      }
    }
    line["val_auc_per_epoch"] = per_epoch;
  }
  std::printf("%s\n", line.dump().c_str());
  return 0;
} catch (const rb::Error& e) {
  std::fprintf(stderr, "train_bench: error: %s\n", e.what());
  return 1;
}
