#include "recblocks/data/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <set>
#include <string>

#include "data/importers_testing.h"
#include "recblocks/data/dataset.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
namespace ds = datasets;
using nlohmann::json;
using testing::error_message;
using ::testing::HasSubstr;
using testing::TempDir;

// Events with a quoted field holding the delimiter, doubled quotes and a
// newline, missing values, a '|' list and two targets.
constexpr const char* kEvents =
    "user_id,item,price,tags,clicked,title\n"
    "u1,i1,1.5,a|b,1,plain\n"
    "u2,i1,,b,0,\"with, comma\"\n"
    "u1,i2,2.5,,1,\"say \"\"hi\"\"\"\n"
    "u3,,-4,c|a|a,0,\"two\n"
    "lines\"\n"
    "u1,i1,0.25,a,1,plain\n";

constexpr const char* kEventsSchema = R"({
  "columns": [
    {"name": "userId", "source": "user_id", "tags": ["categorical", "user_id"]},
    {"name": "item", "tags": ["categorical", "item_id"], "categorify": {"min_frequency": 2}},
    {"name": "price", "tags": ["continuous"], "fill": -1},
    {"name": "tags", "tags": ["categorical"], "separator": "|"},
    {"name": "clicked", "tags": ["target", "binary_classification"]},
    {"name": "title", "tags": ["categorical"], "embedding_dim": 8, "properties": {"note": "x"}}
  ]
})";

std::vector<std::int32_t> ints(const Tensor& t) {
  return std::vector<std::int32_t>(t.data<std::int32_t>(), t.data<std::int32_t>() + t.numel());
}

struct CsvFixture : ::testing::Test {
  TempDir tmp;
  fs::path input = tmp / "events.csv";
  fs::path schema = tmp / "events.schema.json";
  void SetUp() override {
    testing::write_text(input, kEvents);
    testing::write_text(schema, kEventsSchema);
  }
};

TEST_F(CsvFixture, ImportsColumnsWithQuotesListsAndMissingValues) {
  const ds::CsvResult r = ds::csv(input, ds::CsvSpec::load(schema), tmp / "out");
  const Dataset d = Dataset::load(tmp / "out" / "train");
  ASSERT_EQ(d.num_rows(), 5);
  EXPECT_EQ(d.schema().column_names(),
            (std::vector<std::string>{"userId", "item", "price", "tags", "clicked", "title"}));

  // userId: u1 (3 times) -> 3, then u2, u3 (ties by key) -> 4, 5.
  EXPECT_EQ(ints(d.column("userId").values), (std::vector<std::int32_t>{3, 4, 3, 5, 3}));
  EXPECT_TRUE(d.schema().column("userId").has_tag(Tags::USER_ID));
  EXPECT_EQ(d.schema().column("userId").cardinality(), 6);
  // item with min_frequency 2: i1 -> 3, i2 (once) -> OOV 2, empty -> null 1.
  EXPECT_EQ(ints(d.column("item").values), (std::vector<std::int32_t>{3, 3, 2, 1, 3}));
  EXPECT_EQ(d.schema().column("item").cardinality(), 4);
  // price: empty filled with -1.
  EXPECT_EQ(d.column("price").values.to_vector(),
            (std::vector<float>{1.5f, -1.0f, 2.5f, -4.0f, 0.25f}));
  EXPECT_EQ(d.schema().column("price").dtype(), DType::kFloat32);
  // tags: a ragged list; a (4 times) -> 3, b (2) -> 4, c -> 5.
  const Column& tags = d.column("tags");
  ASSERT_TRUE(tags.is_list());
  EXPECT_EQ(ints(tags.values), (std::vector<std::int32_t>{3, 4, 4, 5, 3, 3, 3}));
  const auto* off = tags.offsets.data<std::int64_t>();
  EXPECT_EQ(std::vector<std::int64_t>(off, off + 6), (std::vector<std::int64_t>{0, 2, 3, 3, 6, 7}));
  EXPECT_TRUE(d.schema().column("tags").is_list());
  EXPECT_EQ(d.schema().column("tags").value_count(), (ValueCount{.min = 0, .max = 3}));
  // clicked: a binary target, int32.
  EXPECT_EQ(ints(d.column("clicked").values), (std::vector<std::int32_t>{1, 0, 1, 0, 1}));
  EXPECT_TRUE(d.schema().column("clicked").has_tag(Tags::BINARY_CLASSIFICATION));
  EXPECT_EQ(d.schema().column("clicked").dtype(), DType::kInt32);
  // title: quoted fields unquoted; "plain" twice -> 3, then by key.
  const ColumnSchema& title = d.schema().column("title");
  EXPECT_EQ(title.embedding_dim(), 8);
  EXPECT_EQ(title.properties()["note"], "x");
  const auto cat = etl::Categorify::load(tmp / "out" / "etl" / "categorify" / "title.json");
  EXPECT_EQ(cat.id("plain"), 3);
  EXPECT_EQ(cat.id("with, comma"), d.column("title").values.data<std::int32_t>()[1]);
  EXPECT_EQ(cat.id("say \"hi\""), d.column("title").values.data<std::int32_t>()[2]);
  EXPECT_EQ(cat.id("two\nlines"), d.column("title").values.data<std::int32_t>()[3]);
  EXPECT_EQ(cat.vocabulary_size(), 4);
  EXPECT_TRUE(fs::exists(tmp / "out" / "etl" / "csv.json"));
  EXPECT_EQ(r.train.num_rows(), 5);
}

