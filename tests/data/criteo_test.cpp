#include "recblocks/data/criteo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <set>

#include "data/importers_testing.h"
#include "recblocks/core/threads.h"
#include "recblocks/data/dataset.h"
#include "recblocks/data/etl.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
namespace ds = datasets;
using testing::error_message;
using ::testing::HasSubstr;
using testing::TempDir;

// The 200-row sample of the shared data: tests reading it start with
// REQUIRE_SAMPLE(), which skips them when it is absent (it has no download).
#define REQUIRE_SAMPLE() RB_REQUIRE_TEST_DATA(criteo_dir, "criteo", "criteo_sample.txt")
fs::path sample() {
  return testing_data::find("criteo", "criteo_sample.txt").value_or(fs::path()) /
         "criteo_sample.txt";
}

// The sample's rows as text fields, split independently of the importer.
std::vector<std::vector<std::string>> sample_rows() {
  auto lines = testing::lines_of(sample());
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 1; i < lines.size(); ++i) rows.push_back(testing::split(lines[i], ','));
  return rows;
}

// A TSV row in the original format from label, 13 integers ("" = missing)
// and 26 categoricals.
std::string tsv_row(const std::string& label, std::vector<std::string> ints,
                    std::vector<std::string> cats) {
  ints.resize(13);
  cats.resize(26);
  std::string s = label;
  for (const auto& v : ints) s += fmt::format("\t{}", v);
  for (const auto& v : cats) s += fmt::format("\t{}", v);
  return s + "\n";
}

TEST(CriteoRead, SampleCsvRowsLabelsAndMissingValues) {
  REQUIRE_SAMPLE();
  const ds::CriteoRaw raw = ds::read_criteo(sample());
  EXPECT_EQ(raw.format, ds::CriteoFormat::kCsv);
  ASSERT_EQ(raw.rows(), 200);
  std::int64_t positives = 0;
  for (auto y : raw.label) positives += y;
  EXPECT_EQ(positives, 49);
  // Counted on the file: I1 has 110 values, I2 200, I12 43.
  EXPECT_EQ(raw.dense_missing[0], 90);
  EXPECT_EQ(raw.dense_missing[1], 0);
  EXPECT_EQ(raw.dense_missing[11], 157);
  // C3 has 9 empty fields, C22 159, C1 none.
  auto nulls = [&](int c) {
    std::int64_t n = 0;
    for (auto m : raw.is_null[static_cast<std::size_t>(c)]) n += m;
    return n;
  };
  EXPECT_EQ(nulls(0), 0);
  EXPECT_EQ(nulls(2), 9);
  EXPECT_EQ(nulls(21), 159);
  EXPECT_EQ(raw.categorical[0][0], 0x05db9164u);
  EXPECT_EQ(raw.categorical[25][2], 0u);  // missing
}

TEST(CriteoRead, LogTransformMatchesHandComputation) {
  REQUIRE_SAMPLE();
  const ds::CriteoRaw raw = ds::read_criteo(sample());
  // Row 1: ",3,260.0,,17668.0,,,33.0,,,,0.0," for I1..I13.
  const std::vector<float> row1 = {0.0f,
                                   1.3862943611198906f,
                                   5.564520407322694f,
                                   0.0f,
                                   9.77956697061665f,
                                   0.0f,
                                   0.0f,
                                   3.5263605246161616f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f};
  // Row 2: ",-1,19.0,35.0,30251.0,247.0,1.0,35.0,160.0,,1.0,,35.0": -1 is clamped to 0.
  const std::vector<float> row2 = {0.0f,
                                   0.0f,
                                   2.995732273553991f,
                                   3.58351893845611f,
                                   10.31731757697592f,
                                   5.5134287461649825f,
                                   0.6931471805599453f,
                                   3.58351893845611f,
                                   5.081404364984463f,
                                   0.0f,
                                   0.6931471805599453f,
                                   0.0f,
                                   3.58351893845611f};
  for (std::size_t j = 0; j < 13; ++j) {
    EXPECT_NEAR(raw.dense[j][0], row1[j], 1e-6) << "I" << j + 1 << " row 1";
    EXPECT_NEAR(raw.dense[j][1], row2[j], 1e-6) << "I" << j + 1 << " row 2";
  }
}

