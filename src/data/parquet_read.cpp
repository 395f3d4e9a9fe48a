// Reading Parquet datasets into recblocks Datasets (data/parquet.h), row
// group by row group, through Arrow's Parquet reader.
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/util/config.h>
#include <fmt/format.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/properties.h>
#include <parquet/statistics.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <type_traits>
#include <utility>

#include "data/parquet_internal.h"
#include "recblocks/core/checked.h"
#include "recblocks/core/error.h"
#include "recblocks/core/memory.h"
#include "recblocks/data/parquet.h"
#include "recblocks/io/paths.h"

namespace recblocks::datasets {
namespace fs = std::filesystem;

namespace parquet_detail {

std::string arrow_message(std::string_view message) {
  std::string flat;
  bool space = false;
  for (const char c : message) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !flat.empty();
      continue;
    }
    if (space) flat += ' ';
    space = false;
    flat += c;
  }
  return quoted_excerpt(flat, 240);
}

void throw_arrow_error(const fs::path& file, std::string_view what, std::string_view message) {
  throw Error(fmt::format("{}: {} (Arrow: {})", file.string(), what, arrow_message(message)));
}

}  // namespace parquet_detail

namespace {

using parquet_detail::throw_arrow_error;

// Runs Arrow calls; Parquet's exceptions (a corrupt footer, page or
// thrift structure throws ParquetException) and a failed allocation become
// recblocks errors naming the file.
template <class F>
auto guarded(const fs::path& file, std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw MemoryLimitError(
        fmt::format("{}: {}: out of memory (std::bad_alloc inside Arrow)", file.string(), what));
  } catch (const std::exception& e) {
    throw_arrow_error(file, what, e.what());
  }
}

void check_status(const arrow::Status& status, const fs::path& file, std::string_view what) {
  if (!status.ok()) throw_arrow_error(file, what, status.ToString());
}

bool is_number_type(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::BOOL:
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::UINT8:
    case arrow::Type::UINT16:
    case arrow::Type::UINT32:
    case arrow::Type::UINT64:
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: return true;
    default: return false;
  }
}

// What a field holds, when recblocks can read it: numbers or a list of them.
struct ValueKind {
  bool list = false;
  std::shared_ptr<arrow::DataType> value;  // a number type
};

std::optional<ValueKind> value_kind(const std::shared_ptr<arrow::DataType>& type) {
  ValueKind kind;
  std::shared_ptr<arrow::DataType> t = type;
  if (t->id() == arrow::Type::LIST || t->id() == arrow::Type::LARGE_LIST ||
      t->id() == arrow::Type::FIXED_SIZE_LIST) {
    kind.list = true;
    t = static_cast<const arrow::BaseListType&>(*t).value_type();
  }
  if (!is_number_type(t->id())) return std::nullopt;
  kind.value = t;
  return kind;
}

// rb.Dataset.from_dict's choice: signed integers of up to 32 bits are int32,
// other integers int64, the rest (floats, booleans) float32.
DType inferred_dtype(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32: return DType::kInt32;
    case arrow::Type::INT64:
    case arrow::Type::UINT8:
    case arrow::Type::UINT16:
    case arrow::Type::UINT32:
    case arrow::Type::UINT64: return DType::kInt64;
    default: return DType::kFloat32;
  }
}

bool is_signed_integer_type(arrow::Type::type id) {
  return id == arrow::Type::INT8 || id == arrow::Type::INT16 || id == arrow::Type::INT32 ||
         id == arrow::Type::INT64;
}

// ---- value conversion ---------------------------------------------------------

// Whether float32 holds the integer v exactly: its significand has 24 bits.
template <class Src>
bool float_holds(Src v) {
  using U = std::make_unsigned_t<Src>;
  U magnitude = static_cast<U>(v);
  if constexpr (std::is_signed_v<Src>) {
    if (v < 0) magnitude = static_cast<U>(U{0} - magnitude);
  }
  if (magnitude == 0) return true;
  return (magnitude >> std::countr_zero(magnitude)) < (U{1} << 24);
}

// Converts one value; false when it would change (see data/parquet.h).
template <class Dst, class Src>
bool convert_one(Src v, Dst& out) {
  if constexpr (std::is_same_v<Src, bool>) {
    out = static_cast<Dst>(v ? 1 : 0);
    return true;
  } else if constexpr (std::is_floating_point_v<Dst>) {
    if constexpr (std::is_same_v<Src, float>) {
      out = v;
      return true;
    } else if constexpr (std::is_floating_point_v<Src>) {
      // Rounds to nearest, as numpy does; a finite value that would become
      // an infinity is refused.
      if (std::isfinite(v) && std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max()))
        return false;
      out = static_cast<float>(v);
      return true;
    } else {
      out = static_cast<float>(v);
      return float_holds(v);
    }
  } else if constexpr (std::is_floating_point_v<Src>) {
    const double d = static_cast<double>(v);
    // Both bounds are powers of two, exact as doubles.
    constexpr double kLow = static_cast<double>(std::numeric_limits<Dst>::min());
    constexpr double kHigh = -kLow;
    if (!std::isfinite(d) || std::trunc(d) != d || d < kLow || d >= kHigh) return false;
    out = static_cast<Dst>(d);
    return true;
  } else {
    // Src may be int8_t (signed char): its values are numbers, not characters.
    if (!std::in_range<Dst>(v)) return false;  // NOLINT(bugprone-signed-char-misuse)
    out = static_cast<Dst>(v);                 // NOLINT(bugprone-signed-char-misuse)
    return true;
  }
}

