// `recblocks train | evaluate | predict`: the Model API from the command line.
//
//   recblocks train --data DIR [--model custom-dlrm|dlrm|FILE.json] [--epochs N]
//                   [--batch-size N] [--optimizer adam] [--learning-rate X] [--out DIR] ...
//   recblocks evaluate --model DIR --data DATA [--batch-size N] [--json] [--allow-non-finite]
//   recblocks predict --model DIR --data DATA --out DIR [--format npy|parquet] [--batch-size N]
//                     [--allow-non-finite]
//
// --data of train is a folder with train/ and valid/ datasets (what
// `recblocks data movielens` writes, with etl/ beside them, which the saved
// model then carries), or give --train and --valid separately. Every
// dataset may be a dataset directory or Parquet data (a file, a directory of
// part files, a glob; datasets.h): train reads its schema file (--schema,
// else the one beside the data), evaluate and predict read the columns the
// model knows as its schema says.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "architectures.h"
#include "commands.h"
#include "datasets.h"
#include "flags.h"
#include "recblocks/io/paths.h"
#include "recblocks/recblocks.h"

namespace recblocks::cli {

namespace fs = std::filesystem;

namespace {

struct TrainArgs {
  std::string data, train, valid, schema, out = "model";
  ArchitectureOptions architecture;
  std::vector<std::string> columns;
  std::string optimizer = "adam";
  double learning_rate = 0;  // 0: the optimizer's default
  std::string wide_optimizer;
  double wide_learning_rate = 0;
  std::vector<float> loss_weights;
  int epochs = 1;
  std::int64_t batch_size = 1024;
  std::uint64_t seed = 0;
  std::string checkpoint_dir;
  std::int64_t checkpoint_every = 0;
  bool resume = false;
  int early_stopping = -1;
  std::string monitor = "val_loss";
  bool no_progress = false;
  std::vector<int> eval_k = {10};
  bool overwrite = false;
  bool stream = false;
  std::int64_t shuffle_window = 4;
};

void print_logs(const Logs& logs) {
  for (const auto& [key, value] : logs) fmt::print("  {:<48} {:.6f}\n", key, value);
}

bool is_retrieval(const Model& model) {
  for (const PredictionTask& task : model.tasks()) {
    if (task.impl().recommends_items()) return true;
  }
  return false;
}

// The model's one USER_ID column (to find each query's history).
std::string user_id_column(const Model& model) {
  const Schema users = model.schema().select_by_tag(Tags::USER_ID);
  RB_CHECK(
      users.size() == 1, ValueError,
      "top-k evaluation: excluding seen items needs one USER_ID column, the schema has [{}] (or "
      "--include-seen)",
      fmt::join(users.column_names(), ", "));
  return users.column_names().front();
}

// Full-catalogue top-k metrics of a retrieval model on `data`, the
// catalogue and each user's history taken from `items` (the training
// data), beside the popularity baseline's.
Logs print_top_k(const Model& model, const Dataset& items, const Dataset& data,
                 const std::vector<int>& ks, bool exclude_seen) {
  const std::string& item_column = model.tasks().front().target();
  std::optional<retrieval::SeenItems> seen;
  if (exclude_seen) seen.emplace(items, user_id_column(model), item_column);
  const retrieval::TopKEvaluateOptions options{.ks = ks, .seen = seen ? &*seen : nullptr};
  const retrieval::TopKRecommender top(model, items);
  Logs logs = top.evaluate(data, options);
  const Logs popular = retrieval::PopularityRecommender(items, item_column).evaluate(data, options);
  fmt::print("top-k over the {} items of the catalogue ({}), {} queries:\n", top.num_items(),
             exclude_seen ? "each user's training items excluded" : "seen items included",
             data.num_rows());
  fmt::print("  {:<24} {:>12} {:>12}\n", "", "model", "popularity");
  for (const auto& [key, value] : logs)
    fmt::print("  {:<24} {:>12.6f} {:>12.6f}\n", key, value, popular.at(key));
  return logs;
}

// The paths train reads: --out and --checkpoint-dir must not replace them.
std::vector<io::InputPath> train_inputs(const TrainArgs& args, const fs::path& train_dir,
                                        const fs::path& valid_dir) {
  std::vector<io::InputPath> inputs = {
      {"--data", args.data},
      {args.train.empty() ? "--data (train/)" : "--train", train_dir},
      {args.valid.empty() ? "--data (valid/)" : "--valid", valid_dir}};
  // An architecture file (a preset name is no path).
  if (fs::is_regular_file(args.architecture.model)) {
    inputs.push_back({"--model", args.architecture.model});
  }
  return inputs;
}

void run_train(const TrainArgs& args) {
  RB_CHECK(!args.data.empty() || !args.train.empty(), ValueError,
           "train: give --data DIR or --train DIR");
  // --data naming Parquet data itself (not a folder of train/ and valid/):
  // the training data, without validation unless --valid.
  const bool data_is_training =
      args.train.empty() && !args.data.empty() && is_parquet_input(args.data);
  const fs::path train_dir = !args.train.empty() ? fs::path(args.train)
                             : data_is_training  ? fs::path(args.data)
                                                 : fs::path(args.data) / "train";
  fs::path valid_dir = args.valid.empty() && !args.data.empty() && !data_is_training
                           ? fs::path(args.data) / "valid"
                           : fs::path(args.valid);
  // Before any work: the model and the checkpoints replace their directories whole.
  std::vector<io::InputPath> inputs = train_inputs(args, train_dir, valid_dir);
  if (!args.checkpoint_dir.empty()) {
    io::check_output({"--checkpoint-dir", args.checkpoint_dir, io::OutputKind::kCheckpoint}, inputs,
                     args.overwrite);
    inputs.push_back({"--checkpoint-dir", args.checkpoint_dir});
  }
  io::check_output({"--out", args.out, io::OutputKind::kModel}, inputs, args.overwrite);
  if (data_is_training) {
    fmt::print("--data {} is Parquet data: training on it{}\n", args.data,
               args.valid.empty() ? " without validation (give --valid for it)" : "");
  }
  // --stream: the training data read chunk by chunk (bounded memory).
  std::optional<Dataset> train_in_memory;
  DataSourcePtr train_source;
  if (args.stream) {
    train_source = open_source(train_dir.string(), {.schema = args.schema});
  } else {
    train_in_memory = open_dataset(train_dir.string(), {.schema = args.schema});
  }
  const auto train_schema = [&]() -> const Schema& {
    return train_source ? train_source->schema() : train_in_memory->schema();
  };
  std::optional<Dataset> valid;
  // --data DIR without DIR/valid trains without validation; an explicit
  // --valid must exist.
  if (!args.valid.empty() || (!valid_dir.empty() && fs::exists(valid_dir)))
    valid = open_dataset(valid_dir.string(), {.schema = args.schema});
  RB_CHECK(
      valid || args.early_stopping < 0, ValueError,
      "train: --early-stopping needs validation data (--valid DIR, or DIR/valid with --data DIR)");

  std::vector<std::string> columns = args.columns;
  const std::string& target = args.architecture.target;
  if (columns.empty() && args.architecture.model == "custom-dlrm" &&
      (target.empty() || target == "rating_binary")) {
    bool has_all = true;
    for (const std::string& c : seed_columns()) has_all = has_all && train_schema().contains(c);
    if (has_all) {
      columns = seed_columns();
      fmt::print("custom-dlrm: the seed notebook's columns: {}\n", fmt::join(columns, ", "));
    }
  }
  if (!columns.empty()) {
    if (train_source) {
      train_source = select_columns(train_source, columns);
    } else {
      train_in_memory = train_in_memory->select_by_name(columns);
    }
    if (valid) valid = valid->select_by_name(columns);
  }

  Model model = make_model(args.architecture, train_schema());
  model.build(train_schema(), args.seed);
  model.compile(make_optimizer({.name = args.optimizer,
                                .learning_rate = args.learning_rate,
                                .wide_name = args.wide_optimizer,
                                .wide_learning_rate = args.wide_learning_rate},
                               args.architecture.model),
                {.loss_weights = args.loss_weights});
  FitOptions fit{.batch_size = args.batch_size,
                 .epochs = args.epochs,
                 .seed = args.seed,
                 .validation_data = valid,
                 .progress = !args.no_progress,
                 .shuffle_window = args.shuffle_window};
  if (!args.checkpoint_dir.empty()) {
    fit.callbacks.push_back(ModelCheckpoint(
        args.checkpoint_dir, {.every_n_steps = args.checkpoint_every, .every_epoch = true}));
    if (args.resume && fs::exists(fs::path(args.checkpoint_dir) / "trainer.json")) {
      fit.resume_from = fs::path(args.checkpoint_dir);
      fmt::print("resuming from {}\n", args.checkpoint_dir);
    }
  } else {
    RB_CHECK(!args.resume, ValueError, "train: --resume needs --checkpoint-dir");
  }
  if (args.early_stopping >= 0) {
    fit.callbacks.push_back(EarlyStopping(
        {.monitor = args.monitor, .patience = args.early_stopping, .restore_best_weights = true}));
  }
  const History history =
      train_source ? model.fit(train_source, fit) : model.fit(*train_in_memory, fit);
  fmt::print("trained {} epochs on {} rows\n", history.epochs.size(),
             train_source ? train_source->num_rows() : train_in_memory->num_rows());
  if (valid) {
    fmt::print("evaluation on {} ({} rows):\n", valid_dir.string(), valid->num_rows());
    print_logs(
        model.evaluate(*valid, {.batch_size = args.batch_size, .progress = !args.no_progress}));
    if (is_retrieval(model)) {
      if (train_in_memory) {
        print_top_k(model, *train_in_memory, *valid, args.eval_k, true);
      } else {
        fmt::print(
            "top-k metrics: not computed with --stream (they exclude each user's training items, "
            "which --stream does not hold in memory); run recblocks evaluate --items TRAIN\n");
      }
    }
  }
  SaveOptions save;
  const fs::path etl = train_dir.parent_path() / "etl";
  if (fs::is_directory(etl)) save.etl = etl;
  model.save(args.out, save);
  fmt::print("saved the model to {}\n", args.out);
}

struct EvaluateArgs {
  std::string model, data, items;
  std::vector<int> eval_k = {10};
  bool include_seen = false;
  std::int64_t batch_size = 1024;
  bool json = false;
  bool no_progress = false;
  bool allow_non_finite = false;
  bool stream = false;
};

// The data's columns that the model knows (a dataset may carry more).
Dataset model_columns(const Model& model, const Dataset& data) {
  std::vector<std::string> names;
  for (const ColumnSchema& c : model.schema()) names.push_back(c.name());
  return data.select_by_name(names);
}

void run_evaluate(const EvaluateArgs& args) {
  Model model = Model::load(args.model);
  // stdout carries the JSON object with --json: what was read goes to stderr.
  const OpenOptions open{.read_as = &model.schema(), .report = args.json ? stderr : stdout};
  const EvaluateOptions options{.batch_size = args.batch_size,
                                .progress = !args.no_progress,
                                .allow_non_finite = args.allow_non_finite};
  if (args.stream) {
    RB_CHECK(args.items.empty(), ValueError,
             "evaluate: --items (top-k metrics) needs the data in memory; leave out --stream");
    const Logs logs = model.evaluate(
        select_columns(open_source(args.data, open), model.schema().column_names()), options);
    if (args.json) {
      fmt::print("{}\n", nlohmann::json(logs).dump());
    } else {
      print_logs(logs);
    }
    return;
  }
  const Dataset data = model_columns(model, open_dataset(args.data, open));
  Logs logs = model.evaluate(data, options);
  if (!args.items.empty()) {
    RB_CHECK(is_retrieval(model), ValueError,
             "evaluate: --items is for retrieval models (two_tower, mf, youtube_dnn)");
    const Dataset items = open_dataset(args.items, open);
    if (args.json) {
      const retrieval::TopKRecommender top(model, items);
      std::optional<retrieval::SeenItems> seen;
      if (!args.include_seen) {
        seen.emplace(items, user_id_column(model), model.tasks().front().target());
      }
      for (const auto& [k, v] :
           top.evaluate(data, {.ks = args.eval_k, .seen = seen ? &*seen : nullptr})) {
        logs["top_k/" + k] = v;
      }
    } else {
      print_logs(logs);
      print_top_k(model, items, data, args.eval_k, !args.include_seen);
      return;
    }
  }
  if (args.json) {
    fmt::print("{}\n", nlohmann::json(logs).dump());
  } else {
    print_logs(logs);
  }
}

struct PredictArgs {
  std::string model, data, out, format = "npy";
  std::int64_t batch_size = 1024;
  bool overwrite = false;
  bool allow_non_finite = false;
};

void run_predict(const PredictArgs& args) {
  const DataFormat format = data_format(args.format);
  io::check_output({"--out", args.out, io::OutputKind::kDataset},
                   {{"--model", args.model}, {"--data", args.data}}, args.overwrite);
  if (format == DataFormat::kParquet) require_parquet("--format parquet");
  const Model model = Model::load(args.model);
  const Dataset all = open_dataset(args.data, {.read_as = &model.schema()});
  // Targets are not needed to predict: keep the feature columns the model
  // reads, plus everything else of the data for the output.
  write_dataset(model.with_predictions(all, {.batch_size = args.batch_size,
                                             .allow_non_finite = args.allow_non_finite}),
                args.out, format);
  fmt::print("wrote {} rows with predictions of {} to {}\n", all.num_rows(),
             fmt::join(
                 [&] {
                   std::vector<std::string> names;
                   for (const PredictionTask& t : model.tasks()) names.push_back(t.name());
                   return names;
                 }(),
                 ", "),
             args.out);
}

}  // namespace

void register_model_commands(CLI::App& app) {
  auto t = std::make_shared<TrainArgs>();
  CLI::App* train = app.add_subcommand("train", "Train a model on dataset directories and save it");
  train->add_option("--data", t->data,
                    "A folder with train/ and valid/ datasets (and etl/), or Parquet data to train "
                    "on");
  train->add_option("--train", t->train,
                    "The training data (instead of --data): a dataset directory, or Parquet (a "
                    "file, a directory of part files, a glob)");
  train->add_option("--valid", t->valid, "The validation data (instead of --data)");
  train
      ->add_option("--schema", t->schema,
                   "Parquet data: the schema file (recblocks' schema.json or Merlin's JSON; "
                   "default: the one beside the data, else inferred)")
      ->check(CLI::ExistingFile);
  train->add_option("--model", t->architecture.model, architecture_help())->capture_default_str();
  train->add_option("--embedding-dim", t->architecture.embedding_dim, "Embedding dimension")
      ->capture_default_str()
      ->check(integer_in(1, kMaxWidth, "the width of an embedding"));
  train->add_option("--bottom", t->architecture.bottom, "Bottom MLP units, e.g. 128,64")
      ->delimiter(',')
      ->check(integer_in(1, kMaxWidth, "the units of a layer"));
  train
      ->add_option("--top", t->architecture.top,
                   "Top MLP units, e.g. 64,128,512 (the deep/MLP block of dcn, deepfm, ncf, mlp)")
      ->delimiter(',')
      ->check(integer_in(1, kMaxWidth, "the units of a layer"));
  train->add_option("--cross-depth", t->architecture.cross_depth, "dcn: cross layers")
      ->capture_default_str()
      ->check(integer_in(1, kMaxLayers, "layers"));
  train
      ->add_option("--low-rank-dim", t->architecture.low_rank_dim,
                   "dcn: low-rank cross layers of this rank (0: full rank)")
      ->capture_default_str()
      ->check(integer_in(0, kMaxWidth, "0 for full rank, else the rank"));
  train->add_flag("--parallel", t->architecture.parallel,
                  "dcn: cross and deep side by side (default: stacked)");
  train->add_option("--num-experts", t->architecture.num_experts, "mmoe: experts")
      ->capture_default_str()
      ->check(integer_in(1, kMaxExperts, "experts"));
  train
      ->add_option(
          "--loss-weights", t->loss_weights,
          "One weight per task, in task order (the schema's order of the targets), e.g. 0.5,1")
      ->delimiter(',')
      ->check(number_in(0, kMaxRate));
  train->add_option("--target", t->architecture.target, "The target column of the task");
  train->add_option("--columns", t->columns, "Use only these columns (comma-separated)")
      ->delimiter(',');
  train
      ->add_option("--num-bins", t->architecture.num_bins,
                   "wide_deep: the most bins of one hashed cross")
      ->capture_default_str()
      ->check(integer_in(1, kMaxCardinality, "bins"));
  train
      ->add_option("--optimizer", t->optimizer,
                   "sgd, adam, lazy_adam, adagrad, rowwise_adagrad, ftrl")
      ->capture_default_str();
  train->add_option(
      "--wide-optimizer", t->wide_optimizer,
      "The optimizer of the wide part (parameters under wide/; default for wide_deep: ftrl)");
  train
      ->add_option("--wide-learning-rate", t->wide_learning_rate,
                   "Its learning rate (default: 0.05 for ftrl, else the optimizer's)")
      ->check(number_in(0, kMaxRate, true));
  train->add_option("--learning-rate", t->learning_rate, "Learning rate (default: the optimizer's)")
      ->check(number_in(0, kMaxRate, true));
  train->add_option("--epochs", t->epochs, "Epochs")
      ->capture_default_str()
      ->check(integer_in(0, kMaxEpochs, "epochs"));
  train->add_option("--batch-size", t->batch_size, "Rows per step")
      ->capture_default_str()
      ->check(integer_in(1, kMaxBatchSize, "rows per step"));
  train->add_option("--seed", t->seed, "Seed of the initial weights and of the shuffling")
      ->capture_default_str()
      ->check(seed_value());
  train->add_option("--out", t->out, "Where to save the model directory")->capture_default_str();
  train->add_option("--checkpoint-dir", t->checkpoint_dir, "Write a checkpoint there every epoch");
  add_overwrite_flag(*train, t->overwrite);
  train->add_option("--checkpoint-every", t->checkpoint_every, "Also every N steps")
      ->check(integer_in(0, kAnyCount, "0 for none, else steps"));
  train->add_flag("--resume", t->resume,
                  "Continue from the checkpoint in --checkpoint-dir if there is one");
  train
      ->add_option(
          "--early-stopping", t->early_stopping,
          "Stop after N epochs without improvement of --monitor (restores the best weights)")
      ->check(integer_in(0, kMaxEpochs, "epochs without improvement"));
  train->add_option("--monitor", t->monitor, "The figure early stopping watches")
      ->capture_default_str();
  train->add_flag("--no-progress", t->no_progress, "No progress bar");
  train
      ->add_option("--retrieval-loss", t->architecture.retrieval_loss,
                   "two_tower, mf: categorical_crossentropy, bpr, logistic or hinge")
      ->capture_default_str();
  train->add_flag("--logq-correction,!--no-logq-correction", t->architecture.logq_correction,
                  "two_tower, mf, youtube_dnn: add -log(training frequency of its item) to every "
                  "candidate's score in the loss "
                  "(logQ correction; default on)");
  train->add_flag("!--no-unique-candidates", t->architecture.unique_candidates,
                  "two_tower, mf: score every row's candidate in a training batch, not each "
                  "distinct item once (the "
                  "same training, slower where items repeat)");
  train
      ->add_option("--sampled-negatives", t->architecture.sampled_negatives,
                   "two_tower, mf: items drawn by popularity per batch as extra negatives, scored "
                   "by the candidate "
                   "tower (0: in-batch negatives only)")
      ->capture_default_str()
      ->check(integer_in(0, kMaxK, "items per batch"));
  train->add_flag("--l2-norm", t->architecture.l2_normalization,
                  "two_tower, mf, youtube_dnn: cosine scores");
  train
      ->add_option("--temperature", t->architecture.temperature,
                   "two_tower, mf, youtube_dnn: scores divided by it")
      ->capture_default_str()
      ->check(number_in(0, kMaxRate, true));
  train
      ->add_option("--num-sampled", t->architecture.num_sampled,
                   "youtube_dnn: items drawn by popularity per batch for the sampled softmax")
      ->capture_default_str()
      ->check(integer_in(1, kMaxK, "items per batch"));
  train->add_flag(
      "!--full-softmax", t->architecture.sampled_softmax,
      "youtube_dnn: train with the softmax over the whole catalogue instead of a sampled one");
  train
      ->add_option("--eval-k", t->eval_k,
                   "two_tower, mf, youtube_dnn: the k of the top-k metrics on --valid, e.g. 10,20")
      ->delimiter(',')
      ->check(integer_in(1, kMaxK, "items"));
  train->add_flag("--stream", t->stream,
                  "Read the training data chunk by chunk (Parquet row groups, or row ranges of a "
                  "dataset directory) with bounded memory: data larger than RAM");
  train
      ->add_option("--shuffle-window", t->shuffle_window,
                   "--stream: chunks whose rows are shuffled together (memory: about six "
                   "windows)")
      ->capture_default_str()
      ->check(integer_in(1, 1 << 20, "chunks"));
  train->callback([t] { run_train(*t); });

  auto e = std::make_shared<EvaluateArgs>();
  CLI::App* evaluate =
      app.add_subcommand("evaluate", "Evaluate a saved model on a dataset directory");
  evaluate->add_option("--model", e->model, "The model directory")->required();
  evaluate->add_option("--data", e->data, "The dataset directory, or Parquet data")->required();
  evaluate->add_option("--batch-size", e->batch_size, "Rows per batch")
      ->capture_default_str()
      ->check(integer_in(1, kMaxBatchSize, "rows per batch"));
  evaluate->add_flag("--json", e->json, "Print one JSON object");
  evaluate->add_flag("--no-progress", e->no_progress, "No progress bar");
  evaluate->add_flag("--allow-non-finite", e->allow_non_finite,
                     "Score rows whose features are NaN or infinite (refused by default)");
  evaluate->add_option(
      "--items", e->items,
      "Retrieval models: the dataset whose items form the catalogue and whose rows are each user's "
      "history (the training data); adds exact top-k metrics");
  evaluate->add_option("--eval-k", e->eval_k, "The k of the top-k metrics, e.g. 10,20")
      ->delimiter(',')
      ->check(integer_in(1, kMaxK, "items"));
  evaluate->add_flag("--include-seen", e->include_seen,
                     "Do not exclude the items of each user's history");
  evaluate->add_flag("--stream", e->stream,
                     "Read the data chunk by chunk with bounded memory (not with --items)");
  evaluate->callback([e] { run_evaluate(*e); });

  auto p = std::make_shared<PredictArgs>();
  CLI::App* predict = app.add_subcommand("predict", "Write a dataset with the model's predictions");
  predict->add_option("--model", p->model, "The model directory")->required();
  predict->add_option("--data", p->data, "The dataset directory, or Parquet data")->required();
  predict
      ->add_option("--out", p->out, "Output dataset directory (the data plus <target>_prediction)")
      ->required();
  predict
      ->add_option("--format", p->format,
                   "npy (a dataset directory) or parquet (part_0.parquet and schema.json)")
      ->check(CLI::IsMember({"npy", "parquet"}))
      ->capture_default_str();
  predict->add_option("--batch-size", p->batch_size, "Rows per batch")
      ->capture_default_str()
      ->check(integer_in(1, kMaxBatchSize, "rows per batch"));
  add_overwrite_flag(*predict, p->overwrite);
  predict->add_flag("--allow-non-finite", p->allow_non_finite,
                    "Score rows whose features are NaN or infinite (refused by default)");
  predict->callback([p] { run_predict(*p); });
}

}  // namespace recblocks::cli
