#include "recblocks/data/synthetic.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <regex>
#include <set>

#include "data/importers_testing.h"
#include "recblocks/core/threads.h"
#include "recblocks/data/criteo.h"
#include "recblocks/data/dataset.h"
#include "recblocks/data/etl.h"
#include "recblocks/data/movielens.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
namespace ds = datasets;
using nlohmann::json;
using testing::error_message;
using ::testing::HasSubstr;
using testing::TempDir;

// AUC by counting every (positive, negative) pair: the definition.
double pairwise_auc(const std::vector<float>& p, const std::vector<std::uint8_t>& y) {
  double wins = 0, pairs = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (y[i] == 0) continue;
    for (std::size_t j = 0; j < p.size(); ++j) {
      if (y[j] != 0) continue;
      wins += p[i] > p[j] ? 1.0 : p[i] == p[j] ? 0.5 : 0.0;
      pairs += 1;
    }
  }
  return wins / pairs;
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

bool same_dataset(const Dataset& a, const Dataset& b) {
  if (a.schema() != b.schema() || a.num_rows() != b.num_rows()) return false;
  for (const auto& [name, column] : a.columns()) {
    if (!same_values(column.values, b.column(name).values)) return false;
    if (column.is_list() && !same_values(column.offsets, b.column(name).offsets)) return false;
  }
  return true;
}

std::vector<std::int32_t> ints(const Tensor& t) {
  return std::vector<std::int32_t>(t.data<std::int32_t>(), t.data<std::int32_t>() + t.numel());
}

// ---- exact_auc ---------------------------------------------------------------

