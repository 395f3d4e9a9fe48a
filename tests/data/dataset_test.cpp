#include "recblocks/data/dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "io/test_files.h"
#include "recblocks/io/npy.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
using ::recblocks::testing::error_of;
using ::recblocks::testing::run_python;
using ::recblocks::testing::TempDir;
using ::recblocks::testing::write_bytes;
using ::testing::AllOf;
using ::testing::HasSubstr;

Tensor i32(std::vector<std::int32_t> v) {
  return Tensor::from<std::int32_t>({static_cast<std::int64_t>(v.size())}, v);
}
Tensor i64(std::vector<std::int64_t> v) {
  return Tensor::from<std::int64_t>({static_cast<std::int64_t>(v.size())}, v);
}

Schema small_schema() {
  return Schema({
      ColumnSchema("userId", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID})
          .with_domain({0, 9, "userId"}),
      ColumnSchema("rating", DType::kFloat32, {Tags::CONTINUOUS}),
      ColumnSchema("genres", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM}).with_list(true),
      ColumnSchema("pair", DType::kFloat32, {Tags::CONTINUOUS})
          .with_list(true, /*is_ragged=*/false, ValueCount{2, 2}),
      ColumnSchema("label", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
  });
}

// 4 rows; genres: [1, 2], [], [3], [4, 5, 6].
std::map<std::string, Column> small_columns() {
  return {
      {"userId", {i32({3, 1, 4, 1}), Tensor()}},
      {"rating", {Tensor::from({4}, {0.5, 1.5, 2.5, 3.5}), Tensor()}},
      {"genres", {i32({1, 2, 3, 4, 5, 6}), i64({0, 2, 2, 3, 6})}},
      {"pair", {Tensor::from({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), Tensor()}},
      {"label", {i32({1, 0, 0, 1}), Tensor()}},
  };
}

Dataset small_dataset() { return Dataset(small_schema(), small_columns()); }

std::vector<double> values_of(const Tensor& t) { return testing::to_doubles(t); }

// Running `f` throws an Error whose message contains every one of `parts`.
template <class F>
void expect_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    for (const std::string& part : parts) EXPECT_THAT(e.what(), HasSubstr(part));
  }
}

void expect_same(const Dataset& a, const Dataset& b) {
  EXPECT_EQ(a.schema(), b.schema());
  EXPECT_EQ(a.num_rows(), b.num_rows());
  for (const auto& [name, column] : a.columns()) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(testing::tensors_bitwise_equal(column.values, b.column(name).values));
    EXPECT_EQ(column.is_list(), b.column(name).is_list());
    if (column.is_list()) {
      EXPECT_TRUE(testing::tensors_bitwise_equal(column.offsets, b.column(name).offsets));
    }
  }
}

TEST(Dataset, HoldsColumnsWithRowsAndRaggedViews) {
  const Dataset d = small_dataset();
  EXPECT_EQ(d.num_rows(), 4);
  EXPECT_EQ(d.schema().column_names(),
            (std::vector<std::string>{"userId", "rating", "genres", "pair", "label"}));
  EXPECT_TRUE(d.path().empty());
  EXPECT_EQ(d.column("genres").rows(), 4);
  EXPECT_TRUE(d.column("genres").is_list());
  EXPECT_FALSE(d.column("pair").is_list());
  const RaggedTensor g = d.column("genres").ragged();
  EXPECT_EQ(g.row_length(0), 2);
  EXPECT_EQ(g.row_length(1), 0);
  EXPECT_EQ(g.row_length(3), 3);
  EXPECT_THROW(d.column("userId").ragged(), ValueError);
}

TEST(Dataset, UnknownColumnListsTheAvailableOnes) {
  expect_error([] { small_dataset().column("movieId"); },
               {"no column 'movieId'", "userId, rating, genres, pair, label"});
}

