// Parquet datasets: what NVTabular, Merlin, Spark and pandas write, read into
// a recblocks Dataset and written from one. A library of its own,
// recblocks::parquet, on Apache Arrow's C++ library (the pyarrow wheel's;
// see cmake/Parquet.cmake): the engine never links Arrow, and this header
// includes none of it. Link recblocks::parquet (built when RECBLOCKS_PARQUET
// found pyarrow; the CMake package sets RECBLOCKS_HAVE_PARQUET).
//
//   Dataset train = datasets::read_parquet("nvt_out/train");     // part files + schema
//   datasets::ParquetReader reader("day_*.parquet", {.schema_file = "schema.json"});
//   Dataset first = reader.read_row_group(0, 0);                 // one row group
//   datasets::write_parquet(train, "train_parquet", {.rows_per_file = 1'000'000});
//
// ---------------------------------------------------------------------------
// Input (parquet_files): one file; a directory's `*.parquet` files (not its
// subdirectories), in natural order (part_2 before part_10, as a writer
// numbers them), skipping hidden names (".x", "_x": `_metadata`,
// `_common_metadata`, Spark's `_SUCCESS`); or a glob ("out/part_*.parquet",
// the matches in the same order). Every file must have the same columns with
// the same Arrow types (a mismatch names both files); their row groups are
// read in order, file after file.
//
// Schema: ParquetReadOptions::schema_file, else the first of schema.json,
// .merlin/schema.json and schema.pbtxt in the data's directory (the
// directory given, or the first file's), as Merlin/NVTabular write them;
// any form Schema::load reads (recblocks' schema.json, Merlin's proto-JSON
// and text schema.pbtxt). The schema names the columns read, in its order;
// the files' other columns are not read (ignored_columns() lists them), and
// a schema column missing from the files is an error. Without a schema file
// the schema is inferred as rb.Dataset.from_dict infers it from numpy
// arrays: floats and booleans are continuous float32; signed integers of up
// to 32 bits are categorical int32, other integers categorical int64, with
// the domain [0, max] (the max from the files' column statistics when every
// row group has them, else from a scan of the column; every value read is
// checked against it); list columns are ragged lists of the same kinds.
// Columns named `__index_level_N__` (pandas' index) are not read.
//
// Values: int32, int64 and float32 columns are taken as they are. Other
// types become the schema's dtype when no value changes: int8/16, uint8/16/32
// and booleans widen; int64, uint32/64 and floats narrow to an integer dtype
// only when every value is integral and in range, integers to float32 only
// when float32 holds them exactly. float64 to float32 rounds to nearest (as
// numpy's astype and rb.Dataset.from_dict do), but a finite value beyond
// float32's range is an error. An error names the file, the column, the row,
// the value and the dtype expected. Arrow's list<T>, large_list<T> and
// fixed_size_list<T> are list columns (ragged: values + int64 offsets, or
// [rows, n] for a fixed-length schema column, every row then of length n).
// Dictionary-encoded pages (pyarrow's and NVTabular's default) are decoded
// by Arrow. Nulls are an error naming the column and the row: a
// recblocks dataset has no missing values, and NVTabular's output has none
// (FillMissing fills continuous columns, Categorify maps nulls to an id).
//
// Errors are recblocks::Error naming the file, with Arrow's own message
// where Arrow found the problem: a missing file, a FIFO or device (refused
// before it is opened, so nothing blocks), an empty directory, an empty,
// truncated or corrupt file. A row group is decoded only when the memory it
// needs fits under the memory limit (core/memory.h).
//
// Output (write_parquet): a directory, replaced whole and atomically
// (io::StagedDirectory), holding part_0.parquet, part_1.parquet, ... of
// `rows_per_file` rows each (one file when 0; one file with no rows for an
// empty dataset) and the schema as recblocks' schema.json and as Merlin's
// schema.pbtxt (what NVTabular and merlin-core read; unless merlin_schema
// is false, and an error when Merlin cannot hold the schema). Columns are
// written without nulls as int32, int64 or float (float32); list columns as
// list<T> (large_list<T> when one file holds 2^31 values or more), a
// fixed-length list column as list<T> of its length; bfloat16 columns are
// refused (Parquet has no such type).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "recblocks/data/dataset.h"
#include "recblocks/data/source.h"
#include "recblocks/schema/schema.h"

