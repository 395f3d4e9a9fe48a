// The Parquet side of the CLI on recblocks::parquet (data/parquet.h): reads
// and writes, saying where the schema came from.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "datasets.h"
#include "recblocks/core/error.h"

namespace recblocks::cli {

bool parquet_available() { return true; }

void require_parquet(const std::string&) {}

std::string parquet_info() {
  return fmt::format("Arrow {} (build setting RECBLOCKS_PARQUET)", datasets::arrow_version());
}

namespace {

// What was read, as every command says it.
void report_read(const std::string& input, const datasets::ParquetReader& reader,
                 const datasets::ParquetReadOptions& options, std::int64_t rows,
                 std::string_view how, std::FILE* report) {
  const std::size_t files = reader.files().size();
  fmt::print(report, "{} {}: {} rows, {} columns from {} Parquet file{}\n", how, input, rows,
             reader.schema().size(), files, files == 1 ? "" : "s");
  if (!reader.schema_file().empty()) {
    fmt::print(report, "  schema: {}\n", reader.schema_file().string());
  } else {
    fmt::print(report,
               "  schema: inferred (no schema file beside the data): floats continuous, integers "
               "categorical with the domain [0, max], no targets; give a schema file (--schema) "
               "for targets and tags\n");
  }
  if (!options.read_as.empty()) {
    fmt::print(report, "  the columns the model knows are read as in its schema\n");
  }
  if (!reader.ignored_columns().empty()) {
    fmt::print(report, "  not in the schema, not read: {}\n",
               quoted_excerpt(fmt::format("{}", fmt::join(reader.ignored_columns(), ", ")), 300));
  }
}

}  // namespace

Dataset read_parquet_input(const std::string& input, const datasets::ParquetReadOptions& options,
                           std::FILE* report) {
  const datasets::ParquetReader reader(input, options);
  Dataset data = reader.read();
  report_read(input, reader, options, data.num_rows(), "read", report);
  return data;
}

DataSourcePtr parquet_source_input(const std::string& input,
                                   const datasets::ParquetReadOptions& options, std::FILE* report) {
  datasets::ParquetReader reader(input, options);
  int row_groups = 0;
  for (std::size_t f = 0; f < reader.files().size(); ++f) row_groups += reader.num_row_groups(f);
  report_read(input, reader, options, reader.num_rows(),
              fmt::format("streaming ({} row groups)", row_groups), report);
  return datasets::parquet_source(std::move(reader));
}

std::size_t write_parquet_output(const Dataset& data, const std::filesystem::path& out,
                                 const datasets::ParquetWriteOptions& options) {
  return datasets::write_parquet(data, out, options).size();
}

}  // namespace recblocks::cli
