#include "recblocks/data/criteo.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <optional>

#include "data/text_input.h"
#include "recblocks/core/error.h"
#include "recblocks/core/threads.h"
#include "recblocks/io/atomic.h"

namespace recblocks::datasets {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using text_input::MappedFile;

// Canonical column order: 0 label, 1..13 I1..I13, 14..39 C1..C26.
constexpr int kNumFields = 1 + kCriteoNumDense + kCriteoNumCategorical;
constexpr int kFirstCategorical = 1 + kCriteoNumDense;

std::string canonical_name(int c) {
  if (c == 0) return "label";
  if (c < kFirstCategorical) return criteo_dense_name(c - 1);
  return criteo_categorical_name(c - kFirstCategorical);
}

// How the fields of one line map onto the canonical columns.
struct Layout {
  char delimiter = '\t';
  bool header = false;
  std::array<int, kNumFields> column_of_field{};  // field index -> canonical column
};

bool looks_like_header(std::string_view first_field) {
  double unused = 0;
  return !first_field.empty() && !text_input::parse_double(first_field, unused);
}

std::vector<std::string_view> split(std::string_view line, char delimiter) {
  std::vector<std::string_view> fields;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = line.find(delimiter, begin);
    fields.push_back(line.substr(begin, end == std::string_view::npos ? end : end - begin));
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return fields;
}

// Reads the header (if any) into the layout: columns may come in any order.
void read_header(const fs::path& file, std::string_view line, Layout& layout) {
  const auto names = split(line, layout.delimiter);
  std::vector<std::string> expected;
  expected.reserve(kNumFields);
  for (int c = 0; c < kNumFields; ++c) expected.push_back(canonical_name(c));
  RB_CHECK(names.size() == kNumFields, ValueError,
           "{}:1: header has {} columns, expected the {} columns {}", file.string(), names.size(),
           kNumFields, fmt::join(expected, ","));
  std::array<bool, kNumFields> seen{};
  for (std::size_t f = 0; f < names.size(); ++f) {
    int column = -1;
    for (int c = 0; c < kNumFields; ++c) {
      if (names[f] == expected[static_cast<std::size_t>(c)]) column = c;
    }
    RB_CHECK(column >= 0, ValueError,
             "{}:1: column {}: unknown header name {}, expected one of label, I1..I13, C1..C26",
             file.string(), f + 1, text_input::shown(names[f]));
    RB_CHECK(!seen[static_cast<std::size_t>(column)], ValueError,
             "{}:1: column {}: header name {} appears twice, expected each of the {} columns once",
             file.string(), f + 1, text_input::shown(names[f]), kNumFields);
    seen[static_cast<std::size_t>(column)] = true;
    layout.column_of_field[f] = column;
  }
}

Layout detect_layout(const fs::path& file, std::string_view first_line, CriteoFormat format) {
  Layout layout;
  for (int f = 0; f < kNumFields; ++f) layout.column_of_field[static_cast<std::size_t>(f)] = f;
  if (format == CriteoFormat::kAuto) {
    format =
        first_line.find('\t') != std::string_view::npos ? CriteoFormat::kTsv : CriteoFormat::kCsv;
  }
  layout.delimiter = format == CriteoFormat::kTsv ? '\t' : ',';
  const std::string_view first_field = first_line.substr(0, first_line.find(layout.delimiter));
  layout.header = looks_like_header(first_field);
  if (layout.header) read_header(file, first_line, layout);
  return layout;
}

// log(1 + x) of the small counts that make up nearly all Criteo integers,
// computed once (the same float as the direct formula).
constexpr std::int64_t kLogTableSize = 1 << 16;
float log1p_count(std::int64_t x) {
  static const std::vector<float> kTable = [] {
    std::vector<float> t(kLogTableSize);
    for (std::int64_t i = 0; i < kLogTableSize; ++i)
      t[static_cast<std::size_t>(i)] = static_cast<float>(std::log1p(static_cast<double>(i)));
    return t;
  }();
  if (x <= 0) return 0.0f;
  if (x < kLogTableSize) return kTable[static_cast<std::size_t>(x)];
  return static_cast<float>(std::log1p(static_cast<double>(x)));
}

// Hex digit values by character; 16 marks a non-digit.
constexpr std::array<std::uint8_t, 256> kHexValue = [] {
  std::array<std::uint8_t, 256> t{};
  t.fill(16);
  for (std::size_t c = 0; c < 10; ++c) t['0' + c] = static_cast<std::uint8_t>(c);
  for (std::size_t c = 0; c < 6; ++c) {
    t['a' + c] = static_cast<std::uint8_t>(10 + c);
    t['A' + c] = static_cast<std::uint8_t>(10 + c);
  }
  return t;
}();

// Exactly 8 hexadecimal digits (either case) -> their value. Branch-free
// over the digits: random hex defeats the branch predictor.
bool parse_hex8(std::string_view s, std::uint32_t& out) {
  if (s.size() != 8) return false;
  std::uint32_t v = 0, bad = 0;
  for (char ch : s) {
    const std::uint32_t d = kHexValue[static_cast<unsigned char>(ch)];
    bad |= d;
    v = v << 4 | (d & 15u);
  }
  out = v;
  return (bad & 16u) == 0;
}

// Parses lines into rows of `raw` (preallocated): one pass over the
// characters, no allocation per field.
class LineParser {
 public:
  LineParser(const fs::path& file, const Layout& layout, CriteoRaw& raw)
      : file_(file), layout_(layout), raw_(raw) {}

