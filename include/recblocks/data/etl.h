// ETL transforms with NVTabular's meaning, shared by every importer
// (MovieLens, Criteo, CSV): Categorify (vocabulary or hashing), list
// columns, TargetEncoding and Normalize, and a Workflow that chains them,
// fits on train, transforms train and valid, saves its fitted state beside
// the dataset and applies it later to new raw rows (serving).
//
// Layers: Categorify and TargetEncoding work on plain spans and know
// nothing of files; RawColumn/RawTable hold parsed raw data (with joins as
// indices into small tables, so a movie's title is stored once); Workflow
// runs the steps over a RawTable and builds a Dataset.
//
// ---------------------------------------------------------------------------
// Categorify: raw keys -> contiguous int32 ids
//
//   Reserved ids (as NVTabular's Categorify):
//     0  kPaddingId   padding (never produced by transform; list padding)
//     1  kNullId      null / missing value
//     2  kOovId       out of vocabulary: not seen in fit, or pruned by
//                     min_frequency / max_size
//     3.. kFirstValueId  the vocabulary, most frequent first: descending
//                     count, ties by ascending key (bytewise for strings,
//                     numeric for integers). So id 3 is the most frequent.
//   With num_buckets > 0, hashed keys follow the vocabulary:
//     id = kFirstValueId + vocabulary_size + hash_key(key) % num_buckets
//   so pure hashing (min_frequency <= 1, max_size == 0: no vocabulary is
//   kept) gives id = 3 + hash(key) % num_buckets, and with min_frequency or
//   max_size the frequent keys keep their own ids and the rare or unseen
//   ones share the buckets (nothing goes to kOovId then).
//   Domain for the schema: min 0, max = max_id() (cardinality = max + 1).
//
//   Keys are either strings (std::string_view; an EMPTY string is null ->
//   id 1, as an empty CSV field is missing) or int64 (categorified BY VALUE,
//   not by decimal text: 7 and "7" are different keys; a null mask marks
//   missing ints). A Categorify takes one kind, fixed by its first update().
//
//     etl::Categorify cat("userId", {.min_frequency = 2});
//     cat.update(train_keys);            // counts; call once per chunk
//     cat.finalize();                    // builds the vocabulary
//     Tensor ids = cat.transform(keys);  // int32 [n]
//     // or, in one go: cat.fit(train_keys);
//
// hash_key is stable across platforms and versions (saved state relies on
// it): int64 -> mix64 (SplitMix64 finaliser, core/rng.h) of the value;
// string -> "rbhash1": 8-byte little-endian words folded with mix64, the
// length mixed in last (see etl.cpp).
//
// Differs from NVTabular's Categorify: the hash (NVTabular hashes with
// cudf/pandas' murmur3, so hashed ids differ); ties in the frequency order
// are broken by key here; a value pruned by min_frequency/max_size with
// num_buckets set goes to a bucket after the vocabulary (NVTabular puts
// such buckets before it). Saved state: to_json() (one JSON file per
// column), not NVTabular's parquet vocabularies.
// ---------------------------------------------------------------------------
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/core/tensor.h"
#include "recblocks/data/dataset.h"
#include "recblocks/schema/schema.h"

namespace recblocks::etl {

inline constexpr std::int32_t kPaddingId = 0;
inline constexpr std::int32_t kNullId = 1;
inline constexpr std::int32_t kOovId = 2;
inline constexpr std::int32_t kFirstValueId = 3;

// What transform does with a key that has no id of its own.
enum class OnOov : std::uint8_t {
  kMapToOov,  // -> kOovId (2)
  kRaise,     // throws ValueError naming the column, the key and the row
};

struct CategorifyOptions {
  // Keys seen fewer times than this in fit get no id of their own
  // (NVTabular's freq_threshold). 1 keeps every key.
  std::int64_t min_frequency = 1;
  // Keep at most this many keys (the most frequent); 0 = no limit. Counts
  // the real values only, not the 3 reserved ids.
  std::int64_t max_size = 0;
  // > 0: hash keys without an id into this many buckets (see above).
  std::int64_t num_buckets = 0;
  OnOov on_oov = OnOov::kMapToOov;
};

// The kind of keys a Categorify was fitted on.
enum class KeyKind : std::uint8_t { kNone, kString, kInt64 };

std::uint64_t hash_key(std::string_view key);
std::uint64_t hash_key(std::int64_t key);

class Categorify {
 public:
  explicit Categorify(std::string column = {}, CategorifyOptions options = {});
  ~Categorify();
  Categorify(const Categorify&);
  Categorify& operator=(const Categorify&);
  Categorify(Categorify&&) noexcept;
  Categorify& operator=(Categorify&&) noexcept;

