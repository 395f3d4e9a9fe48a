// Merlin's schema files (schema.pbtxt and proto-JSON) read and written by
// Schema: what merlin-core 23.08 writes for NVTabular's outputs, the round
// trips, the tag mapping, and every error path of the text reader.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "recblocks/core/error.h"
#include "recblocks/schema/schema.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using testing::error_of;
using ::testing::HasSubstr;
using ::testing::Not;

struct TempDir {
  fs::path path =
      fs::temp_directory_path() / fs::path("rb_merlin_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

void write_text(const fs::path& p, std::string_view text) {
  std::ofstream(p, std::ios::binary) << text;
}

// merlin-core 23.08's TensorflowMetadata.to_proto_text() for the columns
// NVTabular's MovieLens workflow leaves (Categorify's properties:
// num_buckets, freq_threshold, max_size, cat_path, domain, embedding_sizes;
// dims (None,) and, for genres, (None, None)). Its printer leaves the
// extra_metadata Struct as wire bytes in the Any's value.
constexpr std::string_view kMovieLensPbtxt = R"schema(feature {
  name: "userId"
  type: INT
  int_domain {
    name: "userId"
    max: 6040
    is_categorical: true
  }
  annotation {
    tag: "user"
    tag: "id"
    tag: "categorical"
    extra_metadata {
      type_url: "type.googleapis.com/google.protobuf.Struct"
      value: "\nG\n\017embedding_sizes\0224*2\n\030\n\013cardinality\022\t\021\000\000\000\000\000\231\267@\n\026\n\tdimension\022\t\021\000\000\000\000\000@j@\n\034\n\017dtype_item_size\022\t\021\000\000\000\000\000\000P@\n\025\n\010max_size\022\t\021\000\000\000\000\000\000\000\000\n\r\n\007is_list\022\002 \000\n\017\n\tis_ragged\022\002 \000\n1\n\010cat_path\022%\032#.//categories/unique.userId.parquet\n\021\n\013num_buckets\022\002\010\000\n\036\n\005_dims\022\0252\023\n\0212\017\n\t\021\000\000\000\000\000\000\000\000\n\002\010\000\n\033\n\016freq_threshold\022\t\021\000\000\000\000\000\000\000\000"
    }
  }
}
feature {
  name: "movieId"
  type: INT
  int_domain {
    name: "movieId"
    max: 3706
    is_categorical: true
  }
  annotation {
    tag: "item"
    tag: "id"
    tag: "categorical"
    extra_metadata {
      type_url: "type.googleapis.com/google.protobuf.Struct"
      value: "\nG\n\017embedding_sizes\0224*2\n\030\n\013cardinality\022\t\021\000\000\000\000\000\366\254@\n\026\n\tdimension\022\t\021\000\000\000\000\000\000d@\n\034\n\017dtype_item_size\022\t\021\000\000\000\000\000\000P@\n\025\n\010max_size\022\t\021\000\000\000\000\000\000\000\000\n\r\n\007is_list\022\002 \000\n\017\n\tis_ragged\022\002 \000\n2\n\010cat_path\022&\032$.//categories/unique.movieId.parquet\n\021\n\013num_buckets\022\002\010\000\n\036\n\005_dims\022\0252\023\n\0212\017\n\t\021\000\000\000\000\000\000\000\000\n\002\010\000\n\033\n\016freq_threshold\022\t\021\000\000\000\000\000\000\000\000"
    }
  }
}
feature {
  name: "genres"
  value_count {
  }
  type: INT
  int_domain {
    name: "genres"
    max: 18
    is_categorical: true
  }
  annotation {
    tag: "item"
    tag: "categorical"
    extra_metadata {
      type_url: "type.googleapis.com/google.protobuf.Struct"
      value: "\nG\n\017embedding_sizes\0224*2\n\030\n\013cardinality\022\t\021\000\000\000\000\000\0003@\n\026\n\tdimension\022\t\021\000\000\000\000\000\0000@\n\034\n\017dtype_item_size\022\t\021\000\000\000\000\000\000P@\n\025\n\010max_size\022\t\021\000\000\000\000\000\000\000\000\n\r\n\007is_list\022\002 \001\n\017\n\tis_ragged\022\002 \001\n1\n\010cat_path\022%\032#.//categories/unique.genres.parquet\n\021\n\013num_buckets\022\002\010\000\n1\n\005_dims\022(2&\n\0212\017\n\t\021\000\000\000\000\000\000\000\000\n\002\010\000\n\0212\017\n\t\021\000\000\000\000\000\000\000\000\n\002\010\000\n\033\n\016freq_threshold\022\t\021\000\000\000\000\000\000\000\000"
    }
  }
}
feature {
  name: "TE_movieId_rating"
  type: FLOAT
  annotation {
    tag: "item"
    tag: "continuous"
    extra_metadata {
      type_url: "type.googleapis.com/google.protobuf.Struct"
      value: "\n\017\n\tis_ragged\022\002 \000\n\034\n\017dtype_item_size\022\t\021\000\000\000\000\000\000@@\n\036\n\005_dims\022\0252\023\n\0212\017\n\t\021\000\000\000\000\000\000\000\000\n\002\010\000\n\r\n\007is_list\022\002 \000"
    }
  }
}
feature {
  name: "rating_binary"
  type: INT
  annotation {
    tag: "target"
    tag: "binary_classification"
    extra_metadata {
      type_url: "type.googleapis.com/google.protobuf.Struct"
      value: "\n\017\n\tis_ragged\022\002 \000\n\034\n\017dtype_item_size\022\t\021\000\000\000\000\000\000 @\n\036\n\005_dims\022\0252\023\n\0212\017\n\t\021\000\000\000\000\000\000\000\000\n\002\010\000\n\r\n\007is_list\022\002 \000"
    }
  }
}
feature {
  name: "rating"
  type: FLOAT
  annotation {
    tag: "regression"
    tag: "target"
    extra_metadata {
      type_url: "type.googleapis.com/google.protobuf.Struct"
      value: "\n\017\n\tis_ragged\022\002 \000\n\034\n\017dtype_item_size\022\t\021\000\000\000\000\000\000P@\n\036\n\005_dims\022\0252\023\n\0212\017\n\t\021\000\000\000\000\000\000\000\000\n\002\010\000\n\r\n\007is_list\022\002 \000"
    }
  }
}
)schema";