  // Parses the line starting at text[pos] into row `row` and moves pos past
  // it. Returns an error message, or "" on success. dense_missing counts
  // the missing integers.
  std::string parse(std::string_view text, std::size_t& pos, std::int64_t line_number,
                    std::int64_t row,
                    std::array<std::int64_t, kCriteoNumDense>& dense_missing) const {
    const char* p = text.data() + pos;
    const char* const end = text.data() + text.size();
    const char delimiter = layout_.delimiter;
    int field = 0;
    while (true) {
      const char* begin = p;
      while (p < end && *p != delimiter && *p != '\n') ++p;
      const bool last = p == end || *p == '\n';
      std::string_view s(begin, static_cast<std::size_t>(p - begin));
      if (last && !s.empty() && s.back() == '\r') s.remove_suffix(1);
      if (field < kNumFields) {
        const int column = layout_.column_of_field[static_cast<std::size_t>(field)];
        if (!parse_field(column, s, row, dense_missing))
          return field_error(line_number, field, column, s);
      }
      ++field;
      if (last) break;
      ++p;
    }
    pos = p == end ? text.size() : static_cast<std::size_t>(p - text.data()) + 1;
    if (field != kNumFields) {
      return fmt::format(
          "{}:{}: expected {} fields (label, I1..I13, C1..C26) separated by {}, found {}",
          file_.string(), line_number, kNumFields, layout_.delimiter == '\t' ? "tabs" : "commas",
          field);
    }
    return {};
  }

 private:
  bool parse_field(int column, std::string_view s, std::int64_t row,
                   std::array<std::int64_t, kCriteoNumDense>& dense_missing) const {
    const auto r = static_cast<std::size_t>(row);
    if (column == 0) {
      std::int64_t label = 0;
      if (!text_input::parse_integral(s, label) || (label != 0 && label != 1)) return false;
      raw_.label[r] = static_cast<std::int32_t>(label);
      return true;
    }
    if (column < kFirstCategorical) {
      const auto i = static_cast<std::size_t>(column - 1);
      if (s.empty()) {
        raw_.dense[i][r] = 0.0f;
        ++dense_missing[i];
        return true;
      }
      std::int64_t x = 0;
      if (!text_input::parse_integral(s, x)) return false;
      raw_.dense[i][r] = log1p_count(x);
      return true;
    }
    const auto i = static_cast<std::size_t>(column - kFirstCategorical);
    raw_.is_null[i][r] = s.empty() ? 1 : 0;
    raw_.categorical[i][r] = 0;
    return s.empty() || parse_hex8(s, raw_.categorical[i][r]);
  }