TEST(ExactAuc, MatchesHandCountsWithTies) {
  const std::vector<float> s = {0.1f, 0.4f, 0.35f, 0.8f};
  const std::vector<std::uint8_t> y = {0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(ds::exact_auc(s, y), 0.75);  // 3 of the 4 pairs ordered
  const std::vector<float> tied = {0.5f, 0.5f, 0.2f};
  const std::vector<std::uint8_t> ty = {1, 0, 0};
  EXPECT_DOUBLE_EQ(ds::exact_auc(tied, ty), 0.75);  // one win, one tie
  const std::vector<std::uint8_t> one_class = {1, 1, 1};
  EXPECT_TRUE(std::isnan(ds::exact_auc(tied, one_class)));
}

// ---- criteo -------------------------------------------------------------------

ds::SyntheticCriteoOptions small_criteo() {
  return {.rows = 3000, .seed = 7, .max_table_size = 1000};
}

TEST(SyntheticCriteo, DeterministicForASeedWhateverTheThreadCount) {
  TempDir tmp;
  const int threads = num_threads();
  set_num_threads(1);
  const auto a = ds::synthetic_criteo(tmp / "a", small_criteo());
  set_num_threads(3);
  const auto b = ds::synthetic_criteo(tmp / "b", small_criteo());
  set_num_threads(threads);
  EXPECT_TRUE(same_dataset(a.train, b.train));
  EXPECT_TRUE(same_dataset(Dataset::load(tmp / "a" / "train"), Dataset::load(tmp / "b" / "train")));
  EXPECT_EQ(a.probabilities, b.probabilities);
  EXPECT_EQ(a.bayes_auc, b.bayes_auc);
  auto other = small_criteo();
  other.seed = 8;
  const auto c = ds::synthetic_criteo(tmp / "c", other);
  EXPECT_NE(ints(a.train.column("C1").values), ints(c.train.column("C1").values));
}

TEST(SyntheticCriteo, ColumnsDomainsAndSplit) {
  TempDir tmp;
  auto o = small_criteo();
  o.valid_fraction = 0.2;
  const auto r = ds::synthetic_criteo(tmp / "out", o);
  ASSERT_EQ(r.train.num_rows(), 2400);
  ASSERT_EQ(r.valid.num_rows(), 600);
  EXPECT_EQ(Dataset::load(tmp / "out" / "valid").num_rows(), 600);
  const Schema& s = r.train.schema();
  ASSERT_EQ(s.size(), 40u);
  // Kaggle sizes capped at 1000, plus the 3 reserved ids.
  EXPECT_EQ(s.column("C3").cardinality(), 1003);
  EXPECT_EQ(s.column("C1").cardinality(), 1003);
  EXPECT_EQ(s.column("C9").cardinality(), 6);
  EXPECT_EQ(s.column("C6").cardinality(), 27);
  EXPECT_TRUE(s.column("label").has_tag(Tags::BINARY_CLASSIFICATION));
  EXPECT_TRUE(s.column("I5").has_tag(Tags::CONTINUOUS));
  for (int t = 0; t < 26; ++t) {
    const std::string name = fmt::format("C{}", t + 1);
    for (std::int32_t id : ints(r.train.column(name).values)) {
      ASSERT_TRUE(id == 1 || (id >= 3 && id < s.column(name).cardinality()))
          << name << " id " << id;
    }
  }
  // Missing at Criteo-like rates: C22 ~76% null, C1 never.
  const auto c22 = ints(r.train.column("C22").values);
  const double null_rate = static_cast<double>(std::count(c22.begin(), c22.end(), 1)) / 2400.0;
  EXPECT_NEAR(null_rate, 0.76, 0.05);
  const auto c1 = ints(r.train.column("C1").values);
  EXPECT_EQ(std::count(c1.begin(), c1.end(), 1), 0);
  for (float v : r.train.column("I5").values.to_vector()) ASSERT_GE(v, 0.0f);
  // The figures are recorded beside the data.
  const json meta = json::parse(testing::read_text(tmp / "out" / "synthetic.json"));
  EXPECT_DOUBLE_EQ(meta["bayes_auc"].get<double>(), r.bayes_auc);
  EXPECT_DOUBLE_EQ(meta["valid_bayes_auc"].get<double>(), r.valid_bayes_auc);
  EXPECT_EQ(meta["table_sizes"][2], 1000);
  EXPECT_DOUBLE_EQ(s.column("label").properties()["synthetic"]["bayes_auc"].get<double>(),
                   r.bayes_auc);
}

// The output folder is replaced as a whole (one staged directory): a second
// run without a split leaves no valid/ of the first run beside its train/,
// and r.written names the final paths, not the staging ones.
TEST(SyntheticCriteo, RewritingTheFolderReplacesItWhole) {
  TempDir tmp;
  auto o = small_criteo();
  o.valid_fraction = 0.2;
  ds::synthetic_criteo(tmp / "out", o);
  ASSERT_TRUE(fs::exists(tmp / "out" / "valid"));
  o.valid_fraction = 0.0;
  o.seed += 1;
  const auto r = ds::synthetic_criteo(tmp / "out", o);
  EXPECT_FALSE(fs::exists(tmp / "out" / "valid"));
  EXPECT_EQ(Dataset::load(tmp / "out" / "train").num_rows(), 3000);
  EXPECT_EQ(r.written,
            (std::vector<fs::path>{tmp / "out" / "train", tmp / "out" / "synthetic.json"}));
  const json meta = json::parse(testing::read_text(tmp / "out" / "synthetic.json"));
  EXPECT_EQ(meta["seed"], o.seed);
  for (const auto& entry : fs::directory_iterator(tmp.path())) {
    EXPECT_EQ(entry.path().filename(), "out") << "left beside the folder: " << entry.path();
  }
}

TEST(SyntheticCriteo, IdPopularityFollowsAPowerLaw) {
  TempDir tmp;
  const auto r =
      ds::synthetic_criteo(tmp / "out", {.rows = 20000, .seed = 1, .max_table_size = 10000});
  const auto ids = ints(r.train.column("C1").values);  // 1460 values, no nulls
  std::map<std::int32_t, std::int64_t> counts;
  for (auto id : ids) ++counts[id];
  std::vector<std::int64_t> sorted;
  for (const auto& [id, n] : counts) sorted.push_back(n);
  std::sort(sorted.rbegin(), sorted.rend());
  // The most popular id is 3 (Categorify's order), and the top 1% of the
  // table's ids hold about half the rows; the less popular half almost none.
  EXPECT_EQ(std::max_element(counts.begin(), counts.end(),
                             [](auto& a, auto& b) { return a.second < b.second; })
                ->first,
            3);
  const std::int64_t top = std::accumulate(sorted.begin(), sorted.begin() + 15, std::int64_t{0});
  EXPECT_GT(static_cast<double>(top) / 20000.0, 0.4);
  std::int64_t tail = 0;
  for (const auto& [id, n] : counts) tail += id >= 3 + 730 ? n : 0;
  EXPECT_LT(static_cast<double>(tail) / 20000.0, 0.1);
}

TEST(SyntheticCriteo, PlantedSignalGivesAKnownBayesAuc) {
  TempDir tmp;
  const auto r = ds::synthetic_criteo(tmp / "out", small_criteo());
  ASSERT_EQ(r.probabilities.size(), 3000u);
  EXPECT_GT(r.bayes_auc, 0.7);
  EXPECT_LT(r.bayes_auc, 0.95);
  EXPECT_NEAR(pairwise_auc(r.probabilities, r.labels), r.bayes_auc, 1e-12);
  EXPECT_NEAR(r.positive_rate, 0.25, 0.04);
  // The dataset's label column holds the drawn targets.
  const auto label = ints(r.train.column("label").values);
  for (std::size_t i = 0; i < label.size(); ++i) ASSERT_EQ(label[i], r.labels[i]);
}

TEST(SyntheticCriteo, RawTsvImportsBackWithTheCriteoImporter) {
  TempDir tmp;
  auto o = small_criteo();
  o.rows = 2000;
  o.valid_fraction = 0.25;
  o.write_tsv = true;
  const auto r = ds::synthetic_criteo(tmp / "synth", o);
  const fs::path train_tsv = tmp / "synth" / "raw" / "train.tsv";
  ASSERT_EQ(testing::lines_of(train_tsv).size(), 1500u);
  ASSERT_EQ(testing::lines_of(tmp / "synth" / "raw" / "valid.tsv").size(), 500u);
  const auto imported = ds::criteo({train_tsv}, tmp / "imported",
                                   {.valid_files = {tmp / "synth" / "raw" / "valid.tsv"}});
  ASSERT_EQ(imported.train.num_rows(), 1500);
  ASSERT_EQ(imported.valid.num_rows(), 500);
  EXPECT_TRUE(same_values(imported.train.column("label").values, r.train.column("label").values));
  for (int j = 1; j <= 13; ++j) {
    const std::string name = fmt::format("I{}", j);
    EXPECT_TRUE(same_values(imported.train.column(name).values, r.train.column(name).values))
        << name;
    EXPECT_TRUE(same_values(imported.valid.column(name).values, r.valid.column(name).values))
        << name;
  }
  // Categorical ids: the same partition of the rows (a bijection between
  // generated and imported ids), and nulls in the same places.
  for (int t = 1; t <= 26; ++t) {
    const std::string name = fmt::format("C{}", t);
    const auto a = ints(r.train.column(name).values), b = ints(imported.train.column(name).values);
    std::map<std::int32_t, std::int32_t> forward, backward;
    for (std::size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i] == 1, b[i] == 1) << name << " row " << i;
      ASSERT_EQ(forward.emplace(a[i], b[i]).first->second, b[i]) << name;
      ASSERT_EQ(backward.emplace(b[i], a[i]).first->second, a[i]) << name;
    }
    const bool has_null = std::count(a.begin(), a.end(), 1) > 0;
    EXPECT_EQ(imported.train.schema().column(name).cardinality(),
              3 + static_cast<std::int64_t>(forward.size()) - (has_null ? 1 : 0))
        << name;
  }
}

