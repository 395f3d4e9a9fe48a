// Merlin's schema files, both ways. What merlin-core 23.08 writes
// (merlin/schema/io/tensorflow_metadata.py) and what recblocks makes of it:
//
//   feature {
//     name: "genres"
//     value_count { min: 1 max: 6 }        -> value_count (list columns)
//     type: INT                            -> int32, int64 by dtype_item_size
//     int_domain { name: "genres" min: 0 max: 18 is_categorical: true }
//                                          -> domain (is_categorical adds CATEGORICAL)
//     annotation {
//       tag: "item" tag: "categorical"     -> tags (Merlin's strings)
//       extra_metadata {                   -> one google.protobuf.Struct: properties,
//         type_url: "type.googleapis.com/google.protobuf.Struct"   less what recblocks
//         value: "\n\017\n\tis_ragged..."  (wire bytes; or expanded   holds itself:
//       }                                  [type.googleapis.com/...] { fields {...} })
//     }
//   }
//
// extra_metadata's keys: dtype_item_size (bits), is_list, is_ragged, _dims
// (merlin-core's shape: [[0, null]] a scalar, [[0, null], [min, max|null]] a
// ragged list, [[0, null], n] a fixed one), embedding_sizes {cardinality,
// dimension} (NVTabular's Categorify; dimension -> embedding_dim), and the
// column's other properties (num_buckets, freq_threshold, cat_path, ...).
//
// Tags: merlin-core 23.08 splits user_id, item_id, session_id and
// text_tokenized into their parts, as recblocks does, but keeps
// binary_classification and multi_class_classification as tags of their
// own, and Merlin Models' BinaryClassificationTask selects its target by
// "binary_classification". recblocks reads them as BINARY + CLASSIFICATION
// (MULTI_CLASS + CLASSIFICATION) and writes those pairs back as the single
// strings.
#include "schema/merlin.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/version.h"
#include "schema/text_proto.h"