// Why convert_one refused v.
template <class Dst, class Src>
std::string refusal(Src v) {
  constexpr std::string_view kDst = dtype_name(dtype_of<Dst>());
  if constexpr (std::is_floating_point_v<Dst>) {
    if constexpr (std::is_floating_point_v<Src>) {
      return fmt::format("value {} is beyond the range of {}", v, kDst);
    } else {
      return fmt::format("value {} is not exactly representable as {}", v, kDst);
    }
  } else if constexpr (std::is_floating_point_v<Src>) {
    const double d = static_cast<double>(v);
    if (!std::isfinite(d) || std::trunc(d) != d)
      return fmt::format("value {} is not an integer, expected {}", v, kDst);
    return fmt::format("value {} does not fit {}", v, kDst);
  } else {
    return fmt::format("value {} does not fit {}", v, kDst);
  }
}

// A value that cannot be read: a null, or a conversion that would change it.
struct Problem {
  bool null = false;
  std::string text;  // for a conversion
};
// Called with the index of the bad value among those converted.
using OnProblem = std::function<void(std::int64_t, const Problem&)>;

template <class Dst, class Src>
void convert_span(const Src* src, std::int64_t n, Dst* out, const OnProblem& on_problem) {
  if constexpr (std::is_same_v<Src, Dst>) {
    if (n > 0) std::memcpy(out, src, static_cast<std::size_t>(n) * sizeof(Dst));
  } else {
    for (std::int64_t i = 0; i < n; ++i) {
      if (!convert_one(src[i], out[i])) on_problem(i, {false, refusal<Dst>(src[i])});
    }
  }
}

// Values [begin, begin + n) of a number array into out; on_problem(i, ...)
// for each null or refused value, i counted from begin. (Parquet's
// dictionary-encoded pages are decoded by Arrow: it returns dictionary
// arrays only for strings and binaries, which recblocks does not read.)
template <class Dst>
void convert_array(const arrow::Array& array, std::int64_t begin, std::int64_t n, Dst* out,
                   const OnProblem& on_problem) {
  if (array.null_count() > 0) {
    for (std::int64_t i = 0; i < n; ++i) {
      if (array.IsNull(begin + i)) on_problem(i, {true, {}});
    }
  }
  switch (array.type_id()) {
    case arrow::Type::BOOL: {
      const auto& bools = static_cast<const arrow::BooleanArray&>(array);
      for (std::int64_t i = 0; i < n; ++i)
        out[i] = static_cast<Dst>(bools.Value(begin + i) ? 1 : 0);
      return;
    }
#define RB_CONVERT(TYPE, ArrayType)                                                        \
  case arrow::Type::TYPE:                                                                  \
    convert_span(static_cast<const arrow::ArrayType&>(array).raw_values() + begin, n, out, \
                 on_problem);                                                              \
    return;
      RB_CONVERT(INT8, Int8Array)
      RB_CONVERT(INT16, Int16Array)
      RB_CONVERT(INT32, Int32Array)
      RB_CONVERT(INT64, Int64Array)
      RB_CONVERT(UINT8, UInt8Array)
      RB_CONVERT(UINT16, UInt16Array)
      RB_CONVERT(UINT32, UInt32Array)
      RB_CONVERT(UINT64, UInt64Array)
      RB_CONVERT(FLOAT, FloatArray)
      RB_CONVERT(DOUBLE, DoubleArray)
#undef RB_CONVERT
    default:
      throw Error(fmt::format("Arrow type {} is not a number type", array.type()->ToString()));
  }
}

// Calls f with a null pointer of the C++ type of `dtype` (int32, int64, float32).
template <class F>
void with_ctype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kInt32: f(static_cast<std::int32_t*>(nullptr)); return;
    case DType::kInt64: f(static_cast<std::int64_t*>(nullptr)); return;
    case DType::kFloat32: f(static_cast<float*>(nullptr)); return;
    case DType::kBFloat16: break;
  }
  throw ValueError(fmt::format("dtype {} cannot be read from Parquet", dtype_name(dtype)));
}

// ---- the reader ----------------------------------------------------------------

// The Arrow type that holds values of T as they are.
template <class T>
constexpr arrow::Type::type arrow_id_of() {
  if constexpr (std::is_same_v<T, std::int32_t>) return arrow::Type::INT32;
  if constexpr (std::is_same_v<T, std::int64_t>) return arrow::Type::INT64;
  if constexpr (std::is_same_v<T, float>) return arrow::Type::FLOAT;
  return arrow::Type::NA;  // bfloat16: never the file's type
}

// One column to read: its schema, where it is in the files, and the domain
// maximum taken from the files' statistics (then every value is checked
// against it: statistics can be wrong).
struct Plan {
  ColumnSchema schema;
  std::string arrow_type;  // for messages
  int leaf = -1;           // the Parquet leaf column
  std::optional<std::int64_t> statistics_max;
};

struct FileInfo {
  fs::path path;
  std::shared_ptr<parquet::FileMetaData> metadata;
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::int64_t> row_group_first_row;  // row of the file each row group starts at
};

