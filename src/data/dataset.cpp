#include "recblocks/data/dataset.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "data/gather.h"
#include "recblocks/io/atomic.h"
#include "recblocks/io/npy.h"

namespace recblocks {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSchemaFile = "schema.json";
constexpr const char* kMerlinSchemaFile = "schema.pbtxt";

bool is_safe_file_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string joined_names(const std::vector<std::string>& names) {
  return names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", "));
}

template <class Map>
std::string joined_keys(const Map& columns) {
  std::vector<std::string> names;
  names.reserve(columns.size());
  for (const auto& [name, column] : columns) names.push_back(name);
  return joined_names(names);
}

// Checks a list column's offsets: int64 [rows + 1], from 0, non-decreasing,
// ending at the number of values. `where` starts every message.
void check_offsets(const Tensor& offsets, std::int64_t num_values, const std::string& where) {
  RB_CHECK(offsets.dtype() == DType::kInt64 && offsets.rank() == 1 && offsets.numel() >= 1,
           ValueError, "{}: offsets are {} {}, expected int64 [rows + 1]", where,
           dtype_name(offsets.dtype()), offsets.shape());
  const std::int64_t* o = offsets.data<std::int64_t>();
  const std::int64_t n = offsets.numel();
  RB_CHECK(o[0] == 0, ValueError, "{}: offsets[0] is {}, expected 0", where, o[0]);
  for (std::int64_t i = 0; i + 1 < n; ++i) {
    RB_CHECK(o[i] <= o[i + 1], ValueError,
             "{}: offsets[{}] = {} > offsets[{}] = {}, expected non-decreasing offsets", where, i,
             o[i], i + 1, o[i + 1]);
  }
  RB_CHECK(o[n - 1] == num_values, ValueError,
           "{}: the last offset is {}, expected the number of values {}", where, o[n - 1],
           num_values);
}

// Checks one column against its schema and returns its number of rows.
// `where` names the column (and the file, when loading) in every message.
std::int64_t check_column(const ColumnSchema& schema, const Column& column,
                          const std::string& where) {
  const Tensor& values = column.values;
  RB_CHECK(values.defined() && values.rank() >= 1, ValueError,
           "{}: values have shape {}, expected [rows, ...]", where, values.shape());
  RB_CHECK(values.dtype() == schema.dtype(), ValueError, "{}: dtype is {}, the schema expects {}",
           where, dtype_name(values.dtype()), dtype_name(schema.dtype()));
  if (schema.is_ragged()) {
    RB_CHECK(column.offsets.defined() && column.offsets.numel() > 0, ValueError,
             "{}: a ragged list column needs offsets (int64 [rows + 1])", where);
    check_offsets(column.offsets, values.size(0), where);
    return column.offsets.numel() - 1;
  }
  RB_CHECK(!column.is_list(), ValueError,
           "{}: has offsets, but the schema does not make it a ragged list column", where);
  // One value per row unless the schema makes it a list: a [rows, 2]
  // file for a scalar column would feed two values per row to the model.
  RB_CHECK(schema.is_list() || values.rank() == 1, ValueError,
           "{}: values have shape {}, expected [rows] (the schema makes it a scalar column, not a "
           "list)",
           where, values.shape());
  if (schema.is_list()) {  // fixed length: [rows, n]
    const std::int64_t n = schema.value_count() ? schema.value_count()->max : 0;
    RB_CHECK(values.rank() == 2 && values.size(1) == n, ValueError,
             "{}: values have shape {}, expected [rows, {}] (a fixed-length list of {})", where,
             values.shape(), n, n);
  }
  return values.size(0);
}

Column take_column(const Column& c, std::span<const std::int64_t> rows) {
  const auto n = static_cast<std::int64_t>(rows.size());
  const std::size_t row_bytes =
      static_cast<std::size_t>(c.values.shape().inner(0)) * dtype_size(c.values.dtype());
  if (!c.is_list()) {
    Tensor values = Tensor::empty(c.values.shape().with(0, n), c.values.dtype());
    data_detail::gather_rows(c.values.raw(), row_bytes, rows, values.raw());
    return {values, Tensor()};
  }
  Tensor offsets = Tensor::empty({n + 1}, DType::kInt64);
  const std::int64_t* source_offsets = c.offsets.data<std::int64_t>();
  const std::int64_t nnz =
      data_detail::gather_offsets(source_offsets, rows, offsets.data<std::int64_t>());
  Tensor values = Tensor::empty(c.values.shape().with(0, nnz), c.values.dtype());
  data_detail::gather_list_values(c.values.raw(), row_bytes, source_offsets, rows, values.raw());
  return {values, offsets};
}

}  // namespace