  // --- fit -----------------------------------------------------------------
  // Counts keys; may be called many times (chunks) before finalize().
  void update(std::span<const std::string_view> keys);
  // is_null (empty = none null): 1 marks a missing value.
  void update(std::span<const std::int64_t> keys, std::span<const std::uint8_t> is_null = {});
  // Pre-aggregated counts: keys[i] was seen counts[i] times (e.g. a movie
  // table weighted by its number of ratings).
  void update_counts(std::span<const std::string_view> keys, std::span<const std::int64_t> counts);
  void update_counts(std::span<const std::int64_t> keys, std::span<const std::int64_t> counts,
                     std::span<const std::uint8_t> is_null = {});
  // Builds the vocabulary from the counts (frees the counting table).
  void finalize();
  // update + finalize.
  Categorify& fit(std::span<const std::string_view> keys);
  Categorify& fit(std::span<const std::int64_t> keys, std::span<const std::uint8_t> is_null = {});

  // --- transform (after finalize) -----------------------------------------
  // keys [n] -> ids int32 [n]. `out` must have keys.size() elements.
  // `row_offset` is added to the row index printed by an OOV error.
  void transform(std::span<const std::string_view> keys, std::span<std::int32_t> out,
                 std::int64_t row_offset = 0) const;
  void transform(std::span<const std::int64_t> keys, std::span<std::int32_t> out,
                 std::span<const std::uint8_t> is_null = {}, std::int64_t row_offset = 0) const;
  Tensor transform(std::span<const std::string_view> keys) const;
  Tensor transform(std::span<const std::int64_t> keys,
                   std::span<const std::uint8_t> is_null = {}) const;
  // One key (OOV handling as transform).
  std::int32_t id(std::string_view key) const;
  std::int32_t id(std::int64_t key) const;
  // The key's id, or -1 when it has none (neither in the vocabulary nor
  // hashed into a bucket): the case on_oov decides. Empty string = null.
  std::int32_t lookup(std::string_view key) const;
  std::int32_t lookup(std::int64_t key) const;

  // --- fitted state ----------------------------------------------------------
  bool fitted() const { return fitted_; }
  KeyKind kind() const { return kind_; }
  const std::string& column() const { return column_; }
  const CategorifyOptions& options() const { return options_; }
  // Keys with an id of their own (ids 3 .. 3 + vocabulary_size - 1).
  std::int64_t vocabulary_size() const;
  // Largest id transform can return: 2 + vocabulary_size + num_buckets.
  std::int32_t max_id() const;
  std::int64_t cardinality() const { return std::int64_t{max_id()} + 1; }
  // {min 0, max max_id(), name column()}: what the schema column carries.
  Domain domain() const;
  // The key of vocabulary entry i (id kFirstValueId + i) and its fit count.
  std::string_view string_key(std::int64_t i) const;  // kind() == kString
  std::int64_t int_key(std::int64_t i) const;         // kind() == kInt64
  std::int64_t count(std::int64_t i) const;
  std::int64_t null_count() const { return null_count_; }

  // {"column", "kind": "string"|"int64", "options": {...}, "hash": "rbhash1",
  //  "null_count", "keys": [...], "counts": [...]}; strings must be UTF-8.
  nlohmann::json to_json() const;
  // `source` names the file in errors.
  static Categorify from_json(const nlohmann::json& json, std::string_view source = "categorify");
  void save(const std::filesystem::path& path) const;  // atomic
  static Categorify load(const std::filesystem::path& path);

 private:
  struct Impl;
  void set_kind(KeyKind kind);
  void require_fitted(const char* what) const;
  std::int32_t missing_id(std::uint64_t hash) const;