std::unique_ptr<parquet::arrow::FileReader> open_reader(
    const fs::path& path, std::shared_ptr<parquet::FileMetaData> metadata) {
  // stat first: opening a FIFO would block, a device would read forever.
  io::check_input_file(path);
  return guarded(path, "cannot read the Parquet file", [&] {
    arrow::MemoryPool* pool = arrow::system_memory_pool();
    auto file = arrow::io::ReadableFile::Open(path.string(), pool);
    check_status(file.status(), path, "cannot open the file");
    parquet::arrow::FileReaderBuilder builder;
    check_status(builder.Open(*file, parquet::ReaderProperties(pool), std::move(metadata)), path,
                 "not a readable Parquet file");
    std::unique_ptr<parquet::arrow::FileReader> reader;
    check_status(builder.memory_pool(pool)->Build(&reader), path, "not a readable Parquet file");
    return reader;
  });
}

// The leaf column of each top-level field: the field itself, or a list's
// element; -1 where a field has another shape (a struct, a map).
std::vector<int> leaf_columns(const parquet::arrow::FileReader& reader) {
  std::vector<int> leaves;
  for (const parquet::arrow::SchemaField& field : reader.manifest().schema_fields) {
    int leaf = field.column_index;
    if (leaf < 0 && field.children.size() == 1 && field.children[0].is_leaf())
      leaf = field.children[0].column_index;
    leaves.push_back(leaf);
  }
  return leaves;
}

std::string field_names(const arrow::Schema& schema) {
  std::string names;
  for (const auto& f : schema.fields()) names += (names.empty() ? "" : ", ") + f->name();
  return quoted_excerpt(names, 300);
}

// pandas writes its index as __index_level_<n>__ when it has no name.
bool is_pandas_index(std::string_view name) {
  constexpr std::string_view kPrefix = "__index_level_";
  constexpr std::string_view kSuffix = "__";
  if (name.size() <= kPrefix.size() + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix)) {
    return false;
  }
  const std::string_view digits =
      name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The schema file beside the data, as NVTabular and Merlin write them.
fs::path schema_beside(const fs::path& dir) {
  for (const fs::path& rel :
       {fs::path("schema.json"), fs::path(".merlin") / "schema.json", fs::path("schema.pbtxt")}) {
    std::error_code ec;
    if (fs::exists(dir / rel, ec)) return dir / rel;
  }
  return {};
}

}  // namespace

struct ParquetReader::State {
  std::vector<fs::path> paths;
  std::vector<FileInfo> files;
  Schema schema;
  fs::path schema_file;
  std::vector<std::string> ignored;
  std::vector<Plan> plans;  // in the schema's order
  std::int64_t num_rows = 0;

  const FileInfo& file(std::size_t f) const {
    RB_CHECK(f < files.size(), ValueError, "ParquetReader: file {} out of range ({} files)", f,
             files.size());
    return files[f];
  }
  std::shared_ptr<parquet::RowGroupMetaData> row_group(const FileInfo& info, int rg) const {
    RB_CHECK(rg >= 0 && rg < info.metadata->num_row_groups(), ValueError,
             "{}: row group {} out of range ({} row groups)", info.path.string(), rg,
             info.metadata->num_row_groups());
    return guarded(info.path, "cannot read the row group's metadata",
                   [&] { return std::shared_ptr(info.metadata->RowGroup(rg)); });
  }

  // `into`: empty, or one tensor per column of `which` (see convert).
  std::vector<Column> read_columns(std::size_t f, int rg, const std::vector<const Plan*>& which,
                                   const std::vector<Tensor>& into = {}) const;
  // `into`, when defined, receives a dense column's rows (a view into a
  // larger tensor); otherwise the column gets tensors of its own.
  Column convert(const std::shared_ptr<arrow::ChunkedArray>& data, const Plan& plan,
                 const FileInfo& info, std::int64_t first_row, const Tensor& into) const;
  void infer_domain(Plan& plan, bool statistics_allowed);
};