TEST_F(CsvFixture, SplitFitsOnTrainAndOnOovRaise) {
  const ds::CsvResult r =
      ds::csv(input, ds::CsvSpec::load(schema), tmp / "out", {.valid_fraction = 0.4});
  ASSERT_EQ(r.train.num_rows(), 3);
  ASSERT_EQ(r.valid.num_rows(), 2);
  // The saved state transforms the file again exactly as the import did.
  const auto t = ds::CsvTransform::load(tmp / "out" / "etl");
  const Dataset again = t.transform(input);
  ASSERT_EQ(again.num_rows(), 5);
  EXPECT_EQ(again.schema(), r.valid.schema());
  const Dataset tail = again.slice_rows(3, 5);
  for (const auto& [name, column] : r.valid.columns()) {
    EXPECT_TRUE(allclose(tail.column(name).values, column.values, 0, 0)) << name;
  }
  EXPECT_EQ(ints(again.column("userId").values), (std::vector<std::int32_t>{3, 4, 3, 2, 3}));
  // u3 is unseen in the 3 train rows -> OOV; u1 keeps its id.
  EXPECT_EQ(ints(r.valid.column("userId").values), (std::vector<std::int32_t>{2, 3}));
  // The valid list column's offsets start again at 0.
  const auto* off = r.valid.column("tags").offsets.data<std::int64_t>();
  EXPECT_EQ(off[0], 0);
  EXPECT_EQ(off[1], 3);
  EXPECT_EQ(off[2], 4);

  json j = json::parse(kEventsSchema);
  j["columns"][0]["categorify"] = {{"on_oov", "raise"}};
  const std::string message = error_message<ValueError>(
      [&] { ds::csv(input, ds::CsvSpec::from_json(j), tmp / "out2", {.valid_fraction = 0.4}); });
  EXPECT_THAT(message, HasSubstr("userId"));
  EXPECT_THAT(message, HasSubstr("u3"));
}

TEST_F(CsvFixture, ReimportReplacesTheSplitsTogetherAndKeepsTheInputBesideThem) {
  // The input lives in the output folder, as raw files often do.
  const fs::path out = tmp / "out";
  fs::create_directories(out);
  fs::copy_file(input, out / "events.csv");
  ds::csv(out / "events.csv", ds::CsvSpec::load(schema), out, {.valid_fraction = 0.4});
  ASSERT_TRUE(fs::is_directory(out / "valid"));

  // Without a validation split the old valid/ must not survive beside the new train/.
  const ds::CsvResult r = ds::csv(out / "events.csv", ds::CsvSpec::load(schema), out);
  EXPECT_EQ(r.train_dir, out / "train");
  EXPECT_FALSE(fs::exists(out / "valid"));
  EXPECT_EQ(Dataset::load(out / "train").num_rows(), 5);
  EXPECT_EQ(testing::read_text(out / "events.csv"), kEvents);

  // A failed import leaves the previous one whole.
  testing::write_text(tmp / "bad.csv", "user_id,item,price,tags,clicked,title\nu1,i1,x,a,1,t\n");
  EXPECT_THROW(ds::csv(tmp / "bad.csv", ds::CsvSpec::load(schema), out), ValueError);
  EXPECT_EQ(Dataset::load(out / "train").num_rows(), 5);
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"etl", "events.csv", "train"}));
}

