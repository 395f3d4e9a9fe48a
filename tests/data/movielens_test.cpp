// MovieLens import (movielens.h) on the real ml-100k and ml-1m files in
// ../shared/data, on hand-written CSV files, and on malformed input.
#include "recblocks/data/movielens.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "movielens_testing.h"
#include "recblocks/core/rng.h"

namespace recblocks::datasets {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_ml::make_zip;
using testing_ml::read_text;
using testing_ml::TempDir;
using testing_ml::write_text;

std::vector<std::int32_t> ids_of(const Tensor& t) {
  const std::int32_t* p = t.data<std::int32_t>();
  return {p, p + t.numel()};
}

std::vector<std::string> tag_names(const Dataset& ds, const std::string& column) {
  return ds.schema().column(column).tags().names();
}

const std::vector<std::string> kColumns100k = {"userId",
                                               "movieId",
                                               "title",
                                               "genres",
                                               "gender",
                                               "age",
                                               "occupation",
                                               "zipcode",
                                               "TE_movieId_rating",
                                               "TE_userId_rating",
                                               "TE_age_rating",
                                               "TE_gender_rating",
                                               "TE_occupation_rating",
                                               "TE_zipcode_rating",
                                               "rating_binary",
                                               "rating",
                                               "timestamp"};

// ml-100k is imported once for the suite.
// Without the real files every test of the suite skips (GoogleTest 1.12
// does not skip a suite from SetUpTestSuite).
class MovieLens100k : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / fmt::format("rb_ml100k_{}", ::getpid()));
    fs::remove_all(*dir_);
    const auto raw = testing_data::find("ml-100k", "u.data");
    if (!raw) return;
    raw_ = new fs::path(*raw);
    auto [train, valid] = movielens("ml-100k", *dir_, {.source = *raw_, .download = false});
    train_ = new Dataset(std::move(train));
    valid_ = new Dataset(std::move(valid));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete valid_;
    delete raw_;
    train_ = valid_ = nullptr;
    raw_ = nullptr;
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    if (raw_ == nullptr) GTEST_SKIP() << testing_data::why_missing("ml-100k", "u.data");
  }
  static fs::path out() { return *dir_ / "ml-100k"; }
  static etl::Categorify vocab(const std::string& column) {
    return etl::Categorify::load(out() / "etl" / "categorify" / (column + ".json"));
  }

  static fs::path* dir_;
  static fs::path* raw_;  // the real files
  static Dataset* train_;
  static Dataset* valid_;
};
fs::path* MovieLens100k::dir_ = nullptr;
fs::path* MovieLens100k::raw_ = nullptr;
Dataset* MovieLens100k::train_ = nullptr;
Dataset* MovieLens100k::valid_ = nullptr;

TEST_F(MovieLens100k, RowsColumnsAndLayout) {
  EXPECT_EQ(train_->num_rows(), 80000);
  EXPECT_EQ(valid_->num_rows(), 20000);
  EXPECT_EQ(train_->schema().column_names(), kColumns100k);
  EXPECT_EQ(valid_->schema(), train_->schema());
  EXPECT_EQ(train_->path(), out() / "train");
  EXPECT_TRUE(fs::exists(out() / "valid" / "schema.json"));
  EXPECT_TRUE(fs::exists(out() / "etl" / "workflow.json"));
  EXPECT_TRUE(fs::exists(out() / "import.json"));
  // The raw files stayed where they were: nothing was unpacked.
  EXPECT_FALSE(fs::exists(out() / "u.data"));
}

