// Data sources (source.h): a Dataset in memory cut into chunks, and a .npy
// dataset directory read chunk by chunk with pread.
#include "recblocks/data/source.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "recblocks/core/error.h"
#include "recblocks/io/npy.h"

namespace recblocks {
namespace fs = std::filesystem;

namespace {

// Chunks of `chunk_rows` rows over `rows` rows: the last may be shorter.
struct EvenChunks {
  std::int64_t rows = 0;
  std::int64_t chunk_rows = 1;

  std::int64_t count() const { return (rows + chunk_rows - 1) / chunk_rows; }
  std::int64_t begin(std::int64_t chunk) const { return chunk * chunk_rows; }
  std::int64_t end(std::int64_t chunk) const { return std::min(rows, begin(chunk) + chunk_rows); }
  void check(std::int64_t chunk, const std::string& what) const {
    RB_CHECK(chunk >= 0 && chunk < count(), ValueError, "{}: chunk {} out of range ({} chunks)",
             what, chunk, count());
  }
  // The rows of `chunk`, checked.
  std::int64_t rows_of(std::int64_t chunk, const std::string& what) const {
    check(chunk, what);
    return end(chunk) - begin(chunk);
  }
};

}  // namespace

Dataset DataSource::read_chunks(std::span<const std::int64_t> chunks) const {
  std::vector<Dataset> parts;
  for (const std::int64_t c : chunks) parts.push_back(read_chunk(c));
  if (parts.empty()) return read_chunk(0).slice_rows(0, 0);
  return Dataset::concat(parts);
}

namespace {

class InMemorySource final : public DataSource {
 public:
  InMemorySource(Dataset data, std::int64_t chunk_rows)
      : data_(std::move(data)), chunks_{data_.num_rows(), chunk_rows} {}

  const Schema& schema() const override { return data_.schema(); }
  std::int64_t num_rows() const override { return data_.num_rows(); }
  std::int64_t num_chunks() const override { return chunks_.count(); }
  std::int64_t chunk_rows(std::int64_t chunk) const override {
    return chunks_.rows_of(chunk, describe());
  }
  Dataset read_chunk(std::int64_t chunk, const std::vector<std::string>& names) const override {
    chunks_.check(chunk, describe());
    const Dataset rows = data_.slice_rows(chunks_.begin(chunk), chunks_.end(chunk));
    return names.empty() ? rows : rows.select_by_name(names);
  }
  std::string describe() const override {
    return fmt::format("a dataset in memory ({} rows, {} chunks)", num_rows(), num_chunks());
  }

