#include "recblocks/schema/schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "recblocks/core/error.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The seed's sub-schema, as get_movielens("ml-1m") tags it.
Schema seed_schema() {
  return Schema{
      ColumnSchema("userId", DType::kInt32, {Tags::USER_ID, Tags::CATEGORICAL})
          .with_domain(0, 6042, "userId"),
      ColumnSchema("movieId", DType::kInt32, {Tags::ITEM_ID, Tags::CATEGORICAL})
          .with_domain(0, 3708, "movieId"),
      ColumnSchema("title", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 3708),
      ColumnSchema("genres", DType::kInt32, {Tags::ITEM, Tags::CATEGORICAL})
          .with_domain(0, 20)
          .with_list(true, true, ValueCount{1, 6}),
      ColumnSchema("gender", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 4),
      ColumnSchema("TE_zipcode_rating", DType::kFloat32, {Tags::USER, Tags::CONTINUOUS}),
      ColumnSchema("TE_movieId_rating", DType::kFloat32, {Tags::ITEM, Tags::CONTINUOUS}),
      ColumnSchema("rating_binary", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
      ColumnSchema("rating", DType::kFloat32, {Tags::TARGET, Tags::REGRESSION}),
  };
}

using testing::error_of;

struct TempDir {
  fs::path path =
      fs::temp_directory_path() / fs::path("rb_schema_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

void write_text(const fs::path& p, std::string_view text) {
  std::ofstream(p, std::ios::binary) << text;
}

TEST(ColumnSchema, CardinalityIsDomainMaxPlusOne) {
  const Schema s = seed_schema();
  EXPECT_EQ(s.column("userId").cardinality(), 6043);
  EXPECT_THAT(error_of([&] { (void)s.column("rating").cardinality(); }),
              HasSubstr("column 'rating' has no integer domain"));
}

TEST(ColumnSchema, DomainNameDefaultsToTheColumnName) {
  EXPECT_EQ(seed_schema().column("title").domain()->name, "title");
  EXPECT_EQ(seed_schema().column("userId").domain()->name, "userId");
}

TEST(ColumnSchema, ValidatesWhatItIsGiven) {
  const ColumnSchema c("x", DType::kInt32);
  EXPECT_THAT(error_of([&] { (void)c.with_domain(5, 2); }), HasSubstr("domain min 5 > max 2"));
  EXPECT_THAT(error_of([&] { (void)ColumnSchema("f").with_domain(0, 2); }),
              HasSubstr("needs an int32 or int64 column, got float32"));
  EXPECT_THAT(error_of([&] {
                (void)c.with_list(true, false, ValueCount{1, 3});
              }),
              HasSubstr("fixed-length list needs value_count min == max"));
  EXPECT_THAT(error_of([&] { (void)c.with_embedding_dim(0); }), HasSubstr("must be > 0"));
  EXPECT_THAT(
      error_of([] {
        (void)ColumnSchema("c", DType::kInt32, {Tags::CATEGORICAL}).with_tags({Tags::CONTINUOUS});
      }),
      HasSubstr("column 'c': conflicting tags"));
  EXPECT_THROW(ColumnSchema(""), ValueError);
}

TEST(ColumnSchema, ListColumnsCarryTheListTag) {
  const ColumnSchema g = seed_schema().column("genres");
  EXPECT_TRUE(g.is_list());
  EXPECT_TRUE(g.is_ragged());
  EXPECT_TRUE(g.has_tag(Tags::LIST));
  EXPECT_EQ(g.value_count(), (ValueCount{1, 6}));
  const ColumnSchema flat = g.with_list(false);
  EXPECT_FALSE(flat.is_list());
  EXPECT_FALSE(flat.has_tag(Tags::LIST));
  EXPECT_FALSE(flat.value_count().has_value());
}

TEST(Schema, SelectByNameKeepsTheRequestedOrder) {
  const Schema s = seed_schema().select_by_name({"rating_binary", "userId"});
  EXPECT_THAT(s.column_names(), ElementsAre("rating_binary", "userId"));
  EXPECT_EQ(s.first().name(), "rating_binary");
}

TEST(Schema, UnknownNamesListTheAvailableOnes) {
  const std::string msg = error_of([] { (void)seed_schema().select_by_name({"userId", "usrId"}); });
  EXPECT_THAT(msg, HasSubstr("no column 'usrId'"));
  EXPECT_THAT(msg, HasSubstr("available: userId, movieId, title"));
  EXPECT_THAT(error_of([] { (void)Schema{}.first(); }), HasSubstr("schema is empty"));
}

TEST(Schema, SelectByCompoundTagNeedsAllItsParts) {
  const Schema s = seed_schema();
  EXPECT_THAT(s.select_by_tag(Tags::USER_ID).column_names(), ElementsAre("userId"));
  EXPECT_THAT(s.select_by_tag(Tags::ITEM).column_names(),
              ElementsAre("movieId", "genres", "TE_movieId_rating"));
  EXPECT_THAT(s.select_by_tag(Tags::BINARY_CLASSIFICATION).column_names(),
              ElementsAre("rating_binary"));
  EXPECT_THAT(s.select_by_tag(Tags::TARGET).column_names(), ElementsAre("rating_binary", "rating"));
  EXPECT_TRUE(s.select_by_tag(Tags::SESSION_ID).empty());
}

TEST(Schema, SelectByTagListIsAny) {
  const Schema s = seed_schema();
  EXPECT_THAT(s.select_by_tag(std::vector<Tag>{Tags::USER_ID, Tags::REGRESSION}).column_names(),
              ElementsAre("userId", "rating"));
  EXPECT_THAT(s.select_by_tag(std::vector<Tag>{Tags::CONTINUOUS}).column_names(),
              ElementsAre("TE_zipcode_rating", "TE_movieId_rating"));
}

TEST(Schema, RemoveByTagWithoutUnionAndDifference) {
  const Schema s = seed_schema();
  EXPECT_THAT(s.remove_by_tag(Tags::TARGET).remove_by_tag(Tags::CATEGORICAL).column_names(),
              ElementsAre("TE_zipcode_rating", "TE_movieId_rating"));
  EXPECT_THAT(s.remove_by_tag(std::vector<Tag>{Tags::TARGET, Tags::CATEGORICAL}).column_names(),
              ElementsAre("TE_zipcode_rating", "TE_movieId_rating"));
  EXPECT_THAT(s.without({"title", "nope", "rating"}).size(), 7u);

  const Schema a = s.select_by_name({"userId", "movieId"});
  const Schema b = s.select_by_name({"movieId", "rating"});
  EXPECT_THAT((a + b).column_names(), ElementsAre("userId", "movieId", "rating"));
  EXPECT_THAT((a - b).column_names(), ElementsAre("userId"));
  EXPECT_EQ(s - s, Schema{});

  const Schema clash{ColumnSchema("movieId", DType::kInt64)};
  EXPECT_THAT(error_of([&] { (void)(a + clash); }), HasSubstr("column 'movieId' differs"));
}

TEST(Schema, DuplicateNamesAreRejected) {
  EXPECT_THAT(error_of([] {
                Schema{ColumnSchema("a"), ColumnSchema("a")};
              }),
              HasSubstr("duplicate column 'a'"));
}

TEST(Schema, WithColumnReplacesInPlaceOrAppends) {
  const Schema s =
      seed_schema().with_column(ColumnSchema("userId", DType::kInt32).with_embedding_dim(24));
  EXPECT_EQ(s.first().name(), "userId");
  EXPECT_EQ(s.first().embedding_dim(), 24);
  EXPECT_EQ(s.with_column(ColumnSchema("extra")).column_names().back(), "extra");
}

TEST(Schema, JsonRoundTripsEverything) {
  const Schema s = seed_schema().with_column(
      seed_schema().column("userId").with_embedding_dim(24).with_properties(
          {{"freq_threshold", 0}, {"note", "kept"}}));
  const Schema back = Schema::from_json(s.to_json());
  EXPECT_EQ(back, s);
  EXPECT_EQ(back.column("userId").properties()["note"], "kept");
}

TEST(Schema, SaveAndLoadRoundTrip) {
  TempDir dir;
  const fs::path p = dir.path / "schema.json";
  seed_schema().save(p);
  EXPECT_EQ(Schema::load(p), seed_schema());
  // No temporary left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}

TEST(Schema, UnknownKeysAreReportedByName) {
  nlohmann::json j = seed_schema().to_json();
  j["columns"][1]["dtyp"] = "int32";
  EXPECT_THAT(error_of([&] { (void)Schema::from_json(j, "x/schema.json"); }),
              HasSubstr("x/schema.json columns[1]: unknown key 'dtyp'"));
}

TEST(Schema, RefusesOtherVersionsAndBadValues) {
  nlohmann::json j = seed_schema().to_json();
  j["version"] = 7;
  EXPECT_THAT(error_of([&] { (void)Schema::from_json(j); }),
              HasSubstr("version 7 is not supported"));
  j = seed_schema().to_json();
  j["columns"][0]["dtype"] = "float64";
  EXPECT_THAT(error_of([&] { (void)Schema::from_json(j); }), HasSubstr("unknown dtype 'float64'"));
  j = seed_schema().to_json();
  j["columns"][0]["tags"].push_back("continuous");
  EXPECT_THAT(error_of([&] { (void)Schema::from_json(j); }), HasSubstr("conflicting tags"));
  EXPECT_THAT(error_of([] {
                (void)Schema::from_json(nlohmann::json{{"columns", nlohmann::json::array()}});
              }),
              HasSubstr("not a schema file"));
}

TEST(Schema, TruncatedOrMissingFilesNameTheFile) {
  TempDir dir;
  const fs::path p = dir.path / "schema.json";
  const std::string text = seed_schema().to_json().dump(2);
  write_text(p, text.substr(0, text.size() / 2));
  const std::string msg = error_of([&] { (void)Schema::load(p); });
  EXPECT_THAT(msg, HasSubstr(p.string()));
  EXPECT_THAT(msg, HasSubstr("not valid JSON at line"));
  EXPECT_THAT(msg, HasSubstr("(byte "));
  EXPECT_THAT(error_of([&] { (void)Schema::load(dir.path / "nope.json"); }),
              HasSubstr("nope.json: cannot open"));
  write_text(p, R"({"format": "recblocks.schema", "version": 1, "columns": [{"name": 3}]})");
  EXPECT_THAT(error_of([&] { (void)Schema::load(p); }), HasSubstr(p.string()));
}

// A schema.json as merlin-core writes it (TensorflowMetadata.to_json):
// proto-JSON with string-typed 64-bit integers and compound tag strings.
constexpr std::string_view kMerlinSchema = R"({
  "feature": [
    {"name": "userId", "type": "INT",
     "intDomain": {"name": "userId", "min": "0", "max": "6041", "isCategorical": true},
     "annotation": {"tag": ["user_id", "categorical", "user", "id"],
       "extraMetadata": [{"num_buckets": null, "freq_threshold": 0.0, "max_size": 0.0,
         "cat_path": ".//categories/unique.userId.parquet",
         "domain": {"min": 0, "max": 6041, "name": "userId"},
         "embedding_sizes": {"cardinality": 6042.0, "dimension": 210.0},
         "dtype_item_size": 32.0, "is_list": false, "is_ragged": false}]}},
    {"name": "genres", "type": "INT", "valueCount": {"min": "1", "max": "6"},
     "intDomain": {"name": "genres", "min": "0", "max": "20", "isCategorical": true},
     "annotation": {"tag": ["item", "categorical", "list"],
       "extraMetadata": [{"dtype_item_size": 64.0, "is_list": true, "is_ragged": true}]}},
    {"name": "TE_movieId_rating", "type": "FLOAT",
     "annotation": {"tag": ["continuous", "item"],
       "extraMetadata": [{"dtype_item_size": 32.0, "is_list": false, "is_ragged": false}]}},
    {"name": "rating_binary", "type": "INT",
     "annotation": {"tag": ["binary_classification", "target"],
       "extraMetadata": [{"dtype_item_size": 32.0, "is_list": false, "is_ragged": false}]}},
    {"name": "rating", "type": "FLOAT",
     "annotation": {"tag": ["regression", "target"],
       "extraMetadata": [{"dtype_item_size": 64.0}]}}
  ]
})";

// A number beyond double's range (found by fuzz_schema_json): a ValueError
// naming the file, not an escaping JSON exception.
TEST(Schema, NumberOverflowIsAnErrorNamingTheFile) {
  TempDir dir;
  const fs::path p = dir.path / "schema.json";
  write_text(p, R"({"format": "recblocks.schema", "version": 1, "columns": [
      {"name": "x", "dtype": "float32", "tags": ["continuous"], "properties": {"scale": 1e400}}]})");
  try {
    Schema::load(p);
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr(p.string() + ": not valid JSON"));
    EXPECT_THAT(e.what(), HasSubstr("1e400"));
  }
}