TEST_F(MovieLens100k, TagsAndDtypesAsMerlin) {
  const Dataset& ds = *train_;
  EXPECT_THAT(tag_names(ds, "userId"), ElementsAre("categorical", "id", "user"));
  EXPECT_THAT(tag_names(ds, "movieId"), ElementsAre("categorical", "id", "item"));
  EXPECT_THAT(tag_names(ds, "title"), ElementsAre("categorical"));
  EXPECT_THAT(tag_names(ds, "genres"), ElementsAre("categorical", "list", "item"));
  for (const char* c : {"gender", "age", "occupation", "zipcode"}) {
    EXPECT_THAT(tag_names(ds, c), ElementsAre("categorical")) << c;
    EXPECT_EQ(ds.schema().column(c).dtype(), DType::kInt32) << c;
  }
  EXPECT_THAT(tag_names(ds, "TE_movieId_rating"), ElementsAre("continuous", "item"));
  for (const char* c : {"TE_userId_rating", "TE_age_rating", "TE_gender_rating",
                        "TE_occupation_rating", "TE_zipcode_rating"}) {
    EXPECT_THAT(tag_names(ds, c), ElementsAre("continuous", "user")) << c;
    EXPECT_EQ(ds.schema().column(c).dtype(), DType::kFloat32) << c;
  }
  EXPECT_THAT(tag_names(ds, "rating_binary"), ElementsAre("target", "classification", "binary"));
  EXPECT_EQ(ds.schema().column("rating_binary").dtype(), DType::kInt32);
  EXPECT_THAT(tag_names(ds, "rating"), ElementsAre("target", "regression"));
  EXPECT_EQ(ds.schema().column("rating").dtype(), DType::kFloat32);
  // Compound tags select as in Merlin.
  EXPECT_EQ(ds.schema().select_by_tag(Tags::USER_ID).column_names(),
            std::vector<std::string>{"userId"});
  EXPECT_EQ(ds.schema().select_by_tag(Tags::BINARY_CLASSIFICATION).column_names(),
            std::vector<std::string>{"rating_binary"});
}

TEST_F(MovieLens100k, DomainsCountTheVocabularyPlusReservedIds) {
  const Schema& s = train_->schema();
  EXPECT_EQ(s.column("userId").cardinality(), 943 + 3);
  EXPECT_EQ(s.column("gender").cardinality(), 2 + 3);
  EXPECT_EQ(s.column("occupation").cardinality(), 21 + 3);
  EXPECT_EQ(s.column("genres").cardinality(), 19 + 3);
  EXPECT_EQ(s.column("userId").domain()->min, 0);
  // movieId: the movies rated in train (a few of the 1,682 are rated once,
  // in valid only), each of them present in the train column.
  const auto ids = ids_of(train_->column("movieId").values);
  const std::set<std::int32_t> distinct(ids.begin(), ids.end());
  EXPECT_EQ(s.column("movieId").cardinality(), static_cast<std::int64_t>(distinct.size()) + 3);
  EXPECT_EQ(*distinct.begin(), 3);
  EXPECT_GT(distinct.size(), 1600u);
  EXPECT_LE(distinct.size(), 1682u);
  // ages in u.user: 61 distinct values
  EXPECT_EQ(s.column("age").cardinality(), 61 + 3);
  for (const auto& c : s) {
    if (!c.has_tag(Tags::CATEGORICAL)) continue;
    const Tensor& v = train_->column(c.name()).values;
    const auto [lo, hi] =
        std::minmax_element(v.data<std::int32_t>(), v.data<std::int32_t>() + v.numel());
    EXPECT_GE(*lo, 3) << c.name();  // no nulls or OOV in train
    EXPECT_LE(*hi, c.domain()->max) << c.name();
  }
}

TEST_F(MovieLens100k, GenresTitlesAndTargets) {
  const etl::Categorify movies = vocab("movieId");
  const etl::Categorify genres = vocab("genres");
  const etl::Categorify titles = vocab("title");
  const std::int32_t toy_story = movies.id(std::int64_t{1});
  const auto movie_ids = ids_of(train_->column("movieId").values);
  const auto row = std::find(movie_ids.begin(), movie_ids.end(), toy_story) - movie_ids.begin();
  ASSERT_LT(row, train_->num_rows());
  const RaggedTensor g = train_->column("genres").ragged();
  std::vector<std::string> names;
  for (auto k = g.row_begin(row); k < g.row_begin(row + 1); ++k) {
    names.emplace_back(genres.string_key(static_cast<std::int64_t>(g.values().item(k)) - 3));
  }
  EXPECT_THAT(names, ElementsAre("Animation", "Children's", "Comedy"));
  EXPECT_EQ(train_->schema().column("genres").value_count(), (ValueCount{1, 6}));
  // latin-1 titles arrive as UTF-8
  EXPECT_GE(titles.id("Mis\xC3\xA9rables, Les (1995)"), 3);
  // targets
  const Tensor& r = train_->column("rating").values;
  const Tensor& b = train_->column("rating_binary").values;
  std::int64_t positives = 0;
  for (std::int64_t i = 0; i < r.numel(); ++i) {
    ASSERT_EQ(b.item(i), r.item(i) > 3 ? 1 : 0) << i;
    ASSERT_TRUE(r.item(i) >= 1 && r.item(i) <= 5) << i;
    positives += static_cast<std::int64_t>(b.item(i));
  }
  EXPECT_NEAR(static_cast<double>(positives) / 80000.0, 0.554, 0.01);
}