namespace recblocks::merlin {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using schema_detail::json_int;
using text_proto::Field;
using text_proto::Position;

// Properties that recblocks holds in the column itself.
constexpr std::array<std::string_view, 6> kReservedProperties = {
    "is_list", "is_ragged", "dtype_item_size", "domain", "value_count", "_dims"};
constexpr std::string_view kStructType = "google.protobuf.Struct";
constexpr std::string_view kStructUrl = "type.googleapis.com/google.protobuf.Struct";

// One feature, from either file form, before it becomes a ColumnSchema.
// Each part keeps where it was, for errors: "<file> feature 'x'" from JSON,
// "<file>: line L, column C: feature 'x'" from text.
struct Feature {
  std::string name;
  std::string source;
  std::string where;
  std::string type;  // INT, FLOAT, BYTES, STRUCT, TYPE_UNKNOWN; "" when absent
  std::string type_where;
  struct IntDomain {
    std::int64_t min = 0;
    std::int64_t max = 0;
    std::string name;
    bool is_categorical = false;
  };
  std::optional<IntDomain> int_domain;
  std::string domain_where;
  std::optional<json> float_domain;  // {"min", "max", "name"} as Merlin's properties hold it
  std::optional<ValueCount> value_count;
  std::optional<std::int64_t> fixed_size;                 // shape { dim { size } }, one dimension
  std::vector<std::pair<std::string, std::string>> tags;  // tag, where
  json extra = json::object();
  std::string extra_where;
};

std::string feature_where(std::string_view prefix, std::string_view name) {
  return fmt::format("{} feature {}", prefix, quoted_excerpt(name, 80));
}

// A proto-JSON field: absent and null both mean the field's default.
bool has_field(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && !object[key].is_null();
}
json field_or(const json& object, const char* key, json fallback) {
  return has_field(object, key) ? object[key] : std::move(fallback);
}

// ---- Feature -> ColumnSchema -------------------------------------------------

DType feature_dtype(const Feature& f) {
  double item_bits = 32;
  if (f.extra.contains("dtype_item_size")) {
    const json& size = f.extra["dtype_item_size"];
    RB_CHECK(size.is_number(), ValueError,
             "{}: extra_metadata dtype_item_size must be a number of bits, got {}", f.extra_where,
             quoted_excerpt(size.dump(), 80));
    item_bits = size.get<double>();
  }
  if (f.type == "INT" || f.type == "2") return item_bits > 32 ? DType::kInt64 : DType::kInt32;
  if (f.type == "FLOAT" || f.type == "3" || f.type.empty() || f.type == "TYPE_UNKNOWN" ||
      f.type == "0") {
    // recblocks computes in 32 bits: float64 and float16 columns read as float32.
    return DType::kFloat32;
  }
  if (f.type == "BYTES" || f.type == "1" || f.type == "STRUCT" || f.type == "4") {
    throw ValueError(fmt::format(
        "{}: type {} has no recblocks dtype (columns are float32, int32, int64 or bfloat16); "
        "encode it as integer ids first (NVTabular's Categorify)",
        f.type_where,
        f.type == "1"   ? "BYTES"
        : f.type == "4" ? "STRUCT"
                        : f.type));
  }
  throw ValueError(
      fmt::format("{}: unknown type {}; expected INT, FLOAT, BYTES, STRUCT or "
                  "TYPE_UNKNOWN",
                  f.type_where, quoted_excerpt(f.type, 80)));
}

bool extra_bool(const Feature& f, const char* key, bool fallback) {
  if (!f.extra.contains(key)) return fallback;
  const json& v = f.extra[key];
  RB_CHECK(v.is_boolean(), ValueError, "{}: extra_metadata {} must be true or false, got {}",
           f.extra_where, key, quoted_excerpt(v.dump(), 80));
  return v.get<bool>();
}

// A whole, non-negative number of _dims.
std::int64_t dim_size(const json& d, const Feature& f) {
  RB_CHECK(d.is_number(), ValueError,
           "{}: extra_metadata _dims: expected a size, [min, max] or null, got {}", f.extra_where,
           quoted_excerpt(d.dump(), 80));
  const std::int64_t n = json_int(d, f.extra_where + ": extra_metadata _dims");
  RB_CHECK(n >= 0, ValueError, "{}: extra_metadata _dims: a size must be >= 0, got {}",
           f.extra_where, n);
  return n;
}

// merlin-core's shape (extra_metadata _dims): the batch dimension, then
// for a list the values' dimension.
struct Dims {
  bool present = false;
  bool is_list = false;
  bool fixed = false;
  std::optional<ValueCount> value_count;
};

Dims parse_dims(const Feature& f) {
  Dims dims;
  if (!f.extra.contains("_dims")) return dims;
  const json& d = f.extra["_dims"];
  RB_CHECK(d.is_array(), ValueError, "{}: extra_metadata _dims must be a list, got {}",
           f.extra_where, quoted_excerpt(d.dump(), 80));
  if (d.empty()) return dims;  // no shape known: the flags decide
  RB_CHECK(d.size() <= 2, ValueError,
           "{}: extra_metadata _dims {} has {} dimensions; recblocks columns are scalars or lists "
           "(at most 2)",
           f.extra_where, quoted_excerpt(d.dump(), 80), d.size());
  dims.present = true;
  if (d.size() == 1) return dims;
  dims.is_list = true;
  const json& values = d[1];
  if (values.is_null()) return dims;
  if (!values.is_array()) {
    const std::int64_t n = dim_size(values, f);
    dims.fixed = true;
    dims.value_count = ValueCount{n, n};
    return dims;
  }
  RB_CHECK(values.size() == 2, ValueError,
           "{}: extra_metadata _dims: a dimension's bounds are [min, max], got {}", f.extra_where,
           quoted_excerpt(values.dump(), 80));
  const std::int64_t min = dim_size(values[0], f);
  const std::optional<std::int64_t> max =
      values[1].is_null() ? std::nullopt : std::optional(dim_size(values[1], f));
  if (max && *max == min) {
    dims.fixed = true;
    dims.value_count = ValueCount{min, min};
  } else if (min > 0 || max) {
    dims.value_count = ValueCount{min, max.value_or(0)};
  }
  return dims;
}

// What the writer derives from embedding_dim and the domain; a read
// embedding_sizes equal to it is not kept twice (as a property too).
json derived_embedding_sizes(const ColumnSchema& c) {
  json sizes = json::object();
  if (c.domain()) sizes["cardinality"] = c.cardinality();
  sizes["dimension"] = *c.embedding_dim();
  return sizes;
}

ColumnSchema build_column(const Feature& f) {
  std::vector<Tag> tags;
  for (const auto& [name, where] : f.tags) {
    try {
      tags.push_back(Tag::parse(name));
    } catch (const ValueError& e) {
      throw ValueError(fmt::format("{}: {}", where, e.what()));
    }
  }
  if (f.int_domain && f.int_domain->is_categorical) tags.push_back(Tags::CATEGORICAL);
  ColumnSchema c(f.name, feature_dtype(f), TagSet(tags));

  if (f.int_domain) {
    const Feature::IntDomain& d = *f.int_domain;
    try {
      c = c.with_domain({d.min, d.max, d.name.empty() ? f.name : d.name});
    } catch (const ValueError& e) {
      std::string_view message = e.what();
      const std::string prefix = fmt::format("column '{}': ", f.name);
      if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
      throw ValueError(fmt::format("{}: int_domain: {}", f.domain_where, message));
    }
  } else if (f.extra.contains("domain") && f.extra["domain"].is_object() &&
             f.extra["domain"].contains("max") && c.dtype() != DType::kFloat32) {
    // Older writers kept the domain in extra_metadata only.
    const json& d = f.extra["domain"];
    const json name = field_or(d, "name", f.name);
    RB_CHECK(name.is_string(), ValueError, "{}: extra_metadata domain name must be a string",
             f.extra_where);
    c = c.with_domain({json_int(field_or(d, "min", 0), f.extra_where),
                       json_int(d["max"], f.extra_where), name.get<std::string>()});
  }

  const Dims dims = parse_dims(f);
  // shape { dim { size: n } }: a fixed list, but size 1 is TFDV's scalar.
  const bool shape_list = f.fixed_size && (*f.fixed_size != 1 || extra_bool(f, "is_list", false));
  std::optional<ValueCount> vc = f.value_count;
  if (!vc && dims.is_list) vc = dims.value_count;
  if (!vc && shape_list) vc = ValueCount{*f.fixed_size, *f.fixed_size};
  bool is_list = false;
  bool ragged = true;
  if (dims.present) {
    is_list = dims.is_list || c.has_tag(Tags::LIST);
    // A fixed dimension is not ragged, unless recblocks wrote a ragged list
    // whose counts happen to be equal.
    ragged = !dims.fixed || extra_bool(f, "is_ragged", false);
  } else {
    is_list = extra_bool(f, "is_list", false) || f.value_count.has_value() || shape_list ||
              c.has_tag(Tags::LIST);
    ragged = extra_bool(f, "is_ragged", !(vc && vc->min == vc->max && vc->max > 0));
  }
  if (is_list) c = c.with_list(true, ragged, vc);

  json props = f.extra;
  if (props.contains("embedding_sizes") && props["embedding_sizes"].is_object() &&
      props["embedding_sizes"].contains("dimension")) {
    c = c.with_embedding_dim(
        json_int(props["embedding_sizes"]["dimension"], f.extra_where + ": embedding_sizes"));
    if (props["embedding_sizes"] == derived_embedding_sizes(c)) props.erase("embedding_sizes");
  }
  for (std::string_view k : kReservedProperties) props.erase(std::string(k));
  // Merlin reads float_domain of FLOAT features only.
  if (f.float_domain && c.dtype() == DType::kFloat32) props["domain"] = *f.float_domain;
  return c.with_properties(props);
}

ColumnSchema to_column(const Feature& f) {
  try {
    return build_column(f);
  } catch (const ValueError& e) {
    // The messages above name the place; ColumnSchema's own checks name the
    // column, which `where` names too.
    std::string_view message = e.what();
    if (message.starts_with(f.source)) throw;
    const std::string prefix = fmt::format("column '{}': ", f.name);
    if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
    throw ValueError(fmt::format("{}: {}", f.where, message));
  }
}

Schema to_schema(std::vector<Feature> features) {
  std::vector<ColumnSchema> columns;
  columns.reserve(features.size());
  for (const Feature& f : features) columns.push_back(to_column(f));
  try {
    return Schema(std::move(columns));
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: {}", features.front().source, e.what()));
  }
}

// ---- proto-JSON ------------------------------------------------------------

// The one Struct of extraMetadata: a JSON object, or {"@type": ".../Struct",
// "value": {...}} (proto-JSON's form of an Any).
json json_extra(const json& annotation, const std::string& where) {
  if (!annotation.contains("extraMetadata") || annotation["extraMetadata"].is_null()) {
    return json::object();
  }
  const json& list = annotation["extraMetadata"];
  RB_CHECK(list.is_array(), ValueError, "{}: extraMetadata must be a list, got {}", where,
           quoted_excerpt(list.dump(), 80));
  if (list.empty()) return json::object();
  RB_CHECK(list.size() == 1, ValueError,
           "{}: extraMetadata has {} entries; Merlin writes one (a google.protobuf.Struct)", where,
           list.size());
  json extra = list[0];
  if (extra.is_object() && extra.contains("@type")) {
    const json& type = extra["@type"];
    RB_CHECK(type.is_string() && type.get<std::string>().ends_with(kStructType), ValueError,
             "{}: extraMetadata holds a {}, expected a google.protobuf.Struct", where,
             quoted_excerpt(type.dump(), 80));
    extra = extra.value("value", json::object());
  }
  RB_CHECK(extra.is_object(), ValueError,
           "{}: extraMetadata must hold a JSON object (a google.protobuf.Struct), got {}", where,
           quoted_excerpt(extra.dump(), 80));
  return extra;
}

Feature json_feature(const json& j, std::string_view source, std::size_t index) {
  const std::string at = fmt::format("{} feature[{}]", source, index);
  RB_CHECK(j.is_object(), ValueError, "{}: expected a JSON object, got {}", at,
           quoted_excerpt(j.dump(), 80));
  RB_CHECK(has_field(j, "name") && j["name"].is_string(), ValueError,
           "{}: missing key 'name' (a string)", at);
  Feature f;
  f.name = j["name"].get<std::string>();
  f.source = source;
  f.where = feature_where(source, f.name);
  f.type_where = f.domain_where = f.extra_where = f.where;
  if (has_field(j, "type")) {
    const json& type = j["type"];
    RB_CHECK(type.is_string() || type.is_number_integer(), ValueError,
             "{}: type must be a name such as \"INT\", got {}", f.where,
             quoted_excerpt(type.dump(), 80));
    f.type = type.is_string() ? type.get<std::string>() : std::to_string(type.get<std::int64_t>());
  }
  if (has_field(j, "intDomain")) {
    const json& d = j["intDomain"];
    RB_CHECK(d.is_object(), ValueError, "{}: intDomain must be an object", f.where);
    Feature::IntDomain domain;
    domain.min = json_int(field_or(d, "min", 0), f.where + " intDomain min");
    domain.max = json_int(field_or(d, "max", 0), f.where + " intDomain max");
    const json name = field_or(d, "name", "");
    RB_CHECK(name.is_string(), ValueError, "{}: intDomain name must be a string", f.where);
    domain.name = name.get<std::string>();
    const json categorical = field_or(d, "isCategorical", false);
    RB_CHECK(categorical.is_boolean(), ValueError,
             "{}: intDomain isCategorical must be true or false", f.where);
    domain.is_categorical = categorical.get<bool>();
    f.int_domain = domain;
  }
  if (has_field(j, "floatDomain")) {
    const json& d = j["floatDomain"];
    RB_CHECK(d.is_object(), ValueError, "{}: floatDomain must be an object", f.where);
    json domain = json::object();
    for (const char* key : {"min", "max"}) {
      if (!has_field(d, key)) continue;
      RB_CHECK(d[key].is_number(), ValueError, "{}: floatDomain {} must be a number, got {}",
               f.where, key, quoted_excerpt(d[key].dump(), 80));
      domain[key] = d[key];
    }
    const json name = field_or(d, "name", "");
    RB_CHECK(name.is_string(), ValueError, "{}: floatDomain name must be a string", f.where);
    if (!name.get<std::string>().empty()) domain["name"] = name;
    f.float_domain = domain;
  }
  if (has_field(j, "valueCount")) {
    const json& v = j["valueCount"];
    RB_CHECK(v.is_object(), ValueError, "{}: valueCount must be an object", f.where);
    f.value_count = ValueCount{json_int(field_or(v, "min", 0), f.where + " valueCount min"),
                               json_int(field_or(v, "max", 0), f.where + " valueCount max")};
  }
  if (has_field(j, "shape")) {
    const json& s = j["shape"];
    const json dims = s.is_object() ? field_or(s, "dim", json::array()) : json();
    RB_CHECK(dims.is_array() && dims.size() <= 1, ValueError,
             "{}: shape must hold at most one dim (recblocks columns are scalars or lists), got "
             "{}",
             f.where, quoted_excerpt(s.dump(), 80));
    if (dims.size() == 1) {
      RB_CHECK(dims[0].is_object(), ValueError, "{}: shape dim must be an object", f.where);
      f.fixed_size = json_int(field_or(dims[0], "size", 0), f.where + " shape dim size");
    }
  }
  const json annotation = field_or(j, "annotation", json::object());
  RB_CHECK(annotation.is_object(), ValueError, "{}: annotation must be an object", f.where);
  const json tags = field_or(annotation, "tag", json::array());
  RB_CHECK(tags.is_array(), ValueError, "{}: annotation tag must be a list of strings", f.where);
  for (const json& t : tags) {
    RB_CHECK(t.is_string(), ValueError, "{}: a tag must be a string, got {}", f.where,
             quoted_excerpt(t.dump(), 80));
    f.tags.emplace_back(t.get<std::string>(), f.where);
  }
  f.extra = json_extra(annotation, f.where);
  return f;
}

// ---- text format -------------------------------------------------------------

// Field names of tensorflow-metadata's messages (tensorflow_metadata 1.13's
// schema.proto): fields recblocks does not use are skipped, a name that is
// none of these is an error.
constexpr std::array<std::string_view, 11> kSchemaFields = {"feature",
                                                            "sparse_feature",
                                                            "weighted_feature",
                                                            "string_domain",
                                                            "float_domain",
                                                            "int_domain",
                                                            "default_environment",
                                                            "represent_variable_length_as_ragged",
                                                            "annotation",
                                                            "dataset_constraints",
                                                            "tensor_representation_group"};
constexpr std::array<std::string_view, 30> kFeatureFields = {"name",
                                                             "deprecated",
                                                             "presence",
                                                             "group_presence",
                                                             "shape",
                                                             "value_count",
                                                             "value_counts",
                                                             "type",
                                                             "domain",
                                                             "int_domain",
                                                             "float_domain",
                                                             "string_domain",
                                                             "bool_domain",
                                                             "struct_domain",
                                                             "natural_language_domain",
                                                             "image_domain",
                                                             "mid_domain",
                                                             "url_domain",
                                                             "time_domain",
                                                             "time_of_day_domain",
                                                             "distribution_constraints",
                                                             "annotation",
                                                             "skew_comparator",
                                                             "drift_comparator",
                                                             "in_environment",
                                                             "not_in_environment",
                                                             "lifecycle_stage",
                                                             "unique_constraints",
                                                             "validation_derived_source",
                                                             "sequence_metadata"};

class TextReader {
 public:
  explicit TextReader(const text_proto::Document& doc) : doc_(doc) {}