// The same schema as merlin-core 23.08's TensorflowMetadata.to_json().
constexpr std::string_view kMovieLensJson = R"({"feature": [
  {"name": "userId", "type": "INT", "intDomain": {"name": "userId", "max": "6040",
   "isCategorical": true}, "annotation": {"tag": ["user", "id", "categorical"], "extraMetadata": [
   {"_dims": [[0.0, null]], "freq_threshold": 0.0, "num_buckets": null,
    "cat_path": ".//categories/unique.userId.parquet", "is_ragged": false, "is_list": false,
    "max_size": 0.0, "dtype_item_size": 64.0,
    "embedding_sizes": {"dimension": 210.0, "cardinality": 6041.0}}]}},
  {"name": "movieId", "type": "INT", "intDomain": {"name": "movieId", "max": "3706",
   "isCategorical": true}, "annotation": {"tag": ["item", "id", "categorical"], "extraMetadata": [
   {"_dims": [[0.0, null]], "freq_threshold": 0.0, "num_buckets": null,
    "cat_path": ".//categories/unique.movieId.parquet", "is_ragged": false, "is_list": false,
    "max_size": 0.0, "dtype_item_size": 64.0,
    "embedding_sizes": {"dimension": 160.0, "cardinality": 3707.0}}]}},
  {"name": "genres", "valueCount": {}, "type": "INT", "intDomain": {"name": "genres", "max": "18",
   "isCategorical": true}, "annotation": {"tag": ["item", "categorical"], "extraMetadata": [
   {"_dims": [[0.0, null], [0.0, null]], "freq_threshold": 0.0, "num_buckets": null,
    "cat_path": ".//categories/unique.genres.parquet", "is_ragged": true, "is_list": true,
    "max_size": 0.0, "dtype_item_size": 64.0,
    "embedding_sizes": {"dimension": 16.0, "cardinality": 19.0}}]}},
  {"name": "TE_movieId_rating", "type": "FLOAT", "annotation": {"tag": ["item", "continuous"],
   "extraMetadata": [{"is_list": false, "_dims": [[0.0, null]], "dtype_item_size": 32.0,
   "is_ragged": false}]}},
  {"name": "rating_binary", "type": "INT", "annotation": {"tag": ["target",
   "binary_classification"], "extraMetadata": [{"is_list": false, "_dims": [[0.0, null]],
   "dtype_item_size": 8.0, "is_ragged": false}]}},
  {"name": "rating", "type": "FLOAT", "annotation": {"tag": ["regression", "target"],
   "extraMetadata": [{"is_list": false, "_dims": [[0.0, null]], "dtype_item_size": 64.0,
   "is_ragged": false}]}}
]})";

TEST(MerlinSchema, ReadsWhatMerlinCoreWritesForMovieLens) {
  const Schema s = Schema::from_merlin_pbtxt(kMovieLensPbtxt);
  EXPECT_THAT(s.column_names(), ElementsAre("userId", "movieId", "genres", "TE_movieId_rating",
                                            "rating_binary", "rating"));
  const ColumnSchema& user = s.column("userId");
  EXPECT_EQ(user.dtype(), DType::kInt64);  // dtype_item_size 64
  EXPECT_EQ(user.tags(), (TagSet{Tags::USER_ID, Tags::CATEGORICAL}));
  EXPECT_EQ(user.domain(), (Domain{0, 6040, "userId"}));
  EXPECT_EQ(user.cardinality(), 6041);
  EXPECT_EQ(user.embedding_dim(), 210);
  EXPECT_FALSE(user.is_list());
  // NVTabular's Categorify properties stay; what the column holds itself
  // (dims, flags, item size, embedding_sizes equal to cardinality and dim) does not.
  EXPECT_EQ(user.properties(), (nlohmann::json{{"cat_path", ".//categories/unique.userId.parquet"},
                                               {"freq_threshold", 0},
                                               {"max_size", 0},
                                               {"num_buckets", nullptr}}));
  EXPECT_EQ(s.column("movieId").tags(), (TagSet{Tags::ITEM_ID, Tags::CATEGORICAL}));
  EXPECT_EQ(s.column("movieId").embedding_dim(), 160);

  const ColumnSchema& genres = s.column("genres");
  EXPECT_TRUE(genres.is_list());
  EXPECT_TRUE(genres.is_ragged());
  EXPECT_TRUE(genres.has_tag(Tags::LIST));
  EXPECT_EQ(genres.value_count(), (ValueCount{0, 0}));  // value_count {} : no bounds
  EXPECT_EQ(genres.cardinality(), 19);

  EXPECT_EQ(s.column("TE_movieId_rating").dtype(), DType::kFloat32);
  EXPECT_EQ(s.column("TE_movieId_rating").tags(), (TagSet{Tags::ITEM, Tags::CONTINUOUS}));
  // merlin-core 23.08's single tag "binary_classification": BINARY + CLASSIFICATION.
  const ColumnSchema& binary = s.column("rating_binary");
  EXPECT_EQ(binary.dtype(), DType::kInt32);  // int8 computes as int32
  EXPECT_EQ(binary.tags(), (TagSet{Tags::TARGET, Tags::BINARY, Tags::CLASSIFICATION}));
  EXPECT_THAT(s.select_by_tag(Tags::BINARY_CLASSIFICATION).column_names(),
              ElementsAre("rating_binary"));
  EXPECT_EQ(s.column("rating").dtype(), DType::kFloat32);  // float64 computes as float32
  EXPECT_EQ(s.column("rating").tags(), (TagSet{Tags::REGRESSION, Tags::TARGET}));
  EXPECT_THAT(s.select_by_tag(Tags::REGRESSION).column_names(), ElementsAre("rating"));

  // Merlin's JSON of the same schema reads the same.
  EXPECT_EQ(Schema::from_json(nlohmann::json::parse(kMovieLensJson)), s);
}

