// Criteo display-advertising data (the Kaggle challenge / Terabyte logs):
// raw text -> a dataset directory with DLRM's preprocessing.
//
// Input formats (format = kAuto tells them apart from the first line):
//   tsv  the original release: no header, 40 tab-separated fields per line
//          label \t I1 .. I13 \t C1 .. C26
//   csv  a header line "label,I1,...,I13,C1,...,C26" (columns in any
//        order), then comma-separated rows; integers may be written as
//        floats ("260.0"), as in ../shared/data/criteo/criteo_sample.txt
//   label   0 or 1
//   I1..I13 integers (counts; a few are -1 or -2); empty = missing
//   C1..C26 8 hexadecimal digits (a 32-bit hash); empty = missing
//
// Output columns (schema tags in brackets):
//   label    int32   [target, binary, classification]
//   I1..I13  float32 [continuous]   log(1 + max(x, 0)); missing -> 0.
//            This is DLRM's reference preprocessing (negative counts are
//            clamped to 0 before the log), so missing and 0 coincide.
//   C1..C26  int32   [categorical]  etl::Categorify of the 32-bit value
//            (keys by value, missing -> id 1), fitted on the training
//            rows only, with a minimum frequency (rarer values -> id 2) or
//            hashed into a fixed number of buckets; domain in the schema.
//
// Output directory:
//   out/train/                the training rows (data/dataset.h)
//   out/valid/                the validation rows, when a split is asked
//   out/etl/categorify/C1.json .. C26.json   fitted vocabularies
//   out/etl/criteo.json       the transform (format, options, row counts)
//
//   datasets::CriteoOptions opts{.min_frequency = 3, .valid_fraction = 0.1};
//   auto result = datasets::criteo({"day_0.tsv"}, "criteo_out", opts);
//   result.train.num_rows();
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/data/dataset.h"
#include "recblocks/data/etl.h"
#include "recblocks/schema/schema.h"

namespace recblocks::datasets {

inline constexpr int kCriteoNumDense = 13;
inline constexpr int kCriteoNumCategorical = 26;

enum class CriteoFormat : std::uint8_t { kAuto, kTsv, kCsv };
// "auto", "tsv", "csv"; anything else throws ValueError listing them.
CriteoFormat parse_criteo_format(std::string_view name);
std::string_view criteo_format_name(CriteoFormat format);

// Column names: "label", "I1".."I13", "C1".."C26".
std::string criteo_dense_name(int i);        // i in [0, 13): "I<i+1>"
std::string criteo_categorical_name(int i);  // i in [0, 26): "C<i+1>"

// Raw Criteo rows in columns, before categorify.
struct CriteoRaw {
  std::vector<std::int32_t> label;                        // [rows], 0 or 1
  std::array<std::vector<float>, kCriteoNumDense> dense;  // log(1 + max(x, 0)), missing 0
  std::array<std::vector<std::uint32_t>, kCriteoNumCategorical> categorical;  // hex value
  std::array<std::vector<std::uint8_t>, kCriteoNumCategorical> is_null;       // 1 = missing
  std::array<std::int64_t, kCriteoNumDense> dense_missing{};                  // missing counts
  CriteoFormat format = CriteoFormat::kAuto;                                  // as detected

  std::int64_t rows() const { return static_cast<std::int64_t>(label.size()); }
  // Appends other's rows (the format stays this one's, unless empty).
  void append(CriteoRaw&& other);
};

// Parses one file (in parallel over line-aligned chunks; the result does
// not depend on the thread count). max_rows > 0 reads only the first rows.
// A malformed line throws ValueError naming the file, line, column (field
// number and name) and what was expected, e.g.
//   day_0.tsv:12: column 15 (C1): expected 8 hexadecimal digits or an
//   empty field, found 'xyz'
CriteoRaw read_criteo(const std::filesystem::path& file, CriteoFormat format = CriteoFormat::kAuto,
                      std::int64_t max_rows = 0);

struct CriteoOptions {
  CriteoFormat format = CriteoFormat::kAuto;
  // Categorical values seen fewer times than this in train -> id 2 (OOV),
  // or into the hash buckets when num_buckets > 0.
  std::int64_t min_frequency = 1;
  // > 0: hash values (without an id of their own) into this many buckets:
  // with min_frequency <= 1 pure hashing, id = 3 + hash % num_buckets.
  std::int64_t num_buckets = 0;
  // A validation value without an id of its own (unseen in train, or too
  // rare): id 2 (kMapToOov) or a ValueError naming the column, value and
  // row (kRaise). Hashing (num_buckets > 0) gives every value an id.
  etl::OnOov on_oov = etl::OnOov::kMapToOov;
  // Sequential split: the last fraction of the (train) rows is validation.
  double valid_fraction = 0.0;
  // Split by day file: these files are the validation rows (and
  // valid_fraction must be 0).
  std::vector<std::filesystem::path> valid_files = {};
  // > 0: read only the first max_rows rows of each file.
  std::int64_t max_rows = 0;
};

struct CriteoResult {
  Dataset train;
  Dataset valid;                                        // 0 columns when no split was asked
  std::filesystem::path train_dir, valid_dir, etl_dir;  // valid_dir empty without a split
};

// The schema of an imported (or synthetic) Criteo dataset; cardinalities
// [26] are the categorical domains' max + 1.
Schema criteo_schema(std::span<const std::int64_t> cardinalities);

// The fitted state of an import: the log transform and the 26 fitted
// vocabularies. It turns raw rows into dataset rows exactly as the import
// did, so new rows (serving, a later day) can be transformed later:
//
//   auto t = datasets::CriteoTransform::load("criteo_out/etl");
//   Dataset rows = t.transform(datasets::read_criteo("day_23.tsv"));
class CriteoTransform {
 public:
  // 26 fitted Categorify, for C1..C26 in order.
  explicit CriteoTransform(std::vector<etl::Categorify> categorify);
  // Reads out/etl/categorify/C1.json .. C26.json. Errors name the file.
  static CriteoTransform load(const std::filesystem::path& etl_dir);

  // Rows [begin, end) of raw (end < 0: to the last row) -> the columns of
  // the import (label, I1..I13, C1..C26) with schema().
  Dataset transform(const CriteoRaw& raw, std::int64_t begin = 0, std::int64_t end = -1) const;
  const Schema& schema() const { return schema_; }
  const etl::Categorify& categorify(int i) const {
    return categorify_.at(static_cast<std::size_t>(i));
  }

 private:
  std::vector<etl::Categorify> categorify_;
  Schema schema_;
};

// Reads `files` (the training days, in order), fits Categorify on the
// training rows, transforms train and valid and writes `out` (see above).
CriteoResult criteo(const std::vector<std::filesystem::path>& files,
                    const std::filesystem::path& out, const CriteoOptions& options = {});

}  // namespace recblocks::datasets