  std::string field_error(std::int64_t line_number, int field, int column,
                          std::string_view s) const {
    const char* expected = column == 0                  ? "0 or 1"
                           : column < kFirstCategorical ? "an integer or an empty field"
                                                        : "8 hexadecimal digits or an empty field";
    return fmt::format("{}:{}: column {} ({}): expected {}, found {}", file_.string(), line_number,
                       field + 1, canonical_name(column), expected, text_input::shown(s));
  }

  const fs::path& file_;
  const Layout& layout_;
  CriteoRaw& raw_;
};

// True when the line at text[pos] is empty ("\n" or "\r\n"); moves pos past it.
bool skip_blank_line(std::string_view text, std::size_t& pos) {
  std::size_t p = pos;
  if (p < text.size() && text[p] == '\r') ++p;
  if (p < text.size() && text[p] == '\n') {
    pos = p + 1;
    return true;
  }
  if (p == text.size()) {
    pos = p;
    return true;
  }
  return false;
}

void resize(CriteoRaw& raw, std::int64_t rows) {
  const auto n = static_cast<std::size_t>(rows);
  raw.label.resize(n);
  for (auto& d : raw.dense) d.resize(n);
  for (auto& c : raw.categorical) c.resize(n);
  for (auto& m : raw.is_null) m.resize(n);
}

// Keeps the first max_rows non-empty lines of body.
std::string_view first_rows(std::string_view body, std::int64_t max_rows) {
  std::size_t pos = 0;
  for (std::int64_t rows = 0; rows < max_rows && pos < body.size();) {
    if (!text_input::next_line(body, pos).empty()) ++rows;
  }
  return body.substr(0, pos);
}

// Per chunk: where it starts (lines, rows) and what it found.
struct Chunk {
  std::size_t begin = 0, end = 0;
  std::int64_t lines = 0, rows = 0;
  std::int64_t first_line = 0, first_row = 0;
  std::array<std::int64_t, kCriteoNumDense> dense_missing{};
  std::string error;
};

json options_json(const CriteoOptions& o) {
  return {{"format", criteo_format_name(o.format)},
          {"min_frequency", o.min_frequency},
          {"num_buckets", o.num_buckets},
          {"on_oov", o.on_oov == etl::OnOov::kRaise ? "raise" : "oov"},
          {"valid_fraction", o.valid_fraction},
          {"max_rows", o.max_rows}};
}

std::vector<std::string> path_strings(const std::vector<fs::path>& paths) {
  std::vector<std::string> out;
  out.reserve(paths.size());
  for (const auto& p : paths) out.push_back(p.string());
  return out;
}

CriteoRaw read_all(const std::vector<fs::path>& files, const CriteoOptions& options) {
  CriteoRaw all;
  for (const auto& f : files) all.append(read_criteo(f, options.format, options.max_rows));
  return all;
}

// Categorify keys int64 values: the 32-bit hashes of rows [begin, end).
std::vector<std::int64_t> int_keys(const std::vector<std::uint32_t>& hashes, std::int64_t begin,
                                   std::int64_t end) {
  return std::vector<std::int64_t>(hashes.begin() + begin, hashes.begin() + end);
}

// The rows [begin, end) of `raw`, categorified with `cats`, as a Dataset.
Dataset to_dataset(const CriteoRaw& raw, std::int64_t begin, std::int64_t end,
                   const std::vector<etl::Categorify>& cats, const Schema& schema) {
  const std::int64_t n = end - begin;
  const auto b = static_cast<std::size_t>(begin);
  const auto count = static_cast<std::size_t>(n);
  std::map<std::string, Column> columns;
  columns["label"].values = Tensor::from<std::int32_t>({n}, std::span(raw.label).subspan(b, count));
  for (int i = 0; i < kCriteoNumDense; ++i) {
    columns[criteo_dense_name(i)].values = Tensor::from<float>(
        {n}, std::span(raw.dense[static_cast<std::size_t>(i)]).subspan(b, count));
  }
  std::vector<Tensor> ids(kCriteoNumCategorical);
  text_input::parallel_for_each(kCriteoNumCategorical, [&](std::size_t c) {
    ids[c] = cats[c].transform(int_keys(raw.categorical[c], begin, end),
                               std::span(raw.is_null[c]).subspan(b, count));
  });
  for (int i = 0; i < kCriteoNumCategorical; ++i) {
    columns[criteo_categorical_name(i)].values = ids[static_cast<std::size_t>(i)];
  }
  return Dataset(schema, std::move(columns));
}

std::vector<etl::Categorify> fit_categorify(const CriteoRaw& raw, std::int64_t rows,
                                            const CriteoOptions& options) {
  std::vector<etl::Categorify> cats;
  cats.reserve(kCriteoNumCategorical);
  for (int i = 0; i < kCriteoNumCategorical; ++i) {
    cats.emplace_back(criteo_categorical_name(i),
                      etl::CategorifyOptions{.min_frequency = options.min_frequency,
                                             .num_buckets = options.num_buckets,
                                             .on_oov = options.on_oov});
  }
  text_input::parallel_for_each(kCriteoNumCategorical, [&](std::size_t c) {
    cats[c].fit(int_keys(raw.categorical[c], 0, rows),
                std::span(raw.is_null[c]).first(static_cast<std::size_t>(rows)));
  });
  return cats;
}

}  // namespace