TEST_F(CsvFixture, UnknownSourceColumnListsTheHeader) {
  json j = json::parse(kEventsSchema);
  j["columns"][2]["source"] = "cost";
  const std::string message =
      error_message<ValueError>([&] { ds::csv(input, ds::CsvSpec::from_json(j), tmp / "out"); });
  EXPECT_THAT(message, HasSubstr("events.csv:1: the schema file's column 'cost' is not in the "
                                 "header; available columns: "));
  EXPECT_THAT(message, HasSubstr("user_id, item, price, tags, clicked, title"));
}

TEST_F(CsvFixture, BadValuesNameFileLineAndColumn) {
  auto message = [&](const std::string& text) {
    testing::write_text(input, text);
    return error_message<ValueError>(
        [&] { ds::csv(input, ds::CsvSpec::load(schema), tmp / "out"); });
  };
  const std::string header = "user_id,item,price,tags,clicked,title\n";
  EXPECT_THAT(message(header + "u1,i1,1,a,1,t\nu1,i1,abc,a,1,t\n"),
              HasSubstr("events.csv:3: column 3 ('price'): expected a number, found 'abc'"));
  EXPECT_THAT(
      message(header + "u1,i1,1,a,,t\n"),
      HasSubstr("events.csv:2: column 5 ('clicked'): missing value, expected 0 or 1 (or give "
                "\"fill\" in the schema file)"));
  EXPECT_THAT(message(header + "u1,i1,1,a,0.5,t\n"),
              HasSubstr("events.csv:2: column 5 ('clicked'): expected 0 or 1, found '0.5'"));
  EXPECT_THAT(message(header + "u1,i1,1,a,1\n"),
              HasSubstr("events.csv:2: expected 6 fields (as the header), found 5"));
  EXPECT_THAT(message(header + "u1,i1,1,a,1,t\nu2,i1,1,a,1,\"never closed\n"),
              HasSubstr("events.csv:3: unterminated quoted field, expected a closing \""));
  EXPECT_THAT(
      message(header + "u1,i1,1,a,1,\"t\"x\n"),
      HasSubstr(
          "events.csv:2: expected the delimiter ',' or the end of the line after a closing quote, "
          "found 'x'"));
  EXPECT_THAT(message(header), HasSubstr("events.csv: no data rows"));
}

// Values that would reach training as NaN, infinities or out-of-domain
// targets are refused, naming the file, line, column and value.
TEST_F(CsvFixture, NonFiniteValuesAndOutOfDomainTargetsAreRefused) {
  auto message = [&](const std::string& row, const json& j = json::parse(kEventsSchema)) {
    testing::write_text(input, "user_id,item,price,tags,clicked,title\nu1,i1,1,a,1,t\n" + row);
    return error_message<ValueError>(
        [&] { ds::csv(input, ds::CsvSpec::from_json(j), tmp / "out"); });
  };
  const std::string finite = "expected a finite float32 number (at most 3.4e38 in magnitude)";
  for (const char* value : {"nan", "NAN", "inf", "-inf", "+infinity", "1e39", "-1e39", "1e400"}) {
    EXPECT_THAT(
        message(fmt::format("u2,i1,{},a,0,t\n", value)),
        HasSubstr(fmt::format("events.csv:3: column 3 ('price'): {}, found '{}'", finite, value)))
        << value;
  }
  // The largest float32 and the smallest denormal still import.
  testing::write_text(input,
                      "user_id,item,price,tags,clicked,title\nu1,i1,3.4028234e38,a,1,t\n"
                      "u2,i1,-1e-45,a,0,t\n");
  const ds::CsvResult ok = ds::csv(input, ds::CsvSpec::load(schema), tmp / "ok");
  EXPECT_EQ(ok.train.column("price").values.to_vector()[0], 3.4028234e38f);

  // A binary target declares {0, 1}: a 2 was imported before.
  for (const char* value : {"2", "-1", "7.0"}) {
    EXPECT_THAT(message(fmt::format("u2,i1,1,a,{},t\n", value)),
                HasSubstr(fmt::format("events.csv:3: column 5 ('clicked'): expected 0 or 1 (the "
                                      "column is binary), found '{}'",
                                      value)))
        << value;
  }
  json as_float = json::parse(kEventsSchema);
  as_float["columns"][4]["dtype"] = "float32";
  EXPECT_THAT(message("u2,i1,1,a,0.5,t\n", as_float),
              HasSubstr("events.csv:3: column 5 ('clicked'): expected 0 or 1 (the column is "
                        "binary), found '0.5'"));
  EXPECT_THAT(message("u2,i1,1,a,nan,t\n", as_float),
              HasSubstr("column 5 ('clicked'): " + finite + ", found 'nan'"));
  // A regression target is any finite number.
  json regression = json::parse(kEventsSchema);
  regression["columns"][4]["tags"] = {"target", "regression"};
  EXPECT_THAT(message("u2,i1,1,a,inf,t\n", regression),
              HasSubstr("events.csv:3: column 5 ('clicked'): " + finite + ", found 'inf'"));
  // The value of "fill" is checked as a value of the file.
  json fill_nan = json::parse(kEventsSchema);
  fill_nan["columns"][2]["fill"] = "nan";
  EXPECT_THAT(message("u2,i1,,a,0,t\n", fill_nan),
              HasSubstr("events.csv:3: column 3 ('price'): " + finite + ", found 'nan'"));
}

