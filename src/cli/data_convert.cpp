// `recblocks data convert`: a dataset from one format to the other, a thin
// shell over datasets::read_parquet / write_parquet and Dataset::load / save.
//
//   recblocks data convert --input nvt_out/train --out train          # Parquet -> .npy dataset
//   recblocks data convert --input 'day_*.parquet' --schema schema.json --out train
//   recblocks data convert --input train --to parquet --rows-per-file 1000000 --out train_pq
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "datasets.h"
#include "flags.h"
#include "recblocks/io/paths.h"

namespace recblocks::cli {
namespace {

namespace fs = std::filesystem;

struct ConvertArgs {
  std::string input, schema, out, to = "npy";
  datasets::ParquetWriteOptions parquet;
  bool overwrite = false;
};

// What check_output protects: the input, or for a glob the folder it lists.
fs::path input_for_check(const std::string& input) {
  std::error_code ec;
  if (fs::exists(input, ec) || input.find_first_of("*?[") == std::string::npos) return input;
  return fs::path(input).parent_path().empty() ? fs::path(".") : fs::path(input).parent_path();
}

void run_convert(const ConvertArgs& a) {
  const DataFormat to = data_format(a.to);
  std::vector<io::InputPath> inputs = {{"--input", input_for_check(a.input)}};
  if (!a.schema.empty()) inputs.push_back({"--schema", a.schema});
  io::check_output({"--out", a.out, io::OutputKind::kDataset}, inputs, a.overwrite);
  if (to == DataFormat::kParquet) require_parquet("--to parquet");
  const Dataset data = open_dataset(a.input, {.schema = a.schema});
  if (to == DataFormat::kParquet) {
    const std::size_t parts = write_parquet_output(data, a.out, a.parquet);
    fmt::print(
        "convert: wrote {} ({} rows, {} columns) as Parquet: {} part file{}, schema.json{}\n",
        a.out, data.num_rows(), data.schema().size(), parts, parts == 1 ? "" : "s",
        a.parquet.merlin_schema ? " and Merlin's schema.pbtxt" : "");
  } else {
    data.save(a.out);
    fmt::print("convert: wrote the dataset directory {} ({} rows, {} columns)\n", a.out,
               data.num_rows(), data.schema().size());
  }
  fmt::print("columns:\n");
  for (const ColumnSchema& c : data.schema()) fmt::print("{}\n", describe_column(c));
}

}  // namespace

void register_data_convert(CLI::App& data) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = data.add_subcommand(
      "convert",
      "Convert a dataset: Parquet (a file, a directory of part files, a glob) or a dataset "
      "directory, to a dataset directory (--to npy) or to Parquet part files (--to parquet)");
  cmd->add_option("--input", args->input,
                  "Parquet file, directory or glob (quote it), or a dataset directory")
      ->required();
  cmd->add_option("--schema", args->schema,
                  "Parquet input: the schema file (recblocks' schema.json or Merlin's JSON; "
                  "default: the one beside the data, else inferred)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Output directory (replaced whole)")->required();
  cmd->add_option("--to", args->to, "npy (a dataset directory) or parquet")
      ->check(CLI::IsMember({"npy", "parquet"}))
      ->capture_default_str();
  cmd->add_option("--rows-per-file", args->parquet.rows_per_file,
                  "--to parquet: rows per part file (0: one file)")
      ->check(integer_in(0, kAnyCount, "0 for one file, else rows"))
      ->capture_default_str();
  cmd->add_option("--row-group-size", args->parquet.row_group_size,
                  "--to parquet: rows per row group")
      ->check(integer_in(1, kAnyCount, "rows"))
      ->capture_default_str();
  cmd->add_option("--compression", args->parquet.compression,
                  "--to parquet: snappy, zstd, gzip, lz4, brotli or none")
      ->check(CLI::IsMember({"snappy", "zstd", "gzip", "lz4", "brotli", "none"}))
      ->capture_default_str();
  cmd->add_flag("!--no-merlin-schema", args->parquet.merlin_schema,
                "--to parquet: write schema.json alone, without Merlin's schema.pbtxt");
  add_overwrite_flag(*cmd, args->overwrite);
  cmd->callback([args] { run_convert(*args); });
}

}  // namespace recblocks::cli