CriteoFormat parse_criteo_format(std::string_view name) {
  if (name == "auto") return CriteoFormat::kAuto;
  if (name == "tsv") return CriteoFormat::kTsv;
  if (name == "csv") return CriteoFormat::kCsv;
  throw ValueError(fmt::format("unknown Criteo format '{}', expected auto, tsv or csv", name));
}

std::string_view criteo_format_name(CriteoFormat format) {
  switch (format) {
    case CriteoFormat::kAuto: return "auto";
    case CriteoFormat::kTsv: return "tsv";
    case CriteoFormat::kCsv: return "csv";
  }
  return "?";
}

std::string criteo_dense_name(int i) { return fmt::format("I{}", i + 1); }
std::string criteo_categorical_name(int i) { return fmt::format("C{}", i + 1); }

void CriteoRaw::append(CriteoRaw&& other) {
  if (rows() == 0) {
    *this = std::move(other);
    return;
  }
  label.insert(label.end(), other.label.begin(), other.label.end());
  for (int i = 0; i < kCriteoNumDense; ++i) {
    const auto d = static_cast<std::size_t>(i);
    dense[d].insert(dense[d].end(), other.dense[d].begin(), other.dense[d].end());
    dense_missing[d] += other.dense_missing[d];
  }
  for (int i = 0; i < kCriteoNumCategorical; ++i) {
    const auto c = static_cast<std::size_t>(i);
    categorical[c].insert(categorical[c].end(), other.categorical[c].begin(),
                          other.categorical[c].end());
    is_null[c].insert(is_null[c].end(), other.is_null[c].begin(), other.is_null[c].end());
  }
}

