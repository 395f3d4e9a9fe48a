// recblocks::parquet: Datasets written and read back, and Parquet files that
// Arrow writes here with the types NVTabular and pandas produce (uint,
// float64, booleans, dictionaries, chunks, large and fixed-size lists,
// nulls). tests/data/parquet_cli_test.py reads files that pyarrow writes.
#include "recblocks/data/parquet.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "io/test_files.h"
#include "recblocks/core/memory.h"
#include "recblocks/data/loader.h"
#include "testing/tensor_testing.h"

namespace recblocks::datasets {
namespace {

namespace fs = std::filesystem;
using ::recblocks::testing::TempDir;
using ::recblocks::testing::write_bytes;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Tensor i32(std::vector<std::int32_t> v) {
  return Tensor::from<std::int32_t>({static_cast<std::int64_t>(v.size())}, v);
}
Tensor i64(std::vector<std::int64_t> v) {
  return Tensor::from<std::int64_t>({static_cast<std::int64_t>(v.size())}, v);
}
Tensor f32(std::vector<float> v) {
  return Tensor::from<float>({static_cast<std::int64_t>(v.size())}, v);
}

// Every dtype, scalar and list (ragged with empty lists, fixed length), 5 rows.
Dataset every_dtype() {
  Schema schema({
      ColumnSchema("user", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID}).with_domain(0, 9),
      ColumnSchema("item", DType::kInt64, {Tags::CATEGORICAL, Tags::ITEM_ID})
          .with_domain(0, 5'000'000'000),
      ColumnSchema("price", DType::kFloat32, {Tags::CONTINUOUS}),
      ColumnSchema("genres", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 20).with_list(true),
      ColumnSchema("history", DType::kInt64, {Tags::CATEGORICAL})
          .with_domain(0, 99)
          .with_list(true),
      ColumnSchema("scores", DType::kFloat32, {Tags::CONTINUOUS}).with_list(true),
      ColumnSchema("pair", DType::kFloat32, {Tags::CONTINUOUS})
          .with_list(true, /*is_ragged=*/false, ValueCount{2, 2}),
      ColumnSchema("click", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
  });
  std::map<std::string, Column> columns = {
      {"user", {i32({3, 1, 4, 1, 9}), {}}},
      {"item", {i64({5'000'000'000, 2, 3, 4, 0}), {}}},
      {"price", {f32({0.5f, -1.25f, 3e30f, 0.0f, 1e-7f}), {}}},
      {"genres", {i32({1, 2, 20, 3}), i64({0, 2, 2, 3, 3, 4})}},  // [1,2] [] [20] [] [3]
      {"history", {i64({}), i64({0, 0, 0, 0, 0, 0})}},            // all empty
      {"scores", {f32({1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f}), i64({0, 1, 1, 3, 6, 6})}},
      {"pair", {Tensor::from({5, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), {}}},
      {"click", {i32({1, 0, 0, 1, 1}), {}}},
  };
  return Dataset(schema, columns);
}

// Leaves the part files alone, so that the reader infers the schema.
void remove_schema_files(const fs::path& dir) {
  fs::remove(dir / "schema.json");
  fs::remove(dir / "schema.pbtxt");
}

void expect_same(const Dataset& a, const Dataset& b) {
  EXPECT_EQ(a.schema(), b.schema());
  ASSERT_EQ(a.num_rows(), b.num_rows());
  for (const auto& [name, column] : a.columns()) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(testing::tensors_bitwise_equal(column.values, b.column(name).values));
    ASSERT_EQ(column.is_list(), b.column(name).is_list());
    if (column.is_list()) {
      EXPECT_TRUE(testing::tensors_bitwise_equal(column.offsets, b.column(name).offsets));
    }
  }
}

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a recblocks::Error";
  return {};
}

// ---- Parquet files written with Arrow directly ----------------------------------

template <class Builder, class T>
std::shared_ptr<arrow::Array> array_of(const std::vector<T>& values,
                                       const std::vector<bool>& valid = {}) {
  Builder builder;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!valid.empty() && !valid[i]) {
      EXPECT_TRUE(builder.AppendNull().ok());
    } else {
      EXPECT_TRUE(builder.Append(values[i]).ok());
    }
  }
  return builder.Finish().ValueOrDie();
}

void write_table(const fs::path& path, const std::shared_ptr<arrow::Table>& table,
                 std::int64_t row_group_size = 1024, bool statistics = true) {
  auto sink = arrow::io::FileOutputStream::Open(path.string()).ValueOrDie();
  parquet::WriterProperties::Builder builder;
  if (!statistics) builder.disable_statistics();
  ASSERT_TRUE(parquet::arrow::WriteTable(
                  *table, arrow::default_memory_pool(), sink, row_group_size, builder.build(),
                  parquet::ArrowWriterProperties::Builder().store_schema()->build())
                  .ok());
  ASSERT_TRUE(sink->Close().ok());
}

std::shared_ptr<arrow::Table> table_of(
    const std::vector<std::pair<std::string, std::shared_ptr<arrow::Array>>>& columns) {
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::vector<std::shared_ptr<arrow::Array>> arrays;
  for (const auto& [name, array] : columns) {
    fields.push_back(arrow::field(name, array->type()));
    arrays.push_back(array);
  }
  return arrow::Table::Make(arrow::schema(fields), arrays);
}

std::vector<double> doubles(const Tensor& t) { return testing::to_doubles(t); }

// ---- round trips -------------------------------------------------------------------

TEST(Parquet, EveryDtypeRoundTrips) {
  TempDir tmp;
  const Dataset data = every_dtype();
  const std::vector<fs::path> files = write_parquet(data, tmp / "out");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], tmp / "out" / "part_0.parquet");
  EXPECT_TRUE(fs::is_regular_file(tmp / "out" / "schema.json"));
  ParquetReader reader((tmp / "out").string());
  EXPECT_EQ(reader.schema_file(), tmp / "out" / "schema.json");
  EXPECT_TRUE(reader.ignored_columns().empty());
  expect_same(data, reader.read());
  // The directory, the file and a glob name the same data.
  expect_same(data, read_parquet((tmp / "out" / "part_0.parquet").string()));
  expect_same(data, read_parquet((tmp / "out" / "*.parquet").string()));
}

TEST(Parquet, EveryCompressionRoundTrips) {
  TempDir tmp;
  const Dataset data = every_dtype();
  for (const char* codec : {"snappy", "zstd", "gzip", "lz4", "brotli", "none"}) {
    SCOPED_TRACE(codec);
    write_parquet(data, tmp / codec, {.compression = codec});
    expect_same(data, read_parquet((tmp / codec).string()));
  }
  EXPECT_THAT(error_of([&] { write_parquet(data, tmp / "x", {.compression = "lzo"}); }),
              HasSubstr("'lzo': expected snappy, zstd, gzip, lz4, brotli or none"));
  EXPECT_FALSE(fs::exists(tmp / "x"));
}

TEST(Parquet, RowGroupsAreReadOneByOneInOrder) {
  TempDir tmp;
  const Dataset data = every_dtype();
  write_parquet(data, tmp / "out", {.row_group_size = 2});
  const ParquetReader reader((tmp / "out").string());
  ASSERT_EQ(reader.files().size(), 1u);
  ASSERT_EQ(reader.num_row_groups(0), 3);  // 2 + 2 + 1 rows
  EXPECT_EQ(reader.row_group_rows(0, 2), 1);
  EXPECT_EQ(reader.num_rows(), 5);
  for (int rg = 0; rg < 3; ++rg) {
    SCOPED_TRACE(rg);
    const std::int64_t begin = std::int64_t{2} * rg;
    expect_same(data.slice_rows(begin, std::min<std::int64_t>(begin + 2, 5)),
                reader.read_row_group(0, rg));
  }
  expect_same(data, reader.read());
  EXPECT_THAT(error_of([&] { reader.read_row_group(0, 3); }),
              HasSubstr("row group 3 out of range (3 row groups)"));
  EXPECT_THAT(error_of([&] { reader.read_row_group(1, 0); }), HasSubstr("file 1 out of range"));
}

// The row groups of every file as a DataSource: what the loader streams.
TEST(Parquet, SourceChunksAreTheRowGroupsOfEveryFile) {
  TempDir tmp;
  const Dataset data = every_dtype();
  write_parquet(data, tmp / "out", {.rows_per_file = 3, .row_group_size = 2});  // 2+1, 2
  const DataSourcePtr source = parquet_source((tmp / "out").string());
  EXPECT_EQ(source->num_rows(), 5);
  ASSERT_EQ(source->num_chunks(), 3);
  EXPECT_EQ(source->chunk_rows(1), 1);
  expect_same(data.slice_rows(3, 5), source->read_chunk(2));
  const Dataset items = source->read_chunk(0, {"item", "genres"});
  EXPECT_EQ(items.schema().column_names(), (std::vector<std::string>{"item", "genres"}));
  expect_same(data.slice_rows(0, 2).select_by_name({"item", "genres"}), items);
  EXPECT_THAT(error_of([&] { source->read_chunk(3); }), HasSubstr("chunk 3 out of range"));
  EXPECT_THAT(source->describe(), HasSubstr("3 row groups"));

  // Streamed in order, batches across row groups and files are the rows.
  Loader loader(source, {.batch_size = 2, .shuffle = false, .shuffle_window = 1});
  std::vector<Dataset> batches;
  for (const Batch& b : loader) batches.push_back(b.to_dataset());
  ASSERT_EQ(batches.size(), 3u);
  expect_same(data, Dataset::concat(batches));
  // Shuffled: every row once.
  Loader shuffled(source, {.batch_size = 2, .seed = 5, .shuffle_window = 2});
  std::vector<std::int32_t> users;
  for (const Batch& b : shuffled) {
    for (std::int64_t r = 0; r < b.rows(); ++r)
      users.push_back(b.tensor("user").data<std::int32_t>()[r]);
  }
  std::sort(users.begin(), users.end());
  EXPECT_THAT(users, ElementsAre(1, 1, 3, 4, 9));
}

TEST(Parquet, PartFilesAreReadInTheirNumbersOrder) {
  TempDir tmp;
  const Dataset data = every_dtype();
  // One row per file and row groups of one row: part_0 .. part_4.
  const auto files = write_parquet(data, tmp / "out", {.rows_per_file = 1, .row_group_size = 1});
  ASSERT_EQ(files.size(), 5u);
  expect_same(data, read_parquet((tmp / "out").string()));

  // 12 files: part_10 and part_11 come after part_9, not after part_1.
  std::vector<std::int32_t> ids(12);
  for (int i = 0; i < 12; ++i) ids[static_cast<std::size_t>(i)] = 100 + i;
  const Dataset many(
      Schema({ColumnSchema("id", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 111)}),
      {{"id", {i32(ids), {}}}});
  write_parquet(many, tmp / "many", {.rows_per_file = 1});
  const ParquetReader reader((tmp / "many").string());
  ASSERT_EQ(reader.files().size(), 12u);
  EXPECT_EQ(reader.files()[2].filename(), "part_2.parquet");
  EXPECT_EQ(reader.files()[10].filename(), "part_10.parquet");
  expect_same(many, reader.read());
  // Hidden files (_metadata, .crc) and other names are not read.
  write_bytes(tmp / "many" / "_metadata", "not parquet");
  write_bytes(tmp / "many" / ".part_0.parquet.crc", "not parquet");
  write_bytes(tmp / "many" / "README.txt", "not parquet");
  expect_same(many, read_parquet((tmp / "many").string()));
}

TEST(Parquet, EmptyDatasetKeepsItsSchema) {
  TempDir tmp;
  const Dataset data = every_dtype().slice_rows(0, 0);
  const auto files = write_parquet(data, tmp / "out", {.rows_per_file = 2});
  ASSERT_EQ(files.size(), 1u);
  const ParquetReader reader((tmp / "out").string());
  EXPECT_EQ(reader.num_rows(), 0);
  const Dataset back = reader.read();
  EXPECT_EQ(back.schema(), data.schema());
  EXPECT_EQ(back.num_rows(), 0);
  EXPECT_EQ(back.column("pair").values.shape(), Shape({0, 2}));
  // Without the schema file, the inferred domain of an empty column is [0, 0].
  remove_schema_files(tmp / "out");
  const Dataset inferred = read_parquet((tmp / "out").string());
  EXPECT_EQ(inferred.num_rows(), 0);
  EXPECT_EQ(inferred.schema().column("user").domain()->max, 0);
}

TEST(Parquet, WriteReplacesTheDirectoryWholeAndRefusesBFloat16) {
  TempDir tmp;
  write_parquet(every_dtype(), tmp / "out", {.rows_per_file = 1});
  ASSERT_TRUE(fs::exists(tmp / "out" / "part_4.parquet"));
  write_parquet(every_dtype(), tmp / "out");  // one file now: the old parts are gone
  EXPECT_FALSE(fs::exists(tmp / "out" / "part_1.parquet"));
  expect_same(every_dtype(), read_parquet((tmp / "out").string()));

  const Dataset half(Schema({ColumnSchema("h", DType::kBFloat16, {Tags::CONTINUOUS})}),
                     {{"h", {Tensor::zeros({2}, DType::kBFloat16), {}}}});
  EXPECT_THAT(error_of([&] { write_parquet(half, tmp / "half"); }),
              HasSubstr("column 'h' is bfloat16, which Parquet has no type for"));
  EXPECT_FALSE(fs::exists(tmp / "half"));
  EXPECT_THAT(error_of([&] { write_parquet(half, tmp / "half", {.row_group_size = 0}); }),
              HasSubstr("row_group_size is 0"));
}

// ---- the schema: beside the data, given, inferred ----------------------------------

TEST(Parquet, InfersTheSchemaAsFromDictDoes) {
  TempDir tmp;
  write_parquet(every_dtype(), tmp / "out");
  remove_schema_files(tmp / "out");
  const ParquetReader reader((tmp / "out").string());
  EXPECT_TRUE(reader.schema_file().empty());
  const Schema& s = reader.schema();
  EXPECT_EQ(s.column_names(), every_dtype().schema().column_names());
  EXPECT_EQ(s.column("user").dtype(), DType::kInt32);
  EXPECT_TRUE(s.column("user").has_tag(Tags::CATEGORICAL));
  EXPECT_EQ(*s.column("user").domain(), (Domain{0, 9, "user"}));
  EXPECT_EQ(s.column("item").dtype(), DType::kInt64);
  EXPECT_EQ(s.column("item").domain()->max, 5'000'000'000);
  EXPECT_EQ(s.column("price").dtype(), DType::kFloat32);
  EXPECT_TRUE(s.column("price").has_tag(Tags::CONTINUOUS));
  EXPECT_FALSE(s.column("price").domain().has_value());
  EXPECT_TRUE(s.column("genres").is_ragged());
  EXPECT_EQ(s.column("genres").domain()->max, 20);
  EXPECT_EQ(s.column("history").domain()->max, 0);  // no values
  EXPECT_TRUE(s.column("pair").is_ragged());        // a list, without a length
  EXPECT_EQ(s.column("click").domain()->max, 1);    // no TARGET tag without a schema
  EXPECT_FALSE(s.column("click").has_tag(Tags::TARGET));
  const Dataset d = reader.read();
  EXPECT_EQ(doubles(d.column("item").values), doubles(every_dtype().column("item").values));
  EXPECT_EQ(d.column("pair").offsets.data<std::int64_t>()[5], 10);

  // The same domains from a scan of a file written without statistics.
  write_table(
      tmp / "out" / "part_0.parquet",
      table_of(
          {{"user", array_of<arrow::Int32Builder, std::int32_t>({3, 1, 4, 1, 9})},
           {"item", array_of<arrow::Int64Builder, std::int64_t>({5'000'000'000, 2, 3, 4, 0})}}),
      2, /*statistics=*/false);
  const Schema scanned = ParquetReader((tmp / "out").string()).schema();
  EXPECT_EQ(scanned.column("user").domain()->max, 9);
  EXPECT_EQ(scanned.column("item").domain()->max, 5'000'000'000);
}

TEST(Parquet, SchemaFileChoosesColumnsAndDtypes) {
  TempDir tmp;
  write_parquet(every_dtype(), tmp / "out");
  // A Merlin proto-JSON schema naming two columns, user as int64.
  write_bytes(tmp / "merlin.json",
              R"({"feature": [
                {"name": "click", "type": "INT", "annotation": {"tag": ["target", "binary_classification"]}},
                {"name": "user", "type": "INT", "intDomain": {"min": 0, "max": 9},
                 "annotation": {"tag": ["categorical", "user_id"], "extraMetadata": [{"dtype_item_size": 64.0}]}}
              ]})");
  const ParquetReader reader((tmp / "out").string(), {.schema_file = tmp / "merlin.json"});
  EXPECT_EQ(reader.schema().column_names(), (std::vector<std::string>{"click", "user"}));
  EXPECT_THAT(reader.ignored_columns(),
              ElementsAre("item", "price", "genres", "history", "scores", "pair"));
  const Dataset d = reader.read();
  EXPECT_EQ(d.column("user").values.dtype(), DType::kInt64);
  EXPECT_EQ(doubles(d.column("user").values), (std::vector<double>{3, 1, 4, 1, 9}));

  // Merlin's .merlin/schema.json beside the data is found when there is no schema.json.
  remove_schema_files(tmp / "out");
  fs::create_directories(tmp / "out" / ".merlin");
  fs::copy_file(tmp / "merlin.json", tmp / "out" / ".merlin" / "schema.json");
  EXPECT_EQ(ParquetReader((tmp / "out").string()).schema_file(),
            tmp / "out" / ".merlin" / "schema.json");

  // A schema column the files lack, and a list-ness that differs.
  write_bytes(tmp / "extra.json", R"({"feature": [{"name": "age", "type": "FLOAT"}]})");
  EXPECT_THAT(
      error_of([&] { ParquetReader((tmp / "out").string(), {.schema_file = tmp / "extra.json"}); }),
      HasSubstr("extra.json: column 'age' is not in the Parquet data"));
  write_bytes(
      tmp / "list.json",
      R"({"feature": [{"name": "price", "type": "FLOAT", "valueCount": {"min": 0, "max": 3}}]})");
  EXPECT_THAT(
      error_of([&] { ParquetReader((tmp / "out").string(), {.schema_file = tmp / "list.json"}); }),
      HasSubstr("column 'price' is float, but " + (tmp / "list.json").string() +
                " makes it a list column"));
}

TEST(Parquet, MerlinsSchemaPbtxtIsWrittenAndRead) {
  TempDir tmp;
  write_parquet(every_dtype(), tmp / "out");
  ASSERT_TRUE(fs::is_regular_file(tmp / "out" / "schema.pbtxt"));
  EXPECT_EQ(Schema::load(tmp / "out" / "schema.pbtxt"), every_dtype().schema());
  // NVTabular's layout: schema.pbtxt alone beside the part files.
  fs::remove(tmp / "out" / "schema.json");
  const ParquetReader reader((tmp / "out").string());
  EXPECT_EQ(reader.schema_file(), tmp / "out" / "schema.pbtxt");
  expect_same(every_dtype(), reader.read());
  // A text schema that does not parse names the file.
  write_bytes(tmp / "out" / "schema.pbtxt", "feature {\n  name: \"user\"\n");
  EXPECT_THAT(error_of([&] { ParquetReader((tmp / "out").string()); }), HasSubstr("schema.pbtxt"));
  // Without merlin_schema, schema.json alone.
  write_parquet(every_dtype(), tmp / "json_only", {.merlin_schema = false});
  EXPECT_TRUE(fs::is_regular_file(tmp / "json_only" / "schema.json"));
  EXPECT_FALSE(fs::exists(tmp / "json_only" / "schema.pbtxt"));
}

TEST(Parquet, ReadAsTakesAModelsDtypesAndSkipsItsMissingColumns) {
  TempDir tmp;
  write_parquet(every_dtype(), tmp / "out");
  remove_schema_files(tmp / "out");
  const Schema model({
      ColumnSchema("item", DType::kFloat32, {Tags::CONTINUOUS}),
      ColumnSchema("user", DType::kInt64, {Tags::CATEGORICAL}).with_domain(0, 99),
      ColumnSchema("not_in_data", DType::kInt32, {Tags::TARGET}),
  });
  const ParquetReader reader((tmp / "out").string(), {.read_as = model});
  EXPECT_EQ(reader.schema().column("user"), model.column("user"));
  EXPECT_FALSE(reader.schema().contains("not_in_data"));
  EXPECT_EQ(reader.schema().column("price").dtype(), DType::kFloat32);  // inferred
  // item as float32: 5e9 = 5^10 * 2^9 is exact in float32 (5^10 < 2^24), so it reads.
  const Dataset d = reader.read();
  EXPECT_EQ(doubles(d.column("item").values)[0], 5e9);
  EXPECT_EQ(d.column("user").values.dtype(), DType::kInt64);
}

// ---- values: widened, narrowed only when nothing changes -----------------------------

TEST(Parquet, WidensAndNarrowsOnlyLosslessly) {
  TempDir tmp;
  write_table(tmp / "t.parquet",
              table_of({
                  {"i8", array_of<arrow::Int8Builder, std::int8_t>({-3, 0, 127})},
                  {"u16", array_of<arrow::UInt16Builder, std::uint16_t>({0, 65535, 7})},
                  {"u64", array_of<arrow::UInt64Builder, std::uint64_t>({1, 2, 3})},
                  {"f64", array_of<arrow::DoubleBuilder, double>({0.1, -2.5, 1e30})},
                  {"flag", array_of<arrow::BooleanBuilder, bool>({true, false, true})},
                  {"whole", array_of<arrow::DoubleBuilder, double>({1.0, 2.0, 3.0})},
              }));
  const ParquetReader inferred((tmp / "t.parquet").string());
  const Schema& s = inferred.schema();
  EXPECT_EQ(s.column("i8").dtype(), DType::kInt32);
  EXPECT_EQ(s.column("u16").dtype(), DType::kInt64);
  EXPECT_EQ(s.column("u16").domain()->max, 65535);  // a scan: unsigned statistics are not used
  EXPECT_EQ(s.column("u64").dtype(), DType::kInt64);
  EXPECT_EQ(s.column("f64").dtype(), DType::kFloat32);
  EXPECT_EQ(s.column("flag").dtype(), DType::kFloat32);
  const Dataset d = inferred.read();
  EXPECT_EQ(doubles(d.column("i8").values), (std::vector<double>{-3, 0, 127}));
  EXPECT_EQ(doubles(d.column("u16").values), (std::vector<double>{0, 65535, 7}));
  EXPECT_EQ(doubles(d.column("flag").values), (std::vector<double>{1, 0, 1}));
  // float64 rounds to the nearest float32.
  EXPECT_EQ(d.column("f64").values.data<float>()[0], 0.1f);
  EXPECT_EQ(d.column("f64").values.data<float>()[2], 1e30f);

  // A schema asking for int32: integral doubles and small uint64 fit.
  write_bytes(tmp / "ints.json",
              R"({"feature": [{"name": "whole", "type": "INT"}, {"name": "u64", "type": "INT"}]})");
  const Dataset ints =
      read_parquet((tmp / "t.parquet").string(), {.schema_file = tmp / "ints.json"});
  EXPECT_EQ(doubles(ints.column("whole").values), (std::vector<double>{1, 2, 3}));
  // Not integral, beyond float32, beyond int32, inexact in float32: each named.
  write_bytes(tmp / "f.json", R"({"feature": [{"name": "f64", "type": "INT"}]})");
  EXPECT_THAT(error_of([&] {
                read_parquet((tmp / "t.parquet").string(), {.schema_file = tmp / "f.json"});
              }),
              HasSubstr("t.parquet: column 'f64', row 0: value 0.1 is not an integer, expected "
                        "int32 (the schema's dtype is int32; the file's column is double)"));

  write_table(
      tmp / "big.parquet",
      table_of({{"big", array_of<arrow::DoubleBuilder, double>({1.0, 1e300})},
                {"wide", array_of<arrow::Int64Builder, std::int64_t>({1, 3'000'000'000})},
                {"odd", array_of<arrow::Int64Builder, std::int64_t>({16'777'216, 16'777'217})},
                {"u", array_of<arrow::UInt64Builder, std::uint64_t>(
                          {1, std::numeric_limits<std::uint64_t>::max()})}}));
  write_bytes(tmp / "big.json", R"({"feature": [{"name": "big", "type": "FLOAT"}]})");
  EXPECT_THAT(error_of([&] {
                read_parquet((tmp / "big.parquet").string(), {.schema_file = tmp / "big.json"});
              }),
              HasSubstr("column 'big', row 1: value 1e+300 is beyond the range of float32"));
  // Inferred, the uint64 column is scanned for its domain when the reader opens.
  EXPECT_THAT(error_of([&] { ParquetReader((tmp / "big.parquet").string()); }),
              HasSubstr("column 'u', row 1: value 18446744073709551615 does not fit int64"));
  write_bytes(tmp / "wide.json", R"({"feature": [{"name": "wide", "type": "INT"}]})");
  EXPECT_THAT(error_of([&] {
                read_parquet((tmp / "big.parquet").string(), {.schema_file = tmp / "wide.json"});
              }),
              HasSubstr("column 'wide', row 1: value 3000000000 does not fit int32"));
  write_bytes(tmp / "odd.json", R"({"feature": [{"name": "odd", "type": "FLOAT"}]})");
  EXPECT_THAT(error_of([&] {
                read_parquet((tmp / "big.parquet").string(), {.schema_file = tmp / "odd.json"});
              }),
              HasSubstr("column 'odd', row 1: value 16777217 is not exactly representable as "
                        "float32"));
  write_bytes(tmp / "u.json", R"({"feature": [{"name": "u", "type": "INT",
      "annotation": {"extraMetadata": [{"dtype_item_size": 64.0}]}}]})");
  EXPECT_THAT(error_of([&] {
                read_parquet((tmp / "big.parquet").string(), {.schema_file = tmp / "u.json"});
              }),
              HasSubstr("column 'u', row 1: value 18446744073709551615 does not fit int64"));
}

TEST(Parquet, NullsAreErrorsNamingTheRow) {
  TempDir tmp;
  write_table(tmp / "n.parquet",
              table_of({{"x", array_of<arrow::Int32Builder, std::int32_t>(
                                  {1, 2, 3, 4}, {true, true, false, true})}}),
              2);
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "n.parquet").string()); }),
              HasSubstr("n.parquet: column 'x', row 2: a null value; recblocks datasets have no "
                        "missing values"));

  // A null element inside a list, in the second row group.
  arrow::ListBuilder lists(arrow::default_memory_pool(), std::make_shared<arrow::FloatBuilder>());
  auto& values = static_cast<arrow::FloatBuilder&>(*lists.value_builder());
  for (int r = 0; r < 4; ++r) {
    ASSERT_TRUE(lists.Append().ok());
    ASSERT_TRUE(values.Append(1.0f).ok());
    if (r == 3) {
      ASSERT_TRUE(values.AppendNull().ok());
    } else {
      ASSERT_TRUE(values.Append(2.0f).ok());
    }
  }
  write_table(tmp / "l.parquet", table_of({{"v", lists.Finish().ValueOrDie()}}), 2);
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "l.parquet").string()); }),
              HasSubstr("l.parquet: column 'v', row 3 (list element 1): a null value"));
}