TEST_F(MovieLens100k, JoinAndTargetEncodingMatchNumpy) {
  const std::string cmd =
      fmt::format("{} '{}' '{}' '{}'", testing_ml::python(),
                  (testing_ml::source_dir() / "tests" / "data" / "movielens_reference.py").string(),
                  out().string(), raw_->string());
  EXPECT_EQ(testing_ml::run_command(cmd), 0) << cmd;
}

TEST_F(MovieLens100k, SavedEtlAppliedToRawRowsGivesTheSavedRows) {
  const etl::RawTable raw = read_movielens("ml-100k", *raw_);
  const auto [train_rows, valid_rows] = split_rows(etl::num_rows(raw), 42, 0.2);
  const etl::Workflow etl_state = etl::Workflow::load(out() / "etl");
  const Dataset valid = etl_state.transform(etl::take(raw, valid_rows));
  // The import adds the raw timestamps after the ETL's columns.
  ASSERT_EQ(valid.schema(), valid_->schema().select_by_name(valid.schema().column_names()));
  const auto& raw_times = raw.at("timestamp").ints;
  for (std::size_t i = 0; i < valid_rows.size(); ++i) {
    ASSERT_EQ(valid_->column("timestamp").values.data<std::int64_t>()[i],
              raw_times[static_cast<std::size_t>(valid_rows[i])])
        << "valid row " << i;
  }
  for (const auto& name : valid.schema().column_names()) {
    EXPECT_TRUE(allclose(valid.column(name).values, valid_->column(name).values, 0, 0)) << name;
  }
  EXPECT_TRUE(allclose(valid.column("genres").offsets, valid_->column("genres").offsets, 0, 0));
  // Train rows: same ids; target encodings differ (out of fold at import).
  const Dataset train = etl_state.transform(etl::take(raw, train_rows));
  EXPECT_TRUE(allclose(train.column("userId").values, train_->column("userId").values, 0, 0));
  EXPECT_FALSE(allclose(train.column("TE_userId_rating").values,
                        train_->column("TE_userId_rating").values, 1e-6, 1e-6));
}

TEST_F(MovieLens100k, SecondCallLoadsTheExistingOutputs) {
  // No source and no raw files under the output: only the existing outputs
  // can satisfy this call.
  const auto before = fs::last_write_time(out() / "import.json");
  auto [train, valid] = movielens("ml-100k", *dir_, {.download = false});
  EXPECT_EQ(train.num_rows(), 80000);
  EXPECT_EQ(fs::last_write_time(out() / "import.json"), before);
  // A different seed redoes the import (and would need the raw files).
  EXPECT_THAT([&] { movielens("ml-100k", *dir_, {.seed = 7, .download = false}); },
              ::testing::ThrowsMessage<Error>(HasSubstr("raw files not found")));
}

TEST(MovieLens, SeedChangesTheSplitNotItsSize) {
  const auto [a_train, a_valid] = split_rows(1000, 42, 0.2);
  const auto [b_train, b_valid] = split_rows(1000, 43, 0.2);
  EXPECT_EQ(a_valid.size(), 200u);
  EXPECT_EQ(a_train.size(), 800u);
  EXPECT_NE(a_valid, b_valid);
  EXPECT_EQ(split_rows(1000, 42, 0.2).second, a_valid);
  EXPECT_TRUE(std::is_sorted(a_train.begin(), a_train.end()));  // file order
  EXPECT_TRUE(std::is_sorted(a_valid.begin(), a_valid.end()));
  std::vector<std::int64_t> all = a_train;
  all.insert(all.end(), a_valid.begin(), a_valid.end());
  std::sort(all.begin(), all.end());
  for (std::int64_t i = 0; i < 1000; ++i) ASSERT_EQ(all[static_cast<std::size_t>(i)], i);
}