// A Criteo-like schema as other writers give it: the Struct expanded, the
// text format's other spellings (`:` before a message, <...>, lists,
// single quotes, separators, comments), fields recblocks skips (presence,
// TFDV's), list columns with bounds and fixed lengths.
constexpr std::string_view kCriteoPbtxt = R"schema(
# Criteo, two of each kind, from a hand-edited NVTabular schema.
feature: {
  name: 'label'
  type: INT
  presence: { min_fraction: 1.0 min_count: 1 }
  annotation { tag: ["target", "binary_classification"] }
}
feature <
  name: "I1"; type: FLOAT;
  float_domain { name: "I1" min: -1.5 max: 1e3 }
  annotation { tag: "continuous" }
>
feature {
  name: "C1"
  type: INT
  int_domain { name: "C1" min: 0 max: 0x1F4 is_categorical: true }
  annotation {
    tag: "categorical"
    comment: "hashed into 500 buckets"
    extra_metadata {
      [type.googleapis.com/google.protobuf.Struct] {
        fields { key: "dtype_item_size" value { number_value: 32 } }
        fields { key: "num_buckets" value { number_value: 500 } }
        fields { key: "embedding_sizes" value { struct_value {
          fields { key: "cardinality" value { number_value: 501 } }
          fields { key: "dimension" value { number_value: 16 } } } } }
        fields { key: "note" value { string_value: "tab\there \"quoted\" caf\303\251 \u00e9" } }
      }
    }
  }
}
feature {
  name: "C_hist"
  value_count { min: 1 max: 20 }
  type: INT
  int_domain { max: 999 }  # no name: the column's
  annotation {
    tag: "categorical" tag: "list" tag: "item"
    extra_metadata {
      [type.googleapis.com/google.protobuf.Struct] {
        fields { key: "dtype_item_size" value { number_value: 64 } }
        fields { key: "is_list" value { bool_value: true } }
        fields { key: "is_ragged" value { bool_value: true } }
        fields { key: "_dims" value { list_value {
          values { list_value { values { number_value: 0 } values { null_value: NULL_VALUE } } }
          values { list_value { values { number_value: 1 } values { number_value: 20 } } } } } }
      }
    }
  }
}
feature {
  name: "dense_3"
  type: FLOAT
  annotation {
    tag: "continuous"
    extra_metadata {
      [type.googleapis.com/google.protobuf.Struct] {
        fields { key: "_dims" value { list_value {
          values { null_value: NULL_VALUE }
          values { number_value: 3 } } } }
      }
    }
  }
}
feature {
  name: "old_fixed"
  shape { dim { size: 4 } }
  type: FLOAT
  annotation { tag: "continuous" }
}
feature {
  name: "tfdv_scalar"
  shape { dim { size: 1 } }
  type: INT
  annotation { tag: "continuous" }
}
feature { name: "genre_target" type: INT annotation { tag: "multi_class_classification" tag: "target" } }
default_environment: "TRAINING"
)schema";

TEST(MerlinSchema, ReadsTheTextFormatsOtherSpellingsAndListColumns) {
  const Schema s = Schema::from_merlin_pbtxt(kCriteoPbtxt, "criteo/schema.pbtxt");
  EXPECT_THAT(s.column_names(), ElementsAre("label", "I1", "C1", "C_hist", "dense_3", "old_fixed",
                                            "tfdv_scalar", "genre_target"));
  EXPECT_EQ(s.column("label").tags(), (TagSet{Tags::TARGET, Tags::BINARY_CLASSIFICATION}));
  EXPECT_EQ(s.column("label").dtype(), DType::kInt32);  // no dtype_item_size: 32 bits

  const ColumnSchema& i1 = s.column("I1");
  EXPECT_FALSE(i1.domain().has_value());
  EXPECT_EQ(i1.properties()["domain"],
            (nlohmann::json{{"name", "I1"}, {"min", -1.5}, {"max", 1000}}));

  const ColumnSchema& c1 = s.column("C1");
  EXPECT_EQ(c1.domain(), (Domain{0, 500, "C1"}));
  EXPECT_EQ(c1.embedding_dim(), 16);
  EXPECT_EQ(c1.properties(),
            (nlohmann::json{{"num_buckets", 500}, {"note", "tab\there \"quoted\" café é"}}));

  const ColumnSchema& hist = s.column("C_hist");
  EXPECT_EQ(hist.dtype(), DType::kInt64);
  EXPECT_EQ(hist.domain(), (Domain{0, 999, "C_hist"}));
  EXPECT_TRUE(hist.is_ragged());
  EXPECT_EQ(hist.value_count(), (ValueCount{1, 20}));
  EXPECT_EQ(hist.tags(), (TagSet{Tags::CATEGORICAL, Tags::LIST, Tags::ITEM}));

  const ColumnSchema& dense = s.column("dense_3");
  EXPECT_TRUE(dense.is_list());
  EXPECT_FALSE(dense.is_ragged());
  EXPECT_EQ(dense.value_count(), (ValueCount{3, 3}));
  EXPECT_EQ(dense.properties(), nlohmann::json::object());

  EXPECT_FALSE(s.column("old_fixed").is_ragged());
  EXPECT_EQ(s.column("old_fixed").value_count(), (ValueCount{4, 4}));
  EXPECT_FALSE(s.column("tfdv_scalar").is_list());
  EXPECT_EQ(s.column("genre_target").tags(),
            (TagSet{Tags::MULTI_CLASS_CLASSIFICATION, Tags::TARGET}));
}

