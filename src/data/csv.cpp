#include "recblocks/data/csv.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <deque>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <unordered_map>

#include "data/text_input.h"
#include "recblocks/core/error.h"
#include "recblocks/io/atomic.h"
#include "recblocks/io/paths.h"

namespace recblocks::datasets {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- the schema file ---------------------------------------------------------

// A JSON value as shown in an error message: cut and escaped.
std::string dumped(const json& j) { return text_input::shown(j.dump()); }

void check_keys(const json& j, std::initializer_list<std::string_view> known,
                std::string_view where) {
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    RB_CHECK(ok, ValueError, "{}: unknown key {}, expected one of: {}", where,
             text_input::shown(key), fmt::join(known, ", "));
  }
}

std::string get_string(const json& j, std::string_view where) {
  RB_CHECK(j.is_string(), ValueError, "{}: expected a string, found {}", where, dumped(j));
  return j.get<std::string>();
}

std::int64_t get_int(const json& j, std::string_view where) {
  // An unsigned value above INT64_MAX would wrap to a negative one.
  RB_CHECK(j.is_number_integer() &&
               (!j.is_number_unsigned() ||
                j.get<std::uint64_t>() <=
                    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())),
           ValueError, "{}: expected an integer (at most {}), found {}", where,
           std::numeric_limits<std::int64_t>::max(), dumped(j));
  return j.get<std::int64_t>();
}

char get_char(const json& j, std::string_view where) {
  const std::string s = get_string(j, where);
  RB_CHECK(s.size() == 1, ValueError, "{}: expected one character, found {}", where,
           text_input::shown(s));
  return s[0];
}

etl::CategorifyOptions parse_categorify(const json& j, std::string_view where) {
  RB_CHECK(j.is_object(), ValueError, "{}: expected an object, found {}", where, dumped(j));
  check_keys(j, {"min_frequency", "max_size", "num_buckets", "on_oov"}, where);
  etl::CategorifyOptions o;
  if (j.contains("min_frequency"))
    o.min_frequency = get_int(j["min_frequency"], fmt::format("{}.min_frequency", where));
  if (j.contains("max_size"))
    o.max_size = get_int(j["max_size"], fmt::format("{}.max_size", where));
  if (j.contains("num_buckets"))
    o.num_buckets = get_int(j["num_buckets"], fmt::format("{}.num_buckets", where));
  RB_CHECK(o.min_frequency >= 1 && o.max_size >= 0 && o.num_buckets >= 0, ValueError,
           "{}: expected min_frequency >= 1, max_size >= 0, num_buckets >= 0, found {}", where,
           dumped(j));
  if (j.contains("on_oov")) {
    const std::string v = get_string(j["on_oov"], fmt::format("{}.on_oov", where));
    RB_CHECK(v == "oov" || v == "raise", ValueError, "{}.on_oov: {}, expected \"oov\" or \"raise\"",
             where, text_input::shown(v));
    o.on_oov = v == "oov" ? etl::OnOov::kMapToOov : etl::OnOov::kRaise;
  }
  return o;
}