TEST(MovieLens, LeaveLastOutPutsEachUsersLatestRatingInValid) {
  // User 1: rows 0 (t 5), 2 (t 9), 3 (t 9, the later line wins the tie);
  // user 2: rows 1 (t 1), 5 (t 0); user 3: row 4 alone stays in train.
  const std::vector<std::int64_t> users = {1, 2, 1, 1, 3, 2};
  const std::vector<std::int64_t> times = {5, 1, 9, 9, 4, 0};
  auto [train, valid] = split_leave_last_out(users, times);
  EXPECT_THAT(valid, ElementsAre(1, 3));
  EXPECT_THAT(train, ElementsAre(0, 2, 4, 5));
  std::tie(train, valid) = split_leave_last_out(users, times, 2);
  EXPECT_THAT(valid, ElementsAre(2, 3));  // user 2 has only two rows: both stay
  EXPECT_THAT(train, ElementsAre(0, 1, 4, 5));
  // By time: the 3 latest of 6 (t 9, 9, 5).
  std::tie(train, valid) = split_by_time(times, 0.5);
  EXPECT_THAT(valid, ElementsAre(0, 2, 3));
  EXPECT_THAT(train, ElementsAre(1, 4, 5));
  EXPECT_THAT(
      [&] {
        split_leave_last_out(users, {times.data(), 5});
      },
      ::testing::ThrowsMessage<ValueError>(HasSubstr("6 users but 5 timestamps")));
  EXPECT_THAT([] { split_from_name("last"); },
              ::testing::ThrowsMessage<ValueError>(
                  HasSubstr("split 'last': expected random, leave-last-out or time")));
}

TEST(MovieLens, LeaveLastOutAndTimeSplitsOfTheRealMl100k) {
  RB_REQUIRE_TEST_DATA(ml100k, "ml-100k", "u.data");
  const etl::RawTable raw = read_movielens("ml-100k", ml100k);
  const std::vector<std::int64_t>& users = raw.at("userId").ints;
  const std::vector<std::int64_t>& times = raw.at("timestamp").ints;
  ASSERT_EQ(times.size(), 100000u);
  EXPECT_EQ(times[0], 881250949);  // u.data's first line: 196 242 3 881250949
  const auto [train, valid] = split_leave_last_out(users, times);
  EXPECT_EQ(valid.size(), 943u);  // every ml-100k user has 20 ratings or more
  std::map<std::int64_t, std::int64_t> latest_train;
  for (std::int64_t r : train) {
    auto& t = latest_train[users[static_cast<std::size_t>(r)]];
    t = std::max(t, times[static_cast<std::size_t>(r)]);
  }
  for (std::int64_t r : valid) {
    EXPECT_GE(times[static_cast<std::size_t>(r)],
              latest_train.at(users[static_cast<std::size_t>(r)]))
        << "row " << r;
  }
  const auto [early, late] = split_by_time(times, 0.2);
  EXPECT_EQ(late.size(), 20000u);
  std::int64_t last_early = 0, first_late = INT64_MAX;
  for (std::int64_t r : early)
    last_early = std::max(last_early, times[static_cast<std::size_t>(r)]);
  for (std::int64_t r : late) first_late = std::min(first_late, times[static_cast<std::size_t>(r)]);
  EXPECT_LE(last_early, first_late);
  // Through the importer: the split is recorded and a different one re-imports.
  TempDir tmp;
  auto [lt, lv] =
      movielens("ml-100k", tmp.path(),
                {.source = ml100k, .download = false, .split = MovieLensSplit::kLeaveLastOut});
  EXPECT_EQ(lv.num_rows(), 943);
  EXPECT_EQ(lt.num_rows(), 100000 - 943);
  EXPECT_THAT(read_text(tmp.path() / "ml-100k" / "import.json"),
              HasSubstr("\"split\": \"leave-last-out\""));
}

TEST(MovieLens, ZipSourceAndOverwrite) {
  RB_REQUIRE_TEST_DATA(raw, "ml-100k", "u.data");
  TempDir tmp;
  const fs::path zip = tmp.path() / "ml-100k.zip";
  // A README as in GroupLens' zip (the download cache keeps only what is read).
  write_text(tmp.path() / "README", "the README of ml-100k");
  make_zip(zip,
           {raw / "u.data", raw / "u.user", raw / "u.item", raw / "u.genre", tmp.path() / "README"},
           "ml-100k");
  auto [train, valid] =
      movielens("ml-100k", tmp.path() / "data", {.source = zip, .download = false});
  EXPECT_EQ(train.num_rows(), 80000);
  EXPECT_TRUE(fs::exists(tmp.path() / "data" / "ml-100k" / "u.data"));
  EXPECT_FALSE(fs::exists(tmp.path() / "data" / "ml-100k" / "README"));  // only what is read
  // Overwrite with another seed: a different split of the same size.
  auto [train2, valid2] = movielens("ml-100k", tmp.path() / "data",
                                    {.seed = 1, .valid_fraction = 0.25, .overwrite = true});
  EXPECT_EQ(valid2.num_rows(), 25000);
  // The re-import replaced its outputs in one step and kept the raw files beside them.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path() / "data" / "ml-100k"))
    names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"etl", "import.json", "train", "u.data", "u.genre",
                                          "u.item", "u.user", "valid"}));
  EXPECT_EQ(fs::hard_link_count(tmp.path() / "data" / "ml-100k" / "u.data"), 1U);
}