namespace {

// Formats a problem found at value `row` of the file (and list element
// `element`, or -1) as the error to throw.
[[noreturn]] void throw_problem(const FileInfo& info, const Plan& plan, std::int64_t row,
                                std::int64_t element, const Problem& p) {
  const std::string where =
      fmt::format("{}: column '{}', row {}{}", info.path.string(), plan.schema.name(), row,
                  element >= 0 ? fmt::format(" (list element {})", element) : std::string());
  if (p.null) {
    throw ValueError(fmt::format(
        "{}: a null value; recblocks datasets have no missing values (fill them first, e.g. with "
        "NVTabular's FillMissing, or Categorify, which gives nulls an id)",
        where));
  }
  throw ValueError(fmt::format("{}: {} (the schema's dtype is {}; the file's column is {})", where,
                               p.text, dtype_name(plan.schema.dtype()), plan.arrow_type));
}

// A list chunk's child values and its row offsets into them (rows + 1),
// checked: a corrupt file must not send a read out of the child's bounds.
struct ListChunk {
  std::shared_ptr<arrow::Array> values;
  std::vector<std::int64_t> offsets;
};

ListChunk list_chunk(const arrow::Array& chunk, const FileInfo& info, const Plan& plan) {
  ListChunk out;
  const std::int64_t n = chunk.length();
  out.offsets.resize(static_cast<std::size_t>(n + 1));
  switch (chunk.type_id()) {
    case arrow::Type::LIST: {
      const auto& list = static_cast<const arrow::ListArray&>(chunk);
      out.values = list.values();
      const std::int32_t* o = list.raw_value_offsets();
      for (std::int64_t i = 0; i <= n; ++i) out.offsets[static_cast<std::size_t>(i)] = o[i];
      break;
    }
    case arrow::Type::LARGE_LIST: {
      const auto& list = static_cast<const arrow::LargeListArray&>(chunk);
      out.values = list.values();
      const std::int64_t* o = list.raw_value_offsets();
      std::copy(o, o + n + 1, out.offsets.begin());
      break;
    }
    case arrow::Type::FIXED_SIZE_LIST: {
      const auto& list = static_cast<const arrow::FixedSizeListArray&>(chunk);
      out.values = list.values();
      for (std::int64_t i = 0; i < n; ++i)
        out.offsets[static_cast<std::size_t>(i)] = list.value_offset(i);
      out.offsets[static_cast<std::size_t>(n)] =
          n > 0 ? list.value_offset(n - 1) + list.value_length(n - 1) : list.value_offset(0);
      break;
    }
    default:
      throw Error(fmt::format("{}: column '{}': Arrow type {} is not a list", info.path.string(),
                              plan.schema.name(), chunk.type()->ToString()));
  }
  const std::int64_t child = out.values->length();
  for (std::size_t i = 0; i + 1 < out.offsets.size(); ++i) {
    RB_CHECK(
        out.offsets[i] >= 0 && out.offsets[i] <= out.offsets[i + 1] && out.offsets[i + 1] <= child,
        Error, "{}: column '{}': corrupt list offsets {} -> {} (of {} values)", info.path.string(),
        plan.schema.name(), out.offsets[i], out.offsets[i + 1], child);
  }
  return out;
}

template <class T>
void check_statistics_max(const T* values, std::int64_t n, const Plan& plan, const FileInfo& info,
                          const std::function<std::int64_t(std::int64_t)>& row_of) {
  if (!plan.statistics_max) return;
  const std::int64_t max = *plan.statistics_max;
  for (std::int64_t i = 0; i < n; ++i) {
    if (static_cast<std::int64_t>(values[i]) > max) {
      throw ValueError(fmt::format(
          "{}: column '{}', row {}: value {} is above the maximum {} of the files' column "
          "statistics, which gave the inferred domain [0, {}] (corrupt statistics; give a schema "
          "file instead)",
          info.path.string(), plan.schema.name(), row_of(i), values[i], max, max));
    }
  }
}

}  // namespace

Column ParquetReader::State::convert(const std::shared_ptr<arrow::ChunkedArray>& column_data,
                                     const Plan& plan, const FileInfo& info, std::int64_t first_row,
                                     const Tensor& into) const {
  const arrow::ChunkedArray& data = *column_data;
  const ColumnSchema& cs = plan.schema;
  const std::int64_t rows = data.length();
  Column column;
  with_ctype(cs.dtype(), [&]<class T>(T*) {
    if (!cs.is_list() && !into.defined() && rows > 0 && data.num_chunks() == 1 &&
        data.chunk(0)->null_count() == 0 && data.chunk(0)->type_id() == arrow_id_of<T>()) {
      // The file's type is the schema's: the tensor borrows Arrow's buffer.
      const T* values = data.chunk(0)->data()->GetValues<T>(1);
      check_statistics_max(values, rows, plan, info, [&](std::int64_t i) { return first_row + i; });
      column.values = Tensor::borrow(const_cast<T*>(values), {rows}, cs.dtype(),
                                     std::shared_ptr<const void>(column_data, values));
      return;
    }
    if (!cs.is_list()) {
      column.values = into.defined() ? into : Tensor::empty({rows}, cs.dtype());
      T* out = column.values.data<T>();
      std::int64_t row = first_row;
      for (const auto& chunk : data.chunks()) {
        const std::int64_t base = row;
        convert_array<T>(*chunk, 0, chunk->length(), out, [&](std::int64_t i, const Problem& p) {
          throw_problem(info, plan, base + i, -1, p);
        });
        check_statistics_max(out, chunk->length(), plan, info,
                             [&](std::int64_t i) { return base + i; });
        out += chunk->length();
        row += chunk->length();
      }
      return;
    }
    // Lists: the rows' lengths first (nulls refused), then the values.
    std::vector<ListChunk> chunks;
    std::int64_t nnz = 0;
    std::int64_t row = first_row;
    for (const auto& chunk : data.chunks()) {
      if (chunk->null_count() > 0) {
        for (std::int64_t i = 0; i < chunk->length(); ++i) {
          if (chunk->IsNull(i)) throw_problem(info, plan, row + i, -1, {true, {}});
        }
      }
      chunks.push_back(list_chunk(*chunk, info, plan));
      const std::vector<std::int64_t>& o = chunks.back().offsets;
      nnz = add_or_throw<std::int64_t>(
          nnz, o.back() - o.front(), fmt::format("{}: column '{}'", info.path.string(), cs.name()));
      row += chunk->length();
    }
    const bool fixed = !cs.is_ragged();
    const std::int64_t width = fixed ? cs.value_count()->max : 0;
    if (fixed) {
      row = first_row;
      for (const ListChunk& c : chunks) {
        for (std::size_t i = 0; i + 1 < c.offsets.size(); ++i, ++row) {
          const std::int64_t length = c.offsets[i + 1] - c.offsets[i];
          RB_CHECK(length == width, ValueError,
                   "{}: column '{}', row {}: a list of {} values, the schema makes it a "
                   "fixed-length list of {}",
                   info.path.string(), cs.name(), row, length, width);
        }
      }
      column.values = Tensor::empty({rows, width}, cs.dtype());
    } else {
      column.values = Tensor::empty({nnz}, cs.dtype());
      column.offsets = Tensor::empty({rows + 1}, DType::kInt64);
      column.offsets.data<std::int64_t>()[0] = 0;
    }
    T* out = column.values.data<T>();
    std::int64_t* offsets = fixed ? nullptr : column.offsets.data<std::int64_t>() + 1;
    std::int64_t written = 0;
    row = first_row;
    for (const ListChunk& c : chunks) {
      const std::int64_t begin = c.offsets.front(), count = c.offsets.back() - begin;
      // The row and the element of value i of this chunk, for messages.
      const auto locate = [&](std::int64_t i) {
        const auto it = std::upper_bound(c.offsets.begin(), c.offsets.end(), begin + i);
        const auto r = static_cast<std::int64_t>(it - c.offsets.begin()) - 1;
        return std::pair{row + r, begin + i - c.offsets[static_cast<std::size_t>(r)]};
      };
      convert_array<T>(*c.values, begin, count, out + written,
                       [&](std::int64_t i, const Problem& p) {
                         const auto [r, element] = locate(i);
                         throw_problem(info, plan, r, element, p);
                       });
      check_statistics_max(out + written, count, plan, info,
                           [&](std::int64_t i) { return locate(i).first; });
      if (offsets) {
        for (std::size_t i = 1; i < c.offsets.size(); ++i)
          *offsets++ = written + c.offsets[i] - begin;
      }
      written += count;
      row += static_cast<std::int64_t>(c.offsets.size()) - 1;
    }
  });
  return column;
}

