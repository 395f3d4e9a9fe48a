// Dataset: a schema plus one column of values per schema column, in memory
// or memory-mapped from a dataset directory:
//
//   dir/schema.json              the Schema (recblocks' format; load also
//                                reads Merlin's schema.pbtxt in its place)
//   dir/<column>.npy             values: [rows] (or [rows, n] fixed-length)
//   dir/<column>.offsets.npy     list columns only: int64 [rows + 1]
//
// Categorical columns are int32, continuous and target columns float32 or
// int32 (binary targets), as the schema says. schema.json is written last,
// and the directory is renamed into place whole, so an interrupted save
// never leaves a directory that loads.
//
// File names: <column> above is the column's name with every byte outside
// [A-Za-z0-9_-] written as %XX (upper-case hex), so any name is a safe file
// name: "TE_movieId_rating" -> TE_movieId_rating.npy, "a/b" -> a%2Fb.npy,
// "x.offsets" -> x%2Eoffsets.npy (dots are escaped so that no column's
// values file can be another list column's offsets file).
//
// Ragged list columns (schema is_list and is_ragged) have an offsets file;
// fixed-length lists (is_list, not ragged, value_count min == max == n) are
// stored as [rows, n] without one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/core/ragged.h"
#include "recblocks/core/tensor.h"
#include "recblocks/schema/schema.h"

namespace recblocks {

// One column's data. For a list column, `values` holds every row's values
// back to back and `offsets` (int64, rows + 1) says where each row starts.
struct Column {
  Tensor values;
  Tensor offsets;  // undefined unless the column is a list

  bool is_list() const { return offsets.defined() && offsets.numel() > 0; }
  std::int64_t rows() const;
  RaggedTensor ragged() const;  // list columns only
  // Rows [begin, end) (unchecked): the values shared, a list's offsets
  // copied from 0.
  Column slice(std::int64_t begin, std::int64_t end) const;
};

// The escaped file stem of a column: "a/b" -> "a%2Fb" (see above).
std::string column_file_stem(std::string_view column_name);

class Dataset {
 public:
  Dataset() = default;
  // Validates: every schema column has data and vice versa, dtypes match
  // the schema, all columns have the same number of rows, list columns
  // have valid offsets. Errors name the column, the shape and the expected
  // value.
  Dataset(Schema schema, std::map<std::string, Column> columns);

  // Memory-maps a dataset directory. Errors name the file.
  static Dataset load(const std::filesystem::path& dir);
  // The schema file of a dataset directory: schema.json, else Merlin's
  // schema.pbtxt. Throws Error naming the directory when it has neither.
  static std::filesystem::path schema_file(const std::filesystem::path& dir);
  // Writes a dataset directory atomically (replacing an existing one).
  void save(const std::filesystem::path& dir) const;

  const Schema& schema() const { return schema_; }
  std::int64_t num_rows() const { return num_rows_; }
  // Throws ValueError listing the available columns for an unknown name.
  const Column& column(std::string_view name) const;
  const std::map<std::string, Column, std::less<>>& columns() const { return columns_; }
  // The directory it was loaded from; empty for an in-memory dataset.
  const std::filesystem::path& path() const { return path_; }

  // Same rows, a subset of the columns (in the given schema's order).
  Dataset select(const Schema& schema) const;
  Dataset select_by_name(const std::vector<std::string>& names) const;
  // Rows [begin, end), sharing storage where the column is not a list.
  Dataset slice_rows(std::int64_t begin, std::int64_t end) const;
  // The given rows, in that order (copies).
  Dataset take(std::span<const std::int64_t> rows) const;
  // The rows of `parts`, one after the other, copied into a dataset of the
  // first part's schema. Each part must have its columns with the same
  // dtypes and row shapes (ValueError naming the part and the column).
  static Dataset concat(const std::vector<Dataset>& parts);

 private:
  Schema schema_;
  std::map<std::string, Column, std::less<>> columns_;
  std::int64_t num_rows_ = 0;
  std::filesystem::path path_;
};

}  // namespace recblocks

namespace recblocks::datasets {

// What the CSV and Criteo importers write into their output folder. They
// replace these entries together, in one step, and keep whatever else the
// folder holds (often the raw files they read).
inline const std::vector<std::string> kImportEntries = {"train", "valid", "etl"};

}  // namespace recblocks::datasets