TEST(MovieLens, DownloadsFromAFileUrlAndExplainsWhenOffline) {
  RB_REQUIRE_TEST_DATA(raw, "ml-100k", "u.data");
  TempDir tmp;
  fs::create_directories(tmp.path() / "mirror");
  make_zip(tmp.path() / "mirror" / "ml-100k.zip",
           {raw / "u.data", raw / "u.user", raw / "u.item", raw / "u.genre"}, "ml-100k");
  ::setenv("RECBLOCKS_MOVIELENS_URL", ("file://" + (tmp.path() / "mirror").string()).c_str(), 1);
  auto [train, valid] = movielens("ml-100k", tmp.path() / "data", {.progress = false});
  EXPECT_EQ(valid.num_rows(), 20000);
  EXPECT_TRUE(fs::exists(tmp.path() / "data" / "ml-100k" / "u.item"));
  EXPECT_FALSE(fs::exists(tmp.path() / "data" / "ml-100k.zip"));

  // Offline: the message says what to get from where, where to put it, and
  // the alternative.
  ::setenv("RECBLOCKS_MOVIELENS_URL", ("file://" + (tmp.path() / "nowhere").string()).c_str(), 1);
  try {
    movielens("ml-1m", tmp.path() / "data", {.progress = false});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_THAT(m, HasSubstr("download file://" + (tmp.path() / "nowhere" / "ml-1m.zip").string()));
    EXPECT_THAT(m, HasSubstr("unzip it into " + (tmp.path() / "data" / "ml-1m").string()));
    EXPECT_THAT(m, HasSubstr("ratings.dat, users.dat, movies.dat"));
    EXPECT_THAT(m, HasSubstr("--source ZIP_OR_DIR"));
  }
  EXPECT_THAT([&] { movielens("ml-1m", tmp.path() / "data", {.download = false}); },
              ::testing::ThrowsMessage<Error>(HasSubstr("raw files not found")));
  ::unsetenv("RECBLOCKS_MOVIELENS_URL");
}

// --- ml-1m: the real users.dat and movies.dat, a ratings.dat written here --

TEST(MovieLens1m, RealUsersAndMoviesWithWrittenRatings) {
  RB_REQUIRE_TEST_DATA(real, "ml-1m-partial", "movies.dat");
  TempDir tmp;
  const fs::path raw = tmp.path() / "ml-1m";
  fs::create_directories(raw);
  fs::copy_file(real / "users.dat", raw / "users.dat");
  fs::copy_file(real / "movies.dat", raw / "movies.dat");
  // Movie ids of movies.dat, to rate existing movies only.
  std::vector<std::int64_t> movie_ids;
  {
    std::istringstream in(read_text(raw / "movies.dat"));
    std::string line;
    while (std::getline(in, line)) movie_ids.push_back(std::stoll(line.substr(0, line.find("::"))));
  }
  ASSERT_EQ(movie_ids.size(), 3883u);
  Rng rng(5);
  std::string ratings;
  for (int i = 0; i < 20000; ++i) {
    const auto user = 1 + rng.next_u64() % 6040;
    const auto movie =
        i < 50 ? 73 : movie_ids[rng.next_u64() % movie_ids.size()];  // 73: Misérables
    ratings += fmt::format("{}::{}::{}::{}\n", user, movie, 1 + rng.next_u64() % 5, 978300760 + i);
  }
  ratings += "1::1::5::978300760\n";  // user 1 (F, age 1, occupation 10, zip 48067) rates Toy Story
  write_text(raw / "ratings.dat", ratings);

  auto [train, valid] = movielens("ml-1m", tmp.path(), {.download = false});
  EXPECT_EQ(train.num_rows() + valid.num_rows(), 20001);
  EXPECT_EQ(valid.num_rows(), 4000);
  EXPECT_EQ(train.schema().column_names(), kColumns100k);

  // Find user 1's Toy Story rating in either split and decode it.
  const auto state = etl::Workflow::load(tmp.path() / "ml-1m" / "etl");
  const auto& users = state.categorify_of("userId");
  const auto& movies = state.categorify_of("movieId");
  bool found = false;
  for (const Dataset* ds : {&train, &valid}) {
    const auto u = ids_of(ds->column("userId").values);
    const auto m = ids_of(ds->column("movieId").values);
    for (std::size_t i = 0; i < u.size(); ++i) {
      if (u[i] != users.id(std::int64_t{1}) || m[i] != movies.id(std::int64_t{1})) continue;
      found = true;
      const auto decode = [&](const char* col) {
        const auto& cat = state.categorify_of(col);
        const std::int64_t k =
            static_cast<std::int64_t>(ds->column(col).values.item(static_cast<std::int64_t>(i))) -
            3;
        return cat.kind() == etl::KeyKind::kString ? std::string(cat.string_key(k))
                                                   : std::to_string(cat.int_key(k));
      };
      EXPECT_EQ(decode("gender"), "F");
      EXPECT_EQ(decode("age"), "1");
      EXPECT_EQ(decode("occupation"), "10");
      EXPECT_EQ(decode("zipcode"), "48067");
      EXPECT_EQ(decode("title"), "Toy Story (1995)");
      const RaggedTensor g = ds->column("genres").ragged();
      EXPECT_EQ(g.row_length(static_cast<std::int64_t>(i)), 3);
    }
  }
  EXPECT_TRUE(found);
  // movies.dat is latin-1: its titles arrive as UTF-8.
  EXPECT_GE(state.categorify_of("title").id("Mis\xC3\xA9rables, Les (1995)"), 3);
  EXPECT_EQ(state.categorify_of("gender").vocabulary_size(), 2);
  EXPECT_EQ(state.categorify_of("age").vocabulary_size(), 7);          // 1, 18, 25, 35, 45, 50, 56
  EXPECT_EQ(state.categorify_of("occupation").vocabulary_size(), 21);  // codes 0..20
}