CsvColumn parse_column(const json& j, std::size_t position, std::string_view source) {
  const std::string where = fmt::format("{}: columns[{}]", source, position);
  RB_CHECK(j.is_object(), ValueError, "{}: expected an object, found {}", where, dumped(j));
  CsvColumn c;
  RB_CHECK(j.contains("name"), ValueError, "{}: missing key 'name'", where);
  c.name = get_string(j["name"], where + ".name");
  const std::string at = fmt::format("{} ({})", where, text_input::shown(c.name, 60));
  check_keys(j,
             {"name", "source", "tags", "dtype", "separator", "categorify", "fill", "properties",
              "embedding_dim"},
             at);
  if (j.contains("source")) {
    if (j["source"].is_number_integer()) {
      c.index = get_int(j["source"], at + ".source");
      RB_CHECK(*c.index >= 0, ValueError, "{}.source: field index {}, expected >= 0", at, *c.index);
    } else {
      c.source = get_string(j["source"], at + ".source");
    }
  }
  RB_CHECK(j.contains("tags") && j["tags"].is_array(), ValueError,
           "{}: missing key 'tags' (a list of tag names)", at);
  std::vector<Tag> tags;
  for (const auto& t : j["tags"]) tags.push_back(Tag::parse(get_string(t, at + ".tags")));
  c.tags = TagSet(tags);
  RB_CHECK(
      c.tags.has(Tags::CATEGORICAL) || c.tags.has(Tags::CONTINUOUS) || c.tags.has(Tags::TARGET),
      ValueError, "{}: tags {} name no kind, expected one of categorical, continuous or target", at,
      to_string(c.tags));
  const bool binary = c.tags.has(Tags::BINARY_CLASSIFICATION) || c.tags.has(Tags::BINARY);
  c.dtype = c.is_categorical() || binary ? DType::kInt32 : DType::kFloat32;
  if (j.contains("dtype")) {
    const std::string d = get_string(j["dtype"], at + ".dtype");
    RB_CHECK(d == "float32" || d == "int32", ValueError,
             "{}.dtype: {}, expected \"float32\" or \"int32\"", at, text_input::shown(d));
    RB_CHECK(!c.is_categorical() || d == "int32", ValueError,
             "{}.dtype: {}, but categorical columns are int32 ids", at, text_input::shown(d));
    c.dtype = d == "int32" ? DType::kInt32 : DType::kFloat32;
  }
  if (j.contains("separator")) c.separator = get_char(j["separator"], at + ".separator");
  if (j.contains("categorify")) {
    RB_CHECK(c.is_categorical(), ValueError,
             "{}: 'categorify' on a column without the categorical tag", at);
    c.categorify = parse_categorify(j["categorify"], at + ".categorify");
  }
  if (j.contains("fill")) {
    const json& f = j["fill"];
    RB_CHECK(f.is_string() || f.is_number(), ValueError,
             "{}.fill: expected a string or a number, found {}", at, dumped(f));
    c.fill = f.is_string() ? f.get<std::string>() : f.dump();
  }
  if (j.contains("properties")) {
    RB_CHECK(j["properties"].is_object(), ValueError, "{}.properties: expected an object", at);
    c.properties = j["properties"];
  }
  if (j.contains("embedding_dim")) {
    c.embedding_dim = get_int(j["embedding_dim"], at + ".embedding_dim");
    RB_CHECK(*c.embedding_dim >= 1, ValueError, "{}.embedding_dim: {}, expected >= 1", at,
             *c.embedding_dim);
  }
  return c;
}

// ---- records -------------------------------------------------------------------

// Splits the text into records of fields, honouring quotes. Unquoted
// fields and quoted fields without doubled quotes are views of the text;
// the others are unescaped into owned strings.
class RecordReader {
 public:
  // Unescaped fields go to `owned`, which must outlive the fields.
  RecordReader(const fs::path& file, std::string_view text, char delimiter, char quote,
               std::deque<std::string>& owned)
      : file_(file), text_(text), delimiter_(delimiter), quote_(quote), owned_(owned) {}

  // The next non-empty record; false at the end. line() is its first line.
  bool next(std::vector<std::string_view>& fields) {
    while (pos_ < text_.size()) {
      line_ = next_line_;
      fields.clear();
      if (read_record(fields)) return true;
    }
    return false;
  }
  std::int64_t line() const { return line_; }

 private:
  // Reads one record; false for an empty line.
  bool read_record(std::vector<std::string_view>& fields) {
    if (at_end_of_line()) {
      skip_end_of_line();
      return false;
    }
    while (true) {
      fields.push_back(quote_ != '\0' && text_[pos_] == quote_ ? quoted_field() : plain_field());
      if (pos_ >= text_.size() || at_end_of_line()) break;
      ++pos_;  // the delimiter
    }
    skip_end_of_line();
    return true;
  }