TEST(CriteoRead, OriginalTsvFormat) {
  TempDir tmp;
  const fs::path file = tmp / "day_0";
  testing::write_text(
      file, tsv_row("1", {"5", "", "-2", "0", "1000"}, {"68fd1e64", "", "ABCDEF01"}) +
                tsv_row("0", {"", "7"}, {"00000000", "80e26c9b"}) + "\n" +  // a blank line
                tsv_row("1", {}, {}));
  const ds::CriteoRaw raw = ds::read_criteo(file);
  EXPECT_EQ(raw.format, ds::CriteoFormat::kTsv);
  ASSERT_EQ(raw.rows(), 3);
  EXPECT_EQ(raw.label, (std::vector<std::int32_t>{1, 0, 1}));
  EXPECT_NEAR(raw.dense[0][0], std::log(6.0), 1e-6);
  EXPECT_EQ(raw.dense[2][0], 0.0f);  // -2 -> 0
  EXPECT_NEAR(raw.dense[4][0], std::log(1001.0), 1e-5);
  EXPECT_NEAR(raw.dense[1][1], std::log(8.0), 1e-6);
  EXPECT_EQ(raw.categorical[0][0], 0x68fd1e64u);
  EXPECT_EQ(raw.is_null[1][0], 1);
  EXPECT_EQ(raw.categorical[2][0], 0xabcdef01u);
  EXPECT_EQ(raw.categorical[0][1], 0u);
  EXPECT_EQ(raw.is_null[0][1], 0);  // "00000000" is a value, not missing
  EXPECT_EQ(raw.is_null[0][2], 1);
  EXPECT_EQ(raw.dense_missing[0], 2);
  EXPECT_EQ(ds::read_criteo(file, ds::CriteoFormat::kAuto, 2).rows(), 2);  // max_rows
}

TEST(CriteoRead, CsvHeaderColumnsInAnyOrder) {
  TempDir tmp;
  std::string header = "C1,label,I2", row = "0a0b0c0d,1,41";
  for (int i = 1; i <= 13; ++i) {
    if (i != 2) header += fmt::format(",I{}", i), row += ",";
  }
  for (int i = 2; i <= 26; ++i) header += fmt::format(",C{}", i), row += ",";
  testing::write_text(tmp / "shuffled.csv", header + "\n" + row + "\n");
  const ds::CriteoRaw raw = ds::read_criteo(tmp / "shuffled.csv");
  ASSERT_EQ(raw.rows(), 1);
  EXPECT_EQ(raw.label[0], 1);
  EXPECT_NEAR(raw.dense[1][0], std::log(42.0), 1e-6);
  EXPECT_EQ(raw.categorical[0][0], 0x0a0b0c0du);

  testing::write_text(tmp / "bad_header.csv", "label,I1,X9\n");
  EXPECT_THAT(
      error_message<ValueError>([&] { ds::read_criteo(tmp / "bad_header.csv"); }),
      HasSubstr("bad_header.csv:1: header has 3 columns, expected the 40 columns label,I1,"));
}