namespace recblocks::datasets {

// The Parquet files `input` names (see above), in reading order. Throws
// Error for a missing path, a directory without *.parquet files or a glob
// matching none.
std::vector<std::filesystem::path> parquet_files(const std::string& input);

struct ParquetReadOptions {
  // The schema file (recblocks' schema.json or Merlin's JSON); empty: the
  // one beside the data, else inferred (see above).
  std::filesystem::path schema_file = {};
  // Columns read as these instead (a saved model's schema, so that the data
  // matches what the model was trained on): each replaces the column of the
  // same name; a column missing from the files is left out (a model's
  // targets are not needed to predict).
  Schema read_as = {};
};

// The files and the schema of a Parquet dataset, opened once (each file's
// metadata is read and checked); data is read by row group.
class ParquetReader {
 public:
  explicit ParquetReader(const std::string& input, const ParquetReadOptions& options = {});
  ~ParquetReader();
  ParquetReader(ParquetReader&&) noexcept;
  ParquetReader& operator=(ParquetReader&&) noexcept;

  const Schema& schema() const;
  // The schema file used, or empty when the schema was inferred.
  const std::filesystem::path& schema_file() const;
  // Columns of the files that the schema file does not name (not read).
  const std::vector<std::string>& ignored_columns() const;
  const std::vector<std::filesystem::path>& files() const;
  std::int64_t num_rows() const;
  int num_row_groups(std::size_t file) const;
  std::int64_t row_group_rows(std::size_t file, int row_group) const;

  // Row group `row_group` of file `file` (0-based, as files() lists them):
  // a Dataset of schema() with that row group's rows.
  Dataset read_row_group(std::size_t file, int row_group) const;
  // The same, only the columns named (in that order); ValueError
  // for a name the schema does not have.
  Dataset read_row_group(std::size_t file, int row_group,
                         const std::vector<std::string>& names) const;
  // The row groups `groups` ((file, row group) pairs, in that order) as
  // one Dataset, each decoded straight into its rows.
  Dataset read_row_groups(std::span<const std::pair<std::size_t, int>> groups) const;
  // Every row group of every file, in order, as one Dataset.
  Dataset read() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// ParquetReader(input, options).read().
Dataset read_parquet(const std::string& input, const ParquetReadOptions& options = {});

// The same dataset as a DataSource (source.h) whose chunks are the row
// groups, file after file: what Loader(source) and Model::fit(source)
// stream with bounded memory. The files' metadata is read now; a row group
// when it is asked for (from any thread).
DataSourcePtr parquet_source(const std::string& input, const ParquetReadOptions& options = {});
DataSourcePtr parquet_source(ParquetReader reader);

struct ParquetWriteOptions {
  // Rows per part file; 0 writes one file.
  std::int64_t rows_per_file = 0;
  // Rows per row group (Arrow's default, 1Mi rows); a reader's unit of work.
  std::int64_t row_group_size = std::int64_t{1} << 20;
  // snappy, zstd, gzip, lz4, brotli or none.
  std::string compression = "snappy";
  // Also write Merlin's schema.pbtxt beside schema.json.
  bool merlin_schema = true;
};

// Writes `data` into the directory `dir` (see above); returns the part files
// written, in order.
std::vector<std::filesystem::path> write_parquet(const Dataset& data,
                                                 const std::filesystem::path& dir,
                                                 const ParquetWriteOptions& options = {});

// The Arrow version recblocks::parquet was built with ("18.1.0").
std::string arrow_version();

}  // namespace recblocks::datasets
