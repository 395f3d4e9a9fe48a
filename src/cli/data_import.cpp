// `recblocks data criteo|csv|synthetic`: thin shells over datasets::criteo,
// datasets::csv and the synthetic generators (data/criteo.h, data/csv.h,
// data/synthetic.h). Each prints what it wrote.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "flags.h"
#include "recblocks/core/error.h"
#include "recblocks/data/criteo.h"
#include "recblocks/data/csv.h"
#include "recblocks/data/synthetic.h"
#include "recblocks/io/paths.h"

namespace recblocks::cli {
namespace {

namespace fs = std::filesystem;
namespace ds = recblocks::datasets;

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

void print_dataset(std::string_view what, const fs::path& dir, const Dataset& d) {
  fmt::print("  {:<6} {}  ({} rows, {} columns)\n", what, dir.string(), d.num_rows(),
             d.schema().size());
}

void print_domains(const Schema& schema) {
  std::string line;
  for (const auto& c : schema) {
    if (!c.domain()) continue;
    line += fmt::format("{}{}={}", line.empty() ? "" : " ", c.name(), c.cardinality());
  }
  if (!line.empty()) fmt::print("  cardinalities: {}\n", line);
}

void print_timing(std::int64_t rows, double seconds) {
  fmt::print("  {} rows in {:.2f} s ({:.0f} rows/s)\n", rows, seconds,
             seconds > 0 ? static_cast<double>(rows) / seconds : 0.0);
}

// ---- criteo -------------------------------------------------------------------

struct CriteoArgs {
  std::vector<std::string> inputs, valid_inputs;
  std::string format = "auto", out, on_oov = "oov";
  std::int64_t min_frequency = 1, buckets = 0, max_rows = 0;
  double valid_fraction = 0.0;
  bool overwrite = false;
};

void run_criteo(const CriteoArgs& a) {
  std::vector<io::InputPath> inputs;
  for (const std::string& f : a.inputs) inputs.push_back({"--input", f});
  for (const std::string& f : a.valid_inputs) inputs.push_back({"--valid-input", f});
  io::check_output({"--out", a.out, io::OutputKind::kFolder, ds::kImportEntries}, inputs,
                   a.overwrite);
  ds::CriteoOptions o;
  o.format = ds::parse_criteo_format(a.format);
  o.min_frequency = a.min_frequency;
  o.num_buckets = a.buckets;
  o.valid_fraction = a.valid_fraction;
  o.max_rows = a.max_rows;
  o.on_oov = a.on_oov == "raise" ? etl::OnOov::kRaise : etl::OnOov::kMapToOov;
  o.valid_files.assign(a.valid_inputs.begin(), a.valid_inputs.end());
  const std::vector<fs::path> files(a.inputs.begin(), a.inputs.end());
  const Stopwatch watch;
  const ds::CriteoResult r = ds::criteo(files, a.out, o);
  const double seconds = watch.seconds();
  fmt::print("criteo: wrote {}\n", a.out);
  print_dataset("train", r.train_dir, r.train);
  if (!r.valid_dir.empty()) print_dataset("valid", r.valid_dir, r.valid);
  fmt::print("  etl    {}  (Categorify state of C1..C26, criteo.json)\n", r.etl_dir.string());
  print_domains(r.train.schema());
  print_timing(r.train.num_rows() + (r.valid_dir.empty() ? 0 : r.valid.num_rows()), seconds);
}

void register_criteo(CLI::App& data) {
  auto args = std::make_shared<CriteoArgs>();
  CLI::App* cmd = data.add_subcommand("criteo",
                                      "Import Criteo display-ads data (original TSV or CSV with a "
                                      "header) into OUT/train, OUT/valid, OUT/etl");
  cmd->add_option("--input", args->inputs, "Training file(s), in order (e.g. day_0 .. day_22)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--valid-input", args->valid_inputs, "Validation file(s): a split by day file")
      ->check(CLI::ExistingFile);
  cmd->add_option("--format", args->format, "tsv, csv or auto (from the first line)")
      ->check(CLI::IsMember({"auto", "tsv", "csv"}))
      ->capture_default_str();
  cmd->add_option("--out", args->out, "Output directory")->required();
  add_overwrite_flag(*cmd, args->overwrite);
  cmd->add_option(
         "--min-frequency", args->min_frequency,
         "Categorical values seen fewer times in train get the OOV id 2 (or a hash bucket)")
      ->check(integer_in(1, kAnyCount, "occurrences"))
      ->capture_default_str();
  cmd->add_option("--buckets", args->buckets,
                  "Hash categorical values into N buckets (0 = vocabulary)")
      ->check(integer_in(0, kMaxCardinality, "0 for a vocabulary, else buckets"))
      ->capture_default_str();
  cmd->add_option("--valid-fraction", args->valid_fraction,
                  "The last fraction of the rows is validation")
      ->check(number_in(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option("--on-oov", args->on_oov,
                  "Validation values without an id: 'oov' (id 2) or 'raise' (an error naming them)")
      ->check(CLI::IsMember({"oov", "raise"}))
      ->capture_default_str();
  cmd->add_option("--max-rows", args->max_rows, "Read only the first N rows of each file (0 = all)")
      ->check(integer_in(0, kAnyCount, "0 for all, else rows"));
  cmd->callback([args] { run_criteo(*args); });
}

// ---- csv ------------------------------------------------------------------------

struct CsvArgs {
  std::string input, schema, out, delimiter, quote;
  bool no_header = false;
  double valid_fraction = 0.0;
  bool overwrite = false;
};

void run_csv(const CsvArgs& a) {
  io::check_output({"--out", a.out, io::OutputKind::kFolder, ds::kImportEntries},
                   {{"--input", a.input}, {"--schema", a.schema}}, a.overwrite);
  const ds::CsvSpec spec = ds::CsvSpec::load(a.schema);
  ds::CsvOptions o;
  if (!a.delimiter.empty()) o.delimiter = ds::parse_delimiter(a.delimiter);
  if (a.no_header) o.header = false;
  if (!a.quote.empty()) o.quote = a.quote == "none" ? '\0' : a.quote[0];
  o.valid_fraction = a.valid_fraction;
  const Stopwatch watch;
  const ds::CsvResult r = ds::csv(a.input, spec, a.out, o);
  const double seconds = watch.seconds();
  fmt::print("csv: wrote {}\n", a.out);
  print_dataset("train", r.train_dir, r.train);
  if (!r.valid_dir.empty()) print_dataset("valid", r.valid_dir, r.valid);
  fmt::print("  etl    {}  (Categorify state, csv.json)\n", r.etl_dir.string());
  print_domains(r.train.schema());
  print_timing(r.train.num_rows() + (r.valid_dir.empty() ? 0 : r.valid.num_rows()), seconds);
}

void register_csv(CLI::App& data) {
  auto args = std::make_shared<CsvArgs>();
  CLI::App* cmd = data.add_subcommand(
      "csv",
      "Import a CSV/TSV file described by a schema file (JSON, see include/recblocks/data/csv.h)");
  cmd->add_option("--input", args->input, "The CSV or TSV file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--schema", args->schema,
                  "The schema file (JSON): columns, tags, dtypes, categorify options")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Output directory (OUT/train, OUT/valid, OUT/etl)")
      ->required();
  add_overwrite_flag(*cmd, args->overwrite);
  cmd->add_option("--delimiter", args->delimiter,
                  "Field delimiter, overrides the schema file's (',', 'tab', ...)");
  cmd->add_flag("--no-header", args->no_header,
                "The file has no header line (overrides the schema file)");
  cmd->add_option("--quote", args->quote, "Quote character, or 'none' (overrides the schema file)")
      ->check(CLI::Validator(
          [](std::string& input) -> std::string {
            if (input.size() == 1 || input == "none") return {};
            return fmt::format("{} is not one character: expected a quote character or 'none'",
                               quoted_excerpt(input));
          },
          "one character or 'none'"));
  cmd->add_option("--valid-fraction", args->valid_fraction,
                  "The last fraction of the rows is validation")
      ->check(number_in(0.0, 0.99))
      ->capture_default_str();
  cmd->callback([args] { run_csv(*args); });
}

// ---- synthetic --------------------------------------------------------------------

struct SyntheticArgs {
  std::string shape, schema, out;
  std::int64_t rows = 0, max_table_size = 100'000, users = 6040, movies = 3706;
  std::uint64_t seed = 0;
  double valid_fraction = 0.0;
  bool tsv = false;
  bool overwrite = false;
};

void print_synthetic(const ds::SyntheticResult& r, double seconds) {
  for (const auto& p : r.written) fmt::print("  {}\n", p.string());
  fmt::print("  bayes_auc {:.4f} (the AUC of the true probabilities on the generated rows)",
             r.bayes_auc);
  if (!std::isnan(r.valid_bayes_auc)) fmt::print(", valid {:.4f}", r.valid_bayes_auc);
  fmt::print(", positive rate {:.3f}\n", r.positive_rate);
  print_timing(r.rows, seconds);
}

void run_synthetic(const SyntheticArgs& a) {
  RB_CHECK(a.shape.empty() != a.schema.empty(), ValueError,
           "data synthetic: give either --shape movielens-1m|criteo or --schema FILE");
  const std::vector<std::string> entries =
      a.shape == "movielens-1m" ? std::vector<std::string>{"ratings.dat", "users.dat", "movies.dat"}
                                : std::vector<std::string>{"train", "valid", "raw"};
  io::check_output({"--out", a.out, io::OutputKind::kFolder, entries}, {{"--schema", a.schema}},
                   a.overwrite);
  const Stopwatch watch;
  if (a.shape == "movielens-1m") {
    ds::SyntheticMovieLensOptions o{.users = a.users, .movies = a.movies, .seed = a.seed};
    if (a.rows > 0) o.ratings = a.rows;
    const auto r = ds::synthetic_movielens(a.out, o);
    fmt::print(
        "synthetic movielens-1m: wrote RAW ml-1m files (import them with "
        "`recblocks data movielens --variant ml-1m --source {}`):\n",
        a.out);
    print_synthetic(r, watch.seconds());
  } else if (a.shape == "criteo") {
    ds::SyntheticCriteoOptions o{.seed = a.seed,
                                 .max_table_size = a.max_table_size,
                                 .valid_fraction = a.valid_fraction,
                                 .write_tsv = a.tsv};
    if (a.rows > 0) o.rows = a.rows;
    const auto r = ds::synthetic_criteo(a.out, o);
    fmt::print("synthetic criteo: wrote a dataset directory:\n");
    print_synthetic(r, watch.seconds());
  } else {
    ds::SyntheticOptions o{.seed = a.seed, .valid_fraction = a.valid_fraction};
    if (a.rows > 0) o.rows = a.rows;
    const auto r = ds::synthetic_from_schema(Schema::load(a.schema), a.out, o);
    fmt::print("synthetic from {}: wrote a dataset directory:\n", a.schema);
    print_synthetic(r, watch.seconds());
  }
}

void register_synthetic(CLI::App& data) {
  auto args = std::make_shared<SyntheticArgs>();
  CLI::App* cmd = data.add_subcommand(
      "synthetic",
      "Generate data with power-law ids and a planted signal (reports the best possible AUC). "
      "movielens-1m writes RAW ml-1m files (ratings.dat, users.dat, movies.dat) into OUT for "
      "`data movielens --source OUT`; criteo and --schema write a dataset directory");
  CLI::Option* shape = cmd->add_option("--shape", args->shape, "movielens-1m or criteo")
                           ->check(CLI::IsMember({"movielens-1m", "criteo"}));
  cmd->add_option("--schema", args->schema,
                  "Generate for this schema file instead of a shape (recblocks' schema.json, "
                  "Merlin's schema.pbtxt or schema.json)")
      ->check(CLI::ExistingFile)
      ->excludes(shape);
  cmd->add_option("--out", args->out, "Output directory")->required();
  add_overwrite_flag(*cmd, args->overwrite);
  cmd->add_option(
         "--rows", args->rows,
         "Rows (ratings for movielens-1m); default 1,000,209 (movielens-1m), 1,000,000 (criteo), "
         "100,000 (--schema)")
      ->check(integer_in(1, kMaxRows, "rows"));
  cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str()->check(seed_value());
  cmd->add_option("--max-table-size", args->max_table_size,
                  "criteo: cap on the 26 table sizes (0 = Kaggle's)")
      ->check(integer_in(0, kMaxCardinality, "0 for Kaggle's, else rows of a table"))
      ->capture_default_str();
  cmd->add_option("--users", args->users, "movielens-1m: number of users")
      ->check(integer_in(1, kMaxCardinality, "users"))
      ->capture_default_str();
  cmd->add_option("--movies", args->movies, "movielens-1m: number of movies")
      ->check(integer_in(1, kMaxCardinality, "movies"))
      ->capture_default_str();
  cmd->add_option("--valid-fraction", args->valid_fraction,
                  "criteo, --schema: the last fraction of rows -> OUT/valid")
      ->check(number_in(0.0, 0.99))
      ->capture_default_str();
  cmd->add_flag("--tsv", args->tsv,
                "criteo: also write OUT/raw/train.tsv (and valid.tsv) in the original format");
  cmd->callback([args] { run_synthetic(*args); });
}

}  // namespace

void register_data_import(CLI::App& data) {
  register_criteo(data);
  register_csv(data);
  register_synthetic(data);
}

}  // namespace recblocks::cli