TEST(CriteoRead, MalformedLinesNameFileLineColumnAndExpected) {
  TempDir tmp;
  const std::string good = tsv_row("0", {"1"}, {"68fd1e64"});
  auto message = [&](const std::string& name, const std::string& bad_line) {
    testing::write_text(tmp / name, good + good + bad_line + good);
    return error_message<ValueError>([&] { ds::read_criteo(tmp / name); });
  };
  std::string short_line = good.substr(0, good.rfind('\t')) + "\n";  // 39 fields
  EXPECT_THAT(message("fields.tsv", short_line),
              HasSubstr("fields.tsv:3: expected 40 fields (label, I1..I13, C1..C26) separated by "
                        "tabs, found 39"));
  EXPECT_THAT(
      message("hex.tsv", tsv_row("0", {}, {"", "", "", "", "zzzzzzzz"})),
      HasSubstr("hex.tsv:3: column 19 (C5): expected 8 hexadecimal digits or an empty field, found "
                "'zzzzzzzz'"));
  EXPECT_THAT(message("short_hex.tsv", tsv_row("0", {}, {"abc"})),
              HasSubstr("short_hex.tsv:3: column 15 (C1): expected 8 hexadecimal digits"));
  EXPECT_THAT(
      message("int.tsv", tsv_row("0", {"", "", "1.5"}, {})),
      HasSubstr("int.tsv:3: column 4 (I3): expected an integer or an empty field, found '1.5'"));
  EXPECT_THAT(
      message("word.tsv", tsv_row("0", {"x"}, {})),
      HasSubstr("word.tsv:3: column 2 (I1): expected an integer or an empty field, found 'x'"));
  EXPECT_THAT(message("label.tsv", tsv_row("2", {}, {})),
              HasSubstr("label.tsv:3: column 1 (label): expected 0 or 1, found '2'"));
}

TEST(CriteoRead, NonFiniteAndOutOfRangeValuesAreRefused) {
  TempDir tmp;
  const std::string good = tsv_row("0", {"1"}, {"68fd1e64"});
  auto message = [&](const std::string& bad_line) {
    testing::write_text(tmp / "day.tsv", good + bad_line);
    return error_message<ValueError>([&] { ds::read_criteo(tmp / "day.tsv"); });
  };
  for (const char* label : {"nan", "-1", "0.5", "1e400"}) {
    EXPECT_THAT(
        message(tsv_row(label, {}, {})),
        HasSubstr(fmt::format("day.tsv:2: column 1 (label): expected 0 or 1, found '{}'", label)));
  }
  for (const char* value : {"nan", "inf", "-inf", "1e400", "99999999999999999999"}) {
    EXPECT_THAT(message(tsv_row("1", {"", value}, {})),
                HasSubstr(fmt::format("day.tsv:2: column 3 (I2): expected an integer or an empty "
                                      "field, found '{}'",
                                      value)));
  }
}

TEST(CriteoRead, ByteOrderMarkAndCrlfReadAsThePlainFile) {
  TempDir tmp;
  const std::string text = tsv_row("1", {"5", "", "-2"}, {"68fd1e64", "", "ABCDEF01"}) +
                           tsv_row("0", {"", "7"}, {"00000000", "80e26c9b"});
  testing::write_text(tmp / "plain.tsv", text);
  std::string crlf;
  for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  testing::write_text(tmp / "bom.tsv", "\xEF\xBB\xBF" + crlf);
  const ds::CriteoRaw plain = ds::read_criteo(tmp / "plain.tsv");
  const ds::CriteoRaw bom = ds::read_criteo(tmp / "bom.tsv");
  EXPECT_EQ(bom.format, ds::CriteoFormat::kTsv);
  EXPECT_EQ(plain.label, bom.label);
  EXPECT_EQ(plain.dense, bom.dense);
  EXPECT_EQ(plain.categorical, bom.categorical);
  EXPECT_EQ(plain.is_null, bom.is_null);
  // A CSV whose header starts with a BOM: 'label' is still a known name.
  std::string header = "label";
  for (int i = 1; i <= 13; ++i) header += fmt::format(",I{}", i);
  for (int i = 1; i <= 26; ++i) header += fmt::format(",C{}", i);
  testing::write_text(tmp / "bom.csv",
                      "\xEF\xBB\xBF" + header + "\r\n1" + std::string(39, ',') + "\r\n");
  EXPECT_EQ(ds::read_criteo(tmp / "bom.csv").label, (std::vector<std::int32_t>{1}));
}

