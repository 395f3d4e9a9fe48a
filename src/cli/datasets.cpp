#include "datasets.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <system_error>

#include "recblocks/core/error.h"

namespace recblocks::cli {

namespace fs = std::filesystem;

bool is_parquet_input(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (fs::is_directory(status)) {
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (it->path().extension() == ".parquet" && name.front() != '.' && name.front() != '_')
        return true;
    }
    return false;
  }
  if (fs::is_regular_file(status)) {
    if (fs::path(path).extension() == ".parquet") return true;
    char magic[4] = {};
    std::ifstream in(path, std::ios::binary);
    return in.read(magic, sizeof magic) && std::string_view(magic, sizeof magic) == "PAR1";
  }
  // A special file or a missing one named *.parquet: the Parquet reader
  // names what is wrong with it.
  if (fs::path(path).extension() == ".parquet") return true;
  return !fs::exists(status) && path.find_first_of("*?[") != std::string::npos;
}

namespace {

// A dataset directory, checked as the commands check it.
void check_dataset_directory(const std::string& path, const OpenOptions& options) {
  std::error_code ec;
  RB_CHECK(!fs::is_directory(path, ec) || fs::exists(fs::path(path) / "schema.json", ec) ||
               fs::exists(fs::path(path) / "schema.pbtxt", ec),
           Error,
           "{}: neither a dataset directory (no schema.json or schema.pbtxt) nor Parquet data "
           "(no *.parquet files)",
           path);
  RB_CHECK(options.schema.empty(), ValueError,
           "--schema {}: a schema file is for Parquet data; {} is a dataset directory, which "
           "holds its own schema.json",
           options.schema, path);
}

datasets::ParquetReadOptions parquet_options(const OpenOptions& options) {
  datasets::ParquetReadOptions read;
  read.schema_file = options.schema;
  if (options.read_as) read.read_as = *options.read_as;
  return read;
}

}  // namespace

DataSourcePtr open_source(const std::string& path, const OpenOptions& options) {
  if (!is_parquet_input(path)) {
    check_dataset_directory(path, options);
    DataSourcePtr source = npy_source(path);
    fmt::print(options.report, "streaming {}: {} rows, {} columns in {} chunks of up to {} rows\n",
               path, source->num_rows(), source->schema().size(), source->num_chunks(),
               source->num_chunks() > 0 ? source->chunk_rows(0) : 0);
    return source;
  }
  return parquet_source_input(path, parquet_options(options), options.report);
}

Dataset open_dataset(const std::string& path, const OpenOptions& options) {
  if (!is_parquet_input(path)) {
    check_dataset_directory(path, options);
    return Dataset::load(path);
  }
  return read_parquet_input(path, parquet_options(options), options.report);
}

std::string describe_column(const ColumnSchema& c) {
  std::string s = fmt::format("  {:<22} {:<8} {}", c.name() + (c.is_list() ? "[]" : ""),
                              dtype_name(c.dtype()), fmt::join(c.tags().names(), ", "));
  if (c.domain()) s += fmt::format("; cardinality {}", c.cardinality());
  return s;
}

DataFormat data_format(const std::string& name) {
  if (name == "npy") return DataFormat::kNpy;
  if (name == "parquet") return DataFormat::kParquet;
  throw ValueError(fmt::format("format {}: expected npy (a dataset directory) or parquet",
                               quoted_excerpt(name)));
}

void write_dataset(const Dataset& data, const fs::path& out, DataFormat format,
                   const datasets::ParquetWriteOptions& parquet) {
  if (format == DataFormat::kParquet) {
    write_parquet_output(data, out, parquet);
  } else {
    data.save(out);
  }
}

}  // namespace recblocks::cli
