// `recblocks data movielens --variant ml-100k|ml-1m|ml-25m|ml-latest-small
//      [--source ZIP_OR_DIR] --out DIR [--seed N] [--valid-fraction F]
//      [--split random|leave-last-out|time] [--history N]
//      [--overwrite] [--no-download]`
// Imports MovieLens with Merlin's get_movielens ETL (datasets::movielens)
// and prints what it wrote.
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string>

#include "commands.h"
#include "datasets.h"
#include "flags.h"
#include "recblocks/data/movielens.h"
#include "recblocks/io/paths.h"

namespace recblocks::cli {

namespace {

struct MovieLensArgs {
  std::string variant;
  std::string source;
  std::string out;
  std::uint64_t seed = 42;
  double valid_fraction = 0.2;
  std::string split = "random";
  std::int64_t history = 0;
  bool overwrite = false;
  bool no_download = false;
};

void run(const MovieLensArgs& args) {
  // OUT/<variant> holds the raw files when no --source is given; the import
  // replaces only what it writes there.
  std::vector<std::string> entries;
  for (const char* entry : {"train", "valid", "etl", "import.json"}) {
    entries.push_back(args.variant + "/" + entry);
  }
  io::check_output({"--out", args.out, io::OutputKind::kFolder, entries},
                   {{"--source", args.source}}, args.overwrite);
  const auto start = std::chrono::steady_clock::now();
  datasets::MovieLensOptions options;
  options.source = args.source;
  options.seed = args.seed;
  options.valid_fraction = args.valid_fraction;
  options.split = datasets::split_from_name(args.split);
  options.history_length = args.history;
  options.overwrite = args.overwrite;
  options.download = !args.no_download;
  const auto [train, valid] = datasets::movielens(args.variant, args.out, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  fmt::print("{} -> {} ({:.2f} s)\n", args.variant, train.path().parent_path().string(), seconds);
  fmt::print("  train  {:>10} rows  {}\n", train.num_rows(), train.path().string());
  fmt::print("  valid  {:>10} rows  {} ({} split)\n", valid.num_rows(), valid.path().string(),
             datasets::split_name(options.split));
  fmt::print("  etl    {}\n", (train.path().parent_path() / "etl").string());
  fmt::print("columns:\n");
  for (const ColumnSchema& c : train.schema()) fmt::print("{}\n", describe_column(c));
}

}  // namespace

void register_data_movielens(CLI::App& data) {
  auto args = std::make_shared<MovieLensArgs>();
  CLI::App* cmd = data.add_subcommand(
      "movielens", "Import MovieLens (Merlin's get_movielens ETL) into train/valid datasets");
  cmd->add_option("--variant", args->variant, "MovieLens variant")
      ->required()
      ->check(CLI::IsMember({"ml-100k", "ml-1m", "ml-25m", "ml-latest-small"}));
  cmd->add_option("--source", args->source,
                  "A <variant>.zip or a folder holding the raw files (default: look in OUT, "
                  "else download)");
  cmd->add_option("--out", args->out, "Output folder: writes OUT/<variant>/{train,valid,etl}")
      ->required();
  cmd->add_option("--seed", args->seed, "Seed of the random 80/20 train/valid split")
      ->capture_default_str()
      ->check(seed_value());
  cmd->add_option("--valid-fraction", args->valid_fraction, "Fraction of ratings in valid")
      ->check(number_in(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--split", args->split,
                  "random (--seed, --valid-fraction), leave-last-out (each user's latest rating "
                  "in valid) or time (the latest --valid-fraction of ratings in valid)")
      ->check(CLI::IsMember({"random", "leave-last-out", "time"}))
      ->capture_default_str();
  cmd->add_option(
         "--history", args->history,
         "Also write movieId_history: each rating's N latest earlier movies of its user (0: none)")
      ->check(integer_in(0, kMaxHistory, "items of a history"))
      ->capture_default_str();
  cmd->add_flag("--overwrite", args->overwrite,
                "Redo the import even if the outputs exist; also replace a file or a directory of "
                "another kind at OUT (never the --source)");
  cmd->add_flag("--no-download", args->no_download, "Never download; fail if files are missing");
  cmd->callback([args] { run(*args); });
}

}  // namespace recblocks::cli