TEST(Parquet, DictionariesAndEveryListType) {
  TempDir tmp;
  // A dictionary-encoded int64 column: written as Parquet dictionary pages,
  // read back as plain int64 (Arrow keeps dictionaries only for strings).
  auto dictionary =
      arrow::DictionaryArray::FromArrays(arrow::dictionary(arrow::int8(), arrow::int64()),
                                         array_of<arrow::Int8Builder, std::int8_t>({2, 0, 1, 2, 2}),
                                         array_of<arrow::Int64Builder, std::int64_t>({10, 20, 30}))
          .ValueOrDie();
  // large_list<int32> and fixed_size_list<float, 2>.
  arrow::LargeListBuilder large(arrow::default_memory_pool(),
                                std::make_shared<arrow::Int32Builder>());
  auto& large_values = static_cast<arrow::Int32Builder&>(*large.value_builder());
  arrow::FixedSizeListBuilder fixed(arrow::default_memory_pool(),
                                    std::make_shared<arrow::FloatBuilder>(), 2);
  auto& fixed_values = static_cast<arrow::FloatBuilder&>(*fixed.value_builder());
  for (int r = 0; r < 5; ++r) {
    ASSERT_TRUE(large.Append().ok());
    for (int k = 0; k < r % 3; ++k) ASSERT_TRUE(large_values.Append(r * 10 + k).ok());
    ASSERT_TRUE(fixed.Append().ok());
    ASSERT_TRUE(fixed_values.Append(static_cast<float>(r)).ok());
    ASSERT_TRUE(fixed_values.Append(static_cast<float>(-r)).ok());
  }
  const auto table = table_of({{"d", dictionary},
                               {"large", large.Finish().ValueOrDie()},
                               {"fixed", fixed.Finish().ValueOrDie()}});
  write_table(tmp / "t.parquet", table, 2);
  const ParquetReader reader((tmp / "t.parquet").string());
  EXPECT_THAT(reader.schema().column("d").domain()->max, 30);
  const Dataset d = reader.read();
  EXPECT_EQ(doubles(d.column("d").values), (std::vector<double>{30, 10, 20, 30, 30}));
  EXPECT_EQ(doubles(d.column("large").values), (std::vector<double>{10, 20, 21, 40}));
  EXPECT_EQ(doubles(d.column("large").offsets), (std::vector<double>{0, 0, 1, 3, 3, 4}));
  EXPECT_EQ(doubles(d.column("fixed").values),
            (std::vector<double>{0, 0, 1, -1, 2, -2, 3, -3, 4, -4}));

  // With a schema making "fixed" a fixed-length list of 2: [rows, 2]; of 3: an error.
  write_bytes(tmp / "fixed2.json", R"({"feature": [{"name": "fixed", "type": "FLOAT",
      "valueCount": {"min": 2, "max": 2}}]})");
  const Dataset fixed2 =
      read_parquet((tmp / "t.parquet").string(), {.schema_file = tmp / "fixed2.json"});
  EXPECT_EQ(fixed2.column("fixed").values.shape(), Shape({5, 2}));
  write_bytes(tmp / "fixed3.json", R"({"feature": [{"name": "fixed", "type": "FLOAT",
      "valueCount": {"min": 3, "max": 3}}]})");
  EXPECT_THAT(error_of([&] {
                read_parquet((tmp / "t.parquet").string(), {.schema_file = tmp / "fixed3.json"});
              }),
              HasSubstr("column 'fixed', row 0: a list of 2 values, the schema makes it a "
                        "fixed-length list of 3"));

  // Row group boundaries change nothing: the same table in one row group.
  const Dataset three_groups = read_parquet((tmp / "t.parquet").string());
  write_table(tmp / "t1.parquet", table, 100);
  expect_same(three_groups, read_parquet((tmp / "t1.parquet").string()));

  // Strings are not read (named), a pandas index column is skipped.
  write_table(tmp / "s.parquet",
              table_of({{"name", array_of<arrow::StringBuilder, std::string>({"a", "b"})},
                        {"__index_level_0__", array_of<arrow::Int64Builder, std::int64_t>({0, 1})},
                        {"x", array_of<arrow::Int32Builder, std::int32_t>({5, 6})}}));
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "s.parquet").string()); }),
              HasSubstr("s.parquet: column 'name' is string; recblocks reads numbers"));
  write_bytes(tmp / "x.json", R"({"feature": [{"name": "x", "type": "INT"}]})");
  fs::create_directories(tmp / "sdir");
  fs::copy_file(tmp / "s.parquet", tmp / "sdir" / "s.parquet");
  const ParquetReader only_x((tmp / "sdir").string(), {.schema_file = tmp / "x.json"});
  EXPECT_THAT(only_x.ignored_columns(), ElementsAre("name", "__index_level_0__"));
}

