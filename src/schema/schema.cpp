#include "recblocks/schema/schema.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <ostream>
#include <sstream>
#include <unordered_set>

#include "recblocks/core/error.h"
#include "recblocks/io/atomic.h"
#include "recblocks/io/json.h"
#include "recblocks/io/paths.h"
#include "schema/merlin.h"

namespace recblocks {

namespace schema_detail {

namespace {

// The value for a message: short ones as JSON, long ones cut.
std::string shown(const nlohmann::json& j) {
  std::string text = j.dump();
  return text.size() <= 100 ? text : quoted_excerpt(text, 100);
}

}  // namespace

// Proto-JSON writes 64-bit integers as strings ("max": "6041").
std::int64_t json_int(const nlohmann::json& j, std::string_view where) {
  if (j.is_number_unsigned()) {
    RB_CHECK(j.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX), ValueError,
             "{}: {} is too large, expected an integer up to {}", where, shown(j), INT64_MAX);
    return j.get<std::int64_t>();
  }
  if (j.is_number_integer()) return j.get<std::int64_t>();
  if (j.is_number_float()) {
    // A whole number written as a float (1e6) is taken; 1.5 or 1e30 is not
    // silently cut to some other integer.
    const double v = j.get<double>();
    RB_CHECK(std::isfinite(v) && v == std::trunc(v) && v >= -9.2e18 && v <= 9.2e18, ValueError,
             "{}: expected an integer, got {}", where, shown(j));
    return static_cast<std::int64_t>(v);
  }
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    std::size_t used = 0;
    try {
      const std::int64_t v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
  }
  throw ValueError(fmt::format("{}: expected an integer, got {}", where, shown(j)));
}

}  // namespace schema_detail

namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "recblocks.schema";
constexpr int kFormatVersion = 1;

std::string available(const std::vector<std::string>& names) {
  return names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", "));
}

DType parse_dtype(std::string_view name, std::string_view where) {
  for (DType d : {DType::kFloat32, DType::kInt32, DType::kInt64, DType::kBFloat16}) {
    if (dtype_name(d) == name) return d;
  }
  throw ValueError(fmt::format("{}: unknown dtype '{}', expected float32, int32, int64 or bfloat16",
                               where, name));
}

using schema_detail::json_int;

// Rejects keys other than `known`, naming the first unknown one.
void check_keys(const json& j, std::initializer_list<std::string_view> known,
                std::string_view where) {
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    RB_CHECK(ok, ValueError, "{}: unknown key '{}'; expected one of: {}", where, key,
             fmt::join(known, ", "));
  }
}

const json& require(const json& j, const char* key, std::string_view where) {
  RB_CHECK(j.is_object() && j.contains(key), ValueError, "{}: missing key '{}'", where, key);
  return j.at(key);
}

// ---- recblocks' own format -------------------------------------------------

json column_to_json(const ColumnSchema& c) {
  json j;
  j["name"] = c.name();
  j["dtype"] = std::string(dtype_name(c.dtype()));
  j["tags"] = c.tags().names();
  if (c.domain()) {
    j["domain"] = {{"min", c.domain()->min}, {"max", c.domain()->max}, {"name", c.domain()->name}};
  }
  j["is_list"] = c.is_list();
  j["is_ragged"] = c.is_ragged();
  if (c.value_count())
    j["value_count"] = {{"min", c.value_count()->min}, {"max", c.value_count()->max}};
  if (c.embedding_dim()) j["embedding_dim"] = *c.embedding_dim();
  j["properties"] = c.properties();
  return j;
}

ColumnSchema column_from_json(const json& j, std::string_view where) {
  RB_CHECK(j.is_object(), ValueError, "{}: expected a JSON object, got {}", where, j.dump());
  check_keys(j,
             {"name", "dtype", "tags", "domain", "is_list", "is_ragged", "value_count",
              "embedding_dim", "properties"},
             where);
  const std::string name = require(j, "name", where).get<std::string>();
  const std::string at = fmt::format("{} column '{}'", where, name);
  std::vector<Tag> tags;
  for (const json& t : j.value("tags", json::array()))
    tags.push_back(Tag::parse(t.get<std::string>()));
  ColumnSchema c(name, parse_dtype(require(j, "dtype", at).get<std::string>(), at), TagSet(tags));
  if (j.contains("domain")) {
    const json& d = j.at("domain");
    check_keys(d, {"min", "max", "name"}, at + " domain");
    c = c.with_domain({json_int(require(d, "min", at), at), json_int(require(d, "max", at), at),
                       d.value("name", std::string())});
  }
  if (j.value("is_list", false)) {
    std::optional<ValueCount> vc;
    if (j.contains("value_count")) {
      const json& v = j.at("value_count");
      vc = ValueCount{json_int(require(v, "min", at), at), json_int(require(v, "max", at), at)};
    }
    c = c.with_list(true, j.value("is_ragged", true), vc);
  }
  if (j.contains("embedding_dim")) c = c.with_embedding_dim(json_int(j.at("embedding_dim"), at));
  if (j.contains("properties")) c = c.with_properties(j.at("properties"));
  return c;
}

}  // namespace