  std::vector<Feature> features() const {
    check_names(doc_.fields(), kSchemaFields, "tensorflow-metadata's Schema",
                "feature (or another field of that message, which recblocks skips)");
    std::vector<Feature> out;
    for (const Field& f : doc_.fields()) {
      if (f.name == "feature") out.push_back(feature(f));
    }
    return out;
  }

 private:
  std::string at(const Position& p) const {
    return fmt::format("{}: line {}, column {}", doc_.source(), p.line, p.column);
  }

  // Refuses a field name that is not in `known`; the message lists `used`
  // (the fields recblocks reads), or all of `known` when `used` is empty.
  template <std::size_t N>
  void check_names(const std::vector<Field>& fields, const std::array<std::string_view, N>& known,
                   std::string_view message, std::string_view used = {}) const {
    for (const Field& f : fields) {
      if (std::find(known.begin(), known.end(), f.name) != known.end()) continue;
      doc_.fail(f.at, used.empty()
                          ? fmt::format("unknown field {} in {}; expected one of: {}",
                                        quoted_excerpt(f.name, 80), message, fmt::join(known, ", "))
                          : fmt::format("unknown field {} in {}; expected {}",
                                        quoted_excerpt(f.name, 80), message, used));
    }
  }

  Feature feature(const Field& field) const {
    const std::vector<Field>& fields = doc_.message(field, "feature");
    check_names(fields, kFeatureFields, "a feature",
                "name, type, int_domain, float_domain, value_count, shape or annotation (or "
                "another field of tensorflow-metadata's Feature, which recblocks skips)");
    Feature f;
    const Field* name = doc_.single(fields, "name", "feature");
    if (name == nullptr) doc_.fail(field.at, "a feature without a name");
    f.name = doc_.string(*name, "feature name");
    f.source = doc_.source();
    f.where = feature_where(at(field.at) + ":", f.name);
    const std::string what = fmt::format("feature {}", quoted_excerpt(f.name, 80));
    f.type_where = f.domain_where = f.extra_where = f.where;
    if (const Field* type = doc_.single(fields, "type", what)) {
      f.type = doc_.enumeration(*type, what + " type");
      f.type_where = feature_where(at(type->value_at) + ":", f.name);
    }
    if (const Field* d = doc_.single(fields, "int_domain", what)) int_domain(f, *d, what);
    if (const Field* d = doc_.single(fields, "float_domain", what)) float_domain(f, *d, what);
    if (const Field* v = doc_.single(fields, "value_count", what)) {
      const auto& parts = doc_.message(*v, what + " value_count");
      check_names(parts, std::array<std::string_view, 2>{"min", "max"}, "value_count");
      ValueCount vc;
      if (const Field* m = doc_.single(parts, "min", what))
        vc.min = doc_.int64(*m, what + " value_count min");
      if (const Field* m = doc_.single(parts, "max", what))
        vc.max = doc_.int64(*m, what + " value_count max");
      f.value_count = vc;
    }
    if (const Field* v = doc_.single(fields, "value_counts", what)) {
      doc_.fail(v->at, fmt::format("{}: value_counts (nested lists) is not supported; recblocks "
                                   "columns are scalars or lists",
                                   what));
    }
    if (const Field* s = doc_.single(fields, "shape", what)) shape(f, *s, what);
    if (const Field* a = doc_.single(fields, "annotation", what)) annotation(f, *a, what);
    return f;
  }