std::vector<Column> ParquetReader::State::read_columns(std::size_t f, int rg,
                                                       const std::vector<const Plan*>& which,
                                                       const std::vector<Tensor>& into) const {
  const FileInfo& info = file(f);
  const auto meta = row_group(info, rg);
  const std::int64_t rows = meta->num_rows();
  // What Arrow will decode, before it allocates: each leaf's values (at
  // most 8 bytes) and a list's offsets, against the memory limit.
  std::vector<int> leaves;
  std::int64_t bytes = 0;
  const std::string what = fmt::format("{}: row group {} ({} rows)", info.path.string(), rg, rows);
  for (const Plan* plan : which) {
    leaves.push_back(plan->leaf);
    const std::int64_t values = guarded(info.path, "cannot read the row group's metadata", [&] {
      return meta->ColumnChunk(plan->leaf)->num_values();
    });
    RB_CHECK(values >= 0 && rows >= 0, Error, "{}: negative counts in the metadata (corrupt file)",
             what);
    bytes = add_or_throw(bytes, mul_or_throw<std::int64_t>(values, 8, what), what);
    if (plan->schema.is_list())
      bytes = add_or_throw(bytes, mul_or_throw<std::int64_t>(rows, 8, what), what);
  }
  check_allocation(static_cast<std::size_t>(bytes), what);

  std::shared_ptr<arrow::Table> table;
  {
    const auto reader = open_reader(info.path, info.metadata);
    reader->set_use_threads(true);  // the columns decoded in parallel (Arrow's CPU pool)
    guarded(info.path, fmt::format("cannot read row group {}", rg), [&] {
      check_status(reader->ReadRowGroup(rg, leaves, &table), info.path,
                   fmt::format("cannot read row group {}", rg));
    });
  }
  RB_CHECK(table->num_rows() == rows, Error,
           "{}: row group {} holds {} rows, its metadata says {} (corrupt file)",
           info.path.string(), rg, table->num_rows(), rows);
  const std::int64_t first_row = info.row_group_first_row[static_cast<std::size_t>(rg)];
  std::vector<Column> columns;
  for (std::size_t i = 0; i < which.size(); ++i) {
    const Plan* plan = which[i];
    const std::shared_ptr<arrow::ChunkedArray> data = table->GetColumnByName(plan->schema.name());
    RB_CHECK(data != nullptr && data->length() == rows, Error,
             "{}: row group {}: column '{}' was not read whole (corrupt file)", info.path.string(),
             rg, plan->schema.name());
    columns.push_back(convert(data, *plan, info, first_row, into.empty() ? Tensor() : into[i]));
  }
  return columns;
}