std::string column_file_stem(std::string_view column_name) {
  std::string stem;
  for (const char c : column_name) {
    if (is_safe_file_char(c)) {
      stem += c;
    } else {
      stem += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return stem;
}

std::int64_t Column::rows() const { return is_list() ? offsets.numel() - 1 : values.size(0); }

Column Column::slice(std::int64_t begin, std::int64_t end) const {
  if (!is_list()) return {values.slice_rows(begin, end), Tensor()};
  const std::int64_t* o = offsets.data<std::int64_t>();
  Tensor rebased = Tensor::empty({end - begin + 1}, DType::kInt64);
  std::int64_t* out = rebased.data<std::int64_t>();
  for (std::int64_t r = begin; r <= end; ++r) out[r - begin] = o[r] - o[begin];
  return {values.slice_rows(o[begin], o[end]), rebased};
}

RaggedTensor Column::ragged() const {
  RB_CHECK(is_list(), ValueError, "Column::ragged: the column has no offsets (not a list column)");
  return RaggedTensor(values, offsets);
}

Dataset::Dataset(Schema schema, std::map<std::string, Column> columns)
    : schema_(std::move(schema)), columns_(columns.begin(), columns.end()) {
  for (const auto& [name, column] : columns_) {
    RB_CHECK(schema_.contains(name), ValueError,
             "Dataset: column '{}' is not in the schema (schema columns: {})", name,
             joined_names(schema_.column_names()));
  }
  std::optional<std::string> first;
  for (const ColumnSchema& cs : schema_) {
    const auto it = columns_.find(cs.name());
    RB_CHECK(it != columns_.end(), ValueError,
             "Dataset: schema column '{}' has no data (columns given: {})", cs.name(),
             joined_keys(columns_));
    const std::int64_t rows =
        check_column(cs, it->second, fmt::format("Dataset: column '{}'", cs.name()));
    if (!first) {
      first = cs.name();
      num_rows_ = rows;
    }
    RB_CHECK(rows == num_rows_, ValueError, "Dataset: column '{}' has {} rows, column '{}' has {}",
             cs.name(), rows, *first, num_rows_);
  }
}

fs::path Dataset::schema_file(const fs::path& dir) {
  fs::path schema_path = dir / kSchemaFile;
  std::error_code ec;
  RB_CHECK(fs::is_directory(dir, ec), Error, "{}: no such dataset directory", dir.string());
  // Merlin's text schema serves when recblocks' is not there.
  if (!fs::exists(schema_path, ec) && fs::exists(dir / kMerlinSchemaFile, ec)) {
    schema_path = dir / kMerlinSchemaFile;
  }
  RB_CHECK(fs::exists(schema_path, ec), Error,
           "{}: missing file (a dataset directory needs schema.json, or Merlin's schema.pbtxt, "
           "and one .npy per column)",
           schema_path.string());
  return schema_path;
}

Dataset Dataset::load(const fs::path& dir) {
  const fs::path schema_path = schema_file(dir);
  std::error_code ec;
  Schema schema = Schema::load(schema_path);

  std::map<std::string, Column> columns;
  std::optional<std::pair<fs::path, std::int64_t>> first;  // file, rows
  for (const ColumnSchema& cs : schema) {
    const std::string stem = column_file_stem(cs.name());
    const fs::path values_path = dir / (stem + ".npy");
    const auto read = [&](const fs::path& path) {
      RB_CHECK(fs::exists(path, ec), Error, "{}: missing file for column '{}' of {}", path.string(),
               cs.name(), schema_path.string());
      return io::read_npy(path);
    };
    Column column{read(values_path), Tensor()};
    const std::string where = fmt::format("{}: column '{}'", values_path.string(), cs.name());
    RB_CHECK(column.values.dtype() == cs.dtype(), ValueError, "{} has dtype {}, {} expects {}",
             where, dtype_name(column.values.dtype()), schema_path.string(),
             dtype_name(cs.dtype()));
    if (cs.is_ragged()) {
      const fs::path offsets_path = dir / (stem + ".offsets.npy");
      column.offsets = read(offsets_path);
      check_offsets(column.offsets, column.values.rank() >= 1 ? column.values.size(0) : 0,
                    fmt::format("{}: column '{}'", offsets_path.string(), cs.name()));
    }
    const std::int64_t rows = check_column(cs, column, where);
    if (!first) first.emplace(values_path, rows);
    RB_CHECK(rows == first->second, ValueError, "{} has {} rows, expected {} (as {})", where, rows,
             first->second, first->first.string());
    columns.emplace(cs.name(), std::move(column));
  }
  Dataset dataset(std::move(schema), std::move(columns));
  dataset.path_ = dir;
  return dataset;
}

void Dataset::save(const fs::path& dir) const {
  io::StagedDirectory staged(dir);
  for (const ColumnSchema& cs : schema_) {
    const Column& c = columns_.find(cs.name())->second;
    const std::string stem = column_file_stem(cs.name());
    io::write_npy(staged.path() / (stem + ".npy"), c.values);
    if (c.is_list()) io::write_npy(staged.path() / (stem + ".offsets.npy"), c.offsets);
  }
  schema_.save(staged.path() / kSchemaFile);  // last: without it nothing loads
  staged.commit();
}

const Column& Dataset::column(std::string_view name) const {
  const auto it = columns_.find(name);
  RB_CHECK(it != columns_.end(), ValueError, "Dataset: no column '{}' (available: {})", name,
           joined_names(schema_.column_names()));
  return it->second;
}

Dataset Dataset::select(const Schema& schema) const {
  std::map<std::string, Column> columns;
  for (const ColumnSchema& cs : schema) columns.emplace(cs.name(), column(cs.name()));
  Dataset selected(schema, std::move(columns));
  selected.path_ = path_;
  return selected;
}

Dataset Dataset::select_by_name(const std::vector<std::string>& names) const {
  return select(schema_.select_by_name(names));
}

Dataset Dataset::slice_rows(std::int64_t begin, std::int64_t end) const {
  RB_CHECK(0 <= begin && begin <= end && end <= num_rows_, ValueError,
           "Dataset::slice_rows: rows [{}, {}) out of range for {} rows", begin, end, num_rows_);
  std::map<std::string, Column> columns;
  for (const auto& [name, c] : columns_) columns.emplace(name, c.slice(begin, end));
  return Dataset(schema_, std::move(columns));
}

Dataset Dataset::take(std::span<const std::int64_t> rows) const {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    RB_CHECK(0 <= rows[i] && rows[i] < num_rows_, ValueError,
             "Dataset::take: rows[{}] = {} out of range for {} rows", i, rows[i], num_rows_);
  }
  std::map<std::string, Column> columns;
  for (const auto& [name, c] : columns_) columns.emplace(name, take_column(c, rows));
  return Dataset(schema_, std::move(columns));
}

Dataset Dataset::concat(const std::vector<Dataset>& parts) {
  RB_CHECK(!parts.empty(), ValueError, "Dataset::concat: no parts");
  if (parts.size() == 1) return parts.front();
  const Schema& schema = parts.front().schema();
  std::int64_t rows = 0;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    for (const ColumnSchema& cs : schema) {
      const Column& first = parts.front().column(cs.name());
      const auto it = parts[p].columns_.find(cs.name());
      RB_CHECK(it != parts[p].columns_.end(), ValueError,
               "Dataset::concat: part {} has no column '{}'", p, cs.name());
      const Tensor& v = it->second.values;
      RB_CHECK(v.dtype() == first.values.dtype() &&
                   v.shape().inner(0) == first.values.shape().inner(0) &&
                   it->second.is_list() == first.is_list(),
               ValueError, "Dataset::concat: part {}, column '{}' is {} {}, part 0 has {} {}", p,
               cs.name(), dtype_name(v.dtype()), v.shape(), dtype_name(first.values.dtype()),
               first.values.shape());
    }
    rows += parts[p].num_rows();
  }
  std::map<std::string, Column> columns;
  for (const ColumnSchema& cs : schema) {
    const Column& first = parts.front().column(cs.name());
    const std::size_t row_bytes =
        static_cast<std::size_t>(first.values.shape().inner(0)) * dtype_size(first.values.dtype());
    Column out;
    std::int64_t values = 0;
    for (const Dataset& part : parts) values += part.column(cs.name()).values.size(0);
    out.values = Tensor::empty(first.values.shape().with(0, values), first.values.dtype());
    if (first.is_list()) {
      out.offsets = Tensor::empty({rows + 1}, DType::kInt64);
      out.offsets.data<std::int64_t>()[0] = 0;
    }
    auto* to = static_cast<std::byte*>(out.values.raw());
    std::int64_t row = 0, value = 0;
    for (const Dataset& part : parts) {
      const Column& c = part.column(cs.name());
      const std::size_t bytes = static_cast<std::size_t>(c.values.size(0)) * row_bytes;
      if (bytes > 0) std::memcpy(to, c.values.raw(), bytes);
      to += bytes;
      if (first.is_list()) {
        const std::int64_t* o = c.offsets.data<std::int64_t>();
        std::int64_t* oo = out.offsets.data<std::int64_t>() + row;
        for (std::int64_t r = 1; r <= part.num_rows(); ++r) oo[r] = value + o[r];
      }
      row += part.num_rows();
      value += c.values.size(0);
    }
    columns.emplace(cs.name(), std::move(out));
  }
  return Dataset(schema, std::move(columns));
}

}  // namespace recblocks