  void int_domain(Feature& f, const Field& d, const std::string& what) const {
    const auto& parts = doc_.message(d, what + " int_domain");
    check_names(parts, std::array<std::string_view, 4>{"name", "min", "max", "is_categorical"},
                "int_domain");
    Feature::IntDomain domain;
    const std::string w = what + " int_domain";
    if (const Field* p = doc_.single(parts, "name", w)) domain.name = doc_.string(*p, w + " name");
    if (const Field* p = doc_.single(parts, "min", w)) domain.min = doc_.int64(*p, w + " min");
    if (const Field* p = doc_.single(parts, "max", w)) domain.max = doc_.int64(*p, w + " max");
    if (const Field* p = doc_.single(parts, "is_categorical", w))
      domain.is_categorical = doc_.boolean(*p, w + " is_categorical");
    f.int_domain = domain;
    f.domain_where = feature_where(at(d.at) + ":", f.name);
  }

  void float_domain(Feature& f, const Field& d, const std::string& what) const {
    const auto& parts = doc_.message(d, what + " float_domain");
    check_names(parts,
                std::array<std::string_view, 7>{"name", "min", "max", "disallow_nan",
                                                "disallow_inf", "is_embedding", "is_categorical"},
                "float_domain");
    const std::string w = what + " float_domain";
    json domain = json::object();
    for (const char* key : {"min", "max"}) {
      if (const Field* p = doc_.single(parts, key, w)) {
        const double v = doc_.number(*p, w + " " + key);
        if (!std::isfinite(v)) doc_.fail(p->value_at, fmt::format("{} {}: must be finite", w, key));
        domain[key] = v;
      }
    }
    if (const Field* p = doc_.single(parts, "name", w)) {
      const std::string& name = doc_.string(*p, w + " name");
      if (!name.empty()) domain["name"] = name;
    }
    f.float_domain = domain;
  }