// ---- files that are not a dataset ------------------------------------------------------

TEST(Parquet, BadInputsAreErrorsNamingTheFile) {
  TempDir tmp;
  write_parquet(every_dtype(), tmp / "good");
  const std::string good = (tmp / "good" / "part_0.parquet").string();

  EXPECT_THAT(error_of([&] { read_parquet((tmp / "missing.parquet").string()); }),
              HasSubstr("missing.parquet: no such file or directory"));
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "nothing_*.parquet").string()); }),
              HasSubstr("no file matches it as a pattern"));
  fs::create_directories(tmp / "empty_dir");
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "empty_dir").string()); }),
              HasSubstr("empty_dir: no *.parquet files in the directory"));
  write_bytes(tmp / "empty.parquet", "");
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "empty.parquet").string()); }),
              HasSubstr("empty.parquet: not a readable Parquet file (Arrow: "));
  const std::string bytes = testing::read_bytes(good);
  write_bytes(tmp / "truncated.parquet", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "truncated.parquet").string()); }),
              HasSubstr("truncated.parquet: not a readable Parquet file (Arrow: "));
  write_bytes(tmp / "text.parquet", "userId,rating\n1,2\n");
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "text.parquet").string()); }),
              HasSubstr("text.parquet: not a readable Parquet file (Arrow: "));
  // Pages overwritten with garbage behind a valid footer.
  std::string corrupt = bytes;
  for (std::size_t i = 4; i < corrupt.size() / 2; ++i) corrupt[i] = static_cast<char>(0x5A + i);
  write_bytes(tmp / "corrupt.parquet", corrupt);
  const std::string message = error_of([&] { read_parquet((tmp / "corrupt.parquet").string()); });
  EXPECT_THAT(message, HasSubstr("corrupt.parquet: "));
  ASSERT_EQ(::mkfifo((tmp / "pipe.parquet").c_str(), 0600), 0);
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "pipe.parquet").string()); }),
              HasSubstr("pipe.parquet': is a FIFO (named pipe), expected a regular file"));
  EXPECT_THAT(error_of([&] { read_parquet("/dev/zero"); }),
              HasSubstr("/dev/zero': is a character device"));
}