  std::string column_;
  CategorifyOptions options_;
  KeyKind kind_ = KeyKind::kNone;
  bool fitted_ = false;
  std::int64_t null_count_ = 0;
  std::unique_ptr<Impl> impl_;
};

// A list column of string keys (genres): element keys back to back plus
// row offsets [rows + 1] into them.
struct StringListKeys {
  std::span<const std::string_view> values;
  std::span<const std::int64_t> offsets;
};
// Categorifies every element: values int32 [nnz], offsets int64 [rows + 1]
// (a copy of keys.offsets). Use with a Categorify fitted on the elements.
struct ListIds {
  Tensor values;
  Tensor offsets;
};
ListIds transform_list(const Categorify& categorify, const StringListKeys& keys);

// ---------------------------------------------------------------------------
// TargetEncoding: a categorical column -> the smoothed mean of a target per
// category, as NVTabular's TargetEncoding (ops/target_encoding.py):
//
//   TE(c) = (sum_c + p_smooth * global_mean) / (count_c + p_smooth)
//
// sum_c, count_c: the target's sum and count over the train rows with
// category c; global_mean: the target's mean over all train rows.
//   - Train rows are encoded out of fold: each row gets a fold
//     fold(i) = mix64(mix64(fold_seed) + i) % kfold   (i = train row index;
//     assign_folds below; NVTabular draws it from numpy's RandomState), and
//     its encoding uses sum_c, count_c of the OTHER folds only (NVTabular:
//     sum_all - sum_fold, count_all - count_fold), with the global mean of
//     all train rows.
//   - Any other rows (valid, new rows) use the statistics of all train rows;
//     a category without train rows gets the global mean.
// Categories are the column's categorified ids (so keys pruned to OOV share
// one encoding, and nulls are their own category). The output is named
// TE_<column>_<target> (NVTabular's _make_te_name), computed in double.
//
// Normalize (NVTabular's Normalize, on by default after TargetEncoding as in
// Merlin's get_movielens): z = (x - mean) / std with mean and std (ddof = 1,
// NVTabular's Moments) of the train rows' (out-of-fold) encodings, x - mean
// when std == 0; the same mean and std are applied to every other split.
// The result is stored as float32 (NVTabular keeps float64 by default).
//
// Differs from NVTabular: the fold draw (above); valid rows always get
// full-train statistics (NVTabular re-adds folds whenever a workflow
// transforms a dataset with the fold column present).
// ---------------------------------------------------------------------------

struct TargetEncodingOptions {
  int kfold = 5;         // >= 2: out of fold on train; 1: no folds
  double p_smooth = 20;  // smoothing weight of the global mean
  std::uint64_t fold_seed = 42;
  bool normalize = true;  // z-score the encodings with train statistics
};

// The fold of each of `rows` train rows (see above): uint8 in [0, kfold).
std::vector<std::uint8_t> assign_folds(std::int64_t rows, int kfold, std::uint64_t seed);

class TargetEncoding {
 public:
  TargetEncoding() = default;
  TargetEncoding(std::string column, std::string target, TargetEncodingOptions options = {});

  // Fits on the train rows: ids int32 [n] in [0, cardinality), target [n].
  // Returns the train rows' encodings (out of fold, normalized if asked).
  std::vector<double> fit_transform(std::span<const std::int32_t> ids, std::int64_t cardinality,
                                    std::span<const double> target);
  // Any other rows: full-train statistics, normalized if asked. Ids
  // outside [0, cardinality) get the global mean.
  std::vector<double> transform(std::span<const std::int32_t> ids) const;

  const std::string& column() const { return column_; }
  const std::string& target() const { return target_; }
  std::string output_name() const { return "TE_" + column_ + "_" + target_; }
  const TargetEncodingOptions& options() const { return options_; }
  bool fitted() const { return fitted_; }
  double global_mean() const { return global_mean_; }
  // Normalize statistics (mean 0, std 1 when normalize is off).
  double norm_mean() const { return norm_mean_; }
  double norm_std() const { return norm_std_; }
  // Per category id: train sum and count of the target.
  const std::vector<double>& sums() const { return sums_; }
  const std::vector<std::int64_t>& counts() const { return counts_; }

  nlohmann::json to_json() const;
  static TargetEncoding from_json(const nlohmann::json& json, std::string_view source);

 private:
  double smoothed(double sum, double count) const;
  double normalized(double x) const;

  std::string column_;
  std::string target_;
  TargetEncodingOptions options_;
  bool fitted_ = false;
  double global_mean_ = 0;
  double norm_mean_ = 0;
  double norm_std_ = 1;
  std::vector<double> sums_;
  std::vector<std::int64_t> counts_;
};

// ---------------------------------------------------------------------------
// Raw tables: what importers parse and a Workflow consumes.
//
// A RawColumn holds `entries` of one kind, and optionally an `index` that
// picks an entry per row (a join: a movie column is the movie table's
// entries indexed by each rating's movie). Without an index, row r is
// entry r. String bytes live in memory kept alive by `storage`.
// ---------------------------------------------------------------------------

enum class RawKind : std::uint8_t { kInt64, kFloat64, kString, kStringList };

struct RawColumn {
  RawKind kind = RawKind::kInt64;
  std::vector<std::int64_t> ints;          // kInt64
  std::vector<std::uint8_t> is_null;       // kInt64: empty or one per entry
  std::vector<double> floats;              // kFloat64 (NaN = missing)
  std::vector<std::string_view> strings;   // kString: one per entry (empty = null);
                                           // kStringList: the elements
  std::vector<std::int64_t> list_offsets;  // kStringList: entries + 1
  std::vector<std::int32_t> index;         // is_indexed: the entry of each row
  bool is_indexed = false;
  std::shared_ptr<const void> storage;  // keeps string bytes alive