// --- ml-25m / ml-latest-small: CSV with quoted titles ------------------------

class MovieLensCsv : public ::testing::TestWithParam<const char*> {};

TEST_P(MovieLensCsv, QuotedTitlesNoDemographics) {
  TempDir tmp;
  const std::string variant = GetParam();
  write_text(tmp.path() / "raw" / "movies.csv",
             "movieId,title,genres\r\n"
             "1,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
             "2,\"Movie \"\"Quoted\"\" (2000)\",(no genres listed)\r\n"
             "3,Plain (1999),Action\r\n");
  std::string ratings = "userId,movieId,rating,timestamp\r\n";
  for (int i = 0; i < 100; ++i) {
    ratings += fmt::format("{},{},{},{}\r\n", 1 + i % 7, 1 + i % 3, 0.5 * (1 + i % 10), 1000 + i);
  }
  write_text(tmp.path() / "raw" / "ratings.csv", ratings);
  auto [train, valid] = movielens(variant, tmp.path(), {.source = tmp.path() / "raw"});
  EXPECT_EQ(train.num_rows(), 80);
  EXPECT_EQ(train.schema().column_names(),
            (std::vector<std::string>{"userId", "movieId", "title", "genres", "TE_movieId_rating",
                                      "TE_userId_rating", "rating_binary", "rating", "timestamp"}));
  const auto state = etl::Workflow::load(tmp.path() / variant / "etl");
  const auto& titles = state.categorify_of("title");
  EXPECT_GE(titles.id("American President, The (1995)"), 3);
  EXPECT_GE(titles.id("Movie \"Quoted\" (2000)"), 3);
  EXPECT_GE(state.categorify_of("genres").id("(no genres listed)"), 3);
  EXPECT_EQ(state.categorify_of("genres").vocabulary_size(), 5);
  // Half stars: 3.5 > 3 is positive, 3.0 is not.
  const Tensor& r = train.column("rating").values;
  const Tensor& b = train.column("rating_binary").values;
  for (std::int64_t i = 0; i < r.numel(); ++i) ASSERT_EQ(b.item(i), r.item(i) > 3 ? 1 : 0);
}

INSTANTIATE_TEST_SUITE_P(Variants, MovieLensCsv, ::testing::Values("ml-25m", "ml-latest-small"));

// --- malformed input: file, 1-based line (and column), what was expected -----

struct BadCase {
  const char* variant;
  std::map<std::string, std::string> files;
  std::string message;  // with {dir} for the raw folder
};

const char* kUsers1m = "1::F::1::10::48067\n2::M::56::16::70072\n";
const char* kMovies1m =
    "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n";

