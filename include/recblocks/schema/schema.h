// Schema: the columns of a dataset, with dtype, tags, integer domain,
// list-ness and properties. Blocks are built from it (`from_schema`), so it
// carries what Merlin's schema carries, with Merlin's meaning:
//
//   cardinality = domain.max + 1        (ids are 0..max)
//   select_by_tag(Tags::USER_ID)        columns having USER and ID
//   select_by_tag({A, B})               columns having A or B
//
// Files: recblocks writes its own plain schema.json (see to_json) and
// reads it as well as the schemas merlin-core and NVTabular write:
// tensorflow-metadata's Schema message in protobuf text format
// (schema.pbtxt) or as proto-JSON ({"feature": [{"name", "type",
// "intDomain", "valueCount", "annotation": {"tag", "extraMetadata"}}]}).
// It writes those two as well (save with SchemaFormat), in the form
// merlin-core 23.08's TensorflowMetadata reads:
//
//   Merlin (feature { ... })              recblocks ColumnSchema
//   type INT / FLOAT, dtype_item_size     int32 (<= 32 bits), int64; float32
//   int_domain {name min max}             domain; is_categorical adds CATEGORICAL
//   value_count {min max}, _dims          is_list, is_ragged, value_count
//   annotation tag                        tags: "binary_classification" and
//                                         "multi_class_classification" (single
//                                         tags in merlin-core 23.08, which Merlin
//                                         Models' tasks select by) read as
//                                         BINARY + CLASSIFICATION and
//                                         MULTI_CLASS + CLASSIFICATION, and those
//                                         pairs are written as the single tags
//   extra_metadata embedding_sizes        embedding_dim (dimension)
//   extra_metadata, other keys            properties (num_buckets, cat_path, ...)
//   float_domain {min max}                properties["domain"] of a float column
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/core/dtype.h"
#include "recblocks/schema/tags.h"

namespace recblocks {

// The schema file formats Schema::save writes.
enum class SchemaFormat : std::uint8_t {
  kRecblocks,    // recblocks' schema.json (to_json)
  kMerlinPbtxt,  // Merlin's schema.pbtxt: tensorflow-metadata Schema, protobuf text format
  kMerlinJson,   // Merlin's schema.json: the same message as proto-JSON
};
// "recblocks", "merlin-pbtxt", "merlin-json"; parse_schema_format throws
// ValueError naming the three for another name.
SchemaFormat parse_schema_format(std::string_view name);
std::string_view schema_format_name(SchemaFormat format);

// Integer domain of a categorical column: ids in [min, max]. `name` is the
// vocabulary's name; columns with the same name share an embedding table.
struct Domain {
  std::int64_t min = 0;
  std::int64_t max = 0;
  std::string name;
  friend bool operator==(const Domain&, const Domain&) = default;
};

// Number of values per row of a list column; max == 0 means unbounded.
struct ValueCount {
  std::int64_t min = 0;
  std::int64_t max = 0;
  friend bool operator==(const ValueCount&, const ValueCount&) = default;
};

class ColumnSchema {
 public:
  ColumnSchema() = default;
  explicit ColumnSchema(std::string name, DType dtype = DType::kFloat32, TagSet tags = {});

  const std::string& name() const { return name_; }
  DType dtype() const { return dtype_; }
  const TagSet& tags() const { return tags_; }
  bool has_tag(Tag tag) const { return tags_.has(tag); }
  // Free-form properties (Merlin's extra_metadata): JSON object.
  const nlohmann::json& properties() const { return properties_; }
  const std::optional<Domain>& domain() const { return domain_; }
  // domain.max + 1; throws ValueError naming the column when it has no domain.
  std::int64_t cardinality() const;
  bool is_list() const { return is_list_; }
  bool is_ragged() const { return is_ragged_; }
  const std::optional<ValueCount>& value_count() const { return value_count_; }
  const std::optional<std::int64_t>& embedding_dim() const { return embedding_dim_; }

  // Copies with one thing changed, like Merlin's with_* methods.
  ColumnSchema with_name(std::string name) const;
  ColumnSchema with_dtype(DType dtype) const;
  ColumnSchema with_tags(const TagSet& tags) const;  // adds to the existing tags
  ColumnSchema without_tags(const TagSet& tags) const;
  ColumnSchema with_domain(Domain domain) const;  // checks min <= max
  // Ids in [min, max]; the vocabulary name defaults to the column's name.
  ColumnSchema with_domain(std::int64_t min, std::int64_t max, std::string name = {}) const {
    return with_domain(Domain{min, max, std::move(name)});
  }
  // is_list adds the LIST tag; a fixed-length list (ragged = false) needs
  // value_count.min == value_count.max.
  ColumnSchema with_list(bool is_list, bool is_ragged = true,
                         std::optional<ValueCount> value_count = std::nullopt) const;
  ColumnSchema with_embedding_dim(std::int64_t dim) const;
  ColumnSchema with_properties(const nlohmann::json& properties) const;  // merged in