  void shape(Feature& f, const Field& s, const std::string& what) const {
    const auto& parts = doc_.message(s, what + " shape");
    check_names(parts, std::array<std::string_view, 1>{"dim"}, "shape");
    std::vector<const Field*> dims;
    for (const Field& p : parts) dims.push_back(&p);
    if (dims.empty()) return;
    if (dims.size() > 1) {
      doc_.fail(dims[1]->at, fmt::format("{}: shape has {} dims; recblocks columns are scalars or "
                                         "lists (one dim)",
                                         what, dims.size()));
    }
    const auto& dim = doc_.message(*dims[0], what + " shape dim");
    check_names(dim, std::array<std::string_view, 2>{"size", "name"}, "shape dim");
    const Field* size = doc_.single(dim, "size", what + " shape dim");
    f.fixed_size = size ? doc_.int64(*size, what + " shape dim size") : 0;
  }

  void annotation(Feature& f, const Field& a, const std::string& what) const {
    const auto& parts = doc_.message(a, what + " annotation");
    check_names(parts, std::array<std::string_view, 3>{"tag", "comment", "extra_metadata"},
                "annotation");
    const Field* extra = nullptr;
    for (const Field& p : parts) {
      if (p.name == "tag") {
        f.tags.emplace_back(doc_.string(p, what + " tag"),
                            feature_where(at(p.value_at) + ":", f.name));
      } else if (p.name == "extra_metadata") {
        if (extra != nullptr) {
          doc_.fail(p.at, fmt::format("{}: a second extra_metadata (first at line {}); Merlin "
                                      "writes one, a google.protobuf.Struct",
                                      what, extra->at.line));
        }
        extra = &p;
      }
    }
    if (extra != nullptr) {
      f.extra = any_struct(*extra, what + " extra_metadata");
      f.extra_where = feature_where(at(extra->at) + ":", f.name);
    }
  }