TEST(SyntheticCriteo, BadOptionsAreNamed) {
  TempDir tmp;
  EXPECT_THAT(error_message<ValueError>([&] {
                ds::synthetic_criteo(tmp / "x", {.rows = 10, .table_sizes = {1, 2}});
              }),
              HasSubstr("synthetic criteo: 2 table sizes, expected 26"));
  EXPECT_THAT(error_message<ValueError>(
                  [&] { ds::synthetic_criteo(tmp / "x", {.rows = 10, .valid_fraction = 1.5}); }),
              HasSubstr("valid_fraction 1.5, expected in [0, 1)"));
}

// ---- movielens-1m ------------------------------------------------------------

ds::SyntheticMovieLensOptions small_movielens() {
  return {.users = 300, .movies = 200, .ratings = 9000, .seed = 3};
}

TEST(SyntheticMovieLens, RawFilesHaveTheMl1mFormat) {
  TempDir tmp;
  const fs::path dir = tmp / "ml-1m";
  const auto r = ds::synthetic_movielens(dir, small_movielens());
  const auto ratings = testing::lines_of(dir / "ratings.dat");
  ASSERT_EQ(ratings.size(), 9000u);
  ASSERT_EQ(r.labels.size(), 9000u);
  std::map<int, int> per_user, per_movie;
  std::set<std::pair<int, int>> pairs;
  std::int64_t positives = 0;
  for (std::size_t i = 0; i < ratings.size(); ++i) {
    const auto f = testing::split(ratings[i], ':');  // "a::b" splits into "a", "", "b"
    ASSERT_EQ(f.size(), 7u) << ratings[i];
    const int user = std::stoi(f[0]), movie = std::stoi(f[2]), rating = std::stoi(f[4]);
    const long long ts = std::stoll(f[6]);
    ASSERT_TRUE(user >= 1 && user <= 300 && movie >= 1 && movie <= 200) << ratings[i];
    ASSERT_TRUE(rating >= 1 && rating <= 5) << ratings[i];
    ASSERT_TRUE(ts >= 956703932 && ts <= 1046454590) << ratings[i];
    ASSERT_TRUE(pairs.emplace(user, movie).second) << "repeated " << ratings[i];
    ASSERT_EQ(rating > 3, r.labels[i] == 1) << "line " << i + 1;
    ++per_user[user], ++per_movie[movie];
    positives += rating > 3;
  }
  EXPECT_EQ(per_user.size(), 300u);
  EXPECT_EQ(per_movie.size(), 200u);  // every movie rated
  for (const auto& [u, n] : per_user) ASSERT_GE(n, 20) << "user " << u;
  EXPECT_NEAR(static_cast<double>(positives) / 9000.0, 0.575, 0.04);
  EXPECT_GT(r.bayes_auc, 0.7);
  EXPECT_NEAR(pairwise_auc(r.probabilities, r.labels), r.bayes_auc, 1e-12);

  const std::regex user_line(R"(\d+::[MF]::(1|18|25|35|45|50|56)::(\d|1\d|20)::\d{5})");
  const auto users = testing::lines_of(dir / "users.dat");
  ASSERT_EQ(users.size(), 300u);
  for (const auto& line : users) ASSERT_TRUE(std::regex_match(line, user_line)) << line;
  const std::string genre =
      R"((Action|Adventure|Animation|Children's|Comedy|Crime|Documentary|Drama|Fantasy|)"
      R"(Film-Noir|Horror|Musical|Mystery|Romance|Sci-Fi|Thriller|War|Western))";
  const std::regex movie_line(R"((\d+)::Movie (\d+) \((19[1-9]\d|2000)\)::)" + genre + "(\\|" +
                              genre + ")*");
  const auto movies = testing::lines_of(dir / "movies.dat");
  ASSERT_EQ(movies.size(), 200u);
  for (const auto& line : movies) ASSERT_TRUE(std::regex_match(line, movie_line)) << line;
  const json meta = json::parse(testing::read_text(dir / "synthetic.json"));
  EXPECT_DOUBLE_EQ(meta["bayes_auc"].get<double>(), r.bayes_auc);
  EXPECT_EQ(meta["shape"], "movielens-1m");
}

