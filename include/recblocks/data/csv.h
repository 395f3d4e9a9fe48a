// Generic CSV/TSV importer: a text file + a schema file (JSON) describing
// its columns -> a dataset directory (data/dataset.h).
//
// ---------------------------------------------------------------------------
// Schema file format (JSON; unknown keys are errors, named):
//
// {
//   "delimiter": ",",       optional, one character; default ","; "\t" = TSV
//   "header": true,         optional; default true: the first line names
//                           the columns
//   "quote": "\"",          optional, one character or "" (no quoting);
//                           default "\"". A quoted field may hold the
//                           delimiter, newlines and doubled quotes ("").
//   "columns": [            required: the output columns, in order
//     {
//       "name": "userId",           required: the output column's name
//       "source": "user_id",        optional: the header name to read
//                                   (default: name); without a header, a
//                                   0-based field index (default: the
//                                   column's position in this list)
//       "tags": ["categorical", "user_id"],   required: Merlin tag names
//                                   (tags.h), compound ones allowed
//       "dtype": "float32",         optional: float32 or int32 for
//                                   continuous and target columns (default
//                                   int32 for binary classification
//                                   targets, else float32); categorical
//                                   columns are always int32
//       "separator": "|",           optional: a list column; the field is
//                                   split on this character (an empty
//                                   field is an empty list)
//       "categorify": {             optional, categorical columns only:
//         "min_frequency": 1,       etl::CategorifyOptions (etl.h); keys
//         "max_size": 0,            are the field's text
//         "num_buckets": 0,
//         "on_oov": "oov"           "oov" (unseen keys -> id 2) or "raise"
//       },
//       "fill": 0.0,                optional: the value of an empty field.
//                                   Without it an empty field is null
//                                   (id 1) in a categorical column and an
//                                   error in any other column
//       "properties": {...},        optional: copied to the schema column
//       "embedding_dim": 16         optional: copied to the schema column
//     }
//   ]
// }
//
// Every categorical column goes through etl::Categorify, fitted on the
// training rows (reserved ids 0 pad, 1 null, 2 OOV; values from 3, most
// frequent first). Columns of the file that the schema does not name are
// skipped.
//
// Output directory:
//   out/train/                the training rows
//   out/valid/                the validation rows, when valid_fraction > 0
//   out/etl/categorify/<column>.json   fitted vocabularies
//   out/etl/csv.json          the schema file used (as parsed), the output
//                             schema and the row counts
//
// Errors name the file, the line and the column: a missing field, a value
// that is not a number, an unterminated quote; an unknown source column
// lists the header's columns.
//
//   auto spec = datasets::CsvSpec::load("events.schema.json");
//   auto result = datasets::csv("events.csv", spec, "events_out");
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/core/dtype.h"
#include "recblocks/data/dataset.h"
#include "recblocks/data/etl.h"
#include "recblocks/schema/tags.h"

namespace recblocks::datasets {

// One column of a schema file.
struct CsvColumn {
  std::string name;
  std::string source;                 // header name; empty: the name
  std::optional<std::int64_t> index;  // field index (files without a header)
  TagSet tags;
  DType dtype = DType::kFloat32;
  std::optional<char> separator;  // list column
  etl::CategorifyOptions categorify;
  std::optional<std::string> fill;  // as text, parsed like a field
  nlohmann::json properties = nlohmann::json::object();
  std::optional<std::int64_t> embedding_dim;

  bool is_categorical() const { return tags.has(Tags::CATEGORICAL); }
};

// A parsed schema file.
struct CsvSpec {
  char delimiter = ',';
  bool header = true;
  std::optional<char> quote = '"';
  std::vector<CsvColumn> columns;

  // `source` names the file in errors.
  static CsvSpec from_json(const nlohmann::json& json, std::string_view source = "schema file");
  static CsvSpec load(const std::filesystem::path& path);
};

struct CsvOptions {
  // Override the schema file's settings when set.
  std::optional<char> delimiter = {};
  std::optional<bool> header = {};
  std::optional<char> quote = {};  // '\0' disables quoting
  // Sequential split: the last fraction of the rows is validation.
  double valid_fraction = 0.0;
};

struct CsvResult {
  Dataset train;
  Dataset valid;  // 0 columns without a split
  std::filesystem::path train_dir, valid_dir, etl_dir;
};

// The fitted state of an import (out/etl): the spec, the output schema and
// the vocabularies. It transforms another file of the same format exactly
// as the import did (serving, new data):
//
//   auto t = datasets::CsvTransform::load("events_out/etl");
//   Dataset rows = t.transform("new_events.csv");
class CsvTransform {
 public:
  // One fitted Categorify per categorical column of spec, by name.
  CsvTransform(CsvSpec spec, Schema schema,
               std::map<std::string, etl::Categorify, std::less<>> categorify);
  // Reads out/etl/csv.json and out/etl/categorify/<column>.json.
  static CsvTransform load(const std::filesystem::path& etl_dir);

  Dataset transform(const std::filesystem::path& input) const;
  const CsvSpec& spec() const { return spec_; }
  const Schema& schema() const { return schema_; }
  // nullptr for a column that is not categorical.
  const etl::Categorify* categorify(std::string_view column) const;

 private:
  CsvSpec spec_;
  Schema schema_;
  std::map<std::string, etl::Categorify, std::less<>> categorify_;
};

// Parses `input` with `spec`, categorifies and writes `out` (see above).
CsvResult csv(const std::filesystem::path& input, const CsvSpec& spec,
              const std::filesystem::path& out, const CsvOptions& options = {});

// "," "\t" "tab" ";" "|": one character; throws ValueError otherwise.
char parse_delimiter(std::string_view text);

}  // namespace recblocks::datasets