CriteoRaw read_criteo(const fs::path& file, CriteoFormat format, std::int64_t max_rows) {
  const MappedFile mapped(file);
  const std::string_view text = text_input::without_bom(mapped.text());
  std::size_t pos = 0;
  const std::string_view first_line = text_input::next_line(text, pos);
  RB_CHECK(!text.empty(), ValueError,
           "{}: empty file, expected Criteo rows (label, I1..I13, C1..C26)", file.string());
  const Layout layout = detect_layout(file, first_line, format);
  std::string_view body = layout.header ? text.substr(pos) : text;
  if (max_rows > 0) body = first_rows(body, max_rows);

  CriteoRaw raw;
  raw.format = layout.delimiter == '\t' ? CriteoFormat::kTsv : CriteoFormat::kCsv;

  // Pass 1 counts each chunk's lines and rows so pass 2 knows where its
  // rows go and which line numbers its errors carry.
  const auto bounds = text_input::line_aligned_chunks(body, std::max(1, num_threads()));
  std::vector<Chunk> chunks(bounds.size() - 1);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    chunks[i].begin = bounds[i];
    chunks[i].end = bounds[i + 1];
  }
  text_input::parallel_for_each(chunks.size(), [&](std::size_t i) {
    Chunk& c = chunks[i];
    const std::string_view piece = body.substr(c.begin, c.end - c.begin);
    for (std::size_t p = 0; p < piece.size();) {
      ++c.lines;
      if (!text_input::next_line(piece, p).empty()) ++c.rows;
    }
  });
  std::int64_t lines = layout.header ? 1 : 0, rows = 0;
  for (auto& c : chunks) {
    c.first_line = lines + 1;
    c.first_row = rows;
    lines += c.lines;
    rows += c.rows;
  }
  resize(raw, rows);

  const LineParser parser(file, layout, raw);
  text_input::parallel_for_each(chunks.size(), [&](std::size_t i) {
    Chunk& c = chunks[i];
    const std::string_view piece = body.substr(c.begin, c.end - c.begin);
    std::int64_t line_number = c.first_line, row = c.first_row;
    for (std::size_t p = 0; p < piece.size(); ++line_number) {
      if (skip_blank_line(piece, p)) continue;
      c.error = parser.parse(piece, p, line_number, row++, c.dense_missing);
      if (!c.error.empty()) return;
    }
  });
  for (const auto& c : chunks) {
    if (!c.error.empty()) throw ValueError(c.error);
    for (int i = 0; i < kCriteoNumDense; ++i) {
      raw.dense_missing[static_cast<std::size_t>(i)] +=
          c.dense_missing[static_cast<std::size_t>(i)];
    }
  }
  return raw;
}

Schema criteo_schema(std::span<const std::int64_t> cardinalities) {
  RB_CHECK(cardinalities.size() == kCriteoNumCategorical, ValueError,
           "criteo_schema: {} cardinalities, expected {}", cardinalities.size(),
           kCriteoNumCategorical);
  std::vector<ColumnSchema> columns;
  columns.push_back(
      ColumnSchema("label", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}));
  for (int i = 0; i < kCriteoNumDense; ++i) {
    columns.push_back(ColumnSchema(criteo_dense_name(i), DType::kFloat32, {Tags::CONTINUOUS})
                          .with_properties({{"transform", "log(1 + max(x, 0)), missing -> 0"}}));
  }
  for (int i = 0; i < kCriteoNumCategorical; ++i) {
    const std::string name = criteo_categorical_name(i);
    const std::int64_t card = cardinalities[static_cast<std::size_t>(i)];
    RB_CHECK(card >= 1, ValueError, "criteo_schema: {} has cardinality {}, expected >= 1", name,
             card);
    columns.push_back(ColumnSchema(name, DType::kInt32, {Tags::CATEGORICAL})
                          .with_domain(Domain{.min = 0, .max = card - 1, .name = name}));
  }
  return Schema(std::move(columns));
}

CriteoTransform::CriteoTransform(std::vector<etl::Categorify> categorify)
    : categorify_(std::move(categorify)) {
  RB_CHECK(categorify_.size() == kCriteoNumCategorical, ValueError,
           "CriteoTransform: {} Categorify, expected {} (C1..C26)", categorify_.size(),
           kCriteoNumCategorical);
  std::vector<std::int64_t> cardinalities;
  for (const auto& c : categorify_) {
    RB_CHECK(c.fitted() && c.kind() != etl::KeyKind::kString, ValueError,
             "CriteoTransform: Categorify '{}' is {}, expected fitted on int64 keys", c.column(),
             c.fitted() ? "fitted on strings" : "not fitted");
    cardinalities.push_back(c.cardinality());
  }
  schema_ = criteo_schema(cardinalities);
  for (int i = 0; i < kCriteoNumCategorical; ++i) {
    const etl::Categorify& c = categorify_[static_cast<std::size_t>(i)];
    const std::string name = criteo_categorical_name(i);
    schema_ = schema_.with_column(
        schema_.column(name)
            .with_domain(c.domain())
            .with_properties({{"categorify",
                               {{"min_frequency", c.options().min_frequency},
                                {"num_buckets", c.options().num_buckets},
                                {"vocabulary_size", c.vocabulary_size()},
                                {"state", fmt::format("etl/categorify/{}.json", name)}}}}));
  }
}