 private:
  Dataset data_;
  EvenChunks chunks_;
};

// One column of a .npy directory: its files and their headers.
struct NpyColumn {
  ColumnSchema schema;
  fs::path values_path, offsets_path;
  io::NpyInfo values, offsets;  // offsets: ragged lists only
  bool ragged = false;
};

class NpySource final : public DataSource {
 public:
  NpySource(const fs::path& dir, std::int64_t chunk_rows) : dir_(dir) {
    const fs::path schema_path = Dataset::schema_file(dir);
    schema_ = Schema::load(schema_path);
    std::optional<std::pair<fs::path, std::int64_t>> first;  // file, rows
    for (const ColumnSchema& cs : schema_) {
      NpyColumn c{cs, {}, {}, {}, {}, cs.is_ragged()};
      const std::string stem = column_file_stem(cs.name());
      c.values_path = dir / (stem + ".npy");
      c.values = info_of(c.values_path, cs, schema_path);
      const std::string where = fmt::format("{}: column '{}'", c.values_path.string(), cs.name());
      RB_CHECK(c.values.dtype == cs.dtype(), ValueError, "{} has dtype {}, {} expects {}", where,
               dtype_name(c.values.dtype), schema_path.string(), dtype_name(cs.dtype()));
      RB_CHECK(c.values.shape.rank() >= 1, ValueError,
               "{}: values have shape {}, expected [rows, ...]", where, c.values.shape);
      std::int64_t rows = c.values.shape[0];
      if (c.ragged) {
        c.offsets_path = dir / (stem + ".offsets.npy");
        c.offsets = info_of(c.offsets_path, cs, schema_path);
        const std::string at = fmt::format("{}: column '{}'", c.offsets_path.string(), cs.name());
        RB_CHECK(c.offsets.dtype == DType::kInt64 && c.offsets.file_itemsize == 8 &&
                     c.offsets.shape.rank() == 1 && c.offsets.shape[0] >= 1,
                 ValueError, "{}: offsets are {} {}, expected int64 [rows + 1]", at,
                 dtype_name(c.offsets.dtype), c.offsets.shape);
        rows = c.offsets.shape[0] - 1;
        const std::int64_t front = offset_at(c, 0), back = offset_at(c, rows);
        RB_CHECK(front == 0, ValueError, "{}: offsets[0] is {}, expected 0", at, front);
        RB_CHECK(back == c.values.shape[0], ValueError,
                 "{}: the last offset is {}, expected the number of values {}", at, back,
                 c.values.shape[0]);
      } else if (cs.is_list()) {
        const std::int64_t n = cs.value_count() ? cs.value_count()->max : 0;
        RB_CHECK(c.values.shape.rank() == 2 && c.values.shape[1] == n, ValueError,
                 "{}: values have shape {}, expected [rows, {}] (a fixed-length list of {})", where,
                 c.values.shape, n, n);
      } else {
        RB_CHECK(c.values.shape.rank() == 1, ValueError,
                 "{}: values have shape {}, expected [rows] (the schema makes it a scalar column, "
                 "not a list)",
                 where, c.values.shape);
      }
      if (!first) first.emplace(c.values_path, rows);
      RB_CHECK(rows == first->second, ValueError, "{} has {} rows, expected {} (as {})", where,
               rows, first->second, first->first.string());
      columns_.push_back(std::move(c));
    }
    chunks_ = {first ? first->second : 0, chunk_rows};
  }

  const Schema& schema() const override { return schema_; }
  std::int64_t num_rows() const override { return chunks_.rows; }
  std::int64_t num_chunks() const override { return chunks_.count(); }
  std::int64_t chunk_rows(std::int64_t chunk) const override {
    return chunks_.rows_of(chunk, describe());
  }

  Dataset read_chunk(std::int64_t chunk, const std::vector<std::string>& names) const override {
    chunks_.check(chunk, describe());
    const std::int64_t begin = chunks_.begin(chunk), end = chunks_.end(chunk);
    const Schema schema = names.empty() ? schema_ : schema_.select_by_name(names);
    std::map<std::string, Column> columns;
    for (const ColumnSchema& cs : schema) {
      const auto it = std::find_if(columns_.begin(), columns_.end(), [&](const NpyColumn& c) {
        return c.schema.name() == cs.name();
      });
      columns.emplace(cs.name(), read_rows(*it, begin, end));
    }
    return Dataset(schema, std::move(columns));
  }

  Dataset read_chunks(std::span<const std::int64_t> chunks) const override {
    std::int64_t rows = 0;
    for (const std::int64_t c : chunks) {
      chunks_.check(c, describe());
      rows += chunks_.end(c) - chunks_.begin(c);
    }
    std::map<std::string, Column> columns;
    for (const NpyColumn& c : columns_) {
      if (c.ragged) {  // the values' count is known chunk by chunk: joined
        std::vector<Dataset> parts;
        const Schema one = schema_.select_by_name({c.schema.name()});
        for (const std::int64_t k : chunks) {
          parts.emplace_back(
              one, std::map<std::string, Column>{
                       {c.schema.name(), read_rows(c, chunks_.begin(k), chunks_.end(k))}});
        }
        columns.emplace(c.schema.name(), parts.empty()
                                             ? read_rows(c, 0, 0)
                                             : Dataset::concat(parts).column(c.schema.name()));
        continue;
      }
      Tensor values = Tensor::empty(c.values.shape.with(0, rows), c.values.dtype);
      std::int64_t at = 0;
      for (const std::int64_t k : chunks) {
        const std::int64_t n = chunks_.end(k) - chunks_.begin(k);
        Tensor rows_view = values.slice_rows(at, at + n);
        io::read_npy_rows_into(c.values_path, c.values, chunks_.begin(k), chunks_.end(k),
                               rows_view);
        at += n;
      }
      columns.emplace(c.schema.name(), Column{std::move(values), Tensor()});
    }
    return Dataset(schema_, std::move(columns));
  }