  // google.protobuf.Any holding a Struct: expanded, or type_url + value bytes.
  json any_struct(const Field& any, const std::string& what) const {
    const auto& parts = doc_.message(any, what);
    const Field* url = nullptr;
    const Field* value = nullptr;
    const Field* expanded = nullptr;
    for (const Field& p : parts) {
      if (p.name == "type_url") {
        url = doc_.single(parts, "type_url", what);
      } else if (p.name == "value") {
        value = doc_.single(parts, "value", what);
      } else if (p.name.starts_with("[")) {
        if (expanded != nullptr) {
          doc_.fail(p.at, fmt::format("{}: an Any holds one message, got a second one", what));
        }
        expanded = &p;
      } else {
        doc_.fail(p.at, fmt::format("unknown field {} in {} (a google.protobuf.Any); expected "
                                    "type_url and value, or [{}] {{ ... }}",
                                    quoted_excerpt(p.name, 80), what, kStructUrl));
      }
    }
    const auto check_type = [&](std::string_view type, const Position& p) {
      const std::size_t slash = type.rfind('/');
      if (slash == std::string_view::npos || type.substr(slash + 1) != kStructType) {
        doc_.fail(p, fmt::format("{}: holds a {}, expected a {} ({})", what,
                                 quoted_excerpt(type, 80), kStructType, kStructUrl));
      }
    };
    if (expanded != nullptr) {
      if (url != nullptr || value != nullptr) {
        doc_.fail(expanded->at, fmt::format("{}: give the Any either expanded or as type_url and "
                                            "value, not both",
                                            what));
      }
      check_type(std::string_view(expanded->name).substr(1, expanded->name.size() - 2),
                 expanded->at);
      return doc_.struct_from_text(doc_.message(*expanded, what), what);
    }
    if (url == nullptr && value == nullptr) return json::object();  // an empty Any
    if (url == nullptr) doc_.fail(any.at, fmt::format("{}: a value without a type_url", what));
    check_type(doc_.string(*url, what + " type_url"), url->value_at);
    if (value == nullptr) return json::object();
    // The Struct sits at depth 4: feature, annotation, extra_metadata, Any.
    return doc_.struct_from_wire(doc_.bytes(*value, what + " value"), value->value_at, what, 4);
  }