TEST(CriteoRead, HeaderDuplicatesAndOverlongValuesAreNamedWithAnExcerpt) {
  TempDir tmp;
  std::string header = "label";
  for (int i = 1; i <= 13; ++i) header += fmt::format(",I{}", i);
  for (int i = 1; i <= 25; ++i) header += fmt::format(",C{}", i);
  testing::write_text(tmp / "dup.csv", header + ",C3\n");
  EXPECT_THAT(error_message<ValueError>([&] { ds::read_criteo(tmp / "dup.csv"); }),
              HasSubstr("dup.csv:1: column 40: header name 'C3' appears twice, expected each of "
                        "the 40 columns once"));
  testing::write_text(tmp / "long.tsv", tsv_row("0", {}, {std::string(5'000'000, 'a')}));
  const std::string m = error_message<ValueError>([&] { ds::read_criteo(tmp / "long.tsv"); });
  EXPECT_THAT(m, HasSubstr("long.tsv:1: column 15 (C1): expected 8 hexadecimal digits or an "
                           "empty field, found 'aaaa"));
  EXPECT_THAT(m, HasSubstr("... (5000000 bytes)"));
  EXPECT_LT(m.size(), 400u);
  testing::write_text(tmp / "binary.tsv", tsv_row("0", {"\x01\x80"}, {}));
  EXPECT_THAT(error_message<ValueError>([&] { ds::read_criteo(tmp / "binary.tsv"); }),
              HasSubstr("column 2 (I1): expected an integer or an empty field, found "
                        "'\\x01\\x80'"));
}

TEST(CriteoRead, FifoIsRefusedWithoutBlocking) {
  TempDir tmp;
  ASSERT_EQ(::mkfifo((tmp / "pipe").c_str(), 0600), 0);
  EXPECT_THAT(error_message<Error>([&] { ds::read_criteo(tmp / "pipe"); }),
              HasSubstr("pipe': is a FIFO (named pipe), expected a regular file"));
}

TEST(CriteoRead, ErrorLineNumbersAndValuesDoNotDependOnThreads) {
  TempDir tmp;
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    text += tsv_row(std::to_string(i % 2), {std::to_string(i), "", std::to_string(i % 7)},
                    {fmt::format("{:08x}", i * 2654435761u), "", "0000000a"});
  }
  testing::write_text(tmp / "ok.tsv", text);
  const int threads = num_threads();
  set_num_threads(1);
  const ds::CriteoRaw one = ds::read_criteo(tmp / "ok.tsv");
  set_num_threads(4);
  const ds::CriteoRaw four = ds::read_criteo(tmp / "ok.tsv");
  EXPECT_EQ(one.label, four.label);
  EXPECT_EQ(one.dense, four.dense);
  EXPECT_EQ(one.categorical, four.categorical);
  EXPECT_EQ(one.is_null, four.is_null);
  EXPECT_EQ(one.dense_missing, four.dense_missing);
  ASSERT_EQ(four.rows(), 3000);
  EXPECT_NEAR(four.dense[0][2999], std::log(3000.0), 1e-5);

  // The error of the first bad line in file order, with its true line number,
  // whichever chunk finds it.
  auto lines = testing::split(text, '\n');
  lines[2776] = "1\tnot a row";
  lines[2900] = "1\talso bad";
  std::string bad;
  for (const auto& l : lines) bad += l + "\n";
  testing::write_text(tmp / "bad.tsv", bad);
  EXPECT_THAT(error_message<ValueError>([&] { ds::read_criteo(tmp / "bad.tsv"); }),
              HasSubstr("bad.tsv:2777: column 2 (I1)"));
  set_num_threads(threads);
}