TEST(SyntheticMovieLens, DefaultShapeHasTheCardinalitiesOfMl1m) {
  TempDir tmp;
  ds::SyntheticMovieLensOptions o;
  o.ratings = 130'000;  // the full 1,000,209 takes longer; the users and movies are ml-1m's
  ds::synthetic_movielens(tmp / "ml", o);
  EXPECT_EQ(testing::lines_of(tmp / "ml" / "users.dat").size(), 6040u);
  EXPECT_EQ(testing::lines_of(tmp / "ml" / "movies.dat").size(), 3706u);
  std::set<std::string> users, movies;
  for (const auto& line : testing::lines_of(tmp / "ml" / "ratings.dat")) {
    const auto f = testing::split(line, ':');
    users.insert(f[0]);
    movies.insert(f[2]);
  }
  EXPECT_EQ(users.size(), 6040u);
  EXPECT_EQ(movies.size(), 3706u);
  EXPECT_EQ(ds::SyntheticMovieLensOptions{}.ratings, 1'000'209);
}

TEST(SyntheticMovieLens, DeterministicFilesWhateverTheThreadCount) {
  TempDir tmp;
  const int threads = num_threads();
  set_num_threads(1);
  ds::synthetic_movielens(tmp / "a", small_movielens());
  set_num_threads(3);
  ds::synthetic_movielens(tmp / "b", small_movielens());
  set_num_threads(threads);
  for (const char* f : {"ratings.dat", "users.dat", "movies.dat", "synthetic.json"}) {
    EXPECT_EQ(testing::read_text(tmp / "a" / f), testing::read_text(tmp / "b" / f)) << f;
  }
}