  friend bool operator==(const ColumnSchema&, const ColumnSchema&) = default;

 private:
  std::string name_;
  DType dtype_ = DType::kFloat32;
  TagSet tags_;
  nlohmann::json properties_ = nlohmann::json::object();
  std::optional<Domain> domain_;
  bool is_list_ = false;
  bool is_ragged_ = false;
  std::optional<ValueCount> value_count_;
  std::optional<std::int64_t> embedding_dim_;
};

class Schema {
 public:
  Schema() = default;
  // Throws ValueError on a duplicate column name.
  Schema(std::vector<ColumnSchema> columns);  // NOLINT(google-explicit-constructor)
  Schema(std::initializer_list<ColumnSchema> columns);

  std::size_t size() const { return columns_.size(); }
  bool empty() const { return columns_.empty(); }
  auto begin() const { return columns_.begin(); }
  auto end() const { return columns_.end(); }
  const ColumnSchema& operator[](std::size_t i) const { return columns_.at(i); }
  bool contains(std::string_view name) const;
  // Throws ValueError naming `name` and listing the available columns.
  const ColumnSchema& column(std::string_view name) const;
  const ColumnSchema& first() const;  // throws on an empty schema
  std::vector<std::string> column_names() const;

  // In the order of `names`; an unknown name throws, listing the available ones.
  Schema select_by_name(const std::vector<std::string>& names) const;
  // Columns having every part of `tag`.
  Schema select_by_tag(Tag tag) const;
  // Columns having any of `tags` (each compound one needs all its parts).
  Schema select_by_tag(const std::vector<Tag>& tags) const;
  Schema remove_by_tag(Tag tag) const;
  Schema remove_by_tag(const std::vector<Tag>& tags) const;
  // All columns except `names` (unknown names are ignored, as in Merlin).
  Schema without(const std::vector<std::string>& names) const;

  // Union: this schema's columns, then those of `other` not already here;
  // a column in both must be equal (ValueError names it otherwise).
  Schema operator+(const Schema& other) const;
  // Difference: this schema's columns whose names are not in `other`.
  Schema operator-(const Schema& other) const;

  // Adds or replaces a column (by name), keeping the order.
  Schema with_column(ColumnSchema column) const;

  nlohmann::json to_json() const;
  // Reads recblocks' format or Merlin's proto-JSON. `source` names the
  // file in errors.
  static Schema from_json(const nlohmann::json& json, std::string_view source = "schema.json");

  // Merlin's forms (see the top of this file). Throw ValueError for what
  // Merlin cannot hold: a bfloat16 column; tags merlin-core's TagSet
  // refuses together (continuous with id or embedding, categorical with
  // embedding, embedding with id).
  std::string to_merlin_pbtxt() const;
  nlohmann::ordered_json to_merlin_json() const;
  // Errors name `source`, the line and the column:
  //   "schema.pbtxt: not valid protobuf text at line 3, column 9: ..."
  //   "schema.pbtxt: line 7, column 5: feature 'userId' int_domain max: expected an integer, ..."
  static Schema from_merlin_pbtxt(std::string_view text, std::string_view source = "schema.pbtxt");

  // Atomic write (write to a temporary, fsync, rename).
  //   schema.save("out/schema.pbtxt", SchemaFormat::kMerlinPbtxt);
  void save(const std::filesystem::path& path,
            SchemaFormat format = SchemaFormat::kRecblocks) const;
  // Reads any of the three: a .json file as JSON (recblocks' or Merlin's,
  // told apart by their keys), a .pbtxt (.textproto, .txtpb, .prototxt)
  // file as protobuf text, another name as JSON when its first non-space
  // byte is '{' or '[', else as protobuf text (older NVTabular wrote its
  // text schema as schema.pb). Errors name the file and the line and
  // column (JSON also the byte offset).
  static Schema load(const std::filesystem::path& path);

  friend bool operator==(const Schema&, const Schema&) = default;

 private:
  std::vector<ColumnSchema> columns_;
};

std::ostream& operator<<(std::ostream& os, const Schema& schema);

}  // namespace recblocks