  bool at_end_of_line() const {
    return pos_ >= text_.size() || text_[pos_] == '\n' ||
           (text_[pos_] == '\r' && (pos_ + 1 == text_.size() || text_[pos_ + 1] == '\n'));
  }
  void skip_end_of_line() {
    if (pos_ < text_.size() && text_[pos_] == '\r') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
    ++next_line_;
  }

  std::string_view plain_field() {
    const std::size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] != delimiter_ && !at_end_of_line()) ++pos_;
    return text_.substr(begin, pos_ - begin);
  }

  std::string_view quoted_field() {
    const std::int64_t start_line = next_line_;
    const std::size_t begin = ++pos_;
    bool doubled = false;
    while (true) {
      RB_CHECK(pos_ < text_.size(), ValueError,
               "{}:{}: unterminated quoted field, expected a closing {}", file_.string(),
               start_line, quote_);
      if (text_[pos_] == '\n') ++next_line_;
      if (text_[pos_] == quote_) {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == quote_) {
          doubled = true;
          pos_ += 2;
          continue;
        }
        break;
      }
      ++pos_;
    }
    const std::string_view inside = text_.substr(begin, pos_ - begin);
    ++pos_;  // the closing quote
    RB_CHECK(pos_ >= text_.size() || text_[pos_] == delimiter_ || at_end_of_line(), ValueError,
             "{}:{}: expected the delimiter {} or the end of the line after a closing quote, "
             "found {}",
             file_.string(), next_line_, text_input::shown(std::string_view(&delimiter_, 1)),
             text_input::shown(text_.substr(pos_, 1)));
    if (!doubled) return inside;
    std::string unescaped;
    for (std::size_t i = 0; i < inside.size(); ++i) {
      unescaped.push_back(inside[i]);
      if (inside[i] == quote_) ++i;
    }
    return owned_.emplace_back(std::move(unescaped));
  }

  const fs::path& file_;
  std::string_view text_;
  char delimiter_;
  char quote_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 1, next_line_ = 1;
  std::deque<std::string>& owned_;
};

// ---- columns --------------------------------------------------------------------

// One output column's values while the file is read.
struct ColumnData {
  const CsvColumn* spec = nullptr;
  std::size_t field = 0;                 // index in a record
  std::vector<std::string_view> keys;    // categorical (list: every element)
  std::vector<float> floats;             // continuous / target, float32
  std::vector<std::int32_t> ints;        // continuous / target, int32
  std::vector<std::int64_t> offsets{0};  // list columns: [rows + 1]

  bool is_list() const { return spec->separator.has_value(); }
};

class ColumnParser {
 public:
  ColumnParser(const fs::path& file, ColumnData& column) : file_(file), c_(column) {}

  void add(std::string_view field, std::int64_t line) {
    if (field.empty() && c_.spec->fill) field = *c_.spec->fill;
    if (!c_.is_list()) {
      add_value(field, line);
      return;
    }
    if (!field.empty()) {
      std::size_t begin = 0;
      while (true) {
        const std::size_t end = field.find(*c_.spec->separator, begin);
        add_value(field.substr(begin, end == std::string_view::npos ? end : end - begin), line);
        if (end == std::string_view::npos) break;
        begin = end + 1;
      }
    }
    c_.offsets.push_back(
        static_cast<std::int64_t>(c_.spec->is_categorical() ? c_.keys.size() : values()));
  }

 private:
  std::size_t values() const {
    return c_.spec->dtype == DType::kInt32 ? c_.ints.size() : c_.floats.size();
  }