TEST_F(CsvFixture, DuplicateHeaderNamesAreRefused) {
  // Two columns named user_id: the first one was read without a word.
  testing::write_text(input, "user_id,item,price,user_id,tags,clicked,title\nu1,i1,1,u9,a,1,t\n");
  EXPECT_THAT(
      error_message<ValueError>([&] { ds::csv(input, ds::CsvSpec::load(schema), tmp / "out"); }),
      HasSubstr("events.csv:1: column 4: header name 'user_id' appears twice (also "
                "column 1), expected unique names"));
  EXPECT_FALSE(fs::exists(tmp / "out" / "train"));
  // Also a duplicate the schema does not read.
  testing::write_text(input, "user_id,item,price,tags,clicked,title,x,x\nu1,i1,1,a,1,t,1,2\n");
  EXPECT_THAT(
      error_message<ValueError>([&] { ds::csv(input, ds::CsvSpec::load(schema), tmp / "out"); }),
      HasSubstr("events.csv:1: column 8: header name 'x' appears twice (also column 7)"));
}

TEST_F(CsvFixture, ByteOrderMarkAndCrlfReadAsThePlainFile) {
  const ds::CsvResult plain = ds::csv(input, ds::CsvSpec::load(schema), tmp / "plain");
  std::string crlf;
  for (char c : std::string(kEvents)) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  testing::write_text(input, "\xEF\xBB\xBF" + crlf);
  const ds::CsvResult bom = ds::csv(input, ds::CsvSpec::load(schema), tmp / "bom");
  ASSERT_EQ(bom.train.num_rows(), plain.train.num_rows());
  for (const auto& name : plain.train.schema().column_names()) {
    const Tensor& a = plain.train.column(name).values;
    const Tensor& b = bom.train.column(name).values;
    ASSERT_EQ(a.shape(), b.shape()) << name;
    if (name == "title") continue;  // the quoted two-line title keeps its own line break
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << name;
  }
}

TEST_F(CsvFixture, OverlongAndBinaryValuesAreExcerptedAndEscaped) {
  const std::string header = "user_id,item,price,tags,clicked,title\n";
  testing::write_text(input, header + "u1,i1," + std::string(10'000'000, '7') + "x,a,1,t\n");
  const std::string huge =
      error_message<ValueError>([&] { ds::csv(input, ds::CsvSpec::load(schema), tmp / "out"); });
  EXPECT_THAT(huge, HasSubstr("events.csv:2: column 3 ('price'): expected a number, found '777"));
  EXPECT_THAT(huge, HasSubstr("... (10000001 bytes)"));
  EXPECT_LT(huge.size(), 400u);
  testing::write_text(input, header + "u1,i1,1\x01\xFF,a,1,t\n");
  EXPECT_THAT(
      error_message<ValueError>([&] { ds::csv(input, ds::CsvSpec::load(schema), tmp / "out"); }),
      HasSubstr("column 3 ('price'): expected a number, found '1\\x01\\xFF'"));
}

TEST_F(CsvFixture, SpecialFilesAreRefusedWithoutBlocking) {
  const fs::path pipe = tmp / "pipe.csv";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  EXPECT_THAT(error_message<Error>([&] { ds::csv(pipe, ds::CsvSpec::load(schema), tmp / "out"); }),
              HasSubstr("pipe.csv': is a FIFO (named pipe), expected a regular file"));
  EXPECT_THAT(error_message<Error>([&] { ds::CsvSpec::load(pipe); }),
              HasSubstr("pipe.csv': is a FIFO (named pipe), expected a regular file"));
  EXPECT_THAT(
      error_message<Error>([&] { ds::csv(tmp.path(), ds::CsvSpec::load(schema), tmp / "o"); }),
      HasSubstr("': is a directory, expected a regular file"));
}