  const text_proto::Document& doc_;
};

// ---- writing -------------------------------------------------------------------

// merlin-core 23.08's TagSet refuses these pairs on one column (TAG_COLLISIONS);
// recblocks' own TagSet refuses only the first.
constexpr std::array<std::pair<Tag, Tag>, 5> kMerlinCollisions{{
    {Tags::CATEGORICAL, Tags::CONTINUOUS},
    {Tags::CATEGORICAL, Tags::EMBEDDING},
    {Tags::CONTINUOUS, Tags::EMBEDDING},
    {Tags::CONTINUOUS, Tags::ID},
    {Tags::EMBEDDING, Tags::ID},
}};

// Merlin 23.08's strings for a column's tags. A list column's LIST tag is
// left out: merlin-core 23.08 keeps list-ness in the shape (_dims,
// value_count), and recblocks adds the tag back to a list column it reads.
std::vector<std::string> merlin_tags(const ColumnSchema& c) {
  const TagSet& tags = c.tags();
  std::vector<std::string> out;
  const bool classification = tags.has(Tags::CLASSIFICATION);
  for (Tag t : tags.atomic()) {
    if (t == Tags::LIST && c.is_list()) continue;
    if (classification && (t == Tags::BINARY || t == Tags::MULTI_CLASS)) continue;
    if (t == Tags::CLASSIFICATION && (tags.has(Tags::BINARY) || tags.has(Tags::MULTI_CLASS))) {
      if (tags.has(Tags::BINARY)) out.emplace_back(Tags::BINARY_CLASSIFICATION.name());
      if (tags.has(Tags::MULTI_CLASS)) out.emplace_back(Tags::MULTI_CLASS_CLASSIFICATION.name());
      continue;
    }
    out.emplace_back(t.name());
  }
  return out;
}

// A float column's "domain" property as Merlin's float_domain, when it is one.
std::optional<json> float_domain_of(const ColumnSchema& c) {
  if (is_integer(c.dtype()) || !c.properties().contains("domain")) return std::nullopt;
  const json& d = c.properties()["domain"];
  if (!d.is_object()) return std::nullopt;
  for (const auto& [key, value] : d.items()) {
    const bool ok = key == "name" ? value.is_string() && !value.get<std::string>().empty()
                                  : (key == "min" || key == "max") && value.is_number();
    if (!ok) return std::nullopt;
  }
  return d;
}

// Properties must fit a google.protobuf.Struct in a schema.pbtxt that
// reads back: finite numbers, no binary, values at most kMaxDepth messages
// deep (a property value sits at depth 6: feature, annotation,
// extra_metadata, the Struct, fields, value).
void check_property(const json& v, int depth, const std::string& column) {
  RB_CHECK(depth <= text_proto::kMaxDepth, ValueError,
           "column '{}': its properties nest too deep for a schema.pbtxt (messages at most {} "
           "deep)",
           column, text_proto::kMaxDepth);
  if (v.is_number_float()) {
    RB_CHECK(std::isfinite(v.get<double>()), ValueError,
             "column '{}': a property holds {}, which a google.protobuf.Struct cannot", column,
             v.get<double>());
  } else if (v.is_binary()) {
    throw ValueError(
        fmt::format("column '{}': a property holds binary data, which a Struct cannot", column));
  } else if (v.is_object() || v.is_array()) {
    // struct_value { fields { value { ... } } } or list_value { values { ... } }
    RB_CHECK(depth + 1 <= text_proto::kMaxDepth, ValueError,
             "column '{}': its properties nest too deep for a schema.pbtxt (messages at most {} "
             "deep)",
             column, text_proto::kMaxDepth);
    for (const json& child : v) check_property(child, depth + (v.is_object() ? 3 : 2), column);
  }
}

// One column as merlin-core 23.08's _pb_feature writes it.
struct OutFeature {
  std::string name;
  bool integer = false;
  std::optional<Domain> int_domain;
  bool is_categorical = false;
  std::optional<json> float_domain;
  std::optional<ValueCount> value_count;
  std::vector<std::string> tags;
  json extra;
};

OutFeature out_feature(const ColumnSchema& c) {
  RB_CHECK(c.dtype() != DType::kBFloat16, ValueError,
           "column '{}': bfloat16 has no Merlin dtype (Merlin's are int8 to int64 and float16 "
           "to float64); make it a float32 column first",
           c.name());
  for (const auto& [a, b] : kMerlinCollisions) {
    RB_CHECK(!(c.has_tag(a) && c.has_tag(b)), ValueError,
             "column '{}': merlin-core refuses the tags '{}' and '{}' on one column (its TagSet "
             "collisions); remove one before writing a Merlin schema",
             c.name(), a.name(), b.name());
  }
  OutFeature f;
  f.name = c.name();
  f.integer = is_integer(c.dtype());
  f.int_domain = c.domain();
  f.is_categorical = c.has_tag(Tags::CATEGORICAL);
  f.float_domain = float_domain_of(c);
  if (c.is_list()) f.value_count = c.value_count();
  f.tags = merlin_tags(c);

  f.extra = c.properties();
  if (f.float_domain) f.extra.erase("domain");
  f.extra.erase("value_count");
  json dims = json::array({json::array({0, nullptr})});
  if (c.is_list()) {
    const std::optional<ValueCount>& vc = c.value_count();
    if (!c.is_ragged()) {
      dims.push_back(vc->max);
    } else {
      dims.push_back(
          json::array({vc ? vc->min : 0, vc && vc->max > 0 ? json(vc->max) : json(nullptr)}));
    }
  }
  f.extra["_dims"] = dims;
  f.extra["is_list"] = c.is_list();
  f.extra["is_ragged"] = c.is_ragged();
  f.extra["dtype_item_size"] = c.dtype() == DType::kInt64 ? 64 : 32;
  if (c.embedding_dim() && !f.extra.contains("embedding_sizes")) {
    f.extra["embedding_sizes"] = derived_embedding_sizes(c);
  }
  for (const json& v : f.extra) check_property(v, 6, c.name());
  if (f.float_domain) {
    for (const json& v : *f.float_domain) check_property(v, 6, c.name());
  }
  return f;
}

// A JSON number (checked finite) as a text-format number.
std::string number_text(const json& v) {
  if (v.is_number_integer()) return v.dump();
  return fmt::format("{}", v.get<double>());
}

void print_value(std::string& out, const json& v, int indent);

void print_struct(std::string& out, const json& object, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  for (const auto& [key, value] : object.items()) {
    out += pad + "fields {\n";
    out += pad + "  key: " + text_proto::quote(key) + "\n";
    out += pad + "  value {\n";
    print_value(out, value, indent + 4);
    out += pad + "  }\n";
    out += pad + "}\n";
  }
}

void print_value(std::string& out, const json& v, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  switch (v.type()) {
    case json::value_t::null: out += pad + "null_value: NULL_VALUE\n"; return;
    case json::value_t::boolean:
      out += pad + "bool_value: " + (v.get<bool>() ? "true" : "false") + "\n";
      return;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: out += pad + "number_value: " + number_text(v) + "\n"; return;
    case json::value_t::string:
      out += pad + "string_value: " + text_proto::quote(v.get_ref<const std::string&>()) + "\n";
      return;
    case json::value_t::object:
      out += pad + "struct_value {\n";
      print_struct(out, v, indent + 2);
      out += pad + "}\n";
      return;
    case json::value_t::array:
      out += pad + "list_value {\n";
      for (const json& e : v) {
        out += pad + "  values {\n";
        print_value(out, e, indent + 4);
        out += pad + "  }\n";
      }
      out += pad + "}\n";
      return;
    default: return;  // binary: refused by check_property
  }
}

}  // namespace