// A schema with every kind of column recblocks has and Merlin can hold.
Schema varied_schema() {
  return Schema{
      ColumnSchema("userId", DType::kInt64, {Tags::USER_ID, Tags::CATEGORICAL})
          .with_domain(0, 6040)
          .with_embedding_dim(64)
          .with_properties({{"cat_path", "./categories/unique.userId.parquet"},
                            {"freq_threshold", 0},
                            {"num_buckets", nullptr},
                            {"nested", {{"list", {1, 2.5, "x", true, nullptr}}, {"empty", {}}}}}),
      ColumnSchema("session", DType::kInt32, {Tags::SESSION_ID, Tags::CATEGORICAL})
          .with_domain(1, 99, "sessions"),
      ColumnSchema("hashed", DType::kInt32, {Tags::CATEGORICAL}).with_embedding_dim(8),
      ColumnSchema("genres", DType::kInt32, {Tags::ITEM, Tags::CATEGORICAL})
          .with_domain(0, 20)
          .with_list(true, true, ValueCount{1, 6}),
      ColumnSchema("history", DType::kInt64, {Tags::ITEM, Tags::SEQUENCE})
          .with_domain(0, 3706)
          .with_list(true),
      ColumnSchema("at_least_two", DType::kInt32, {Tags::CATEGORICAL})
          .with_domain(0, 9)
          .with_list(true, true, ValueCount{2, 0}),
      ColumnSchema("no_bounds", DType::kInt32, {Tags::CATEGORICAL})
          .with_domain(0, 9)
          .with_list(true, true, ValueCount{0, 0}),
      ColumnSchema("ragged_three", DType::kInt32, {Tags::CATEGORICAL})
          .with_domain(0, 9)
          .with_list(true, true, ValueCount{3, 3}),
      ColumnSchema("dense_vec", DType::kFloat32, {Tags::CONTINUOUS})
          .with_list(true, false, ValueCount{4, 4}),
      ColumnSchema("title_tokens", DType::kInt32, {Tags::TEXT_TOKENIZED}),
      ColumnSchema("age", DType::kFloat32, {Tags::USER, Tags::CONTINUOUS})
          .with_properties({{"domain", {{"min", 0.5}, {"max", 99}}}}),
      ColumnSchema("a \"quoted\"\tname\\ caf\xc3\xa9\x01", DType::kFloat32, {Tags::CONTINUOUS}),
      ColumnSchema("click", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
      ColumnSchema("genre", DType::kInt32, {Tags::TARGET, Tags::MULTI_CLASS_CLASSIFICATION}),
      ColumnSchema("rating", DType::kFloat32, {Tags::TARGET, Tags::REGRESSION}),
      ColumnSchema("binary_only", DType::kInt32, {Tags::BINARY}),
  };
}

TEST(MerlinSchema, RoundTripsThroughPbtxtAndMerlinJson) {
  const Schema s = varied_schema();
  const std::string text = s.to_merlin_pbtxt();
  EXPECT_EQ(Schema::from_merlin_pbtxt(text), s);
  EXPECT_EQ(Schema::from_json(nlohmann::json::parse(s.to_merlin_json().dump())), s);
  // save -> load -> save is byte-identical.
  EXPECT_EQ(Schema::from_merlin_pbtxt(text).to_merlin_pbtxt(), text);
  // And what Merlin wrote reads back the same after recblocks rewrites it.
  const Schema movielens = Schema::from_merlin_pbtxt(kMovieLensPbtxt);
  EXPECT_EQ(Schema::from_merlin_pbtxt(movielens.to_merlin_pbtxt()), movielens);
  const Schema criteo = Schema::from_merlin_pbtxt(kCriteoPbtxt);
  EXPECT_EQ(Schema::from_merlin_pbtxt(criteo.to_merlin_pbtxt()), criteo);
}

TEST(MerlinSchema, SavesAndLoadsEachFormatByItsFile) {
  TempDir dir;
  const Schema s = varied_schema();
  s.save(dir.path / "schema.pbtxt", SchemaFormat::kMerlinPbtxt);
  s.save(dir.path / "merlin.json", SchemaFormat::kMerlinJson);
  s.save(dir.path / "recblocks.json");
  for (const char* name : {"schema.pbtxt", "merlin.json", "recblocks.json"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(Schema::load(dir.path / name), s);
  }
  std::ifstream json_file(dir.path / "merlin.json");
  EXPECT_TRUE(nlohmann::json::parse(json_file).contains("feature"));
  // Older NVTabular named its text schema schema.pb: read by its content.
  write_text(dir.path / "schema.pb", kMovieLensPbtxt);
  EXPECT_EQ(Schema::load(dir.path / "schema.pb"), Schema::from_merlin_pbtxt(kMovieLensPbtxt));
  write_text(dir.path / "schema", kMovieLensJson);
  EXPECT_EQ(Schema::load(dir.path / "schema"), Schema::from_merlin_pbtxt(kMovieLensPbtxt));
  // A .json file is JSON, whatever it holds.
  write_text(dir.path / "text.json", kMovieLensPbtxt);
  EXPECT_THAT(error_of([&] { (void)Schema::load(dir.path / "text.json"); }),
              AllOf(HasSubstr("text.json: not valid JSON at line 1"), Not(HasSubstr("protobuf"))));
}

TEST(MerlinSchema, WritesMerlinsTagsAndFields) {
  const std::string text = varied_schema().to_merlin_pbtxt();
  // The 23.08 single tags for the compound targets, the parts of the others.
  EXPECT_THAT(text, HasSubstr("tag: \"binary_classification\"\n"));
  EXPECT_THAT(text, HasSubstr("tag: \"multi_class_classification\"\n"));
  EXPECT_THAT(text, Not(HasSubstr("tag: \"classification\"")));
  EXPECT_THAT(text, HasSubstr("tag: \"binary\"\n"));  // binary_only keeps its one tag
  EXPECT_THAT(text, Not(HasSubstr("user_id")));
  EXPECT_THAT(text, HasSubstr("tag: \"text\"\n    tag: \"tokenized\"\n"));
  EXPECT_THAT(text, HasSubstr("  name: \"a \\\"quoted\\\"\\tname\\\\ caf\xc3\xa9\\001\"\n"));
  EXPECT_THAT(text, HasSubstr("int_domain {\n    name: \"sessions\"\n    min: 1\n    max: 99\n"
                              "    is_categorical: true\n  }"));
  EXPECT_THAT(text, HasSubstr("float_domain {\n    min: 0.5\n    max: 99\n  }"));
  EXPECT_THAT(text, HasSubstr("value_count {\n    min: 1\n    max: 6\n  }"));
  EXPECT_THAT(text, HasSubstr("[type.googleapis.com/google.protobuf.Struct] {"));
  EXPECT_THAT(text, HasSubstr("key: \"dtype_item_size\"\n          value {\n            "
                              "number_value: 64\n"));

  const nlohmann::ordered_json j = varied_schema().to_merlin_json();
  const auto& user = j["feature"][0];
  EXPECT_EQ(user["name"], "userId");
  EXPECT_EQ(user["type"], "INT");
  EXPECT_EQ(user["intDomain"]["max"], "6040");  // int64 as a string, as proto-JSON
  EXPECT_EQ(user["intDomain"]["isCategorical"], true);
  EXPECT_EQ(user["annotation"]["tag"], nlohmann::ordered_json({"categorical", "id", "user"}));
  const auto& extra = user["annotation"]["extraMetadata"][0];
  EXPECT_EQ(extra["embedding_sizes"],
            nlohmann::ordered_json({{"cardinality", 6041}, {"dimension", 64}}));
  EXPECT_EQ(extra["dtype_item_size"], 64);
  EXPECT_EQ(extra["is_list"], false);
  EXPECT_EQ(extra["_dims"], nlohmann::ordered_json::parse("[[0, null]]"));
  EXPECT_EQ(j["feature"][3]["annotation"]["extraMetadata"][0]["_dims"],
            nlohmann::ordered_json::parse("[[0, null], [1, 6]]"));
  EXPECT_EQ(j["feature"][8]["annotation"]["extraMetadata"][0]["_dims"],
            nlohmann::ordered_json::parse("[[0, null], 4]"));
  EXPECT_EQ(j["feature"][4]["annotation"]["extraMetadata"][0]["_dims"],
            nlohmann::ordered_json::parse("[[0, null], [0, null]]"));
}

TEST(MerlinSchema, RefusesToWriteWhatMerlinCannotRead) {
  const Schema bf16{ColumnSchema("w", DType::kBFloat16, {Tags::CONTINUOUS})};
  EXPECT_THAT(error_of([&] { (void)bf16.to_merlin_pbtxt(); }),
              AllOf(HasSubstr("column 'w'"), HasSubstr("bfloat16 has no Merlin dtype")));
  const Schema collision{ColumnSchema("x", DType::kInt32, {Tags::CONTINUOUS, Tags::ID})};
  EXPECT_THAT(error_of([&] { (void)collision.to_merlin_json(); }),
              AllOf(HasSubstr("column 'x'"), HasSubstr("refuses the tags 'continuous' and 'id'")));
  nlohmann::json deep = 1;
  for (int i = 0; i < 40; ++i) deep = nlohmann::json{{"d", deep}};
  const Schema nested{ColumnSchema("n", DType::kFloat32).with_properties({{"deep", deep}})};
  EXPECT_THAT(error_of([&] { (void)nested.to_merlin_pbtxt(); }),
              HasSubstr("column 'n': its properties nest too deep for a schema.pbtxt"));
  const Schema nan{ColumnSchema("f", DType::kFloat32).with_properties({{"x", std::nan("")}})};
  EXPECT_THAT(error_of([&] { (void)nan.to_merlin_pbtxt(); }),
              HasSubstr("column 'f': a property holds nan"));
}

// ---- errors ---------------------------------------------------------------------

// A feature around `body`.
std::string feature(std::string_view body) {
  return "feature {\n  name: \"x\"\n" + std::string(body) + "\n}\n";
}

std::string error_reading(std::string_view text) {
  return error_of([&] { (void)Schema::from_merlin_pbtxt(text, "d/schema.pbtxt"); });
}

TEST(MerlinSchemaErrors, SyntaxErrorsNameTheLineAndColumnAndWhatWasExpected) {
  EXPECT_EQ(error_reading("feature {\n  name: \"x\"\n  type INT\n}\n"),
            "d/schema.pbtxt: not valid protobuf text at line 3, column 8: expected ':' or '{' "
            "after the field name 'type', got 'INT'");
  EXPECT_EQ(error_reading("feature {\n  name: \"x\"\n"),
            "d/schema.pbtxt: not valid protobuf text at line 3, column 1: expected a field name "
            "or '}', got end of file (a message opened above is not closed)");
  EXPECT_EQ(error_reading("feature { name: \"x\" }\n}\n"),
            "d/schema.pbtxt: not valid protobuf text at line 2, column 1: expected a field name, "
            "got '}'");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {feature("type: }"),
       "line 3, column 7: expected a value (a string, a number or a name) "
       "for 'type', got '}'"},
      {feature("type: \"INT"), "line 3, column 7: the string is not closed on its line"},
      {"feature { name: \"a\\qb\" }", "line 1, column 19: unknown escape '\\q' in a string"},
      {"feature { name: \"\\777\" }", "octal escape \\777 is over \\377"},
      {"feature { name: \"\\xZ\" }", "\\x needs one or two hexadecimal digits"},
      {"feature { name: \"\\u12\" }", "a \\u escape needs 4 hexadecimal digits"},
      {"feature { name: \"\\uD800\" }", "\\u escape of U+D800 is not a Unicode character"},
      {"feature { name: \"\\U00110000\" }", "is not a Unicode character"},
      {feature("int_domain { max: 12ab }"), "line 3, column 19: '12ab' is not a number"},
      {feature("int_domain { max: 0x }"), "a hexadecimal number needs digits after 0x"},
      {feature("int_domain { max: 1e+ }"), "an exponent needs digits"},
      {feature("int_domain { max: - }"), "expected a number after '-', got '}'"},
      {feature("annotation { tag: [\"a\"; \"b\"] }"),
       "line 3, column 23: expected ',' or ']' in the list of 'tag' opened at line 3, column 19, "
       "got ';'"},
      {feature("annotation { tag [\"a\"] }"), "expected ':' or '{' after the field name 'tag'"},
      {feature("annotation { extra_metadata { [ ] { } } }"), "expected a type name such as"},
      {"feature { name: \"x\" } @", "line 1, column 23: expected a field name, got '@'"},
  };
  for (const auto& [text, words] : cases) {
    SCOPED_TRACE(text);
    const std::string message = error_reading(text);
    EXPECT_THAT(message, HasSubstr("d/schema.pbtxt: not valid protobuf text at "));
    EXPECT_THAT(message, HasSubstr(words));
  }
}

TEST(MerlinSchemaErrors, DeepNestingIsAnErrorNotACrash) {
  std::string deep;
  for (int i = 0; i < 100'000; ++i) deep += "a {";
  EXPECT_THAT(error_reading(deep),
              HasSubstr("line 1, column 303: messages nest more than 100 deep"));
  std::string list =
      "feature { name: \"x\" annotation { extra_metadata { "
      "[type.googleapis.com/google.protobuf.Struct] { fields { key: \"k\" value { ";
  for (int i = 0; i < 60; ++i) list += "list_value { values { ";
  EXPECT_THAT(error_reading(list), HasSubstr("messages nest more than 100 deep"));
}

TEST(MerlinSchemaErrors, SchemaErrorsNameTheFieldAndWhatWasExpected) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"features { name: \"x\" }",
       "line 1, column 1: unknown field 'features' in tensorflow-metadata's Schema; expected "
       "feature (or another field of that message, which recblocks skips)"},
      {feature("int_domian { max: 3 }"),
       "line 3, column 1: unknown field 'int_domian' in a feature; expected name, type, "
       "int_domain, float_domain, value_count, shape or annotation"},
      {"feature { type: INT }", "line 1, column 1: a feature without a name"},
      {feature("name: \"y\""),
       "line 3, column 1: feature: the field 'name' is given twice (first at line 2); it holds one "
       "value"},
      {"feature { name: 3 }", "line 1, column 17: feature name: expected a quoted string, got '3'"},
      {"feature { name: \"\\377\" }", "feature name: the string '\\xFF' is not valid UTF-8"},
      {"feature { name: \"x\" } feature { name: \"x\" }", "d/schema.pbtxt: duplicate column 'x'"},
      {feature("type: WORD"),
       "line 3, column 7: feature 'x': unknown type 'WORD'; expected INT, FLOAT, BYTES"},
      {feature("type: BYTES"), "feature 'x': type BYTES has no recblocks dtype"},
      {feature("type: 1"), "feature 'x': type BYTES has no recblocks dtype"},
      {feature("type: INT int_domain { max: 99999999999999999999 }"),
       "line 3, column 29: feature 'x' int_domain max: '99999999999999999999' is out of range, "
       "expected an integer from -9223372036854775808 to 9223372036854775807"},
      {feature("type: INT int_domain { max: 1.5 }"),
       "feature 'x' int_domain max: expected an integer, got '1.5'"},
      {feature("type: INT int_domain { max: \"7\" }"),
       "feature 'x' int_domain max: expected an integer, got a string '7'"},
      {feature("type: INT int_domain { max: 1099511627776 }"),
       "line 3, column 11: feature 'x': int_domain: domain max 1099511627776 is too large, "
       "expected at most 2147483647 for an int32 column"},
      {feature("type: INT int_domain { min: 9 max: 2 }"), "int_domain: domain min 9 > max 2"},
      {feature("type: INT int_domain { max: 2 is_categorical: maybe }"),
       "int_domain is_categorical: expected true or false, got 'maybe'"},
      {feature("type: FLOAT int_domain { max: 2 }"),
       "an integer domain needs an int32 or int64 column, got float32"},
      {feature("type: INT int_domain { max: 2 } int_domain { max: 3 }"),
       "the field 'int_domain' is given twice"},
      {feature("int_domain: 3"), "feature 'x' int_domain: expected a message { ... }, got '3'"},
      {feature("value_count { min: 5 max: 2 }"), "feature 'x': bad value_count [5, 2]"},
      {feature("value_count { mean: 5 }"),
       "unknown field 'mean' in value_count; expected one of: min, max"},
      {feature("value_counts { value_count { min: 1 } }"),
       "feature 'x': value_counts (nested lists) is not supported"},
      {feature("shape { dim { size: 2 } dim { size: 3 } }"),
       "feature 'x': shape has 2 dims; recblocks columns are scalars or lists"},
      {feature("annotation { tag: \"sparkly\" }"),
       "line 3, column 19: feature 'x': unknown tag 'sparkly'; known tags: categorical"},
      {feature("annotation { tag: \"categorical\" tag: \"continuous\" }"),
       "feature 'x': conflicting tags: a column cannot be both 'categorical' and 'continuous'"},
      {feature("annotation { extra_metadata { } extra_metadata { } }"),
       "line 3, column 33: feature 'x': a second extra_metadata (first at line 3); Merlin writes "
       "one"},
      {feature("annotation { extra_metadata { [type.googleapis.com/google.protobuf.Value] { } } }"),
       "feature 'x' extra_metadata: holds a 'type.googleapis.com/google.protobuf.Value', "
       "expected a google.protobuf.Struct "
       "(type.googleapis.com/google.protobuf.Struct)"},
      {feature("annotation { extra_metadata { type_url: \"x/google.protobuf.Struct\" "
               "[type.googleapis.com/google.protobuf.Struct] { } } }"),
       "give the Any either expanded or as type_url and value, not both"},
      {feature("annotation { extra_metadata { value: \"\" } }"), "a value without a type_url"},
      {feature("annotation { extra_metadata { typeurl: \"\" } }"),
       "unknown field 'typeurl' in feature 'x' extra_metadata (a google.protobuf.Any)"},
      {"# only a comment\n\n", "d/schema.pbtxt: no feature in the file"},
      {"", "d/schema.pbtxt: no feature in the file"},
  };
  for (const auto& [text, words] : cases) {
    SCOPED_TRACE(text);
    const std::string message = error_reading(text);
    EXPECT_THAT(message, HasSubstr("d/schema.pbtxt"));
    EXPECT_THAT(message, HasSubstr(words));
  }
}