TEST_F(CsvFixture, TsvWithoutHeaderByFieldIndex) {
  testing::write_text(input, "7\tx\t0.5\r\n8\ty\t1.5\r\n\r\n7\tz\t2\r\n");
  const json j = {{"header", false},
                  {"quote", ""},
                  {"columns",
                   {{{"name", "rating"}, {"source", 2}, {"tags", {"target", "regression"}}},
                    {{"name", "user"}, {"source", 0}, {"tags", {"categorical"}}}}}};
  const ds::CsvResult r =
      ds::csv(input, ds::CsvSpec::from_json(j), tmp / "out", {.delimiter = '\t'});
  ASSERT_EQ(r.train.num_rows(), 3);
  EXPECT_EQ(r.train.column("rating").values.to_vector(), (std::vector<float>{0.5f, 1.5f, 2.0f}));
  EXPECT_EQ(ints(r.train.column("user").values), (std::vector<std::int32_t>{3, 4, 3}));
  EXPECT_TRUE(r.train.schema().column("rating").has_tag(Tags::REGRESSION));
  EXPECT_EQ(r.train.schema().column("rating").properties()["source"], 2);
}

TEST(CsvSpec, SchemaFileErrorsAreNamed) {
  auto message = [](const json& j) {
    return error_message<ValueError>([&] { ds::CsvSpec::from_json(j, "s.json"); });
  };
  EXPECT_THAT(
      message({{"columns", {{{"name", "a"}, {"tags", {"continuous"}}, {"colour", 1}}}}}),
      HasSubstr(
          "s.json: columns[0] ('a'): unknown key 'colour', expected one of: name, source, tags"));
  EXPECT_THAT(
      message({{"columns", {{{"name", "a"}, {"tags", {"categorical"}}, {"dtype", "float32"}}}}}),
      HasSubstr("columns[0] ('a').dtype: 'float32', but categorical columns are int32 ids"));
  EXPECT_THAT(message({{"columns", {{{"name", "a"}, {"tags", {"user"}}}}}}),
              HasSubstr("name no kind, expected one of categorical, continuous or target"));
  EXPECT_THAT(
      message({{"columns",
                {{{"name", "a"}, {"tags", {"continuous"}}, {"categorify", json::object()}}}}}),
      HasSubstr("'categorify' on a column without the categorical tag"));
  EXPECT_THAT(
      message({{"delimiter", ",,"}, {"columns", {{{"name", "a"}, {"tags", {"continuous"}}}}}}),
      HasSubstr("delimiter \",,\": expected one character"));
  EXPECT_THAT(message({{"columns", json::array()}}),
              HasSubstr("s.json: expected a non-empty list \"columns\""));
  EXPECT_THAT(message({{"columns",
                        {{{"name", "a"}, {"tags", {"continuous"}}},
                         {{"name", "a"}, {"tags", {"continuous"}}}}}}),
              HasSubstr("column name 'a' appears twice"));
  EXPECT_THAT(
      message(
          {{"columns",
            {{{"name", "a"}, {"tags", {"categorical"}}, {"categorify", {{"on_oov", "drop"}}}}}}}),
      HasSubstr("on_oov: 'drop', expected \"oov\" or \"raise\""));
  // Unknown tag names: the tag parser lists the known ones.
  EXPECT_THAT(message({{"columns", {{{"name", "a"}, {"tags", {"categorcal"}}}}}}),
              HasSubstr("categorcal"));

  TempDir tmp;
  testing::write_text(tmp / "broken.json", "{\"columns\": [");
  EXPECT_THAT(error_message<ValueError>([&] { ds::CsvSpec::load(tmp / "broken.json"); }),
              HasSubstr("broken.json: not valid JSON at byte"));
  // A number beyond double's range is the parser's other error (found by
  // fuzz_csv): a ValueError naming the file, not an escaping JSON exception.
  testing::write_text(tmp / "overflow.json",
                      R"({"columns": [{"name": "x", "tags": ["continuous"], "fill": 1e400}]})");
  const std::string overflow =
      error_message<ValueError>([&] { ds::CsvSpec::load(tmp / "overflow.json"); });
  EXPECT_THAT(overflow, HasSubstr("overflow.json: not valid JSON"));
  EXPECT_THAT(overflow, HasSubstr("1e400"));
}

TEST(CsvSpec, DelimiterNames) {
  EXPECT_EQ(ds::parse_delimiter("tab"), '\t');
  EXPECT_EQ(ds::parse_delimiter("\\t"), '\t');
  EXPECT_EQ(ds::parse_delimiter(";"), ';');
}

}  // namespace
}  // namespace recblocks