// ---- ColumnSchema ---------------------------------------------------------

ColumnSchema::ColumnSchema(std::string name, DType dtype, TagSet tags)
    : name_(std::move(name)), dtype_(dtype), tags_(tags) {
  RB_CHECK(!name_.empty(), ValueError, "a column needs a non-empty name");
}

std::int64_t ColumnSchema::cardinality() const {
  RB_CHECK(domain_.has_value(), ValueError,
           "column '{}' has no integer domain, so no cardinality (tags {})", name_,
           to_string(tags_));
  return domain_->max + 1;
}

ColumnSchema ColumnSchema::with_name(std::string name) const {
  RB_CHECK(!name.empty(), ValueError, "a column needs a non-empty name");
  ColumnSchema c = *this;
  c.name_ = std::move(name);
  return c;
}

ColumnSchema ColumnSchema::with_dtype(DType dtype) const {
  ColumnSchema c = *this;
  c.dtype_ = dtype;
  return c;
}

ColumnSchema ColumnSchema::with_tags(const TagSet& tags) const {
  ColumnSchema c = *this;
  try {
    c.tags_ = tags_.with(tags);
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("column '{}': {}", name_, e.what()));
  }
  return c;
}

ColumnSchema ColumnSchema::without_tags(const TagSet& tags) const {
  ColumnSchema c = *this;
  c.tags_ = tags_.without(Tag(tags.bits()));
  if (!c.tags_.has(Tags::LIST)) c.is_list_ = false;
  return c;
}

ColumnSchema ColumnSchema::with_domain(Domain domain) const {
  RB_CHECK(domain.min <= domain.max, ValueError, "column '{}': domain min {} > max {}", name_,
           domain.min, domain.max);
  // cardinality() = max + 1 must exist, and ids are stored in the column's
  // dtype: a larger max is a size no table can have.
  const std::int64_t dtype_max = dtype_ == DType::kInt32 ? INT32_MAX : INT64_MAX - 1;
  RB_CHECK(domain.max <= dtype_max, ValueError,
           "column '{}': domain max {} is too large, expected at most {} for an {} column (ids are "
           "0..max, the cardinality max + 1)",
           name_, domain.max, dtype_max, dtype_name(dtype_));
  RB_CHECK(is_integer(dtype_), ValueError,
           "column '{}': an integer domain needs an int32 or int64 column, got {}", name_,
           dtype_name(dtype_));
  ColumnSchema c = *this;
  if (domain.name.empty()) domain.name = name_;
  c.domain_ = std::move(domain);
  return c;
}

ColumnSchema ColumnSchema::with_list(bool is_list, bool is_ragged,
                                     std::optional<ValueCount> value_count) const {
  ColumnSchema c = *this;
  c.is_list_ = is_list;
  c.is_ragged_ = is_list && is_ragged;
  c.value_count_ = is_list ? value_count : std::nullopt;
  c.tags_ = is_list ? tags_.with(Tags::LIST) : tags_.without(Tags::LIST);
  if (is_list && !is_ragged) {
    RB_CHECK(value_count && value_count->min == value_count->max && value_count->max > 0,
             ValueError, "column '{}': a fixed-length list needs value_count min == max > 0",
             name_);
  }
  if (value_count) {
    RB_CHECK(
        value_count->min >= 0 && (value_count->max == 0 || value_count->min <= value_count->max),
        ValueError, "column '{}': bad value_count [{}, {}]", name_, value_count->min,
        value_count->max);
  }
  return c;
}

ColumnSchema ColumnSchema::with_embedding_dim(std::int64_t dim) const {
  RB_CHECK(dim > 0, ValueError, "column '{}': embedding dim must be > 0, got {}", name_, dim);
  ColumnSchema c = *this;
  c.embedding_dim_ = dim;
  return c;
}