  std::string describe() const override {
    return fmt::format("{} (.npy, {} rows, {} chunks)", dir_.string(), num_rows(), num_chunks());
  }

 private:
  static io::NpyInfo info_of(const fs::path& path, const ColumnSchema& cs,
                             const fs::path& schema_path) {
    std::error_code ec;
    RB_CHECK(fs::exists(path, ec), Error, "{}: missing file for column '{}' of {}", path.string(),
             cs.name(), schema_path.string());
    return io::read_npy_info(path);
  }

  static std::int64_t offset_at(const NpyColumn& c, std::int64_t row) {
    return io::read_npy_rows(c.offsets_path, c.offsets, row, row + 1).data<std::int64_t>()[0];
  }

  // Rows [begin, end) of one column. A list column's offsets are checked
  // before its values are read: a corrupt file must not send the read
  // elsewhere.
  static Column read_rows(const NpyColumn& c, std::int64_t begin, std::int64_t end) {
    if (!c.ragged) return {io::read_npy_rows(c.values_path, c.values, begin, end), Tensor()};
    Tensor offsets = io::read_npy_rows(c.offsets_path, c.offsets, begin, end + 1);
    std::int64_t* o = offsets.data<std::int64_t>();
    const std::int64_t n = end - begin, base = o[0], values = c.values.shape[0];
    for (std::int64_t r = 0; r <= n; ++r) {
      RB_CHECK(o[r] >= base && (r == 0 || o[r] >= o[r - 1]) && o[r] <= values, ValueError,
               "{}: column '{}': offsets[{}] = {} after offsets[{}] = {}, expected non-decreasing "
               "offsets in [0, {}]",
               c.offsets_path.string(), c.schema.name(), begin + r, o[r], begin + r - (r > 0),
               r > 0 ? o[r - 1] : o[r], values);
    }
    Tensor v = io::read_npy_rows(c.values_path, c.values, base, o[n]);
    for (std::int64_t r = 0; r <= n; ++r) o[r] -= base;
    return {std::move(v), std::move(offsets)};
  }

  fs::path dir_;
  Schema schema_;
  std::vector<NpyColumn> columns_;
  EvenChunks chunks_;
};

class SelectedSource final : public DataSource {
 public:
  SelectedSource(DataSourcePtr source, const std::vector<std::string>& names)
      : source_(std::move(source)), schema_(source_->schema().select_by_name(names)) {}

  const Schema& schema() const override { return schema_; }
  std::int64_t num_rows() const override { return source_->num_rows(); }
  std::int64_t num_chunks() const override { return source_->num_chunks(); }
  std::int64_t chunk_rows(std::int64_t chunk) const override { return source_->chunk_rows(chunk); }
  Dataset read_chunk(std::int64_t chunk, const std::vector<std::string>& names) const override {
    const Schema wanted = names.empty() ? schema_ : schema_.select_by_name(names);
    return source_->read_chunk(chunk, wanted.column_names()).select(wanted);
  }
  std::string describe() const override { return source_->describe(); }

 private:
  DataSourcePtr source_;
  Schema schema_;
};

void check_chunk_rows(std::int64_t chunk_rows, const char* who) {
  RB_CHECK(chunk_rows > 0, ValueError, "{}: chunk_rows is {}, expected > 0", who, chunk_rows);
}

}  // namespace

DataSourcePtr in_memory_source(Dataset data, std::int64_t chunk_rows) {
  check_chunk_rows(chunk_rows, "in_memory_source");
  return std::make_shared<InMemorySource>(std::move(data), chunk_rows);
}

DataSourcePtr select_columns(DataSourcePtr source, const std::vector<std::string>& names) {
  RB_CHECK(source != nullptr, ValueError, "select_columns: the data source is null");
  return std::make_shared<SelectedSource>(std::move(source), names);
}

DataSourcePtr npy_source(const fs::path& dir, std::int64_t chunk_rows) {
  check_chunk_rows(chunk_rows, "npy_source");
  return std::make_shared<NpySource>(dir, chunk_rows);
}

}  // namespace recblocks