TEST(Dataset, ConstructorRejectsInconsistentColumns) {
  {
    auto columns = small_columns();
    columns.erase("rating");
    expect_error([&] { Dataset(small_schema(), columns); }, {"schema column 'rating' has no data"});
  }
  {
    auto columns = small_columns();
    columns["extra"] = {i32({1, 2, 3, 4}), Tensor()};
    expect_error([&] { Dataset(small_schema(), columns); },
                 {"column 'extra' is not in the schema", "userId, rating"});
  }
  {
    auto columns = small_columns();
    columns["userId"].values = Tensor::from({4}, {1, 2, 3, 4});
    expect_error([&] { Dataset(small_schema(), columns); },
                 {"column 'userId'", "dtype is float32", "expects int32"});
  }
  {
    auto columns = small_columns();
    columns["rating"].values = Tensor::from({3}, {1, 2, 3});
    expect_error([&] { Dataset(small_schema(), columns); },
                 {"column 'rating' has 3 rows", "column 'userId' has 4"});
  }
  {
    auto columns = small_columns();
    columns["genres"].offsets = Tensor();
    expect_error([&] { Dataset(small_schema(), columns); }, {"column 'genres'", "needs offsets"});
  }
  {
    auto columns = small_columns();
    columns["userId"].offsets = i64({0, 1, 2, 3, 4});
    expect_error([&] { Dataset(small_schema(), columns); },
                 {"column 'userId'", "has offsets", "not"});
  }
  {
    auto columns = small_columns();
    columns["pair"].values = Tensor::from({4, 1}, {1, 2, 3, 4});
    expect_error([&] { Dataset(small_schema(), columns); },
                 {"column 'pair'", "shape [4, 1]", "expected [rows, 2]"});
  }
}