TEST(Schema, ReadsMerlinSchemaJson) {
  TempDir dir;
  const fs::path p = dir.path / "schema.json";
  write_text(p, kMerlinSchema);
  const Schema s = Schema::load(p);
  EXPECT_THAT(s.column_names(),
              ElementsAre("userId", "genres", "TE_movieId_rating", "rating_binary", "rating"));

  const ColumnSchema& user = s.column("userId");
  EXPECT_EQ(user.dtype(), DType::kInt32);
  EXPECT_TRUE(user.has_tag(Tags::USER_ID));
  EXPECT_TRUE(user.has_tag(Tags::CATEGORICAL));
  EXPECT_EQ(user.cardinality(), 6042);
  EXPECT_EQ(user.embedding_dim(), 210);
  EXPECT_FALSE(user.is_list());
  EXPECT_EQ(user.properties()["cat_path"], ".//categories/unique.userId.parquet");

  const ColumnSchema& genres = s.column("genres");
  EXPECT_EQ(genres.dtype(), DType::kInt64);
  EXPECT_TRUE(genres.is_list());
  EXPECT_TRUE(genres.is_ragged());
  EXPECT_EQ(genres.value_count(), (ValueCount{1, 6}));

  EXPECT_TRUE(s.column("TE_movieId_rating").has_tag(Tags::CONTINUOUS));
  EXPECT_FALSE(s.column("TE_movieId_rating").domain().has_value());
  EXPECT_THAT(s.select_by_tag(Tags::BINARY_CLASSIFICATION).column_names(),
              ElementsAre("rating_binary"));
  EXPECT_EQ(s.column("rating").dtype(), DType::kFloat32);  // float64 computes as float32

  // And it converts: written back in recblocks' format, it reads the same.
  EXPECT_EQ(Schema::from_json(s.to_json()), s);
}