TEST(SyntheticMovieLens, ImportsWithTheMovieLensImporter) {
  TempDir tmp;
  const auto r = ds::synthetic_movielens(tmp / "raw", small_movielens());
  const auto [train, valid] = ds::movielens(
      "ml-1m", tmp / "data", {.source = tmp / "raw", .download = false, .progress = false});
  EXPECT_EQ(train.num_rows() + valid.num_rows(), 9000);
  const Schema& s = train.schema();
  EXPECT_EQ(s.column("userId").cardinality(), 303);
  EXPECT_EQ(s.column("movieId").cardinality(), 203);
  EXPECT_EQ(s.column("gender").cardinality(), 5);
  EXPECT_LE(s.column("age").cardinality(), 10);
  EXPECT_TRUE(s.column("genres").is_list());
  std::int64_t positives = 0;
  for (const Dataset* d : {&train, &valid}) {
    for (auto y : ints(d->column("rating_binary").values)) positives += y;
  }
  std::int64_t expected = 0;
  for (auto y : r.labels) expected += y;
  EXPECT_EQ(positives, expected);
}

TEST(SyntheticMovieLens, ImpossibleCountsAreRefused) {
  TempDir tmp;
  EXPECT_THAT(error_message<ValueError>([&] {
                ds::synthetic_movielens(tmp / "x", {.users = 10, .movies = 50, .ratings = 5000});
              }),
              HasSubstr("5000 ratings for 10 users and 50 movies"));
}

// ---- any schema ----------------------------------------------------------------