TEST(Dataset, ConstructorRejectsBadOffsets) {
  const struct {
    std::vector<std::int64_t> offsets;
    const char* message;
  } cases[] = {
      {{1, 2, 2, 3, 6}, "offsets[0] is 1, expected 0"},
      {{0, 3, 2, 3, 6}, "offsets[1] = 3 > offsets[2] = 2"},
      {{0, 2, 2, 3, 5}, "the last offset is 5, expected the number of values 6"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    auto columns = small_columns();
    columns["genres"].offsets = i64(c.offsets);
    expect_error([&] { Dataset(small_schema(), columns); }, {"column 'genres'", c.message});
  }
  auto columns = small_columns();
  columns["genres"].offsets =
      Tensor::from<std::int32_t>({5}, std::vector<std::int32_t>{0, 2, 2, 3, 6});
  expect_error([&] { Dataset(small_schema(), columns); }, {"offsets are int32", "expected int64"});
}

TEST(Dataset, FileStemsEscapeUnsafeCharacters) {
  EXPECT_EQ(column_file_stem("TE_movieId_rating"), "TE_movieId_rating");
  EXPECT_EQ(column_file_stem("a-b_C9"), "a-b_C9");
  EXPECT_EQ(column_file_stem("a/b"), "a%2Fb");
  EXPECT_EQ(column_file_stem("x.offsets"), "x%2Eoffsets");
  EXPECT_EQ(column_file_stem("50%"), "50%25");
  EXPECT_EQ(column_file_stem("a b"), "a%20b");
  EXPECT_EQ(column_file_stem("\xC3\xA9"), "%C3%A9");  // UTF-8 bytes
}

TEST(Dataset, SaveThenLoadRoundTripsMemoryMapped) {
  TempDir dir;
  const Dataset d = small_dataset();
  d.save(dir / "ds");
  EXPECT_TRUE(fs::exists(dir / "ds" / "schema.json"));
  EXPECT_TRUE(fs::exists(dir / "ds" / "genres.offsets.npy"));
  EXPECT_FALSE(fs::exists(dir / "ds" / "pair.offsets.npy"));
  const Dataset back = Dataset::load(dir / "ds");
  EXPECT_EQ(back.path(), dir / "ds");
  expect_same(back, d);
  // Writing into a loaded column never reaches the file.
  back.column("rating").values.data<float>()[0] = 100.0f;
  EXPECT_EQ(io::read_npy(dir / "ds" / "rating.npy").item(0), 0.5);
}

TEST(Dataset, LoadReadsMerlinsSchemaPbtxtWhenThereIsNoSchemaJson) {
  TempDir dir;
  const Dataset d = small_dataset();
  d.save(dir / "ds");
  d.schema().save(dir / "ds" / "schema.pbtxt", SchemaFormat::kMerlinPbtxt);
  fs::remove(dir / "ds" / "schema.json");
  expect_same(Dataset::load(dir / "ds"), d);
  fs::remove(dir / "ds" / "schema.pbtxt");
  EXPECT_THAT(error_of([&] { (void)Dataset::load(dir / "ds"); }),
              AllOf(HasSubstr("schema.json: missing file"), HasSubstr("Merlin's schema.pbtxt")));
}

TEST(Dataset, SaveReplacesAnExistingDatasetEvenWhileItIsMapped) {
  TempDir dir;
  small_dataset().save(dir / "ds");
  const Dataset first = Dataset::load(dir / "ds");
  const Dataset smaller = small_dataset().slice_rows(1, 3).select_by_name({"userId", "genres"});
  smaller.save(dir / "ds");
  const Dataset second = Dataset::load(dir / "ds");
  expect_same(second, smaller);
  EXPECT_FALSE(fs::exists(dir / "ds" / "rating.npy"));
  // The first dataset's mappings still hold the old values.
  EXPECT_EQ(values_of(first.column("userId").values), (std::vector<double>{3, 1, 4, 1}));
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "ds");
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(Dataset, ColumnNamesThatAreNotFileNamesAreEscaped) {
  TempDir dir;
  const Schema schema({ColumnSchema("a/b", DType::kInt32, {Tags::CATEGORICAL}),
                       ColumnSchema("x.offsets", DType::kFloat32, {Tags::CONTINUOUS}),
                       ColumnSchema("x", DType::kInt32, {Tags::CATEGORICAL}).with_list(true)});
  const Dataset d(schema, {{"a/b", {i32({1, 2}), Tensor()}},
                           {"x.offsets", {Tensor::from({2}, {0.5, 0.25}), Tensor()}},
                           {"x", {i32({7, 8, 9}), i64({0, 1, 3})}}});
  d.save(dir / "ds");
  EXPECT_TRUE(fs::exists(dir / "ds" / "a%2Fb.npy"));
  EXPECT_TRUE(fs::exists(dir / "ds" / "x%2Eoffsets.npy"));
  EXPECT_TRUE(fs::exists(dir / "ds" / "x.offsets.npy"));
  expect_same(Dataset::load(dir / "ds"), d);
}

TEST(Dataset, NumpyReadsEverySavedFile) {
  TempDir dir;
  small_dataset().save(dir / "ds");
  const auto result = run_python(dir.path(), R"(
import json
import numpy as np
schema = json.load(open('ds/schema.json'))
names = [c['name'] for c in schema['columns']]
assert names == ['userId', 'rating', 'genres', 'pair', 'label'], names
def load(name):
    return np.load('ds/' + name + '.npy', mmap_mode='r')
assert load('userId').dtype == np.int32 and load('userId').tolist() == [3, 1, 4, 1]
assert load('rating').dtype == np.float32 and load('rating').tolist() == [0.5, 1.5, 2.5, 3.5]
assert load('genres').tolist() == [1, 2, 3, 4, 5, 6]
offsets = load('genres.offsets')
assert offsets.dtype == np.int64 and offsets.tolist() == [0, 2, 2, 3, 6]
rows = [load('genres')[offsets[i]:offsets[i + 1]].tolist() for i in range(4)]
assert rows == [[1, 2], [], [3], [4, 5, 6]], rows
assert load('pair').shape == (4, 2) and load('pair')[3].tolist() == [7.0, 8.0]
assert load('label').tolist() == [1, 0, 0, 1]
print('OK')
)");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "OK\n");
}

TEST(Dataset, LoadErrorsNameTheFile) {
  TempDir dir;
  expect_error([&] { Dataset::load(dir / "nope"); },
               {(dir / "nope").string(), "no such dataset directory"});
  fs::create_directory(dir / "empty");
  expect_error([&] { Dataset::load(dir / "empty"); },
               {(dir / "empty" / "schema.json").string(), "missing file"});

  const auto fresh = [&](const std::string& name) {
    small_dataset().save(dir / name);
    return dir / name;
  };
  {
    const auto ds = fresh("missing_column");
    fs::remove(ds / "rating.npy");
    expect_error([&] { Dataset::load(ds); },
                 {(ds / "rating.npy").string(), "missing file", "column 'rating'"});
  }
  {
    const auto ds = fresh("missing_offsets");
    fs::remove(ds / "genres.offsets.npy");
    expect_error([&] { Dataset::load(ds); },
                 {(ds / "genres.offsets.npy").string(), "missing file", "column 'genres'"});
  }
  {
    const auto ds = fresh("wrong_dtype");
    io::write_npy(ds / "userId.npy", Tensor::from({4}, {1, 2, 3, 4}));
    expect_error([&] { Dataset::load(ds); }, {(ds / "userId.npy").string(), "column 'userId'",
                                              "dtype float32", "schema.json expects int32"});
  }
  {
    const auto ds = fresh("wrong_rows");
    io::write_npy(ds / "label.npy", i32({1, 0, 1}));
    expect_error([&] { Dataset::load(ds); },
                 {(ds / "label.npy").string(), "column 'label' has 3 rows", "expected 4",
                  (ds / "userId.npy").string()});
  }
  {
    const auto ds = fresh("bad_offsets");
    io::write_npy(ds / "genres.offsets.npy", i64({0, 2, 1, 3, 6}));
    expect_error([&] { Dataset::load(ds); },
                 {(ds / "genres.offsets.npy").string(), "offsets[1] = 2 > offsets[2] = 1"});
  }
  {
    const auto ds = fresh("truncated");
    const std::string bytes = testing::read_bytes(ds / "rating.npy");
    write_bytes(ds / "rating.npy", bytes.substr(0, bytes.size() - 3));
    expect_error([&] { Dataset::load(ds); }, {(ds / "rating.npy").string(), "truncated"});
  }
  {
    const auto ds = fresh("bad_schema");
    write_bytes(ds / "schema.json", "{\"format\": ");
    expect_error([&] { Dataset::load(ds); }, {(ds / "schema.json").string()});
  }
}

TEST(Dataset, SelectKeepsRowsAndOrdersColumnsLikeTheSchema) {
  const Dataset d = small_dataset();
  const Dataset s = d.select_by_name({"label", "genres"});
  EXPECT_EQ(s.schema().column_names(), (std::vector<std::string>{"label", "genres"}));
  EXPECT_EQ(s.num_rows(), 4);
  EXPECT_EQ(s.column("label").values.raw(), d.column("label").values.raw());
  EXPECT_EQ(s.columns().size(), 2u);
  const Dataset by_tag = d.select(d.schema().select_by_tag(Tags::TARGET));
  EXPECT_EQ(by_tag.schema().column_names(), std::vector<std::string>{"label"});
  expect_error([&] { d.select_by_name({"label", "nope"}); }, {"nope"});
}

TEST(Dataset, SliceRowsSharesDenseStorageAndRebasesOffsets) {
  const Dataset d = small_dataset();
  const Dataset s = d.slice_rows(2, 4);
  EXPECT_EQ(s.num_rows(), 2);
  EXPECT_EQ(s.column("userId").values.data<std::int32_t>(),
            d.column("userId").values.data<std::int32_t>() + 2);
  EXPECT_EQ(values_of(s.column("pair").values), (std::vector<double>{5, 6, 7, 8}));
  EXPECT_EQ(values_of(s.column("genres").offsets), (std::vector<double>{0, 1, 4}));
  EXPECT_EQ(values_of(s.column("genres").values), (std::vector<double>{3, 4, 5, 6}));
  EXPECT_EQ(d.slice_rows(1, 1).num_rows(), 0);
  expect_error([&] { d.slice_rows(3, 5); }, {"rows [3, 5) out of range for 4 rows"});
}

TEST(Dataset, TakeGathersRowsInOrderIncludingLists) {
  const Dataset d = small_dataset();
  const std::vector<std::int64_t> rows = {3, 0, 3, 1};
  const Dataset t = d.take(rows);
  EXPECT_EQ(t.num_rows(), 4);
  EXPECT_EQ(values_of(t.column("userId").values), (std::vector<double>{1, 3, 1, 1}));
  EXPECT_EQ(values_of(t.column("rating").values), (std::vector<double>{3.5, 0.5, 3.5, 1.5}));
  EXPECT_EQ(values_of(t.column("pair").values), (std::vector<double>{7, 8, 1, 2, 7, 8, 3, 4}));
  EXPECT_EQ(values_of(t.column("genres").offsets), (std::vector<double>{0, 3, 5, 8, 8}));
  EXPECT_EQ(values_of(t.column("genres").values), (std::vector<double>{4, 5, 6, 1, 2, 4, 5, 6}));
  EXPECT_NE(t.column("userId").values.raw(), d.column("userId").values.raw());
  const std::vector<std::int64_t> bad = {0, 4};
  expect_error([&] { d.take(bad); }, {"rows[1] = 4 out of range for 4 rows"});
}

TEST(Dataset, EmptySchemaHasNoRows) {
  const Dataset d(Schema(), {});
  EXPECT_EQ(d.num_rows(), 0);
  TempDir dir;
  d.save(dir / "empty");
  EXPECT_EQ(Dataset::load(dir / "empty").num_rows(), 0);
}

}  // namespace
}  // namespace recblocks