// The inferred domain [0, max] of a categorical column: the max of the
// files' statistics when they are allowed (signed integers: unsigned ones
// are stored as signed Parquet integers) and every row group has them, else
// of the values.
void ParquetReader::State::infer_domain(Plan& plan, bool statistics_allowed) {
  std::int64_t max = 0;  // the domain starts at 0 whatever the values
  bool from_statistics = statistics_allowed;
  for (const FileInfo& info : files) {
    const int groups = info.metadata->num_row_groups();
    for (int rg = 0; rg < groups && from_statistics; ++rg) {
      const auto meta = row_group(info, rg);
      if (meta->num_rows() == 0) continue;
      guarded(info.path, "cannot read the column statistics", [&] {
        const auto chunk = meta->ColumnChunk(plan.leaf);
        const std::shared_ptr<parquet::Statistics> stats =
            chunk->is_stats_set() ? chunk->statistics() : nullptr;
        if (!stats || !stats->HasMinMax()) {
          from_statistics = false;
          return;
        }
        std::int64_t high = 0;
        if (stats->physical_type() == parquet::Type::INT32) {
          high = static_cast<const parquet::Int32Statistics&>(*stats).max();
        } else if (stats->physical_type() == parquet::Type::INT64) {
          high = static_cast<const parquet::Int64Statistics&>(*stats).max();
        } else {
          from_statistics = false;
          return;
        }
        max = std::max(max, high);
      });
    }
  }
  if (from_statistics) {
    plan.statistics_max = max;
  } else {
    max = 0;
    for (std::size_t f = 0; f < files.size(); ++f) {
      for (int rg = 0; rg < files[f].metadata->num_row_groups(); ++rg) {
        const Column c = read_columns(f, rg, {&plan}).front();
        with_ctype(c.values.dtype(), [&]<class T>(T*) {
          const T* v = c.values.data<T>();
          for (std::int64_t i = 0; i < c.values.numel(); ++i) {
            max = std::max(max, static_cast<std::int64_t>(v[i]));
          }
        });
      }
    }
  }
  plan.schema = plan.schema.with_domain(0, max);
}

ParquetReader::ParquetReader(const std::string& input, const ParquetReadOptions& options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.paths = parquet_files(input);
  std::vector<int> leaves;
  for (const fs::path& path : s.paths) {
    FileInfo info;
    info.path = path;
    const auto reader = open_reader(path, nullptr);
    guarded(path, "cannot read the Parquet file", [&] {
      info.metadata = reader->parquet_reader()->metadata();
      check_status(reader->GetSchema(&info.schema), path, "cannot convert its schema to Arrow's");
      if (s.files.empty()) leaves = leaf_columns(*reader);
    });
    std::set<std::string> seen;
    for (const auto& field : info.schema->fields()) {
      RB_CHECK(is_valid_utf8(field->name()), Error,
               "{}: column name {} is not valid UTF-8 (Parquet's names are; a corrupt file?)",
               path.string(), quoted_excerpt(field->name()));
      RB_CHECK(seen.insert(field->name()).second, Error, "{}: column {} appears twice",
               path.string(), quoted_excerpt(field->name()));
    }
    if (!s.files.empty()) {
      const FileInfo& first = s.files.front();
      for (const auto& field : first.schema->fields()) {
        const auto other = info.schema->GetFieldByName(field->name());
        RB_CHECK(other != nullptr, Error,
                 "{} has no column '{}', which {} has: the files of a dataset need the same "
                 "columns",
                 path.string(), field->name(), first.path.string());
        RB_CHECK(other->type()->Equals(*field->type()), Error,
                 "{}: column '{}' is {}, in {} it is {}: the files of a dataset need the same "
                 "column types",
                 path.string(), field->name(), other->type()->ToString(), first.path.string(),
                 field->type()->ToString());
      }
      RB_CHECK(info.schema->num_fields() == first.schema->num_fields(), Error,
               "{} has the columns {}, {} has {}: the files of a dataset need the same columns",
               path.string(), field_names(*info.schema), first.path.string(),
               field_names(*first.schema));
    }
    std::int64_t rows = 0;
    for (int rg = 0; rg < info.metadata->num_row_groups(); ++rg) {
      info.row_group_first_row.push_back(rows);
      const std::int64_t n = s.row_group(info, rg)->num_rows();
      RB_CHECK(n >= 0, Error, "{}: row group {} has {} rows (corrupt file)", path.string(), rg, n);
      rows = add_or_throw(rows, n, path.string() + ": rows");
    }
    RB_CHECK(rows == info.metadata->num_rows(), Error,
             "{}: its row groups hold {} rows, its metadata says {} (corrupt file)", path.string(),
             rows, info.metadata->num_rows());
    s.num_rows = add_or_throw(s.num_rows, rows, "Parquet dataset: rows");
    s.files.push_back(std::move(info));
  }
  const arrow::Schema& arrow_schema = *s.files.front().schema;
  const fs::path& first_file = s.files.front().path;

  // The schema file, given or beside the data.
  s.schema_file = options.schema_file;
  if (s.schema_file.empty()) {
    std::error_code ec;
    s.schema_file =
        schema_beside(fs::is_directory(input, ec) ? fs::path(input) : first_file.parent_path());
  }
  std::optional<Schema> file_schema;
  if (!s.schema_file.empty()) file_schema = Schema::load(s.schema_file);

  std::vector<std::string> names;
  if (file_schema) {
    names = file_schema->column_names();
    for (const ColumnSchema& c : options.read_as) {
      if (!file_schema->contains(c.name()) && arrow_schema.GetFieldIndex(c.name()) >= 0)
        names.push_back(c.name());
    }
  } else {
    for (const auto& field : arrow_schema.fields()) {
      if (!is_pandas_index(field->name())) names.push_back(field->name());
    }
  }
  std::vector<ColumnSchema> columns;
  for (const std::string& name : names) {
    const int index = arrow_schema.GetFieldIndex(name);
    if (index < 0) {
      if (!file_schema || !file_schema->contains(name)) continue;  // a model's column not here
      if (options.read_as.contains(name)) continue;  // a target the data need not have
      throw Error(fmt::format("{}: column '{}' is not in the Parquet data ({} has {})",
                              s.schema_file.string(), name, first_file.string(),
                              field_names(arrow_schema)));
    }
    const std::shared_ptr<arrow::Field>& field = arrow_schema.field(index);
    const std::optional<ValueKind> kind = value_kind(field->type());
    RB_CHECK(kind.has_value(), ValueError,
             "{}: column '{}' is {}; recblocks reads numbers (integers, floats, booleans) and "
             "lists of them{}",
             first_file.string(), name, field->type()->ToString(),
             file_schema ? "" : " (give a schema file that leaves the column out)");
    Plan plan;
    plan.leaf = leaves.at(static_cast<std::size_t>(index));
    plan.arrow_type = field->type()->ToString();
    const bool inferred = !options.read_as.contains(name) && !file_schema;
    if (options.read_as.contains(name)) {
      plan.schema = options.read_as.column(name);
    } else if (file_schema) {
      plan.schema = file_schema->column(name);
    } else {
      const DType dtype = inferred_dtype(kind->value->id());
      plan.schema = ColumnSchema(
          name, dtype, TagSet({dtype == DType::kFloat32 ? Tags::CONTINUOUS : Tags::CATEGORICAL}));
      if (kind->list) plan.schema = plan.schema.with_list(true, true);
    }
    RB_CHECK(plan.leaf >= 0, ValueError, "{}: column '{}' ({}) is nested beyond a list of numbers",
             first_file.string(), name, plan.arrow_type);
    RB_CHECK(plan.schema.dtype() != DType::kBFloat16, ValueError,
             "column '{}': dtype bfloat16 cannot be read from Parquet (float32, int32 or int64)",
             name);
    RB_CHECK(
        plan.schema.is_list() == kind->list, ValueError,
        "{}: column '{}' is {}, but {} makes it {}", first_file.string(), name, plan.arrow_type,
        options.read_as.contains(name) ? std::string("the model's schema") : s.schema_file.string(),
        plan.schema.is_list() ? "a list column" : "a column of one value per row");
    s.plans.push_back(std::move(plan));
    if (inferred && is_integer(s.plans.back().schema.dtype()))
      s.infer_domain(s.plans.back(), is_signed_integer_type(kind->value->id()));
    columns.push_back(s.plans.back().schema);
  }
  for (const auto& field : arrow_schema.fields()) {
    if (std::find(names.begin(), names.end(), field->name()) == names.end())
      s.ignored.push_back(field->name());
  }
  s.schema = Schema(std::move(columns));
}