TEST(Schema, PrintsOneLinePerColumn) {
  std::ostringstream os;
  os << seed_schema().select_by_name({"userId", "genres"});
  EXPECT_THAT(os.str(), HasSubstr("Schema(2 columns)"));
  EXPECT_THAT(os.str(), HasSubstr("userId"));
  EXPECT_THAT(os.str(), HasSubstr("{categorical, id, user} domain [0, 6042]"));
  EXPECT_THAT(os.str(), HasSubstr("ragged list"));
}

TEST(ColumnSchema, DomainsBeyondWhatTheDtypeHoldsAreRefused) {
  const ColumnSchema i64("id", DType::kInt64, {Tags::CATEGORICAL});
  const ColumnSchema i32("id", DType::kInt32, {Tags::CATEGORICAL});
  // max + 1 must exist: INT64_MAX used to give a cardinality of INT64_MIN.
  EXPECT_THAT(error_of([&] { (void)i64.with_domain(0, INT64_MAX); }),
              AllOf(HasSubstr("column 'id'"), HasSubstr("domain max 9223372036854775807"),
                    HasSubstr("too large")));
  EXPECT_EQ(i64.with_domain(0, INT64_MAX - 1).cardinality(), INT64_MAX);
  EXPECT_THAT(error_of([&] { (void)i32.with_domain(0, std::int64_t{1} << 40); }),
              AllOf(HasSubstr("domain max 1099511627776"), HasSubstr("at most 2147483647"),
                    HasSubstr("int32")));
  EXPECT_EQ(i32.with_domain(0, INT32_MAX).cardinality(), std::int64_t{INT32_MAX} + 1);
}