  void add_value(std::string_view s, std::int64_t line) {
    if (c_.spec->is_categorical()) {
      c_.keys.push_back(s);  // empty = null (id 1)
      return;
    }
    // A binary column (a binary classification target) declares {0, 1}.
    const bool binary = c_.spec->tags.has(Tags::BINARY);
    if (c_.spec->dtype == DType::kInt32) {
      std::int64_t v = 0;
      if (s.empty() || !text_input::parse_integral(s, v) ||
          v < std::numeric_limits<std::int32_t>::min() ||
          v > std::numeric_limits<std::int32_t>::max()) {
        fail(s, line, binary ? "0 or 1" : "an int32 integer");
      }
      if (binary && v != 0 && v != 1) fail(s, line, "0 or 1 (the column is binary)");
      c_.ints.push_back(static_cast<std::int32_t>(v));
      return;
    }
    double v = 0;
    if (s.empty() || !text_input::parse_double(s, v)) {
      // from_chars refuses 1e400 as out of range: say so rather than "not a number".
      double unused = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), unused);
      const bool huge = ec == std::errc::result_out_of_range && end == s.data() + s.size();
      fail(s, line, huge ? "a finite float32 number (at most 3.4e38 in magnitude)" : "a number");
    }
    // NaN and infinities would reach training as values; a double beyond
    // float32's range would become an infinity.
    if (!std::isfinite(v) || std::abs(v) > static_cast<double>(std::numeric_limits<float>::max())) {
      fail(s, line, "a finite float32 number (at most 3.4e38 in magnitude)");
    }
    if (binary && v != 0.0 && v != 1.0) fail(s, line, "0 or 1 (the column is binary)");
    c_.floats.push_back(static_cast<float>(v));
  }

  [[noreturn]] void fail(std::string_view s, std::int64_t line, const char* expected) const {
    if (s.empty()) {
      throw ValueError(
          fmt::format("{}:{}: column {} ('{}'): missing value, expected {} (or give \"fill\" in "
                      "the schema file)",
                      file_.string(), line, c_.field + 1, c_.spec->name, expected));
    }
    throw ValueError(fmt::format("{}:{}: column {} ('{}'): expected {}, found {}", file_.string(),
                                 line, c_.field + 1, c_.spec->name, expected,
                                 text_input::shown(s)));
  }

  const fs::path& file_;
  ColumnData& c_;
};

}  // namespace

namespace {

// Field index of every schema column, from the header or the positions.
void resolve_fields(const fs::path& file, const std::vector<std::string_view>& header,
                    bool has_header, std::vector<ColumnData>& columns) {
  std::vector<std::string> names(header.begin(), header.end());
  // Two columns of one name: a schema column reading it would silently get
  // the first one.
  if (has_header) {
    std::unordered_map<std::string_view, std::size_t> first;
    for (std::size_t f = 0; f < header.size(); ++f) {
      const auto [it, inserted] = first.emplace(header[f], f);
      RB_CHECK(inserted, ValueError,
               "{}:1: column {}: header name {} appears twice (also column {}), expected unique "
               "names",
               file.string(), f + 1, text_input::shown(header[f]), it->second + 1);
    }
  }
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const CsvColumn& spec = *columns[i].spec;
    if (spec.index) {
      columns[i].field = static_cast<std::size_t>(*spec.index);
    } else if (has_header) {
      const std::string& wanted = spec.source.empty() ? spec.name : spec.source;
      auto it = std::find(names.begin(), names.end(), wanted);
      RB_CHECK(it != names.end(), ValueError,
               "{}:1: the schema file's column {} is not in the header; available columns: {}",
               file.string(), text_input::shown(wanted),
               text_input::shown(fmt::format("{}", fmt::join(names, ", "))));
      columns[i].field = static_cast<std::size_t>(it - names.begin());
    } else {
      RB_CHECK(spec.source.empty(), ValueError,
               "column {}: source {} is a header name but the file has no header; give a field "
               "index",
               text_input::shown(spec.name), text_input::shown(spec.source));
      columns[i].field = i;
    }
  }
}