// extra_metadata around Struct fields in text form.
std::string with_struct(std::string_view fields) {
  return feature(
      "type: INT annotation { extra_metadata { "
      "[type.googleapis.com/google.protobuf.Struct] { " +
      std::string(fields) + " } } }");
}

// extra_metadata as wire bytes (C escapes).
std::string with_wire(std::string_view escaped) {
  return feature(
      "type: INT annotation { extra_metadata { type_url: "
      "\"type.googleapis.com/google.protobuf.Struct\" value: \"" +
      std::string(escaped) + "\" } }");
}

TEST(MerlinSchemaErrors, ExtraMetadataErrorsNameTheKeyAndTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {with_struct("field { key: \"a\" }"),
       "unknown field 'field' in a google.protobuf.Struct; expected 'fields'"},
      {with_struct("fields { key: \"a\" value { number_value: 1 bool_value: true } }"),
       "a Value holds one kind, got number_value and bool_value"},
      {with_struct("fields { key: \"a\" value { } }"), "a Value with no kind"},
      {with_struct("fields { key: \"a\" }"), "the Struct entry 'a' has no value"},
      {with_struct("fields { value { null_value: NULL_VALUE } }"), "a Struct entry without a key"},
      {with_struct("fields { key: \"a\" value { null_value: NULL_VALUE } } "
                   "fields { key: \"a\" value { null_value: NULL_VALUE } }"),
       "the key 'a' appears twice"},
      {with_struct("fields { key: \"a\" value { number_value: inf } }"),
       "number_value 'inf' is not finite"},
      {with_struct("fields { key: \"a\" value { number_value: 1e999 } }"),
       "'1e999' is beyond the range of a double"},
      {with_struct("fields { key: \"a\" value { null_value: NOTHING } }"),
       "null_value is NULL_VALUE, got 'NOTHING'"},
      {with_struct("fields { key: \"a\" value { list_value { value { } } } }"),
       "unknown field 'value' in a google.protobuf.ListValue; expected 'values'"},
      {with_struct("fields { key: \"dtype_item_size\" value { string_value: \"x\" } }"),
       "extra_metadata dtype_item_size must be a number of bits, got '\"x\"'"},
      {with_struct("fields { key: \"is_list\" value { string_value: \"yes\" } }"),
       "extra_metadata is_list must be true or false"},
      {with_struct("fields { key: \"_dims\" value { number_value: 3 } }"),
       "extra_metadata _dims must be a list, got '3'"},
      {with_struct("fields { key: \"_dims\" value { list_value { values { number_value: 0 } "
                   "values { number_value: 1 } values { number_value: 2 } } } }"),
       "extra_metadata _dims '[0,1,2]' has 3 dimensions"},
      {with_struct("fields { key: \"_dims\" value { list_value { values { number_value: 0 } "
                   "values { string_value: \"x\" } } } }"),
       "_dims: expected a size, [min, max] or null, got '\"x\"'"},
      {with_struct("fields { key: \"_dims\" value { list_value { values { number_value: 0 } "
                   "values { number_value: -2 } } } }"),
       "_dims: a size must be >= 0, got -2"},
      {with_struct("fields { key: \"_dims\" value { list_value { values { number_value: 0 } "
                   "values { list_value { values { number_value: 1 } } } } } }"),
       "_dims: a dimension's bounds are [min, max], got '[1]'"},
      {with_struct("fields { key: \"_dims\" value { list_value { values { number_value: 0 } "
                   "values { number_value: 3 } } } }") +
           "",
       ""},
      {with_struct("fields { key: \"embedding_sizes\" value { struct_value { fields { key: "
                   "\"dimension\" value { number_value: 0 } } } } }"),
       "feature 'x': embedding dim must be > 0, got 0"},
      {with_struct("fields { key: \"embedding_sizes\" value { struct_value { fields { key: "
                   "\"dimension\" value { number_value: 4.5 } } } } }"),
       "embedding_sizes: expected an integer, got 4.5"},
      {with_wire("\\n\\005\\n\\003abc"), "the entry 'abc' has no value"},
      {with_wire("\\nG\\n"),
       "not a serialized google.protobuf.Struct: a length of 71 runs past the 1 bytes left "
       "(byte 2 of the value)"},
      {with_wire("\\n\\377\\377\\377\\377\\377\\377\\377\\377\\377\\377\\001"),
       "a varint is over 64 bits"},
      {with_wire("\\n\\005\\n\\001a\\020\\000"), "field 2 has wire type 0, expected 2"},
      {with_wire("\\n\\010\\n\\001a\\022\\003\\021\\000\\000"), "a 64-bit number is cut short"},
      {with_wire("\\033"), "wire type 3 (groups or invalid)"},
      {with_wire("\\000"), "field number 0"},
      {with_wire("\\n\\005\\n\\001\\377\\022\\000"), "a key is not valid UTF-8"},
      {with_wire("\\n\\005\\n\\001a\\022\\000"), "a Value with no kind (byte 7 of the value)"},
      {with_wire("\\n\\007\\n\\001a\\022\\002\\010\\000\\n\\007\\n\\001a\\022\\002\\010\\000"),
       "the key 'a' appears twice"},
  };
  for (const auto& [text, words] : cases) {
    SCOPED_TRACE(text);
    if (words.empty()) {  // a control: the same wrapping reads when valid
      EXPECT_EQ(Schema::from_merlin_pbtxt(text).column("x").value_count(), (ValueCount{3, 3}));
      continue;
    }
    const std::string message = error_reading(text);
    EXPECT_THAT(message, HasSubstr("d/schema.pbtxt: line "));
    EXPECT_THAT(message, HasSubstr(words));
  }
}