  static RawColumn of_ints(std::vector<std::int64_t> values);
  static RawColumn of_floats(std::vector<double> values);
  static RawColumn of_strings(std::vector<std::string_view> values,
                              std::shared_ptr<const void> storage);
  static RawColumn of_string_lists(std::vector<std::string_view> elements,
                                   std::vector<std::int64_t> offsets,
                                   std::shared_ptr<const void> storage);
  // This column's entries, picked per row by `index` (validated).
  RawColumn indexed(std::vector<std::int32_t> index) const;

  std::int64_t entries() const;
  std::int64_t rows() const;
  // The given rows, in that order (an indexed column copies only its index).
  RawColumn take(std::span<const std::int64_t> rows) const;
};

// Columns by name; all must have the same number of rows.
using RawTable = std::map<std::string, RawColumn, std::less<>>;
std::int64_t num_rows(const RawTable& table);  // throws on a row-count mismatch
RawTable take(const RawTable& table, std::span<const std::int64_t> rows);

// ---------------------------------------------------------------------------
// Workflow: steps over a RawTable, fitted on train, producing a Dataset.
//
//   etl::Workflow wf;
//   wf.categorify({"userId"}, {}, TagSet{Tags::USER_ID})
//     .categorify({"genres"}, {}, TagSet{Tags::ITEM})       // a list column
//     .target_encoding({"userId"}, "rating", {}, TagSet{Tags::USER})
//     .target("rating", DType::kFloat32, TagSet{Tags::REGRESSION});
//   Dataset train = wf.fit_transform(raw_train);   // TE out of fold
//   Dataset valid = wf.transform(raw_valid);       // TE with train statistics
//   wf.save(dir / "etl");
//   Dataset rows = etl::Workflow::load(dir / "etl").transform(new_rows);
//
// Outputs, in step order (one per column of a step):
//   categorify      <column> int32, CATEGORICAL + tags, domain [0, max_id];
//                   a string-list column gives a ragged list column (LIST),
//                   value_count = the train rows' min/max list length
//   target_encoding TE_<column>_<target> float32, CONTINUOUS + tags; the
//                   column must be categorified by an earlier step (the
//                   encoding groups by its ids); the target is a raw
//                   int64 or float64 column
//   target          <column> as int32 or float32, TARGET + tags. transform()
//                   skips a target whose raw column is absent (serving).
// ---------------------------------------------------------------------------

class Workflow {
 public:
  Workflow();
  ~Workflow();
  Workflow(const Workflow&);
  Workflow& operator=(const Workflow&);
  Workflow(Workflow&&) noexcept;
  Workflow& operator=(Workflow&&) noexcept;

  Workflow& categorify(std::vector<std::string> columns, CategorifyOptions options = {},
                       TagSet tags = {});
  Workflow& target_encoding(std::vector<std::string> columns, std::string target,
                            TargetEncodingOptions options = {}, TagSet tags = {});
  Workflow& target(std::string column, DType dtype, TagSet tags = {});

  // Fits every step on `train` (refits if already fitted) and returns the
  // transformed train rows (target encodings out of fold).
  Dataset fit_transform(const RawTable& train);
  // Transforms other rows with the fitted state. Errors name the missing
  // raw column and list the available ones.
  Dataset transform(const RawTable& raw) const;

  bool fitted() const;
  // The outputs' schema (after fitting: with domains and value counts).
  Schema output_schema() const;
  // Fitted state by column; throw ValueError listing the known columns.
  const Categorify& categorify_of(std::string_view column) const;
  const TargetEncoding& target_encoding_of(std::string_view column) const;

  // A directory: workflow.json (format "recblocks-etl", version 1: the
  // steps, their options and tags, the encodings and the output schema)
  // and categorify/<column>.json (the vocabularies). Written atomically as
  // a whole (io::StagedDirectory); an existing directory is replaced.
  void save(const std::filesystem::path& dir) const;
  static Workflow load(const std::filesystem::path& dir);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace recblocks::etl