std::int64_t rows_of(const ColumnData& c) {
  if (c.is_list()) return static_cast<std::int64_t>(c.offsets.size()) - 1;
  if (c.spec->is_categorical()) return static_cast<std::int64_t>(c.keys.size());
  return static_cast<std::int64_t>(c.spec->dtype == DType::kInt32 ? c.ints.size()
                                                                  : c.floats.size());
}

// Element range of rows [begin, end) of a column.
std::pair<std::size_t, std::size_t> element_range(const ColumnData& c, std::int64_t begin,
                                                  std::int64_t end) {
  if (!c.is_list()) return {static_cast<std::size_t>(begin), static_cast<std::size_t>(end)};
  return {static_cast<std::size_t>(c.offsets[static_cast<std::size_t>(begin)]),
          static_cast<std::size_t>(c.offsets[static_cast<std::size_t>(end)])};
}

Tensor rebased_offsets(const ColumnData& c, std::int64_t begin, std::int64_t end) {
  Tensor t = Tensor::empty({end - begin + 1}, DType::kInt64);
  auto* o = t.data<std::int64_t>();
  const std::int64_t base = c.offsets[static_cast<std::size_t>(begin)];
  for (std::int64_t r = begin; r <= end; ++r)
    o[r - begin] = c.offsets[static_cast<std::size_t>(r)] - base;
  return t;
}

Column make_column(const ColumnData& c, const etl::Categorify* cat, std::int64_t begin,
                   std::int64_t end) {
  const auto [b, e] = element_range(c, begin, end);
  const auto n = static_cast<std::int64_t>(e - b);
  Column column;
  if (cat != nullptr) {
    column.values = cat->transform(std::span(c.keys).subspan(b, e - b));
  } else if (c.spec->dtype == DType::kInt32) {
    column.values = Tensor::from<std::int32_t>({n}, std::span(c.ints).subspan(b, e - b));
  } else {
    column.values = Tensor::from<float>({n}, std::span(c.floats).subspan(b, e - b));
  }
  if (c.is_list()) column.offsets = rebased_offsets(c, begin, end);
  return column;
}

// value_count comes from rows [0, rows) (the training rows).
ColumnSchema column_schema(const ColumnData& c, const etl::Categorify* cat, std::int64_t rows) {
  const CsvColumn& spec = *c.spec;
  ColumnSchema s(spec.name, spec.dtype, spec.tags);
  json props = spec.properties;
  props["source"] =
      spec.index ? json(*spec.index) : json(spec.source.empty() ? spec.name : spec.source);
  if (spec.fill) props["fill"] = *spec.fill;
  if (cat != nullptr) {
    s = s.with_domain(cat->domain());
    props["categorify"] = {{"min_frequency", spec.categorify.min_frequency},
                           {"max_size", spec.categorify.max_size},
                           {"num_buckets", spec.categorify.num_buckets},
                           {"vocabulary_size", cat->vocabulary_size()},
                           {"state", fmt::format("etl/categorify/{}.json", spec.name)}};
  }
  if (c.is_list()) {
    std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = 0;
    for (std::size_t r = 0; r < static_cast<std::size_t>(rows); ++r) {
      lo = std::min(lo, c.offsets[r + 1] - c.offsets[r]);
      hi = std::max(hi, c.offsets[r + 1] - c.offsets[r]);
    }
    if (rows == 0) lo = 0;
    s = s.with_list(true, true, ValueCount{.min = lo, .max = hi});
    props["separator"] = std::string(1, *spec.separator);
  }
  if (spec.embedding_dim) s = s.with_embedding_dim(*spec.embedding_dim);
  return s.with_properties(props);
}

// A parsed file: one ColumnData per spec column. Keys point into the
// mapped file and into `owned` (unescaped quoted fields), both kept here.
struct ParsedCsv {
  std::unique_ptr<text_input::MappedFile> mapped;
  std::deque<std::string> owned;
  std::vector<ColumnData> columns;
  std::int64_t rows = 0;
};

