// Writing a Dataset as a Parquet dataset directory (data/parquet.h).
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/util/compression.h>
#include <fmt/format.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "data/parquet_internal.h"
#include "recblocks/core/error.h"
#include "recblocks/core/memory.h"
#include "recblocks/data/parquet.h"
#include "recblocks/io/atomic.h"

namespace recblocks::datasets {
namespace fs = std::filesystem;

namespace {

using parquet_detail::throw_arrow_error;

void check_status(const arrow::Status& status, const fs::path& file, std::string_view what) {
  if (!status.ok()) throw_arrow_error(file, what, status.ToString());
}

arrow::Compression::type compression_of(const std::string& name) {
  static const std::pair<const char*, arrow::Compression::type> kCodecs[] = {
      {"snappy", arrow::Compression::SNAPPY}, {"zstd", arrow::Compression::ZSTD},
      {"gzip", arrow::Compression::GZIP},     {"lz4", arrow::Compression::LZ4},
      {"brotli", arrow::Compression::BROTLI}, {"none", arrow::Compression::UNCOMPRESSED}};
  for (const auto& [codec_name, codec] : kCodecs) {
    if (name != codec_name) continue;
    RB_CHECK(codec == arrow::Compression::UNCOMPRESSED || arrow::util::Codec::IsAvailable(codec),
             ValueError, "Parquet compression '{}': not available in this Arrow build", name);
    return codec;
  }
  throw ValueError(
      fmt::format("Parquet compression {}: expected snappy, zstd, gzip, lz4, brotli or none",
                  quoted_excerpt(name)));
}

std::shared_ptr<arrow::DataType> arrow_type(DType dtype, const std::string& column) {
  switch (dtype) {
    case DType::kInt32: return arrow::int32();
    case DType::kInt64: return arrow::int64();
    case DType::kFloat32: return arrow::float32();
    case DType::kBFloat16: break;
  }
  throw ValueError(fmt::format(
      "write_parquet: column '{}' is bfloat16, which Parquet has no type for (convert it to "
      "float32)",
      column));
}

// An Arrow buffer over a tensor's memory, without a copy: the tensor (in
// the Dataset being written) outlives the write.
std::shared_ptr<arrow::Buffer> wrap(const Tensor& t) {
  return std::make_shared<arrow::Buffer>(static_cast<const std::uint8_t*>(t.raw()),
                                         static_cast<std::int64_t>(t.nbytes()));
}

// Offsets as Arrow wants them: int32 for list<T>, int64 for large_list<T>.
template <class O>
std::shared_ptr<arrow::Buffer> offsets_buffer(const std::vector<std::int64_t>& offsets) {
  auto buffer = arrow::AllocateBuffer(static_cast<std::int64_t>(offsets.size() * sizeof(O)));
  if (!buffer.ok()) throw MemoryLimitError("write_parquet: " + buffer.status().ToString());
  O* out = reinterpret_cast<O*>((*buffer)->mutable_data());
  for (std::size_t i = 0; i < offsets.size(); ++i) out[i] = static_cast<O>(offsets[i]);
  return std::shared_ptr<arrow::Buffer>(std::move(*buffer));
}

std::shared_ptr<arrow::Field> element_field(DType dtype, const std::string& column) {
  return arrow::field("element", arrow_type(dtype, column), /*nullable=*/false);
}

// One column of a part (rows of the dataset, offsets already rebased) as an
// Arrow array and its field, without nulls.
std::pair<std::shared_ptr<arrow::Field>, std::shared_ptr<arrow::Array>> to_arrow(
    const ColumnSchema& cs, const Column& c, std::int64_t rows) {
  const std::string& name = cs.name();
  const std::shared_ptr<arrow::DataType> value_type = arrow_type(cs.dtype(), name);
  if (!cs.is_list()) {
    auto data = arrow::ArrayData::Make(value_type, rows, {nullptr, wrap(c.values)}, 0);
    return {arrow::field(name, value_type, false), arrow::MakeArray(data)};
  }
  const std::int64_t nnz = c.values.numel();
  auto values =
      arrow::MakeArray(arrow::ArrayData::Make(value_type, nnz, {nullptr, wrap(c.values)}, 0));
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(rows + 1));
  if (c.is_list()) {
    std::memcpy(offsets.data(), c.offsets.raw(), offsets.size() * sizeof(std::int64_t));
  } else {  // fixed-length [rows, n]
    const std::int64_t n = c.values.size(1);
    for (std::int64_t r = 0; r <= rows; ++r) offsets[static_cast<std::size_t>(r)] = r * n;
  }
  const bool large = nnz > std::numeric_limits<std::int32_t>::max();
  const std::shared_ptr<arrow::DataType> type =
      large ? arrow::large_list(element_field(cs.dtype(), name))
            : arrow::list(element_field(cs.dtype(), name));
  auto data = arrow::ArrayData::Make(type, rows,
                                     {nullptr, large ? offsets_buffer<std::int64_t>(offsets)
                                                     : offsets_buffer<std::int32_t>(offsets)},
                                     {values->data()}, 0);
  return {arrow::field(name, type, false), arrow::MakeArray(data)};
}

void write_part(const Dataset& part, const fs::path& path, const ParquetWriteOptions& options,
                arrow::Compression::type codec) {
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::vector<std::shared_ptr<arrow::Array>> arrays;
  for (const ColumnSchema& cs : part.schema()) {
    auto [field, array] = to_arrow(cs, part.column(cs.name()), part.num_rows());
    fields.push_back(std::move(field));
    arrays.push_back(std::move(array));
  }
  const auto table = arrow::Table::Make(arrow::schema(fields), arrays, part.num_rows());
  try {
    check_status(table->Validate(), path, "the table to write is not valid");
    auto sink = arrow::io::FileOutputStream::Open(path.string());
    check_status(sink.status(), path, "cannot create the file");
    const auto properties = parquet::WriterProperties::Builder().compression(codec)->build();
    const auto arrow_properties = parquet::ArrowWriterProperties::Builder().store_schema()->build();
    check_status(parquet::arrow::WriteTable(*table, arrow::system_memory_pool(), *sink,
                                            options.row_group_size, properties, arrow_properties),
                 path, "cannot write the Parquet file");
    check_status((*sink)->Close(), path, "cannot close the file");
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw MemoryLimitError(fmt::format("{}: out of memory writing Parquet", path.string()));
  } catch (const std::exception& e) {
    throw_arrow_error(path, "cannot write the Parquet file", e.what());
  }
}

}  // namespace