std::vector<BadCase> bad_cases() {
  return {
      {"ml-1m",
       {{"users.dat", kUsers1m},
        {"movies.dat", kMovies1m},
        {"ratings.dat", "1::1::5::1\n1::2::5\n"}},
       "{dir}/ratings.dat:2: expected 4 fields 'UserID::MovieID::Rating::Timestamp', got 3"},
      {"ml-1m",
       {{"users.dat", kUsers1m}, {"movies.dat", kMovies1m}, {"ratings.dat", "1::abc::5::1\n"}},
       "{dir}/ratings.dat:1:4: movieId: expected an integer, got 'abc'"},
      {"ml-1m",
       {{"users.dat", kUsers1m},
        {"movies.dat", kMovies1m},
        {"ratings.dat", "1::1::5::1\n\n2::9::5::1\n"}},
       "{dir}/ratings.dat:3:4: movieId 9 is not in {dir}/movies.dat"},
      {"ml-1m",
       {{"users.dat", kUsers1m}, {"movies.dat", kMovies1m}, {"ratings.dat", "3::1::5::1\n"}},
       "{dir}/ratings.dat:1:1: userId 3 is not in {dir}/users.dat"},
      {"ml-1m",
       {{"users.dat", kUsers1m}, {"movies.dat", kMovies1m}, {"ratings.dat", "1::1::five::1\n"}},
       "{dir}/ratings.dat:1:7: rating: expected a number, got 'five'"},
      {"ml-1m",
       {{"users.dat", kUsers1m},
        {"movies.dat", "1::A (1)::Drama\n1::B (2)::Drama\n"},
        {"ratings.dat", "1::1::5::1\n"}},
       "{dir}/movies.dat:2:1: movieId 1 appears twice"},
      {"ml-1m",
       {{"users.dat", "1::F::one::10::48067\n"},
        {"movies.dat", kMovies1m},
        {"ratings.dat", "1::1::5::1\n"}},
       "{dir}/users.dat:1:7: Age: expected an integer, got 'one'"},
      {"ml-100k",
       {{"u.data", "1\t1\t5\t1\n"},
        {"u.user", "1|24|M|technician|85711\n"},
        {"u.genre",
         "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n"
         "Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\n"
         "Mystery|13\nRomance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n"},
        {"u.item", "1|Toy Story (1995)|01-Jan-1995||url|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|x\n"}},
       "{dir}/u.item:1:73: genre flag 'Western': expected 0 or 1, got 'x'"},
      {"ml-100k",
       {{"u.data", "1 1 5 1\n"},
        {"u.user", "1|24|M|technician|85711\n"},
        {"u.genre", "unknown|0\n"},
        {"u.item", "1|Toy Story (1995)|01-Jan-1995||url|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"}},
       "{dir}/u.genre: expected 19 genres, got 1"},
      {"ml-25m",
       {{"movies.csv", "movieId,title,genres\n1,\"Open (1995),Drama\n"},
        {"ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n"}},
       "{dir}/movies.csv:2:3: unterminated quoted field (expected a closing '\"')"},
      {"ml-latest-small",
       {{"movies.csv", "movieId,title,genres\n1,A (1995),Drama\n"},
        {"ratings.csv", "user,movie,rating,timestamp\n1,1,4.0,1\n"}},
       "{dir}/ratings.csv:1: expected the header 'userId,movieId,rating,timestamp', got "
       "'user,movie,rating,timestamp'"},
      // Ratings outside MovieLens' stars, not finite, ids out of range.
      {"ml-1m",
       {{"users.dat", kUsers1m}, {"movies.dat", kMovies1m}, {"ratings.dat", "1::1::7::1\n"}},
       "{dir}/ratings.dat:1:7: rating: expected a number of stars in [0.5, 5], got '7'"},
      {"ml-1m",
       {{"users.dat", kUsers1m}, {"movies.dat", kMovies1m}, {"ratings.dat", "1::1::0::1\n"}},
       "{dir}/ratings.dat:1:7: rating: expected a number of stars in [0.5, 5], got '0'"},
      {"ml-1m",
       {{"users.dat", kUsers1m}, {"movies.dat", kMovies1m}, {"ratings.dat", "1::1::nan::1\n"}},
       "{dir}/ratings.dat:1:7: rating: expected a finite number, got 'nan'"},
      {"ml-1m",
       {{"users.dat", kUsers1m},
        {"movies.dat", kMovies1m},
        {"ratings.dat", "1::99999999999999999999::5::1\n"}},
       "{dir}/ratings.dat:1:4: movieId: expected a 64-bit integer, got '99999999999999999999' "
       "(out of range)"},
      // Empty files: no ratings, no movies, no users, no header.
      {"ml-1m",
       {{"users.dat", kUsers1m}, {"movies.dat", kMovies1m}, {"ratings.dat", "\n"}},
       "{dir}/ratings.dat: no ratings, expected lines 'UserID::MovieID::Rating::Timestamp'"},
      {"ml-1m",
       {{"users.dat", kUsers1m}, {"movies.dat", ""}, {"ratings.dat", "1::1::5::1\n"}},
       "{dir}/movies.dat: no movies, expected lines 'MovieID::Title::Genres'"},
      {"ml-1m",
       {{"users.dat", ""}, {"movies.dat", kMovies1m}, {"ratings.dat", "1::1::5::1\n"}},
       "{dir}/users.dat: no users, expected lines 'UserID::Gender::Age::Occupation::Zip-code'"},
      {"ml-25m",
       {{"movies.csv", "movieId,title,genres\n1,A (1995),Drama\n"}, {"ratings.csv", ""}},
       "{dir}/ratings.csv: empty file, expected the header 'userId,movieId,rating,timestamp'"},
      // A 1 MB field: an excerpt of 200 characters and the size.
      {"ml-1m",
       {{"users.dat", kUsers1m},
        {"movies.dat", kMovies1m},
        {"ratings.dat", "1::" + std::string(1'000'000, '1') + "x::5::1\n"}},
       "{dir}/ratings.dat:1:4: movieId: expected an integer, got '" + std::string(200, '1') +
           "'... (1000001 bytes)"},
  };
}