TEST(MerlinSchemaErrors, MerlinJsonErrorsNameTheFeature) {
  const auto read = [](std::string_view text) {
    return error_of([&] { (void)Schema::from_json(nlohmann::json::parse(text), "m.json"); });
  };
  EXPECT_THAT(read(R"({"feature": [{"name": "x", "annotation": {"extraMetadata": [{}, {}]}}]})"),
              HasSubstr("m.json feature 'x': extraMetadata has 2 entries; Merlin writes one"));
  EXPECT_THAT(read(R"({"feature": [{"name": "x", "annotation": {"extraMetadata": [
                   {"@type": "type.googleapis.com/google.protobuf.Value", "value": 1}]}}]})"),
              HasSubstr("m.json feature 'x': extraMetadata holds a "));
  EXPECT_THAT(read(R"({"feature": [{"name": "x", "annotation": {"extraMetadata": [3]}}]})"),
              HasSubstr("extraMetadata must hold a JSON object"));
  EXPECT_THAT(read(R"({"feature": [{"name": "x", "type": "BYTES"}]})"),
              HasSubstr("m.json feature 'x': type BYTES has no recblocks dtype"));
  EXPECT_THAT(read(R"({"feature": [{"name": "x", "annotation": {"tag": [3]}}]})"),
              HasSubstr("a tag must be a string, got '3'"));
  EXPECT_THAT(read(R"({"feature": [{"type": "INT"}]})"),
              HasSubstr("m.json feature[0]: missing key 'name'"));
  EXPECT_THAT(read(R"({"feature": [{"name": "x", "shape": {"dim": [{}, {}]}}]})"),
              HasSubstr("shape must hold at most one dim"));
  // The proto-JSON form of an Any reads as the Struct it holds.
  const Schema s = Schema::from_json(nlohmann::json::parse(
      R"({"feature": [{"name": "x", "type": "INT", "annotation": {"extraMetadata": [
          {"@type": "type.googleapis.com/google.protobuf.Struct",
           "value": {"dtype_item_size": 64, "cat_path": "c"}}]}}]})"));
  EXPECT_EQ(s.column("x").dtype(), DType::kInt64);
  EXPECT_EQ(s.column("x").properties(), (nlohmann::json{{"cat_path", "c"}}));
}

TEST(MerlinSchemaErrors, LoadNamesTheFile) {
  TempDir dir;
  const fs::path p = dir.path / "schema.pbtxt";
  // Cut after the first feature's name, and in the middle of its wire bytes.
  write_text(p, kMovieLensPbtxt.substr(0, kMovieLensPbtxt.find("  type: INT")));
  EXPECT_EQ(error_of([&] { (void)Schema::load(p); }),
            p.string() +
                ": not valid protobuf text at line 3, column 1: expected a field name or "
                "'}', got end of file (a message opened above is not closed)");
  write_text(p, kMovieLensPbtxt.substr(0, kMovieLensPbtxt.find("embedding_sizes")));
  EXPECT_EQ(error_of([&] { (void)Schema::load(p); }),
            p.string() +
                ": not valid protobuf text at line 15, column 14: the string is not "
                "closed on its line");
  write_text(p, std::string("\x00\xff\xfe{\x1b[2J", 9));
  EXPECT_THAT(error_of([&] { (void)Schema::load(p); }),
              AllOf(HasSubstr(p.string() + ": not valid protobuf text at line 1, column 1: "
                                           "expected a field name, got '\\x00'")));
}

}  // namespace
}  // namespace recblocks