TEST(CriteoImport, MinFrequencyCategorifyAndDatasetLayout) {
  REQUIRE_SAMPLE();
  TempDir tmp;
  const ds::CriteoResult r = ds::criteo({sample()}, tmp / "out", {.min_frequency = 2});
  EXPECT_EQ(r.train.num_rows(), 200);
  EXPECT_EQ(r.valid.schema().size(), 0u);
  EXPECT_TRUE(r.valid_dir.empty());
  EXPECT_TRUE(fs::exists(tmp / "out" / "train" / "schema.json"));
  EXPECT_TRUE(fs::exists(tmp / "out" / "train" / "C26.npy"));
  EXPECT_TRUE(fs::exists(tmp / "out" / "etl" / "criteo.json"));
  EXPECT_TRUE(fs::exists(tmp / "out" / "etl" / "categorify" / "C1.json"));
  EXPECT_FALSE(fs::exists(tmp / "out" / "valid"));

  const Dataset loaded = Dataset::load(tmp / "out" / "train");
  const Schema& schema = loaded.schema();
  ASSERT_EQ(schema.size(), 40u);
  EXPECT_TRUE(schema.column("label").has_tag(Tags::BINARY_CLASSIFICATION));
  EXPECT_TRUE(schema.column("label").has_tag(Tags::TARGET));
  EXPECT_EQ(schema.column("label").dtype(), DType::kInt32);
  EXPECT_TRUE(schema.column("I7").has_tag(Tags::CONTINUOUS));
  EXPECT_EQ(schema.column("I7").dtype(), DType::kFloat32);
  EXPECT_TRUE(schema.column("C9").has_tag(Tags::CATEGORICAL));

  // Reference: count each column's values in the file; ids must be 1 for
  // empty, 2 for values seen once, and one id >= 3 per frequent value,
  // the most frequent getting 3.
  const auto rows = sample_rows();
  for (int c = 0; c < 26; ++c) {
    const std::string name = fmt::format("C{}", c + 1);
    const auto field = static_cast<std::size_t>(14 + c);
    std::map<std::string, int> counts;
    for (const auto& row : rows) {
      if (!row[field].empty()) ++counts[row[field]];
    }
    std::int64_t frequent = 0;
    std::string most;
    int most_count = 0;
    for (const auto& [value, n] : counts) {
      frequent += n >= 2;
      if (n > most_count) most = value, most_count = n;  // ties: the smallest value (map order)
    }
    EXPECT_EQ(schema.column(name).cardinality(), 3 + frequent) << name;
    const Tensor ids = loaded.column(name).values;
    std::map<std::string, std::int32_t> id_of;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::string& v = rows[i][field];
      const std::int32_t id = ids.data<std::int32_t>()[i];
      if (v.empty()) {
        EXPECT_EQ(id, 1) << name << " row " << i;
      } else if (counts[v] < 2) {
        EXPECT_EQ(id, 2) << name << " row " << i;
      } else {
        EXPECT_GE(id, 3);
        auto [it, inserted] = id_of.emplace(v, id);
        EXPECT_EQ(it->second, id) << name << " value " << v;
        if (v == most) {
          EXPECT_EQ(id, 3) << name;
        }
      }
    }
    EXPECT_EQ(static_cast<std::int64_t>(id_of.size()), frequent) << name;
  }
  // Dense values are the log transform, labels as in the file.
  EXPECT_NEAR(loaded.column("I3").values.data<float>()[0], 5.564520407322694, 1e-6);
  EXPECT_EQ(loaded.column("label").values.data<std::int32_t>()[0], 0);
}

TEST(CriteoImport, HashingIntoBuckets) {
  REQUIRE_SAMPLE();
  TempDir tmp;
  const ds::CriteoResult r = ds::criteo({sample()}, tmp / "out", {.num_buckets = 50});
  const auto rows = sample_rows();
  for (int c = 0; c < 26; ++c) {
    const std::string name = fmt::format("C{}", c + 1);
    EXPECT_EQ(r.train.schema().column(name).cardinality(), 3 + 50) << name;
    const auto* ids = r.train.column(name).values.data<std::int32_t>();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::string& v = rows[i][static_cast<std::size_t>(14 + c)];
      if (v.empty()) {
        EXPECT_EQ(ids[i], 1);
        continue;
      }
      const auto key = static_cast<std::int64_t>(std::stoul(v, nullptr, 16));
      EXPECT_EQ(ids[i], 3 + static_cast<std::int32_t>(etl::hash_key(key) % 50))
          << name << " row " << i;
    }
  }
}