std::vector<fs::path> write_parquet(const Dataset& data, const fs::path& dir,
                                    const ParquetWriteOptions& options) {
  RB_CHECK(options.rows_per_file >= 0, ValueError,
           "write_parquet: rows_per_file is {}, expected 0 (one file) or more",
           options.rows_per_file);
  RB_CHECK(options.row_group_size >= 1, ValueError,
           "write_parquet: row_group_size is {}, expected 1 or more", options.row_group_size);
  const arrow::Compression::type codec = compression_of(options.compression);
  for (const ColumnSchema& cs : data.schema()) (void)arrow_type(cs.dtype(), cs.name());

  const std::int64_t rows = data.num_rows();
  const std::int64_t per_file = options.rows_per_file > 0 ? options.rows_per_file : rows;
  io::StagedDirectory staged(dir);
  std::vector<fs::path> written;
  std::int64_t begin = 0;
  do {
    const std::int64_t end = rows - begin <= per_file ? rows : begin + per_file;
    const std::string name = fmt::format("part_{}.parquet", written.size());
    write_part(data.slice_rows(begin, end), staged.path() / name, options, codec);
    written.push_back(dir / name);
    begin = end;
  } while (begin < rows);
  data.schema().save(staged.path() / "schema.json");
  if (options.merlin_schema) {
    try {
      data.schema().save_as(staged.path() / "schema.pbtxt", SchemaFormat::kMerlinPbtxt);
    } catch (const ValueError& e) {
      throw ValueError(
          fmt::format("write_parquet: Merlin's schema.pbtxt cannot hold this schema: {} (without "
                      "merlin_schema, `--no-merlin-schema`, schema.json alone is written)",
                      e.what()));
    }
  }
  staged.commit();
  return written;
}

}  // namespace recblocks::datasets
