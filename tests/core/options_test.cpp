// options::table / to_json / from_json / document on a struct using every
// kind of field: scalars, lists, maps, optionals, nested and flattened
// structs, enums and a function codec.
#include "recblocks/core/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace recblocks {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

enum class Mode { kFast, kExact };

struct Inner {
  int level = 2;
  std::string label = "";

  static auto option_fields() {
    return options::table<Inner>(
        "Inner", options::field("level", &Inner::level, "how deep"),
        options::field("label", &Inner::label, "a name, if any").omit_if_default());
  }
};

struct Sample {
  std::vector<std::int64_t> dims = {};
  bool flag = true;
  double rate = 0.5;
  float small = 0.1f;
  std::int32_t count = 7;
  std::map<std::string, Inner> per_name = {};
  std::optional<std::vector<std::string>> names = {};
  Inner nested = {};
  Inner flat = {};
  Mode mode = Mode::kExact;
  std::vector<int> twice = {};  // written as the doubled values, by a function codec

  static auto option_fields() {
    using O = Sample;
    using options::field;
    return options::table<O>(
        "Sample", field("dims", &O::dims, "units").required(), field("flag", &O::flag, "a flag"),
        field("rate", &O::rate, "a rate"), field("small", &O::small, "a float"),
        field("count", &O::count, "a count"), field("per_name", &O::per_name, "by name"),
        field("names", &O::names, "optional names"), field("nested", &O::nested, "an object"),
        options::flatten(&O::flat),
        field("mode", &O::mode, "fast or exact",
              options::enum_codec<Mode>({{Mode::kFast, "fast"}, {Mode::kExact, "exact"}})),
        field("twice", &O::twice, "doubled on disk",
              options::codec<std::vector<int>>(
                  "[even int]",
                  [](const std::vector<int>& v) {
                    json out = json::array();
                    for (int x : v) out.push_back(2 * x);
                    return out;
                  },
                  [](const json& j, const options::Path& path) {
                    std::vector<int> out;
                    for (const json& x : j) {
                      if (!x.is_number_integer() || x.get<int>() % 2 != 0) {
                        options::type_error(path, "a list of even integers", j);
                      }
                      out.push_back(x.get<int>() / 2);
                    }
                    return out;
                  })));
  }
};

Sample read(const std::string& text) {
  return options::from_json<Sample>(json::parse(text), "Sample config");
}

TEST(Options, WritesEveryKindOfField) {
  Sample s;
  s.dims = {4, 1};
  s.per_name["a"] = Inner{3, "x"};
  s.names = std::vector<std::string>{"u", "v"};
  s.flat.level = 5;
  s.mode = Mode::kFast;
  s.twice = {1, 3};
  EXPECT_EQ(options::to_json(s).dump(),
            R"({"count":7,"dims":[4,1],"flag":true,"level":5,"mode":"fast","names":["u","v"],)"
            R"("nested":{"level":2},"per_name":{"a":{"label":"x","level":3}},"rate":0.5,)"
            R"("small":0.10000000149011612,"twice":[2,6]})");
  // An empty optional and a field at its default with omit_if_default are
  // left out; everything else is written, defaults included.
  const json defaults = options::to_json(Sample{});
  EXPECT_FALSE(defaults.contains("names"));
  EXPECT_FALSE(defaults.contains("label"));
  EXPECT_EQ(defaults["dims"], json::array());
}

TEST(Options, ReadsBackWhatItWrites) {
  Sample s;
  s.dims = {8};
  s.flag = false;
  s.rate = 1e-5;
  s.count = -3;
  s.per_name["b"] = Inner{1, "y"};
  s.names = std::vector<std::string>{};
  s.nested.label = "n";
  s.flat = Inner{9, "f"};
  s.mode = Mode::kFast;
  s.twice = {5};
  const json j = options::to_json(s);
  const Sample back = options::from_json<Sample>(j, "Sample config");
  EXPECT_EQ(options::to_json(back), j);
  EXPECT_EQ(back.per_name.at("b").label, "y");
  ASSERT_TRUE(back.names.has_value());
  EXPECT_TRUE(back.names->empty());
  EXPECT_EQ(back.flat.level, 9);
  EXPECT_EQ(back.twice, std::vector<int>{5});
}

TEST(Options, AbsentKeysKeepTheDefaults) {
  const Sample s = read(R"({"dims": [2], "rate": 3})");
  EXPECT_EQ(s.dims, std::vector<std::int64_t>{2});
  EXPECT_EQ(s.rate, 3.0);  // an integer is a number
  EXPECT_TRUE(s.flag);
  EXPECT_EQ(s.count, 7);
  EXPECT_FALSE(s.names.has_value());
  EXPECT_EQ(s.flat.level, 2);
  EXPECT_EQ(s.mode, Mode::kExact);
  // An integral float is an integer.
  EXPECT_EQ(read(R"({"dims": [2.0], "count": -4.0})").count, -4);
}

TEST(Options, UnknownKeysAreErrorsListingTheKnownOnes) {
  EXPECT_THAT([] { read(R"({"dims": [1], "dimz": 2})"); },
              ThrowsMessage<ValueError>(
                  HasSubstr("Sample config: unknown key 'dimz' (known: dims, flag, rate, small, "
                            "count, per_name, names, nested, level, label, mode, twice)")));
  EXPECT_THAT([] { read(R"({"dims": [1], "nested": {"levels": 1}})"); },
              ThrowsMessage<ValueError>(HasSubstr(
                  "Sample config: 'nested': Inner: unknown key 'levels' (known: level, label)")));
  EXPECT_THAT(
      [] { read(R"({"dims": [1], "per_name": {"k": {"x": 1}}})"); },
      ThrowsMessage<ValueError>(HasSubstr("Sample config: 'per_name.k': Inner: unknown key 'x'")));
  EXPECT_THAT(
      [] {
        options::from_json<options::NoOptions>(json{{"a", 1}}, "Empty config");
      },
      ThrowsMessage<ValueError>(HasSubstr("Empty config: unknown key 'a' (known: none)")));
}

