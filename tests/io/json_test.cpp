// JSON files read with errors that name the file, the line and the column.
#include "recblocks/io/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "io/test_files.h"
#include "recblocks/core/error.h"

namespace recblocks::io {
namespace {

using ::recblocks::testing::TempDir;
using ::recblocks::testing::write_bytes;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string error_reading(const std::filesystem::path& path) {
  try {
    (void)read_json_file(path);
  } catch (const ValueError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Json, ReadsAValidFile) {
  TempDir dir;
  write_bytes(dir / "ok.json", "{\"a\": [1, 2.5, \"x\", null, true], \"b\": {\"c\": -3}}");
  const nlohmann::json j = read_json_file(dir / "ok.json");
  EXPECT_EQ(j, nlohmann::json::parse(R"({"a": [1, 2.5, "x", null, true], "b": {"c": -3}})"));
}

TEST(Json, ANumberBeyondADoubleNamesTheFileLineAndColumn) {
  TempDir dir;
  write_bytes(dir / "big.json", "{\n  \"a\": 1,\n  \"max\": 1e400\n}\n");
  EXPECT_THAT(error_reading(dir / "big.json"),
              AllOf(HasSubstr((dir / "big.json").string()), HasSubstr("line 3, column 10"),
                    HasSubstr("1e400"), Not(HasSubstr("json.exception"))));
}

TEST(Json, SyntaxErrorsNameTheLineAndColumn) {
  TempDir dir;
  write_bytes(dir / "bad.json", "{\"a\": 1,\n \"b\": }\n");
  EXPECT_THAT(error_reading(dir / "bad.json"),
              AllOf(HasSubstr("bad.json: not valid JSON at line 2"), HasSubstr("syntax error")));
  write_bytes(dir / "empty.json", "");
  EXPECT_THAT(error_reading(dir / "empty.json"), HasSubstr("not valid JSON at line 1, column 1"));
}

TEST(Json, AKeyGivenTwiceIsRefused) {
  TempDir dir;
  write_bytes(dir / "twice.json", R"({"a": {"units": 1, "units": 2}})");
  EXPECT_THAT(error_reading(dir / "twice.json"),
              AllOf(HasSubstr("twice.json"), HasSubstr("'units' appears twice")));
}

TEST(Json, LongAndBinaryTextIsCutAndEscaped) {
  TempDir dir;
  write_bytes(dir / "junk.json", "{\"a\": tru\x01\xfe" + std::string(10000, 'x') + "}");
  const std::string what = error_reading(dir / "junk.json");
  EXPECT_THAT(what, HasSubstr("junk.json: not valid JSON at line 1"));
  EXPECT_LT(what.size(), 400u) << what;
  for (const char c : what) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << what;
  EXPECT_THAT(what, Not(HasSubstr("\xfe")));
}

TEST(Json, AMissingFileIsNamed) {
  TempDir dir;
  EXPECT_THAT(error_reading(dir / "absent.json"),
              AllOf(HasSubstr("absent.json"), HasSubstr("cannot open")));
}

}  // namespace
}  // namespace recblocks::io