std::unique_ptr<ParsedCsv> parse_csv(const fs::path& input, const CsvSpec& spec) {
  RB_CHECK(!spec.columns.empty(), ValueError, "csv: the schema has no columns");
  auto parsed = std::make_unique<ParsedCsv>();
  parsed->mapped = std::make_unique<text_input::MappedFile>(input);
  RecordReader reader(input, text_input::without_bom(parsed->mapped->text()), spec.delimiter,
                      spec.quote.value_or('\0'), parsed->owned);
  auto& columns = parsed->columns;
  columns.resize(spec.columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) columns[i].spec = &spec.columns[i];

  std::vector<std::string_view> fields;
  std::size_t expected_fields = 0;
  if (spec.header) {
    RB_CHECK(reader.next(fields), ValueError, "{}: empty file, expected a header line",
             input.string());
    expected_fields = fields.size();
  }
  resolve_fields(input, fields, spec.header, columns);
  std::size_t needed = 0;
  for (const auto& c : columns) needed = std::max(needed, c.field + 1);
  RB_CHECK(!spec.header || needed <= expected_fields, ValueError,
           "{}:1: the header has {} columns, the schema file reads field {}", input.string(),
           expected_fields, needed);

  std::vector<ColumnParser> parsers;
  parsers.reserve(columns.size());
  for (auto& c : columns) parsers.emplace_back(input, c);
  while (reader.next(fields)) {
    if (spec.header) {
      RB_CHECK(fields.size() == expected_fields, ValueError,
               "{}:{}: expected {} fields (as the header), found {}", input.string(), reader.line(),
               expected_fields, fields.size());
    } else {
      RB_CHECK(fields.size() >= needed, ValueError, "{}:{}: expected at least {} fields, found {}",
               input.string(), reader.line(), needed, fields.size());
    }
    for (std::size_t i = 0; i < columns.size(); ++i) {
      parsers[i].add(fields[columns[i].field], reader.line());
    }
    ++parsed->rows;
  }
  RB_CHECK(parsed->rows > 0, ValueError, "{}: no data rows", input.string());
  return parsed;
}

// Rows [begin, end) of a parsed file with a fitted state, as a Dataset.
Dataset make_dataset(const ParsedCsv& parsed, const CsvTransform& t, std::int64_t begin,
                     std::int64_t end) {
  std::map<std::string, Column> data;
  for (const auto& c : parsed.columns) {
    data[c.spec->name] = make_column(c, t.categorify(c.spec->name), begin, end);
  }
  return Dataset(t.schema(), std::move(data));
}

json spec_json(const CsvSpec& spec) {
  json cols = json::array();
  for (const auto& c : spec.columns) {
    json j = {
        {"name", c.name}, {"tags", c.tags.names()}, {"dtype", std::string(dtype_name(c.dtype))}};
    if (c.index) j["source"] = *c.index;
    if (!c.source.empty()) j["source"] = c.source;
    if (c.separator) j["separator"] = std::string(1, *c.separator);
    if (c.is_categorical()) {
      j["categorify"] = {{"min_frequency", c.categorify.min_frequency},
                         {"max_size", c.categorify.max_size},
                         {"num_buckets", c.categorify.num_buckets},
                         {"on_oov", c.categorify.on_oov == etl::OnOov::kRaise ? "raise" : "oov"}};
    }
    if (c.fill) j["fill"] = *c.fill;
    cols.push_back(j);
  }
  return {{"delimiter", std::string(1, spec.delimiter)},
          {"header", spec.header},
          {"quote", spec.quote ? std::string(1, *spec.quote) : std::string()},
          {"columns", cols}};
}

}  // namespace

char parse_delimiter(std::string_view text) {
  if (text == "\\t" || text == "tab" || text == "\t") return '\t';
  RB_CHECK(text.size() == 1 && text[0] != '\n' && text[0] != '\r', ValueError,
           "delimiter \"{}\": expected one character (\",\", \";\", \"|\", or \"\\t\" / \"tab\")",
           text);
  return text[0];
}