Schema event_schema() {
  return Schema({
      ColumnSchema("user", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID})
          .with_domain({.min = 0, .max = 500, .name = "user"}),
      ColumnSchema("item", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM_ID})
          .with_domain({.min = 0, .max = 300, .name = "item"}),
      ColumnSchema("tags", DType::kInt32, {Tags::CATEGORICAL})
          .with_domain({.min = 0, .max = 50, .name = "tags"})
          .with_list(true, true, ValueCount{.min = 1, .max = 3}),
      ColumnSchema("age", DType::kInt32, {Tags::CATEGORICAL})
          .with_domain({.min = 1, .max = 3, .name = "age"}),
      ColumnSchema("price", DType::kFloat32, {Tags::CONTINUOUS}),
      ColumnSchema("click", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
      ColumnSchema("score", DType::kFloat32, {Tags::TARGET, Tags::REGRESSION}),
  });
}

TEST(SyntheticSchema, GeneratesEveryKindOfColumn) {
  TempDir tmp;
  const auto r = ds::synthetic_from_schema(event_schema(), tmp / "out",
                                           {.rows = 4000, .seed = 5, .valid_fraction = 0.25});
  ASSERT_EQ(r.train.num_rows(), 3000);
  ASSERT_EQ(r.valid.num_rows(), 1000);
  const Dataset d = Dataset::load(tmp / "out" / "train");
  for (auto id : ints(d.column("user").values)) ASSERT_TRUE(id >= 3 && id <= 500);
  for (auto id : ints(d.column("age").values))
    ASSERT_TRUE(id >= 1 && id <= 3);  // a domain not from 0
  const Column& tags = d.column("tags");
  ASSERT_TRUE(tags.is_list());
  const auto* off = tags.offsets.data<std::int64_t>();
  for (std::int64_t i = 0; i < 3000; ++i)
    ASSERT_TRUE(off[i + 1] - off[i] >= 1 && off[i + 1] - off[i] <= 3);
  for (auto id : ints(tags.values)) ASSERT_TRUE(id >= 3 && id <= 50);
  const auto price = d.column("price").values.to_vector();
  double mean = 0, sq = 0;
  for (float v : price) mean += v, sq += v * v;
  mean /= 3000;
  EXPECT_NEAR(mean, 0.0, 0.08);
  EXPECT_NEAR(sq / 3000 - mean * mean, 1.0, 0.1);
  const auto click = ints(d.column("click").values);
  for (std::size_t i = 0; i < click.size(); ++i) ASSERT_EQ(click[i], r.labels[i]);
  EXPECT_GT(r.bayes_auc, 0.7);
  EXPECT_NEAR(r.positive_rate, 0.3, 0.04);
  EXPECT_NEAR(pairwise_auc(r.probabilities, r.labels), r.bayes_auc, 1e-12);
  // The regression target is the logit plus noise: it ranks the clicks too.
  const auto score = d.column("score").values.to_vector();
  EXPECT_GT(ds::exact_auc(score, std::span(r.labels).first(3000)), 0.65);
  // Same seed, same data.
  const auto again = ds::synthetic_from_schema(event_schema(), tmp / "again",
                                               {.rows = 4000, .seed = 5, .valid_fraction = 0.25});
  EXPECT_TRUE(same_dataset(r.train, again.train));
}

TEST(SyntheticSchema, RefusesWhatItCannotGenerate) {
  TempDir tmp;
  EXPECT_THAT(
      error_message<ValueError>([&] {
        ds::synthetic_from_schema(event_schema().without({"click", "score"}), tmp / "x",
                                  {.rows = 10});
      }),
      HasSubstr("the schema has no target column (tag one 'target' with 'binary_classification' or "
                "'regression'); columns: user, item, tags, age, price"));
  const Schema no_domain(
      {ColumnSchema("city", DType::kInt32, {Tags::CATEGORICAL}),
       ColumnSchema("y", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION})});
  EXPECT_THAT(error_message<ValueError>(
                  [&] { ds::synthetic_from_schema(no_domain, tmp / "x", {.rows = 10}); }),
              HasSubstr("categorical column 'city' has no domain"));
}

}  // namespace
}  // namespace recblocks