TEST(CriteoImport, SequentialSplitFitsOnTrainOnly) {
  REQUIRE_SAMPLE();
  TempDir tmp;
  const ds::CriteoResult r = ds::criteo({sample()}, tmp / "out", {.valid_fraction = 0.1});
  ASSERT_EQ(r.train.num_rows(), 180);
  ASSERT_EQ(r.valid.num_rows(), 20);
  EXPECT_EQ(Dataset::load(tmp / "out" / "valid").num_rows(), 20);
  EXPECT_EQ(r.train.schema(), r.valid.schema());
  // A C3 value of the last 20 rows never seen in the first 180 is OOV.
  const auto rows = sample_rows();
  std::set<std::string> train_values;
  for (std::size_t i = 0; i < 180; ++i) train_values.insert(rows[i][16]);
  int unseen = 0;
  for (std::size_t i = 180; i < 200; ++i) {
    const std::int32_t id = r.valid.column("C3").values.data<std::int32_t>()[i - 180];
    if (rows[i][16].empty()) {
      EXPECT_EQ(id, 1);
    } else if (!train_values.count(rows[i][16])) {
      EXPECT_EQ(id, 2);
      ++unseen;
    } else {
      EXPECT_GE(id, 3);
    }
  }
  EXPECT_GT(unseen, 0);
  // The saved state transforms raw rows again exactly as the import did.
  const auto again = ds::CriteoTransform::load(tmp / "out" / "etl");
  const Dataset valid_again = again.transform(ds::read_criteo(sample()), 180);
  EXPECT_EQ(valid_again.schema(), r.valid.schema());
  for (const auto& [name, column] : r.valid.columns()) {
    EXPECT_TRUE(allclose(valid_again.column(name).values, column.values, 0, 0)) << name;
  }
  const auto meta = nlohmann::json::parse(testing::read_text(tmp / "out" / "etl" / "criteo.json"));
  EXPECT_EQ(meta["train_rows"], 180);
  EXPECT_EQ(meta["valid_rows"], 20);
}

TEST(CriteoImport, SplitByDayFile) {
  TempDir tmp;
  testing::write_text(tmp / "day_0",
                      tsv_row("1", {"1"}, {"0000000a"}) + tsv_row("0", {"2"}, {"0000000b"}));
  testing::write_text(tmp / "day_1", tsv_row("0", {"3"}, {"0000000a"}) +
                                         tsv_row("1", {}, {"0000000c"}) + tsv_row("1", {}, {}));
  const ds::CriteoResult r =
      ds::criteo({tmp / "day_0"}, tmp / "out", {.valid_files = {tmp / "day_1"}});
  ASSERT_EQ(r.train.num_rows(), 2);
  ASSERT_EQ(r.valid.num_rows(), 3);
  const auto* c1 = r.valid.column("C1").values.data<std::int32_t>();
  EXPECT_EQ(c1[0], r.train.column("C1").values.data<std::int32_t>()[0]);  // 'a' seen in train
  EXPECT_EQ(c1[1], 2);                                                    // 'c' unseen
  EXPECT_EQ(c1[2], 1);                                                    // missing
  EXPECT_NEAR(r.valid.column("I1").values.data<float>()[0], std::log(4.0), 1e-6);
  // With on_oov = raise, the unseen value stops the import, named.
  const std::string unseen = error_message<ValueError>([&] {
    ds::criteo({tmp / "day_0"}, tmp / "out3",
               {.on_oov = etl::OnOov::kRaise, .valid_files = {tmp / "day_1"}});
  });
  EXPECT_THAT(unseen, HasSubstr("C1"));
  EXPECT_THAT(unseen, HasSubstr("12"));  // 0x0000000c, by value
  EXPECT_THAT(error_message<ValueError>([&] {
                ds::criteo({tmp / "day_0"}, tmp / "out2",
                           {.valid_fraction = 0.5, .valid_files = {tmp / "day_1"}});
              }),
              HasSubstr("either valid_files or valid_fraction"));
}

TEST(CriteoImport, FormatNames) {
  EXPECT_EQ(ds::parse_criteo_format("tsv"), ds::CriteoFormat::kTsv);
  EXPECT_EQ(ds::criteo_format_name(ds::CriteoFormat::kCsv), "csv");
  EXPECT_THAT(error_message<ValueError>([] { ds::parse_criteo_format("parquet"); }),
              HasSubstr("unknown Criteo format 'parquet', expected auto, tsv or csv"));
}

}  // namespace
}  // namespace recblocks