TEST(Options, ReadSettingsNameTheNounAndAllowTheCallersKeys) {
  const json j = json::parse(R"({"type": "adam", "dims": [1], "rate": 0.25})");
  const Sample s = options::from_json<Sample>(j, "adam", {.also_allowed = {"type"}});
  EXPECT_EQ(s.rate, 0.25);
  EXPECT_THAT([&] { options::from_json<Sample>(j, "adam", {.noun = "option"}); },
              ThrowsMessage<ValueError>(HasSubstr("adam: unknown option 'type' (known: dims,")));
}

TEST(Options, MissingRequiredKeysAndNonObjectsAreErrors) {
  EXPECT_THAT([] { read(R"({"flag": false})"); },
              ThrowsMessage<ValueError>(HasSubstr("Sample config: missing 'dims'")));
  EXPECT_THAT(
      [] { read("[1, 2]"); },
      ThrowsMessage<ValueError>(HasSubstr("Sample config: expected a JSON object, got [1,2]")));
}

TEST(Options, WrongTypesNameTheKeyTheExpectedTypeAndTheValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"dims": [1], "flag": 1})", "Sample config: 'flag' must be true or false, got 1"},
      {R"({"dims": [1], "rate": "high"})", "Sample config: 'rate' must be a number, got \"high\""},
      {R"({"dims": [1], "rate": true})", "Sample config: 'rate' must be a number, got true"},
      {R"({"dims": [1], "count": 1.5})",
       "Sample config: 'count' must be an integer in [-2147483648, 2147483647], got 1.5"},
      {R"({"dims": [1], "count": 3000000000})",
       "Sample config: 'count' must be an integer in [-2147483648, 2147483647], got 3000000000"},
      {R"({"dims": 4})", "Sample config: 'dims' must be a list of int, got 4"},
      {R"({"dims": [1, "2"]})", "Sample config: 'dims[1]' must be an integer, got \"2\""},
      {R"({"dims": [1], "names": "u"})", "Sample config: 'names' must be a list of string"},
      {R"({"dims": [1], "per_name": []})",
       "Sample config: 'per_name' must be an object of string to Inner, got []"},
      {R"({"dims": [1], "per_name": {"k": {"level": "x"}}})",
       "Sample config: 'per_name.k': Inner: 'level' must be an integer"},
      {R"({"dims": [1], "level": false})", "Sample config: 'level' must be an integer"},
      {R"({"dims": [1], "mode": "slow"})",
       "Sample config: 'mode' must be one of \"fast|exact\", got \"slow\""},
      {R"({"dims": [1], "twice": [3]})",
       "Sample config: 'twice' must be a list of even integers, got [3]"},
  };
  for (const auto& [text, message] : cases) {
    EXPECT_THAT([&] { read(text); }, ThrowsMessage<ValueError>(HasSubstr(message))) << text;
  }
}

TEST(Options, DocumentsEveryKeyWithTypeDefaultAndDoc) {
  const std::vector<options::FieldDoc> docs = options::document<Sample>();
  std::vector<std::string> keys;
  for (const auto& d : docs) keys.push_back(d.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"dims", "flag", "rate", "small", "count", "per_name",
                                            "names", "nested", "nested.level", "nested.label",
                                            "level", "label", "mode", "twice"}));
  EXPECT_EQ(options::keys<Sample>(),
            (std::vector<std::string>{"dims", "flag", "rate", "small", "count", "per_name", "names",
                                      "nested", "level", "label", "mode", "twice"}));
  auto row = [&](const std::string& key) {
    for (const auto& d : docs) {
      if (d.key == key) return d;
    }
    ADD_FAILURE() << key;
    return options::FieldDoc{};
  };
  EXPECT_EQ(row("dims").type, "[int]");
  EXPECT_EQ(row("dims").default_value, "(required)");
  EXPECT_TRUE(row("dims").required);
  EXPECT_EQ(row("flag").default_value, "true");
  EXPECT_EQ(row("small").type, "number");
  EXPECT_EQ(row("small").default_value, "0.1");
  EXPECT_EQ(row("per_name").type, "{string: Inner}");
  EXPECT_EQ(row("names").default_value, "(unset)");
  EXPECT_EQ(row("nested").type, "Inner");
  EXPECT_EQ(row("nested").default_value, "(object)");
  EXPECT_EQ(row("nested.level").default_value, "2");
  EXPECT_EQ(row("nested.level").doc, "how deep");
  EXPECT_EQ(row("label").default_value, R"("")");
  EXPECT_EQ(row("mode").type, "fast|exact");
  EXPECT_EQ(row("mode").default_value, R"("exact")");
  EXPECT_EQ(row("twice").type, "[even int]");
  EXPECT_EQ(row("level").doc, "how deep");

  const std::string text = options::format_docs(docs);
  EXPECT_THAT(text, HasSubstr("  dims          [int]            (required)  units\n"));
  EXPECT_THAT(text, HasSubstr("  per_name      {string: Inner}  {}          by name\n"));
}

}  // namespace
}  // namespace recblocks