Schema from_proto_json(const nlohmann::json& j, std::string_view source) {
  const json& list = j.at("feature");
  RB_CHECK(list.is_array(), ValueError, "{}: 'feature' must be an array", source);
  std::vector<Feature> features;
  for (std::size_t i = 0; i < list.size(); ++i)
    features.push_back(json_feature(list[i], source, i));
  if (features.empty()) return Schema();
  return to_schema(std::move(features));
}

Schema from_text(std::string_view text, std::string_view source) {
  const text_proto::Document doc(text, std::string(source));
  std::vector<Feature> features = TextReader(doc).features();
  // An empty Schema message is valid protobuf, but as a file it is a
  // mistake (an empty or cut file, another kind of .pbtxt).
  RB_CHECK(!features.empty(), ValueError,
           "{}: no feature in the file; a Merlin schema.pbtxt lists its columns as "
           "feature {{ name: ... }}",
           source);
  return to_schema(std::move(features));
}

std::string to_text(const Schema& schema) {
  std::string out = fmt::format(
      "# tensorflow-metadata Schema (protobuf text format), as merlin-core writes it; written "
      "by recblocks {}\n",
      kVersion);
  for (const ColumnSchema& c : schema) {
    const OutFeature f = out_feature(c);
    out += "feature {\n";
    out += "  name: " + text_proto::quote(f.name) + "\n";
    if (f.value_count) {
      out += fmt::format("  value_count {{\n    min: {}\n    max: {}\n  }}\n", f.value_count->min,
                         f.value_count->max);
    }
    out += f.integer ? "  type: INT\n" : "  type: FLOAT\n";
    if (f.int_domain) {
      out += "  int_domain {\n";
      out += "    name: " + text_proto::quote(f.int_domain->name) + "\n";
      out += fmt::format("    min: {}\n    max: {}\n", f.int_domain->min, f.int_domain->max);
      out += fmt::format("    is_categorical: {}\n  }}\n", f.is_categorical);
    }
    if (f.float_domain) {
      out += "  float_domain {\n";
      if (f.float_domain->contains("name")) {
        out +=
            "    name: " + text_proto::quote((*f.float_domain)["name"].get<std::string>()) + "\n";
      }
      for (const char* key : {"min", "max"}) {
        if (f.float_domain->contains(key))
          out += fmt::format("    {}: {}\n", key, number_text((*f.float_domain)[key]));
      }
      out += "  }\n";
    }
    out += "  annotation {\n";
    for (const std::string& t : f.tags) out += "    tag: " + text_proto::quote(t) + "\n";
    out += "    extra_metadata {\n";
    out += fmt::format("      [{}] {{\n", kStructUrl);
    print_struct(out, f.extra, 8);
    out += "      }\n    }\n  }\n}\n";
  }
  return out;
}

nlohmann::ordered_json to_proto_json(const Schema& schema) {
  ordered_json features = ordered_json::array();
  for (const ColumnSchema& c : schema) {
    const OutFeature f = out_feature(c);
    ordered_json j;
    j["name"] = f.name;
    // proto-JSON writes 64-bit integers as strings.
    if (f.value_count) {
      j["valueCount"] = {{"min", std::to_string(f.value_count->min)},
                         {"max", std::to_string(f.value_count->max)}};
    }
    j["type"] = f.integer ? "INT" : "FLOAT";
    if (f.int_domain) {
      j["intDomain"] = {{"name", f.int_domain->name},
                        {"min", std::to_string(f.int_domain->min)},
                        {"max", std::to_string(f.int_domain->max)},
                        {"isCategorical", f.is_categorical}};
    }
    if (f.float_domain) j["floatDomain"] = ordered_json(*f.float_domain);
    j["annotation"] = {{"tag", f.tags},
                       {"extraMetadata", ordered_json::array({ordered_json(f.extra)})}};
    features.push_back(std::move(j));
  }
  return {{"feature", std::move(features)}};
}

}  // namespace recblocks::merlin