TEST(Schema, IntegersWrittenAsFloatsMustBeWholeAndInRange) {
  nlohmann::json j = seed_schema().to_json();
  j["columns"][0]["domain"]["max"] = 1e3;
  EXPECT_EQ(Schema::from_json(j).column(j["columns"][0]["name"].get<std::string>()).domain()->max,
            1000);
  j["columns"][0]["domain"]["max"] = 10.5;
  EXPECT_THAT(error_of([&] { (void)Schema::from_json(j, "d/schema.json"); }),
              AllOf(HasSubstr("d/schema.json"), HasSubstr("expected an integer, got 10.5")));
  j["columns"][0]["domain"]["max"] = 1e30;
  EXPECT_THAT(error_of([&] { (void)Schema::from_json(j); }), HasSubstr("expected an integer"));
  j["columns"][0]["domain"]["max"] = std::uint64_t{1} << 63;
  EXPECT_THAT(error_of([&] { (void)Schema::from_json(j); }),
              AllOf(HasSubstr("9223372036854775808"), HasSubstr("too large")));
}

TEST(Schema, LoadNamesTheFileLineAndColumnOfANumberOverflow) {
  TempDir dir;
  const fs::path p = dir.path / "schema.json";
  std::string text = seed_schema().to_json().dump(2);
  const std::size_t at = text.find("\"max\": ");
  ASSERT_NE(at, std::string::npos);
  text.replace(at + 7, text.find_first_of(",\n}", at + 7) - (at + 7), "1e400");
  write_text(p, text);
  EXPECT_THAT(error_of([&] { (void)Schema::load(p); }),
              AllOf(HasSubstr(p.string()), HasSubstr("not valid JSON at line"), HasSubstr("1e400"),
                    ::testing::Not(HasSubstr("internal"))));
}

}  // namespace
}  // namespace recblocks