ParquetReader::~ParquetReader() = default;
ParquetReader::ParquetReader(ParquetReader&&) noexcept = default;
ParquetReader& ParquetReader::operator=(ParquetReader&&) noexcept = default;

const Schema& ParquetReader::schema() const { return state_->schema; }
const fs::path& ParquetReader::schema_file() const { return state_->schema_file; }
const std::vector<std::string>& ParquetReader::ignored_columns() const { return state_->ignored; }
const std::vector<fs::path>& ParquetReader::files() const { return state_->paths; }
std::int64_t ParquetReader::num_rows() const { return state_->num_rows; }

int ParquetReader::num_row_groups(std::size_t file) const {
  return state_->file(file).metadata->num_row_groups();
}

std::int64_t ParquetReader::row_group_rows(std::size_t file, int row_group) const {
  return state_->row_group(state_->file(file), row_group)->num_rows();
}

Dataset ParquetReader::read_row_group(std::size_t file, int row_group) const {
  return read_row_group(file, row_group, {});
}

Dataset ParquetReader::read_row_group(std::size_t file, int row_group,
                                      const std::vector<std::string>& names) const {
  const Schema schema = names.empty() ? state_->schema : state_->schema.select_by_name(names);
  std::vector<const Plan*> which;
  for (const Plan& p : state_->plans) {
    if (schema.contains(p.schema.name())) which.push_back(&p);
  }
  std::vector<Column> read = state_->read_columns(file, row_group, which);
  std::map<std::string, Column> columns;
  for (std::size_t i = 0; i < read.size(); ++i)
    columns.emplace(which[i]->schema.name(), std::move(read[i]));
  return Dataset(schema, std::move(columns));
}

Dataset ParquetReader::read() const {
  std::vector<std::pair<std::size_t, int>> all;
  for (std::size_t f = 0; f < state_->files.size(); ++f) {
    for (int rg = 0; rg < num_row_groups(f); ++rg) all.emplace_back(f, rg);
  }
  return read_row_groups(all);
}