ColumnSchema ColumnSchema::with_properties(const nlohmann::json& properties) const {
  RB_CHECK(properties.is_object(), ValueError,
           "column '{}': properties must be a JSON object, got {}", name_, properties.dump());
  ColumnSchema c = *this;
  c.properties_.update(properties);
  return c;
}

// ---- Schema ---------------------------------------------------------------

Schema::Schema(std::vector<ColumnSchema> columns) : columns_(std::move(columns)) {
  std::unordered_set<std::string_view> seen;
  for (const ColumnSchema& c : columns_) {
    RB_CHECK(seen.insert(c.name()).second, ValueError, "duplicate column '{}' in schema", c.name());
  }
}

Schema::Schema(std::initializer_list<ColumnSchema> columns)
    : Schema(std::vector<ColumnSchema>(columns)) {}

bool Schema::contains(std::string_view name) const {
  for (const ColumnSchema& c : columns_) {
    if (c.name() == name) return true;
  }
  return false;
}

const ColumnSchema& Schema::column(std::string_view name) const {
  for (const ColumnSchema& c : columns_) {
    if (c.name() == name) return c;
  }
  throw ValueError(
      fmt::format("no column '{}' in the schema; available: {}", name, available(column_names())));
}

const ColumnSchema& Schema::first() const {
  RB_CHECK(!columns_.empty(), ValueError, "first(): the schema is empty");
  return columns_.front();
}

std::vector<std::string> Schema::column_names() const {
  std::vector<std::string> names;
  names.reserve(columns_.size());
  for (const ColumnSchema& c : columns_) names.push_back(c.name());
  return names;
}

Schema Schema::select_by_name(const std::vector<std::string>& names) const {
  std::vector<ColumnSchema> out;
  out.reserve(names.size());
  for (const std::string& n : names) out.push_back(column(n));
  return Schema(std::move(out));
}

Schema Schema::select_by_tag(Tag tag) const { return select_by_tag(std::vector<Tag>{tag}); }

Schema Schema::select_by_tag(const std::vector<Tag>& tags) const {
  std::vector<ColumnSchema> out;
  for (const ColumnSchema& c : columns_) {
    for (Tag t : tags) {
      if (c.has_tag(t)) {
        out.push_back(c);
        break;
      }
    }
  }
  return Schema(std::move(out));
}

Schema Schema::remove_by_tag(Tag tag) const { return remove_by_tag(std::vector<Tag>{tag}); }

Schema Schema::remove_by_tag(const std::vector<Tag>& tags) const {
  return *this - select_by_tag(tags);
}

Schema Schema::without(const std::vector<std::string>& names) const {
  std::vector<ColumnSchema> out;
  for (const ColumnSchema& c : columns_) {
    if (std::find(names.begin(), names.end(), c.name()) == names.end()) out.push_back(c);
  }
  return Schema(std::move(out));
}

Schema Schema::operator+(const Schema& other) const {
  std::vector<ColumnSchema> out = columns_;
  for (const ColumnSchema& c : other) {
    if (!contains(c.name())) {
      out.push_back(c);
      continue;
    }
    RB_CHECK(column(c.name()) == c, ValueError,
             "cannot merge schemas: column '{}' differs between them", c.name());
  }
  return Schema(std::move(out));
}

Schema Schema::operator-(const Schema& other) const {
  std::vector<ColumnSchema> out;
  for (const ColumnSchema& c : columns_) {
    if (!other.contains(c.name())) out.push_back(c);
  }
  return Schema(std::move(out));
}

Schema Schema::with_column(ColumnSchema column) const {
  std::vector<ColumnSchema> out = columns_;
  for (ColumnSchema& c : out) {
    if (c.name() == column.name()) {
      c = std::move(column);
      return Schema(std::move(out));
    }
  }
  out.push_back(std::move(column));
  return Schema(std::move(out));
}

nlohmann::json Schema::to_json() const {
  json columns = json::array();
  for (const ColumnSchema& c : columns_) columns.push_back(column_to_json(c));
  return {{"format", kFormat}, {"version", kFormatVersion}, {"columns", columns}};
}