TEST(Parquet, ColumnNamesMustBeUtf8) {
  // Found by fuzz/parquet.cpp: a name that schema.json could not hold.
  TempDir tmp;
  write_table(tmp / "n.parquet",
              table_of({{"ok", array_of<arrow::Int32Builder, std::int32_t>({1})},
                        {"bad\xB2", array_of<arrow::Int32Builder, std::int32_t>({1})}}));
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "n.parquet").string()); }),
              HasSubstr("n.parquet: column name 'bad\\xB2' is not valid UTF-8"));
}

TEST(Parquet, FilesOfADatasetNeedTheSameColumns) {
  TempDir tmp;
  fs::create_directories(tmp / "d");
  write_table(tmp / "d" / "part_0.parquet",
              table_of({{"x", array_of<arrow::Int32Builder, std::int32_t>({1})}}));
  write_table(tmp / "d" / "part_1.parquet",
              table_of({{"x", array_of<arrow::Int64Builder, std::int64_t>({1})}}));
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "d").string()); }),
              HasSubstr("part_1.parquet: column 'x' is int64, in " +
                        (tmp / "d" / "part_0.parquet").string() + " it is int32"));
  write_table(tmp / "d" / "part_1.parquet",
              table_of({{"y", array_of<arrow::Int32Builder, std::int32_t>({1})}}));
  EXPECT_THAT(error_of([&] { read_parquet((tmp / "d").string()); }),
              HasSubstr("part_1.parquet has no column 'x', which " +
                        (tmp / "d" / "part_0.parquet").string() + " has"));
}

TEST(Parquet, ARowGroupOverTheMemoryLimitIsRefusedBeforeDecoding) {
  TempDir tmp;
  std::vector<std::int64_t> ids(200'000, 7);
  const Dataset big(
      Schema({ColumnSchema("id", DType::kInt64, {Tags::CATEGORICAL}).with_domain(0, 7)}),
      {{"id", {Tensor::from<std::int64_t>({200'000}, ids), {}}}});
  write_parquet(big, tmp / "big");
  const ParquetReader reader((tmp / "big").string());
  set_memory_limit(memory_in_use() + 100'000);
  std::string message;
  try {
    reader.read_row_group(0, 0);
  } catch (const MemoryLimitError& e) {
    message = e.what();
  }
  set_memory_limit(0);
  EXPECT_THAT(message, HasSubstr("part_0.parquet: row group 0 (200000 rows) needs"));
}

TEST(Parquet, ArrowVersionIsKnown) {
  EXPECT_THAT(arrow_version(), ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+.*"));
}

}  // namespace
}  // namespace recblocks::datasets
