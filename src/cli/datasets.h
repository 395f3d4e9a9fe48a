// The data the commands read and write: a dataset directory (schema.json +
// .npy files) or Parquet (a file, a directory of part files, a glob), told
// apart by open_dataset so that every command takes either.
//
//   const Dataset train = open_dataset(args.train, {.schema = args.schema});
//   write_dataset(data, out, DataFormat::kParquet, {.rows_per_file = 1'000'000});
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

#include "recblocks/data/dataset.h"
#include "recblocks/data/parquet.h"
#include "recblocks/data/source.h"
#include "recblocks/schema/schema.h"

namespace recblocks::cli {

// Whether `path` names Parquet data rather than a dataset directory: a
// directory holding *.parquet files, a path named *.parquet (so that a
// missing or special file is reported by the Parquet reader), a regular
// file starting with Parquet's magic "PAR1", or a glob (a path that does
// not exist and holds *, ? or [).
bool is_parquet_input(const std::string& path);

struct OpenOptions {
  // Parquet: the schema file (default: the one beside the data, else inferred).
  std::string schema = {};
  // Parquet: the columns a model knows are read as its schema says.
  const Schema* read_as = nullptr;
  // Where to say what was read from Parquet (the schema's origin, columns
  // not read); stdout, or stderr where stdout carries JSON.
  std::FILE* report = stdout;
};

// A dataset directory (Dataset::load) or Parquet data (datasets::read_parquet).
Dataset open_dataset(const std::string& path, const OpenOptions& options = {});
// The same data streamed (--stream): npy_source or datasets::parquet_source.
DataSourcePtr open_source(const std::string& path, const OpenOptions& options = {});

// One line per column for the commands' output: "  userId   int32    categorical, id, user;
// cardinality 944" (a list column's name ends with []).
std::string describe_column(const ColumnSchema& column);

enum class DataFormat { kNpy, kParquet };
// "npy" or "parquet"; ValueError otherwise.
DataFormat data_format(const std::string& name);

// Writes `data` at `out` (a directory replaced whole): a dataset directory,
// or Parquet part files with schema.json.
void write_dataset(const Dataset& data, const std::filesystem::path& out, DataFormat format,
                   const datasets::ParquetWriteOptions& parquet = {});

// The Parquet side, from parquet_support.cpp (recblocks::parquet) or, in a
// build without it, parquet_unavailable.cpp (each call an error saying how to
// rebuild).
bool parquet_available();
// Throws "<what>: this recblocks was built without Parquet support: rebuild
// with ..." in a build without it.
void require_parquet(const std::string& what);
// "Arrow 18.1.0 (recblocks::parquet)", or why there is none.
std::string parquet_info();
Dataset read_parquet_input(const std::string& input, const datasets::ParquetReadOptions& options,
                           std::FILE* report);
DataSourcePtr parquet_source_input(const std::string& input,
                                   const datasets::ParquetReadOptions& options, std::FILE* report);
// The part files written.
std::size_t write_parquet_output(const Dataset& data, const std::filesystem::path& out,
                                 const datasets::ParquetWriteOptions& options);

}  // namespace recblocks::cli