CriteoTransform CriteoTransform::load(const fs::path& etl_dir) {
  std::vector<etl::Categorify> cats;
  cats.reserve(kCriteoNumCategorical);
  for (int i = 0; i < kCriteoNumCategorical; ++i) {
    cats.push_back(
        etl::Categorify::load(etl_dir / "categorify" / (criteo_categorical_name(i) + ".json")));
  }
  return CriteoTransform(std::move(cats));
}

Dataset CriteoTransform::transform(const CriteoRaw& raw, std::int64_t begin,
                                   std::int64_t end) const {
  if (end < 0) end = raw.rows();
  RB_CHECK(0 <= begin && begin <= end && end <= raw.rows(), ValueError,
           "CriteoTransform: rows [{}, {}) of {}", begin, end, raw.rows());
  return to_dataset(raw, begin, end, categorify_, schema_);
}

CriteoResult criteo(const std::vector<fs::path>& files, const fs::path& out,
                    const CriteoOptions& options) {
  RB_CHECK(!files.empty(), ValueError, "criteo: no input files");
  RB_CHECK(options.valid_fraction >= 0.0 && options.valid_fraction < 1.0, ValueError,
           "criteo: valid_fraction {}, expected in [0, 1)", options.valid_fraction);
  RB_CHECK(options.valid_files.empty() || options.valid_fraction == 0.0, ValueError,
           "criteo: give either valid_files or valid_fraction, not both");
  RB_CHECK(options.min_frequency >= 1 && options.num_buckets >= 0, ValueError,
           "criteo: min_frequency {} and num_buckets {}, expected >= 1 and >= 0",
           options.min_frequency, options.num_buckets);

  CriteoRaw raw = read_all(files, options);
  std::int64_t train_rows = raw.rows();
  if (options.valid_fraction > 0.0) {
    train_rows -= static_cast<std::int64_t>(
        std::llround(options.valid_fraction * static_cast<double>(raw.rows())));
  } else if (!options.valid_files.empty()) {
    raw.append(read_all(options.valid_files, options));
  }
  RB_CHECK(train_rows > 0, ValueError, "criteo: no training rows in {}",
           fmt::join(path_strings(files), ", "));
  const bool split = train_rows < raw.rows();

  const CriteoTransform transform(fit_categorify(raw, train_rows, options));
  // The whole folder is staged and replaces `out` in one step (see csv()).
  io::StagedDirectory staged(out);
  staged.carry_over(kImportEntries);
  CriteoResult result;
  result.train_dir = staged.target() / "train";
  result.etl_dir = staged.target() / "etl";
  result.train = transform.transform(raw, 0, train_rows);
  result.train.save(staged.path() / "train");
  if (split) {
    result.valid_dir = staged.target() / "valid";
    result.valid = transform.transform(raw, train_rows, raw.rows());
    result.valid.save(staged.path() / "valid");
  }

  const fs::path etl_dir = staged.path() / "etl";
  fs::create_directories(etl_dir / "categorify");
  for (int i = 0; i < kCriteoNumCategorical; ++i) {
    text_input::save_categorify(transform.categorify(i), etl_dir / "categorify");
  }
  json meta = {{"importer", "criteo"},
               {"format", criteo_format_name(raw.format)},
               {"files", path_strings(files)},
               {"valid_files", path_strings(options.valid_files)},
               {"options", options_json(options)},
               {"train_rows", train_rows},
               {"valid_rows", raw.rows() - train_rows},
               {"dense_transform", "log(1 + max(x, 0)); missing -> 0"},
               {"dense_missing", raw.dense_missing}};
  text_input::write_staged_file(etl_dir / "criteo.json", meta.dump(2) + "\n");
  staged.commit();
  return result;
}

}  // namespace recblocks::datasets