CsvSpec CsvSpec::from_json(const json& j, std::string_view source) {
  RB_CHECK(j.is_object(), ValueError, "{}: expected a JSON object with \"columns\"", source);
  check_keys(j, {"delimiter", "header", "quote", "columns"}, source);
  CsvSpec spec;
  if (j.contains("delimiter"))
    spec.delimiter =
        parse_delimiter(get_string(j["delimiter"], fmt::format("{}: delimiter", source)));
  if (j.contains("header")) {
    RB_CHECK(j["header"].is_boolean(), ValueError, "{}: header: expected true or false, found {}",
             source, j["header"].dump());
    spec.header = j["header"].get<bool>();
  }
  if (j.contains("quote")) {
    const std::string q = get_string(j["quote"], fmt::format("{}: quote", source));
    RB_CHECK(q.size() <= 1, ValueError, "{}: quote: expected one character or \"\", found \"{}\"",
             source, q);
    spec.quote = q.empty() ? std::nullopt : std::optional<char>(q[0]);
  }
  RB_CHECK(j.contains("columns") && j["columns"].is_array() && !j["columns"].empty(), ValueError,
           "{}: expected a non-empty list \"columns\"", source);
  for (std::size_t i = 0; i < j["columns"].size(); ++i)
    spec.columns.push_back(parse_column(j["columns"][i], i, source));
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    for (std::size_t k = 0; k < i; ++k) {
      RB_CHECK(spec.columns[i].name != spec.columns[k].name, ValueError,
               "{}: column name '{}' appears twice", source, spec.columns[i].name);
    }
  }
  return spec;
}

CsvSpec CsvSpec::load(const fs::path& path) {
  io::check_input_file(path);
  // MappedFile refuses a FIFO or a device instead of blocking on it.
  const text_input::MappedFile file(path);
  json j;
  try {
    j = json::parse(text_input::without_bom(file.text()));
  } catch (const json::parse_error& e) {
    throw ValueError(fmt::format("{}: not valid JSON at byte {}: {}", path.string(), e.byte,
                                 text_input::shown(e.what())));
  } catch (const json::exception& e) {
    // e.g. a number too large for a double (1e400).
    throw ValueError(
        fmt::format("{}: not valid JSON: {}", path.string(), text_input::shown(e.what())));
  }
  return from_json(j, path.string());
}

CsvTransform::CsvTransform(CsvSpec spec, Schema schema,
                           std::map<std::string, etl::Categorify, std::less<>> categorify)
    : spec_(std::move(spec)), schema_(std::move(schema)), categorify_(std::move(categorify)) {
  for (const auto& c : spec_.columns) {
    RB_CHECK(schema_.contains(c.name), ValueError,
             "CsvTransform: spec column '{}' is not in the schema; schema columns: {}", c.name,
             fmt::join(schema_.column_names(), ", "));
    RB_CHECK(!c.is_categorical() || categorify_.count(c.name) == 1, ValueError,
             "CsvTransform: categorical column '{}' has no fitted Categorify", c.name);
  }
}

const etl::Categorify* CsvTransform::categorify(std::string_view column) const {
  const auto it = categorify_.find(column);
  return it == categorify_.end() ? nullptr : &it->second;
}

CsvTransform CsvTransform::load(const fs::path& etl_dir) {
  const fs::path meta_path = etl_dir / "csv.json";
  json meta;
  try {
    meta = json::parse(text_input::MappedFile(meta_path).text());
  } catch (const json::exception& e) {
    throw ValueError(fmt::format("{}: not valid JSON: {}", meta_path.string(), e.what()));
  }
  RB_CHECK(meta.contains("spec") && meta.contains("schema"), ValueError,
           "{}: expected keys 'spec' and 'schema' (written by datasets::csv)", meta_path.string());
  CsvSpec spec = CsvSpec::from_json(meta["spec"], meta_path.string());
  Schema schema = Schema::from_json(meta["schema"], meta_path.string());
  std::map<std::string, etl::Categorify, std::less<>> cats;
  for (const auto& c : spec.columns) {
    if (c.is_categorical()) {
      cats.emplace(c.name, etl::Categorify::load(etl_dir / "categorify" / (c.name + ".json")));
    }
  }
  return CsvTransform(std::move(spec), std::move(schema), std::move(cats));
}