Dataset ParquetReader::read_row_groups(std::span<const std::pair<std::size_t, int>> groups) const {
  const State& s = *state_;
  std::int64_t num_rows = 0;
  for (const auto& [f, rg] : groups) num_rows += row_group_rows(f, rg);
  // Columns of one value (or n values) per row are decoded straight into
  // tensors of the whole size; a ragged list's values are kept per row
  // group and joined at the end (their number is known only once read).
  struct Out {
    Column column;
    std::vector<Tensor> value_chunks;
  };
  std::vector<const Plan*> which;
  std::vector<Out> outs;
  for (const Plan& p : s.plans) {
    const ColumnSchema& cs = p.schema;
    Out out;
    if (cs.is_ragged()) {
      out.column.offsets = Tensor::empty({num_rows + 1}, DType::kInt64);
      out.column.offsets.data<std::int64_t>()[0] = 0;
    } else if (cs.is_list()) {
      out.column.values = Tensor::empty({num_rows, cs.value_count()->max}, cs.dtype());
    } else {
      out.column.values = Tensor::empty({num_rows}, cs.dtype());
    }
    which.push_back(&p);
    outs.push_back(std::move(out));
  }
  std::int64_t row = 0;
  for (const auto& [f, rg] : groups) {
    const std::int64_t rows = row_group_rows(f, rg);
    std::vector<Tensor> into;  // scalar columns only
    for (std::size_t i = 0; i < outs.size(); ++i) {
      into.push_back(which[i]->schema.is_list()
                         ? Tensor()
                         : outs[i].column.values.slice_rows(row, row + rows));
    }
    std::vector<Column> read = s.read_columns(f, rg, which, into);
    for (std::size_t i = 0; i < outs.size(); ++i) {
      Out& out = outs[i];
      const Column& c = read[i];
      if (c.is_list()) {
        std::int64_t* o = out.column.offsets.data<std::int64_t>() + row;
        const std::int64_t* co = c.offsets.data<std::int64_t>();
        for (std::int64_t r = 1; r <= rows; ++r) o[r] = o[0] + co[r];
        out.value_chunks.push_back(c.values);
      } else if (!into[i].defined() && c.values.nbytes() > 0) {  // fixed-length lists
        const std::size_t row_bytes =
            static_cast<std::size_t>(c.values.shape().inner(0)) * dtype_size(c.values.dtype());
        std::memcpy(
            static_cast<char*>(out.column.values.raw()) + static_cast<std::size_t>(row) * row_bytes,
            c.values.raw(), c.values.nbytes());
      }
    }
    row += rows;
  }
  std::map<std::string, Column> columns;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    Out& out = outs[i];
    const std::string& name = which[i]->schema.name();
    if (out.column.offsets.defined()) {
      std::int64_t nnz = 0;
      for (const Tensor& t : out.value_chunks) nnz += t.size(0);
      out.column.values = Tensor::empty({nnz}, s.schema.column(name).dtype());
      char* to = static_cast<char*>(out.column.values.raw());
      for (Tensor& t : out.value_chunks) {
        if (t.nbytes() > 0) std::memcpy(to, t.raw(), t.nbytes());
        to += t.nbytes();
        t = Tensor();  // frees each chunk as soon as it is copied
      }
    }
    columns.emplace(name, std::move(out.column));
  }
  return Dataset(s.schema, std::move(columns));
}

Dataset read_parquet(const std::string& input, const ParquetReadOptions& options) {
  return ParquetReader(input, options).read();
}

namespace {

class ParquetSource final : public DataSource {
 public:
  explicit ParquetSource(ParquetReader reader)
      : input_(reader.files().size() == 1 ? reader.files().front().string()
                                          : reader.files().front().parent_path().string()),
        reader_(std::move(reader)) {
    for (std::size_t f = 0; f < reader_.files().size(); ++f) {
      for (int rg = 0; rg < reader_.num_row_groups(f); ++rg) chunks_.push_back({f, rg});
    }
  }

  const Schema& schema() const override { return reader_.schema(); }
  std::int64_t num_rows() const override { return reader_.num_rows(); }
  std::int64_t num_chunks() const override { return static_cast<std::int64_t>(chunks_.size()); }
  std::int64_t chunk_rows(std::int64_t chunk) const override {
    const auto [file, row_group] = at(chunk);
    return reader_.row_group_rows(file, row_group);
  }
  Dataset read_chunk(std::int64_t chunk, const std::vector<std::string>& names) const override {
    const auto [file, row_group] = at(chunk);
    return reader_.read_row_group(file, row_group, names);
  }
  Dataset read_chunks(std::span<const std::int64_t> chunks) const override {
    std::vector<std::pair<std::size_t, int>> groups;
    for (const std::int64_t c : chunks) groups.push_back(at(c));
    return reader_.read_row_groups(groups);
  }
  std::string describe() const override {
    return fmt::format("{} (Parquet, {} rows, {} files, {} row groups)", input_, num_rows(),
                       reader_.files().size(), chunks_.size());
  }

 private:
  std::pair<std::size_t, int> at(std::int64_t chunk) const {
    RB_CHECK(chunk >= 0 && chunk < num_chunks(), ValueError,
             "{}: chunk {} out of range ({} row groups)", input_, chunk, chunks_.size());
    return chunks_[static_cast<std::size_t>(chunk)];
  }

  std::string input_;
  ParquetReader reader_;
  std::vector<std::pair<std::size_t, int>> chunks_;  // (file, row group)
};

}  // namespace

DataSourcePtr parquet_source(const std::string& input, const ParquetReadOptions& options) {
  return parquet_source(ParquetReader(input, options));
}

DataSourcePtr parquet_source(ParquetReader reader) {
  return std::make_shared<ParquetSource>(std::move(reader));
}

std::string arrow_version() { return arrow::GetBuildInfo().version_string; }

}  // namespace recblocks::datasets