TEST(MovieLensErrors, MalformedLinesNameFileLineAndExpectation) {
  for (const BadCase& c : bad_cases()) {
    TempDir tmp;
    const fs::path raw = tmp.path() / "raw";
    for (const auto& [name, text] : c.files) write_text(raw / name, text);
    std::string expected;
    std::string_view rest = c.message;
    for (std::size_t at; (at = rest.find("{dir}")) != std::string_view::npos;) {
      expected.append(rest.substr(0, at)).append(raw.string());
      rest.remove_prefix(at + 5);
    }
    expected.append(rest);
    EXPECT_THAT(
        [&] { movielens(c.variant, tmp.path() / "out", {.source = raw, .download = false}); },
        ::testing::ThrowsMessage<Error>(HasSubstr(expected)))
        << c.variant;
  }
}

TEST(MovieLensErrors, ByteOrderMarkAndCrlfReadAsThePlainFiles) {
  TempDir tmp;
  const std::string movies = "movieId,title,genres\n1,A (1995),Drama\n2,B (1996),Comedy\n";
  const std::string ratings =
      "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,1.5,11\n2,1,3.0,12\n2,2,5.0,13\n"
      "3,1,2.0,14\n";
  write_text(tmp.path() / "plain" / "movies.csv", movies);
  write_text(tmp.path() / "plain" / "ratings.csv", ratings);
  std::string crlf;
  for (char c : ratings) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  write_text(tmp.path() / "bom" / "movies.csv", "\xEF\xBB\xBF" + movies);
  write_text(tmp.path() / "bom" / "ratings.csv", "\xEF\xBB\xBF" + crlf);
  const etl::RawTable plain = read_movielens("ml-25m", tmp.path() / "plain");
  const etl::RawTable bom = read_movielens("ml-25m", tmp.path() / "bom");
  EXPECT_EQ(plain.at("rating").floats, bom.at("rating").floats);
  EXPECT_EQ(plain.at("timestamp").ints, bom.at("timestamp").ints);
  EXPECT_EQ(bom.at("userId").ints, (std::vector<std::int64_t>{1, 1, 2, 2, 3}));
}

TEST(MovieLensErrors, MissingFilesAndBadArguments) {
  TempDir tmp;
  write_text(tmp.path() / "raw" / "ratings.dat", "1::1::5::1\n");
  EXPECT_THAT([&] { movielens("ml-1m", tmp.path(), {.source = tmp.path() / "raw"}); },
              ::testing::ThrowsMessage<Error>(HasSubstr("lacks users.dat, movies.dat")));
  EXPECT_THAT([&] { movielens("ml-2m", tmp.path()); },
              ::testing::ThrowsMessage<ValueError>(
                  HasSubstr("MovieLens variant 'ml-2m': expected one of ml-100k, ml-1m, ml-25m, "
                            "ml-latest-small")));
  EXPECT_THAT([&] { movielens("ml-1m", tmp.path(), {.valid_fraction = 1.5}); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("valid_fraction 1.5")));
  EXPECT_THAT([&] { movielens("ml-1m", tmp.path(), {.source = tmp.path() / "absent.zip"}); },
              ::testing::ThrowsMessage<Error>(HasSubstr("absent.zip does not exist")));
}

}  // namespace
}  // namespace recblocks::datasets