Schema Schema::from_json(const nlohmann::json& j, std::string_view source) {
  RB_CHECK(j.is_object(), ValueError, "{}: expected a JSON object at the top level", source);
  if (j.contains("feature")) return merlin::from_proto_json(j, source);  // Merlin / NVTabular
  std::vector<ColumnSchema> columns;
  check_keys(j, {"format", "version", "columns"}, source);
  RB_CHECK(j.value("format", std::string()) == kFormat, ValueError,
           "{}: not a schema file (expected \"format\": \"{}\", or Merlin's \"feature\" list)",
           source, kFormat);
  const std::int64_t version = json_int(require(j, "version", source), source);
  RB_CHECK(version == kFormatVersion, ValueError,
           "{}: schema format version {} is not supported (this recblocks reads version {})",
           source, version, kFormatVersion);
  const json& cols = require(j, "columns", source);
  RB_CHECK(cols.is_array(), ValueError, "{}: 'columns' must be an array", source);
  for (std::size_t i = 0; i < cols.size(); ++i) {
    columns.push_back(column_from_json(cols[i], fmt::format("{} columns[{}]", source, i)));
  }
  return Schema(std::move(columns));
}

std::string Schema::to_merlin_pbtxt() const { return merlin::to_text(*this); }

nlohmann::ordered_json Schema::to_merlin_json() const { return merlin::to_proto_json(*this); }

Schema Schema::from_merlin_pbtxt(std::string_view text, std::string_view source) {
  return merlin::from_text(text, source);
}

void Schema::save(const std::filesystem::path& path, SchemaFormat format) const {
  std::string text;
  switch (format) {
    case SchemaFormat::kRecblocks: text = to_json().dump(2) + "\n"; break;
    case SchemaFormat::kMerlinPbtxt: text = to_merlin_pbtxt(); break;
    case SchemaFormat::kMerlinJson: text = to_merlin_json().dump(2) + "\n"; break;
  }
  io::write_file_atomic(path, text);
}

namespace {

bool is_text_proto_name(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".pbtxt" || ext == ".textproto" || ext == ".txtpb" || ext == ".prototxt";
}

// JSON unless the name says text proto; other names (schema.pb, as older
// NVTabular named its text) by the first byte that is not space.
bool is_json(const std::filesystem::path& path, std::string_view text) {
  if (path.extension() == ".json") return true;
  if (is_text_proto_name(path)) return false;
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
}

}  // namespace

Schema Schema::load(const std::filesystem::path& path) {
  io::check_input_file(path);
  std::ifstream in(path, std::ios::binary);
  RB_CHECK(in.good(), Error, "{}: cannot open the schema file", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (!is_json(path, text)) return merlin::from_text(text, path.string());
  const json j = io::parse_json_text(text, path.string());
  try {
    return from_json(j, path.string());
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("{}: unexpected JSON value: {}", path.string(), e.what()));
  } catch (const ValueError& e) {
    // A column's own checks (ColumnSchema::with_*) name the column, not
    // the file.
    if (std::string_view(e.what()).find(path.string()) != std::string_view::npos) throw;
    throw ValueError(fmt::format("{}: {}", path.string(), e.what()));
  }
}

std::ostream& operator<<(std::ostream& os, const Schema& schema) {
  os << "Schema(" << schema.size() << " columns)\n";
  for (const ColumnSchema& c : schema) {
    os << fmt::format("  {:<24} {:<8} {}", c.name(), dtype_name(c.dtype()), to_string(c.tags()));
    if (c.domain()) os << fmt::format(" domain [{}, {}]", c.domain()->min, c.domain()->max);
    if (c.is_list()) os << (c.is_ragged() ? " ragged list" : " fixed list");
    os << '\n';
  }
  return os;
}

}  // namespace recblocks

namespace recblocks {

SchemaFormat parse_schema_format(std::string_view name) {
  for (SchemaFormat f :
       {SchemaFormat::kRecblocks, SchemaFormat::kMerlinPbtxt, SchemaFormat::kMerlinJson}) {
    if (schema_format_name(f) == name) return f;
  }
  throw ValueError(
      fmt::format("unknown schema format {}; expected recblocks, merlin-pbtxt or "
                  "merlin-json",
                  quoted_excerpt(name, 80)));
}

std::string_view schema_format_name(SchemaFormat format) {
  switch (format) {
    case SchemaFormat::kRecblocks: return "recblocks";
    case SchemaFormat::kMerlinPbtxt: return "merlin-pbtxt";
    case SchemaFormat::kMerlinJson: return "merlin-json";
  }
  return "?";
}

}  // namespace recblocks