Dataset CsvTransform::transform(const fs::path& input) const {
  const auto parsed = parse_csv(input, spec_);
  return make_dataset(*parsed, *this, 0, parsed->rows);
}

CsvResult csv(const fs::path& input, const CsvSpec& spec_in, const fs::path& out,
              const CsvOptions& options) {
  CsvSpec spec = spec_in;
  if (options.delimiter) spec.delimiter = *options.delimiter;
  if (options.header) spec.header = *options.header;
  if (options.quote) spec.quote = *options.quote == '\0' ? std::nullopt : options.quote;
  RB_CHECK(options.valid_fraction >= 0.0 && options.valid_fraction < 1.0, ValueError,
           "csv: valid_fraction {}, expected in [0, 1)", options.valid_fraction);
  const auto parsed = parse_csv(input, spec);
  const std::int64_t rows = parsed->rows;
  const std::int64_t valid_rows = std::llround(options.valid_fraction * static_cast<double>(rows));
  const std::int64_t train_rows = rows - valid_rows;
  RB_CHECK(train_rows > 0, ValueError, "csv: valid_fraction {} leaves no training rows of {}",
           options.valid_fraction, rows);

  // Categorify fits on the training rows only.
  std::map<std::string, etl::Categorify, std::less<>> cats;
  std::vector<ColumnSchema> schema_columns;
  for (const auto& c : parsed->columns) {
    RB_CHECK(rows_of(c) == rows, Error, "csv: column '{}' has {} rows, expected {}", c.spec->name,
             rows_of(c), rows);
    const etl::Categorify* cat = nullptr;
    if (c.spec->is_categorical()) {
      const auto [b, e] = element_range(c, 0, train_rows);
      auto [it, inserted] =
          cats.emplace(c.spec->name, etl::Categorify(c.spec->name, c.spec->categorify));
      it->second.fit(std::span(c.keys).subspan(b, e - b));
      cat = &it->second;
    }
    schema_columns.push_back(column_schema(c, cat, train_rows));
  }
  const CsvTransform transform(spec, Schema(std::move(schema_columns)), std::move(cats));

  // The whole folder is staged and replaces `out` in one step, keeping what
  // else it holds (the input may live there): a killed import leaves the old
  // train/, valid/ and etl/ or the new ones, never a mix.
  io::StagedDirectory staged(out);
  staged.carry_over(kImportEntries);
  CsvResult result;
  result.train_dir = staged.target() / "train";
  result.etl_dir = staged.target() / "etl";
  result.train = make_dataset(*parsed, transform, 0, train_rows);
  result.train.save(staged.path() / "train");
  if (valid_rows > 0) {
    result.valid_dir = staged.target() / "valid";
    result.valid = make_dataset(*parsed, transform, train_rows, rows);
    result.valid.save(staged.path() / "valid");
  }
  const fs::path etl_dir = staged.path() / "etl";
  fs::create_directories(etl_dir / "categorify");
  for (const auto& c : spec.columns) {
    if (c.is_categorical())
      text_input::save_categorify(*transform.categorify(c.name), etl_dir / "categorify");
  }
  const json meta = {{"importer", "csv"},
                     {"input", input.string()},
                     {"spec", spec_json(spec)},
                     {"schema", transform.schema().to_json()},
                     {"valid_fraction", options.valid_fraction},
                     {"train_rows", train_rows},
                     {"valid_rows", valid_rows}};
  text_input::write_staged_file(etl_dir / "csv.json", meta.dump(2) + "\n");
  staged.commit();
  return result;
}

}  // namespace recblocks::datasets
