// Categorify, TargetEncoding, raw tables and the Workflow (etl.h).
#include "recblocks/data/etl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace recblocks::etl {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<std::int32_t> ids_of(const Tensor& t) {
  const std::int32_t* p = t.data<std::int32_t>();
  return {p, p + t.numel()};
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            fmt::format("rb_etl_test_{}_{}", ::getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// --- Categorify ------------------------------------------------------------

TEST(Categorify, ReservedIdsAndFrequencyOrder) {
  const std::vector<std::string_view> keys = {"b", "a", "c", "a", "b", "a", "", "d"};
  Categorify cat("col");
  cat.fit(keys);
  // a (3) -> 3, b (2) -> 4, then c and d (1 each) by value: c -> 5, d -> 6.
  EXPECT_EQ(ids_of(cat.transform(keys)), (std::vector<std::int32_t>{4, 3, 5, 3, 4, 3, 1, 6}));
  EXPECT_EQ(cat.id("zzz"), kOovId);
  EXPECT_EQ(cat.id(""), kNullId);
  EXPECT_EQ(cat.vocabulary_size(), 4);
  EXPECT_EQ(cat.max_id(), 6);
  EXPECT_EQ(cat.cardinality(), 7);
  EXPECT_EQ(cat.domain(), (Domain{0, 6, "col"}));
  EXPECT_EQ(cat.string_key(0), "a");
  EXPECT_EQ(cat.count(0), 3);
  EXPECT_EQ(cat.string_key(3), "d");
  EXPECT_EQ(cat.null_count(), 1);
}

TEST(Categorify, MinFrequencyAndMaxSizeSendRareKeysToOov) {
  const std::vector<std::string_view> keys = {"b", "a", "c", "a", "b", "a"};
  Categorify frequent("col", {.min_frequency = 2});
  frequent.fit(keys);
  EXPECT_EQ(ids_of(frequent.transform(keys)), (std::vector<std::int32_t>{4, 3, 2, 3, 4, 3}));
  EXPECT_EQ(frequent.max_id(), 4);

  Categorify top1("col", {.max_size = 1});
  top1.fit(keys);
  EXPECT_EQ(ids_of(top1.transform(keys)), (std::vector<std::int32_t>{2, 3, 2, 3, 2, 3}));
  EXPECT_EQ(top1.vocabulary_size(), 1);
}

TEST(Categorify, IntegerKeysByValueWithNulls) {
  const std::vector<std::int64_t> keys = {10, 9, 10, 9, 7, 0, -5};
  const std::vector<std::uint8_t> is_null = {0, 0, 0, 0, 0, 1, 0};
  Categorify cat("age");
  cat.fit(keys, is_null);
  // 9 and 10 tie (2 each): ascending value, 9 first; then -5 and 7 (1 each).
  EXPECT_EQ(ids_of(cat.transform(keys, is_null)), (std::vector<std::int32_t>{4, 3, 4, 3, 6, 1, 5}));
  EXPECT_EQ(cat.int_key(0), 9);
  EXPECT_EQ(cat.id(std::int64_t{12345}), kOovId);
  EXPECT_EQ(cat.kind(), KeyKind::kInt64);
}

TEST(Categorify, PreAggregatedCountsEqualRepeatedKeys) {
  Categorify counted("title");
  const std::vector<std::string_view> keys = {"x", "y", "z"};
  const std::vector<std::int64_t> counts = {1, 5, 0};
  counted.update_counts(keys, counts);
  counted.finalize();
  EXPECT_EQ(counted.id("y"), 3);
  EXPECT_EQ(counted.id("x"), 4);
  EXPECT_EQ(counted.id("z"), kOovId);  // seen 0 times
}

TEST(Categorify, RaiseNamesColumnValueAndRow) {
  Categorify cat("zipcode", {.on_oov = OnOov::kRaise});
  const std::vector<std::string_view> fit_keys = {"a", "b"};
  cat.fit(fit_keys);
  const std::vector<std::string_view> keys = {"a", "b", "nope"};
  try {
    cat.transform(keys);
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'zipcode'"));
    EXPECT_THAT(e.what(), HasSubstr("'nope'"));
    EXPECT_THAT(e.what(), HasSubstr("row 2"));
  }
  const std::vector<std::int64_t> ints = {1};
  Categorify by_int("n", {.on_oov = OnOov::kRaise});
  by_int.fit(ints);
  EXPECT_THROW(by_int.id(std::int64_t{2}), ValueError);
}

TEST(Categorify, HashStableAcrossVersions) {
  // Reference values from an independent Python implementation of rbhash1.
  EXPECT_EQ(hash_key(std::string_view("hello world!")), 0xf19d684338904ff6ull);
  EXPECT_EQ(hash_key(std::string_view("abc")), 0x4d1c24c87644776dull);
  EXPECT_EQ(hash_key(std::int64_t{7}), 0x63cbe1e459320dd7ull);
  EXPECT_EQ(hash_key(std::int64_t{-1}), 0xe4d971771b652c20ull);
}

TEST(Categorify, PureHashingNeedsNoVocabulary) {
  Categorify cat("C1", {.num_buckets = 10});
  const std::vector<std::string_view> keys = {"abc", "hello world!", "", "abc"};
  cat.fit(keys);
  EXPECT_EQ(cat.vocabulary_size(), 0);
  EXPECT_EQ(cat.max_id(), 12);
  const auto ids = ids_of(cat.transform(keys));
  EXPECT_EQ(ids[0], 3 + static_cast<std::int32_t>(0x4d1c24c87644776dull % 10));
  EXPECT_EQ(ids[1], 3 + static_cast<std::int32_t>(0xf19d684338904ff6ull % 10));
  EXPECT_EQ(ids[2], kNullId);
  EXPECT_EQ(cat.id("never seen"), 3 + static_cast<std::int32_t>(hash_key("never seen") % 10));
}

TEST(Categorify, FrequentKeysKeepIdsRareOnesShareBuckets) {
  Categorify cat("C2", {.min_frequency = 2, .num_buckets = 4});
  const std::vector<std::string_view> keys = {"a", "a", "b"};
  cat.fit(keys);
  EXPECT_EQ(cat.id("a"), 3);
  EXPECT_EQ(cat.id("b"), 4 + static_cast<std::int32_t>(hash_key("b") % 4));
  EXPECT_EQ(cat.max_id(), 2 + 1 + 4);
}

TEST(Categorify, KindIsFixedAndTransformNeedsFit) {
  Categorify cat("c");
  const std::vector<std::string_view> s = {"a"};
  const std::vector<std::int64_t> i = {1};
  EXPECT_THAT([&] { cat.transform(s); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("before fit")));
  cat.update(s);
  EXPECT_THAT([&] { cat.update(i); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("fitted on string keys, got int64")));
}

TEST(Categorify, SaveLoadRoundTrip) {
  TempDir tmp;
  Categorify cat("title", {.min_frequency = 1, .on_oov = OnOov::kRaise});
  const std::vector<std::string_view> keys = {"Amélie (2001)", "b", "b", "c"};
  cat.fit(keys);
  cat.save(tmp.path() / "title.json");
  const Categorify back = Categorify::load(tmp.path() / "title.json");
  EXPECT_EQ(back.to_json(), cat.to_json());
  EXPECT_EQ(ids_of(back.transform(keys)), ids_of(cat.transform(keys)));
  EXPECT_EQ(back.options().on_oov, OnOov::kRaise);
  EXPECT_EQ(back.domain(), cat.domain());

  std::ofstream(tmp.path() / "bad.json") << "{\"column\": ";
  EXPECT_THAT([&] { Categorify::load(tmp.path() / "bad.json"); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("bad.json")));
  std::ofstream(tmp.path() / "nokeys.json") << R"({"column": "x", "options": {}})";
  EXPECT_THAT([&] { Categorify::load(tmp.path() / "nokeys.json"); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("nokeys.json")));
}

TEST(Categorify, ListColumn) {
  Categorify cat("genres");
  const std::vector<std::string_view> values = {"Comedy", "Drama", "Comedy", "Horror"};
  const std::vector<std::int64_t> offsets = {0, 2, 2, 4};
  cat.fit(values);
  const ListIds ids = transform_list(cat, {values, offsets});
  EXPECT_EQ(ids_of(ids.values), (std::vector<std::int32_t>{3, 4, 3, 5}));
  EXPECT_EQ(ids.offsets.numel(), 4);
  EXPECT_EQ(ids.offsets.item(3), 4);
  const std::vector<std::int64_t> bad = {0, 5};
  EXPECT_THROW(transform_list(cat, {values, bad}), ShapeError);
}

// --- TargetEncoding ----------------------------------------------------------

// Brute force: for each row, the other folds' rows of the same category.
std::vector<double> naive_out_of_fold(const std::vector<std::int32_t>& ids,
                                      const std::vector<double>& y, int kfold, double p,
                                      std::uint64_t seed) {
  const auto folds = assign_folds(static_cast<std::int64_t>(ids.size()), kfold, seed);
  double mean = 0;
  for (double v : y) mean += v;
  mean /= static_cast<double>(y.size());
  std::vector<double> out(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    double sum = 0, count = 0;
    for (std::size_t j = 0; j < ids.size(); ++j) {
      if (ids[j] == ids[i] && folds[j] != folds[i]) {
        sum += y[j];
        count += 1;
      }
    }
    out[i] = (sum + p * mean) / (count + p);
  }
  return out;
}

TEST(TargetEncoding, NoFoldsIsTheSmoothedMean) {
  TargetEncoding te("c", "y", {.kfold = 1, .p_smooth = 2, .normalize = false});
  const std::vector<std::int32_t> ids = {3, 3, 4, 3};
  const std::vector<double> y = {1, 0, 1, 1};
  const auto out = te.fit_transform(ids, 5, y);
  const double mean = 0.75;
  EXPECT_DOUBLE_EQ(te.global_mean(), mean);
  EXPECT_DOUBLE_EQ(out[0], (2 + 2 * mean) / (3 + 2));
  EXPECT_DOUBLE_EQ(out[2], (1 + 2 * mean) / (1 + 2));
  EXPECT_EQ(te.output_name(), "TE_c_y");
  // Other rows: unseen categories (and ids out of range) get the global mean.
  const std::vector<std::int32_t> other = {4, 2, 99};
  const auto t = te.transform(other);
  EXPECT_DOUBLE_EQ(t[0], (1 + 2 * mean) / 3);
  EXPECT_DOUBLE_EQ(t[1], mean);
  EXPECT_DOUBLE_EQ(t[2], mean);
}

TEST(TargetEncoding, OutOfFoldMatchesBruteForceThenNormalizes) {
  std::vector<std::int32_t> ids;
  std::vector<double> y;
  for (int i = 0; i < 400; ++i) {
    ids.push_back(3 + (i * 7) % 11);
    y.push_back(static_cast<double>((i * 13) % 5 + 1));
  }
  TargetEncoding raw("c", "y", {.kfold = 5, .p_smooth = 20, .fold_seed = 7, .normalize = false});
  const auto oof = raw.fit_transform(ids, 14, y);
  const auto expected = naive_out_of_fold(ids, y, 5, 20, 7);
  for (std::size_t i = 0; i < ids.size(); ++i) ASSERT_NEAR(oof[i], expected[i], 1e-12) << i;

  TargetEncoding norm("c", "y", {.kfold = 5, .p_smooth = 20, .fold_seed = 7});
  const auto z = norm.fit_transform(ids, 14, y);
  double mean = 0;
  for (double v : expected) mean += v;
  mean /= static_cast<double>(expected.size());
  double var = 0;
  for (double v : expected) var += (v - mean) * (v - mean);
  const double sd = std::sqrt(var / static_cast<double>(expected.size() - 1));  // ddof = 1
  EXPECT_NEAR(norm.norm_mean(), mean, 1e-12);
  EXPECT_NEAR(norm.norm_std(), sd, 1e-12);
  for (std::size_t i = 0; i < ids.size(); ++i) ASSERT_NEAR(z[i], (expected[i] - mean) / sd, 1e-9);
}

TEST(TargetEncoding, FoldsAreSeededAndBalanced) {
  const auto a = assign_folds(10000, 5, 42);
  EXPECT_EQ(a, assign_folds(10000, 5, 42));
  EXPECT_NE(a, assign_folds(10000, 5, 43));
  std::vector<int> n(5);
  for (auto f : a) ++n[f];
  for (int c : n) EXPECT_NEAR(c, 2000, 150);
}

// --- Workflow ----------------------------------------------------------------

RawTable small_table(const std::shared_ptr<std::string>& text) {
  // entries of a "movie" table, picked by index per row
  const std::vector<std::string_view> titles = {std::string_view(text->data(), 1),
                                                std::string_view(text->data() + 1, 1)};
  const std::vector<std::string_view> genres = {std::string_view(text->data() + 2, 1),
                                                std::string_view(text->data() + 3, 1),
                                                std::string_view(text->data() + 2, 1)};
  RawTable t;
  t["user"] = RawColumn::of_ints({5, 6, 5, 7, 5, 6});
  t["item"] = RawColumn::of_ints({100, 200}).indexed({0, 1, 1, 0, 0, 1});
  t["title"] = RawColumn::of_strings(titles, text).indexed({0, 1, 1, 0, 0, 1});
  t["genres"] = RawColumn::of_string_lists(genres, {0, 2, 3}, text).indexed({0, 1, 1, 0, 0, 1});
  t["y"] = RawColumn::of_floats({1, 0, 0, 1, 1, 0});
  return t;
}

Workflow small_workflow() {
  Workflow wf;
  wf.categorify({"user"}, {}, TagSet{Tags::USER_ID})
      .categorify({"item", "title"})
      .categorify({"genres"}, {}, TagSet{Tags::ITEM})
      .target_encoding({"user"}, "y", {.kfold = 2}, TagSet{Tags::USER})
      .target("y", DType::kInt32, TagSet{Tags::BINARY_CLASSIFICATION});
  return wf;
}

TEST(Workflow, FitTransformBuildsColumnsTagsAndDomains) {
  auto text = std::make_shared<std::string>("XYgh");
  Workflow wf = small_workflow();
  const Dataset ds = wf.fit_transform(small_table(text));
  EXPECT_EQ(ds.num_rows(), 6);
  EXPECT_EQ(ds.schema().column_names(),
            (std::vector<std::string>{"user", "item", "title", "genres", "TE_user_y", "y"}));
  // user 5 x3 -> 3, 6 x2 -> 4, 7 -> 5
  EXPECT_EQ(ids_of(ds.column("user").values), (std::vector<std::int32_t>{3, 4, 3, 5, 3, 4}));
  const ColumnSchema& user = ds.schema().column("user");
  EXPECT_TRUE(user.has_tag(Tags::USER_ID));
  EXPECT_TRUE(user.has_tag(Tags::CATEGORICAL));
  EXPECT_EQ(user.cardinality(), 6);
  // genres: X rows pick [g, h], Y rows [g]: g counted 6 times, h 3 times
  const Column& genres = ds.column("genres");
  ASSERT_TRUE(genres.is_list());
  EXPECT_EQ(ids_of(genres.values), (std::vector<std::int32_t>{3, 4, 3, 3, 3, 4, 3, 4, 3}));
  const ColumnSchema& gs = ds.schema().column("genres");
  EXPECT_TRUE(gs.is_list());
  EXPECT_TRUE(gs.has_tag(Tags::LIST));
  EXPECT_EQ(gs.value_count(), (ValueCount{1, 2}));
  EXPECT_TRUE(ds.schema().column("TE_user_y").has_tag(Tags::CONTINUOUS));
  EXPECT_TRUE(ds.schema().column("TE_user_y").has_tag(Tags::USER));
  EXPECT_EQ(ds.schema().column("TE_user_y").dtype(), DType::kFloat32);
  EXPECT_TRUE(ds.schema().column("y").has_tag(Tags::BINARY_CLASSIFICATION));
  EXPECT_TRUE(ds.schema().column("y").has_tag(Tags::TARGET));
  EXPECT_EQ(ids_of(ds.column("y").values), (std::vector<std::int32_t>{1, 0, 0, 1, 1, 0}));
}

TEST(Workflow, SavedStateAppliesTheSameWay) {
  TempDir tmp;
  auto text = std::make_shared<std::string>("XYgh");
  Workflow wf = small_workflow();
  wf.fit_transform(small_table(text));
  const RawTable raw = small_table(text);
  const std::vector<std::int64_t> rows = {3, 1};
  const RawTable valid_raw = take(raw, rows);
  const Dataset valid = wf.transform(valid_raw);
  wf.save(tmp.path() / "etl");
  EXPECT_TRUE(fs::exists(tmp.path() / "etl" / "workflow.json"));
  EXPECT_TRUE(fs::exists(tmp.path() / "etl" / "categorify" / "genres.json"));
  const Workflow back = Workflow::load(tmp.path() / "etl");
  EXPECT_EQ(back.output_schema(), wf.output_schema());
  const Dataset again = back.transform(valid_raw);
  for (const auto& name : valid.schema().column_names()) {
    EXPECT_TRUE(allclose(again.column(name).values, valid.column(name).values, 0, 0)) << name;
  }
  // Valid rows get full-train statistics: user 7 (row 3) has one train row.
  const auto& te = back.target_encoding_of("user");
  const double raw_te = (1 + 20 * te.global_mean()) / (1 + 20);
  EXPECT_NEAR(valid.column("TE_user_y").values.item(0), (raw_te - te.norm_mean()) / te.norm_std(),
              1e-6);

  // Serving: rows without the target skip it.
  RawTable no_target = valid_raw;
  no_target.erase("y");
  const Dataset served = back.transform(no_target);
  EXPECT_FALSE(served.schema().contains("y"));
  EXPECT_TRUE(served.schema().contains("TE_user_y"));
}

TEST(Workflow, RaiseNamesTheRowNotAnUnusedTableEntry) {
  auto text = std::make_shared<std::string>("abcz");
  const std::vector<std::string_view> movies = {std::string_view(text->data(), 1),
                                                std::string_view(text->data() + 1, 1),
                                                std::string_view(text->data() + 3, 1)};
  const std::vector<std::string_view> genres = {std::string_view(text->data(), 1),
                                                std::string_view(text->data() + 2, 1),
                                                std::string_view(text->data() + 3, 1)};
  RawTable train;
  train["title"] = RawColumn::of_strings(movies, text).indexed({0, 1, 0});
  train["genres"] = RawColumn::of_string_lists(genres, {0, 1, 2, 3}, text).indexed({0, 1, 0});
  Workflow wf;
  wf.categorify({"title", "genres"}, {.on_oov = OnOov::kRaise});
  wf.fit_transform(train);  // entry 2 ("z") is in the table but no train row picks it
  RawTable valid;
  valid["title"] = RawColumn::of_strings(movies, text).indexed({1, 1, 0});
  valid["genres"] = RawColumn::of_string_lists(genres, {0, 1, 2, 3}, text).indexed({1, 0, 0});
  EXPECT_EQ(ids_of(wf.transform(valid).column("title").values),
            (std::vector<std::int32_t>{4, 4, 3}));
  valid["title"] = RawColumn::of_strings(movies, text).indexed({1, 2, 0});
  EXPECT_THAT([&] { wf.transform(valid); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr(
                  "Categorify 'title': value 'z' (row 1) is not in the vocabulary of 2 keys")));
  valid["title"] = RawColumn::of_strings(movies, text).indexed({1, 1, 0});
  valid["genres"] = RawColumn::of_string_lists(genres, {0, 1, 2, 3}, text).indexed({1, 0, 2});
  EXPECT_THAT([&] { wf.transform(valid); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("'genres': value 'z' (row 2)")));
  const Categorify& cat = wf.categorify_of("title");
  EXPECT_EQ(cat.lookup("z"), -1);
  EXPECT_EQ(cat.lookup("a"), 3);
  EXPECT_EQ(cat.lookup(""), kNullId);
  EXPECT_THAT([&] { cat.id("z"); },
              ::testing::ThrowsMessage<ValueError>(::testing::Not(HasSubstr("(row"))));
}

TEST(Workflow, ErrorsNameTheColumn) {
  auto text = std::make_shared<std::string>("XYgh");
  RawTable raw = small_table(text);
  raw.erase("title");
  Workflow wf = small_workflow();
  EXPECT_THAT([&] { wf.fit_transform(raw); },
              ::testing::ThrowsMessage<ValueError>(
                  HasSubstr("no raw column 'title' (available: genres, item, user, y)")));
  Workflow unfitted = small_workflow();
  EXPECT_THROW(unfitted.transform(small_table(text)), ValueError);
  Workflow te_only;
  te_only.target_encoding({"user"}, "y");
  EXPECT_THAT([&] { te_only.fit_transform(small_table(text)); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("must be categorified")));
  RawTable uneven = small_table(text);
  uneven["y"] = RawColumn::of_floats({1, 0});
  EXPECT_THAT([&] { small_workflow().fit_transform(uneven); },
              ::testing::ThrowsMessage<ShapeError>(HasSubstr("'y' has 2 rows")));
  TempDir tmp;
  EXPECT_THAT([&] { Workflow::load(tmp.path()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("workflow.json")));
}

}  // namespace
}  // namespace recblocks::etl
