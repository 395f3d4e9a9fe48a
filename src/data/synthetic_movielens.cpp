// The movielens-1m shape of the synthetic generator (synthetic.h): raw
// files in the ml-1m format.
#include <fmt/format.h>

#include <numeric>
#include <string>

#include "data/synthetic_common.h"
#include "recblocks/data/synthetic.h"

namespace recblocks::datasets {
namespace {

using namespace synthetic_detail;  // NOLINT(google-build-using-namespace)
namespace fs = std::filesystem;
using nlohmann::json;

// ---- movielens-1m ---------------------------------------------------------------

// ml-1m's vocabularies and marginals (counted on the real users.dat and
// movies.dat).
constexpr std::array<const char*, 18> kGenres = {
    "Action",      "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama",     "Fantasy",   "Film-Noir",  "Horror", "Musical",
    "Mystery",     "Romance",   "Sci-Fi",    "Thriller",   "War",    "Western"};
constexpr std::array<double, 18> kGenreWeight = {503, 283, 105, 251, 1200, 211, 127, 1603, 68,
                                                 44,  343, 114, 106, 471,  276, 492, 143,  68};
constexpr std::array<double, 4> kGenreCountWeight = {2025, 1322, 421, 115};  // 1, 2, 3, 4 genres
constexpr std::array<int, 7> kAges = {1, 18, 25, 35, 45, 50, 56};
constexpr std::array<double, 7> kAgeWeight = {222, 1103, 2096, 1193, 550, 496, 380};
constexpr std::array<double, 21> kOccupationWeight = {711, 528, 267, 173, 759, 112, 236,
                                                      679, 17,  92,  195, 129, 388, 142,
                                                      302, 144, 241, 502, 70,  72,  281};
constexpr std::array<double, 10> kDecadeWeight = {3,   34,  77,  126,  168,
                                                  191, 247, 598, 2283, 156};  // 1910s..2000s
constexpr double kMaleShare = 4331.0 / 6040.0;
// Zip codes drawn uniformly from a pool of 0.8 per user give ml-1m's
// ~3,440 distinct codes for 6,040 users (n (1 - e^(-users / n))).
constexpr double kZipsPerUser = 0.8;
constexpr double kMovieLensPositiveRate = 0.575;     // ml-1m: 57.5% of ratings are 4 or 5
constexpr std::int64_t kFirstTimestamp = 956703932;  // ml-1m's range
constexpr std::int64_t kLastTimestamp = 1046454590;

struct MovieLensWorld {
  std::int64_t users = 0, movies = 0;
  std::vector<std::uint8_t> female, age, occupation;  // age: index into kAges
  std::vector<std::int32_t> zip;
  std::vector<std::int32_t> year;
  std::vector<std::uint32_t> genres;        // bit g = kGenres[g]
  std::vector<std::int32_t> movie_of_rank;  // popularity rank -> movie index
  std::vector<float> user_bias, movie_bias, user_factor, movie_factor;
  std::vector<float> gender_genre, age_genre, occupation_effect;

  float logit(std::int64_t u, std::int64_t m) const {
    const auto uu = static_cast<std::size_t>(u), mm = static_cast<std::size_t>(m);
    double z = user_bias[uu] + movie_bias[mm] +
               dot(&user_factor[uu * kFactorDim], &movie_factor[mm * kFactorDim]) +
               occupation_effect[occupation[uu]];
    int n = 0;
    double g_sum = 0;
    for (std::size_t g = 0; g < kGenres.size(); ++g) {
      if ((genres[mm] >> g & 1u) == 0) continue;
      g_sum +=
          gender_genre[female[uu] * kGenres.size() + g] + age_genre[age[uu] * kGenres.size() + g];
      ++n;
    }
    return static_cast<float>(z + (n > 0 ? g_sum / n : 0.0));
  }
};

MovieLensWorld make_world(const SyntheticMovieLensOptions& o) {
  MovieLensWorld w;
  w.users = o.users;
  w.movies = o.movies;
  const auto num_users = static_cast<std::size_t>(o.users);
  const auto num_movies = static_cast<std::size_t>(o.movies);
  const std::uint64_t seed = o.seed;
  const auto zips =
      std::max<std::int64_t>(1, std::llround(kZipsPerUser * static_cast<double>(o.users)));
  const PowerLaw zip_law(zips, 0.0);  // uniform
  w.female.resize(num_users), w.age.resize(num_users), w.occupation.resize(num_users),
      w.zip.resize(num_users);
  for (std::size_t u = 0; u < num_users; ++u) {
    w.female[u] = Stream(seed, kGender).uniform(u) >= kMaleShare ? 1 : 0;
    w.age[u] = static_cast<std::uint8_t>(discrete(kAgeWeight, Stream(seed, kAge).uniform(u)));
    w.occupation[u] = static_cast<std::uint8_t>(
        discrete(kOccupationWeight, Stream(seed, kOccupation).uniform(u)));
    const auto k = static_cast<std::uint64_t>(zip_law.rank(Stream(seed, kZip).uniform(u)));
    w.zip[u] = static_cast<std::int32_t>(Stream(seed, kZipPool).bits(k) % 100000);
  }
  w.year.resize(num_movies), w.genres.resize(num_movies);
  for (std::size_t m = 0; m < num_movies; ++m) {
    const Stream s(seed, kYear, m);
    const int decade = discrete(kDecadeWeight, s.uniform(0));
    w.year[m] = std::clamp(1910 + 10 * decade + static_cast<int>(s.uniform(1) * 10), 1919, 2000);
    const Stream g(seed, kGenreDraw, m);
    const int count = 1 + discrete(kGenreCountWeight, g.uniform(0));
    std::array<double, 18> weights = kGenreWeight;
    for (int k = 0; k < count; ++k) {  // without replacement
      const int genre = discrete(weights, g.uniform(static_cast<std::uint64_t>(k) + 1));
      w.genres[m] |= 1u << genre;
      weights[static_cast<std::size_t>(genre)] = 0;
    }
  }
  w.movie_of_rank.resize(num_movies);
  std::iota(w.movie_of_rank.begin(), w.movie_of_rank.end(), 0);
  const Stream perm(seed, kPermutation);
  for (std::size_t i = num_movies; i > 1; --i)
    std::swap(w.movie_of_rank[i - 1], w.movie_of_rank[perm.bits(i) % i]);

  // Signal: biases, factors (<p, q> has variance ~0.8) and demographic
  // tastes for genres.
  const double factor_scale = std::pow(0.8 / kFactorDim, 0.25);
  w.user_bias = normal_table(Stream(seed, kEffect, 1), o.users, 0.45);
  w.movie_bias = normal_table(Stream(seed, kEffect, 2), o.movies, 0.55);
  w.user_factor = normal_table(Stream(seed, kUserFactor),
                               static_cast<std::int64_t>(o.users) * kFactorDim, factor_scale);
  w.movie_factor = normal_table(Stream(seed, kItemFactor),
                                static_cast<std::int64_t>(o.movies) * kFactorDim, factor_scale);
  w.gender_genre = normal_table(Stream(seed, kEffect, 3), std::int64_t{2} * 18, 0.3);
  w.age_genre = normal_table(Stream(seed, kEffect, 4), std::int64_t{7} * 18, 0.3);
  w.occupation_effect = normal_table(Stream(seed, kEffect, 5), 21, 0.15);
  return w;
}

// Ratings per user: at least `min`, at most `cap`, heavy-tailed (Pareto
// weights), summing to `total` exactly.
std::vector<std::int64_t> ratings_per_user(std::int64_t users, std::int64_t total, std::int64_t min,
                                           std::int64_t cap, std::uint64_t seed) {
  const auto num_users = static_cast<std::size_t>(users);
  std::vector<double> weight(num_users);
  double sum = 0;
  for (std::size_t u = 0; u < num_users; ++u) {
    weight[u] = std::pow(1.0 - Stream(seed, kActivity).uniform(u), -1.0 / 1.3);
    sum += weight[u];
  }
  const double extra = static_cast<double>(total - min * users);
  std::vector<std::int64_t> count(num_users);
  std::int64_t assigned = 0;
  for (std::size_t u = 0; u < num_users; ++u) {
    count[u] = min + std::min(cap - min, static_cast<std::int64_t>(extra * weight[u] / sum));
    assigned += count[u];
  }
  for (std::size_t u = 0; assigned < total; u = (u + 1) % num_users) {
    if (count[u] < cap) ++count[u], ++assigned;
  }
  return count;
}

std::string users_dat(const MovieLensWorld& w) {
  std::string s;
  for (std::size_t u = 0; u < w.female.size(); ++u) {
    fmt::format_to(std::back_inserter(s), "{}::{}::{}::{}::{:05d}\n", u + 1,
                   w.female[u] ? 'F' : 'M', kAges[w.age[u]], w.occupation[u], w.zip[u]);
  }
  return s;
}

std::string movies_dat(const MovieLensWorld& w) {
  std::string s;
  for (std::size_t m = 0; m < w.genres.size(); ++m) {
    fmt::format_to(std::back_inserter(s), "{}::Movie {} ({})::", m + 1, m + 1, w.year[m]);
    bool first = true;
    for (std::size_t g = 0; g < kGenres.size(); ++g) {
      if ((w.genres[m] >> g & 1u) == 0) continue;
      if (!first) s.push_back('|');
      s += kGenres[g];
      first = false;
    }
    s.push_back('\n');
  }
  return s;
}

// A rating 1-5 whose "> 3" is the drawn target; the logit also moves it
// within each side (5 vs 4, 3 vs 2 vs 1), roughly as ml-1m's 5.6/10.8/26.1/
// 34.9/22.6 %.
int rating_of(bool positive, double logit, const Stream& s, std::uint64_t row) {
  const double u = s.uniform(row);
  if (positive) return u < sigmoid(logit - 1.3) ? 5 : 4;
  if (u < sigmoid(logit + 0.8)) return 3;
  return s.uniform(row + (1ull << 62)) < sigmoid(logit + 1.2) ? 2 : 1;
}

}  // namespace

SyntheticResult synthetic_movielens(const fs::path& dir, const SyntheticMovieLensOptions& o) {
  RB_CHECK(o.users >= 1 && o.movies >= 1, ValueError,
           "synthetic movielens: {} users and {} movies, expected >= 1", o.users, o.movies);
  const std::int64_t cap = std::max<std::int64_t>(1, o.movies * 6 / 10);
  const std::int64_t guaranteed = (o.movies + o.users - 1) / o.users;  // each movie gets one rating
  const std::int64_t min =
      std::max(guaranteed, std::min(o.min_ratings_per_user, o.ratings / o.users));
  RB_CHECK(o.ratings >= o.users * min && o.ratings <= o.users * std::max(cap, min), ValueError,
           "synthetic movielens: {} ratings for {} users and {} movies, expected between {} (every "
           "user {} and "
           "every movie one) and {} (no user rates more than 60% of the movies)",
           o.ratings, o.users, o.movies, o.users * min, min, o.users * std::max(cap, min));
  const MovieLensWorld w = make_world(o);
  const std::vector<std::int64_t> counts =
      ratings_per_user(o.users, o.ratings, min, std::max(cap, min), o.seed);
  std::vector<std::int64_t> offsets(counts.size() + 1, 0);
  std::partial_sum(counts.begin(), counts.end(), offsets.begin() + 1);

  // Each user's movies: the movies whose popularity rank is u mod users
  // (so every movie is rated), then power-law draws without repeats.
  const auto n = static_cast<std::size_t>(o.ratings);
  std::vector<std::int32_t> movie(n);
  std::vector<float> logits(n);
  const PowerLaw law(o.movies, o.zipf_exponent);
#pragma omp parallel num_threads(num_threads())
  {
    std::vector<std::uint8_t> taken(static_cast<std::size_t>(o.movies), 0);
#pragma omp for schedule(dynamic, 64)
    for (std::int64_t u = 0; u < o.users; ++u) {
      std::size_t k = static_cast<std::size_t>(offsets[static_cast<std::size_t>(u)]);
      const std::size_t end = static_cast<std::size_t>(offsets[static_cast<std::size_t>(u) + 1]);
      auto take = [&](std::int64_t rank) {
        const std::int32_t m = w.movie_of_rank[static_cast<std::size_t>(rank)];
        if (taken[static_cast<std::size_t>(m)] != 0 || k == end) return;
        taken[static_cast<std::size_t>(m)] = 1;
        movie[k] = m;
        logits[k++] = w.logit(u, m);
      };
      for (std::int64_t r = u; r < o.movies; r += o.users) take(r);
      const Stream pick(o.seed, kPick, static_cast<std::uint64_t>(u));
      // take() advances k (captured by reference) when the movie is new.
      std::uint64_t draw = 0;
      while (k < end) take(law.rank(pick.uniform(draw++)));  // NOLINT(bugprone-infinite-loop)
      for (std::size_t i = static_cast<std::size_t>(offsets[static_cast<std::size_t>(u)]); i < end;
           ++i) {
        taken[static_cast<std::size_t>(movie[i])] = 0;
      }
    }
  }
  SyntheticResult r;
  draw_targets(logits, kMovieLensPositiveRate, o.seed, o.ratings, r);

  // ratings.dat, grouped by user like the real file.
  std::string ratings;
  ratings.reserve(n * 26);
  const Stream rating_stream(o.seed, kRating), time_stream(o.seed, kTime), join(o.seed, kJoin);
  for (std::int64_t u = 0; u < o.users; ++u) {
    const auto t0 = kFirstTimestamp +
                    static_cast<std::int64_t>(join.uniform(static_cast<std::uint64_t>(u)) * 2.2e7);
    for (auto i = static_cast<std::size_t>(offsets[static_cast<std::size_t>(u)]);
         i < static_cast<std::size_t>(offsets[static_cast<std::size_t>(u) + 1]); ++i) {
      const int rating = rating_of(r.labels[i] != 0, logits[i], rating_stream, i);
      const double days = -std::log(1.0 - time_stream.uniform(i)) * 40.0;
      const std::int64_t ts =
          std::min(kLastTimestamp, t0 + static_cast<std::int64_t>(days * 86400.0));
      fmt::format_to(std::back_inserter(ratings), "{}::{}::{}::{}\n", u + 1, movie[i] + 1, rating,
                     ts);
    }
  }

  fs::create_directories(dir);
  io::write_file_atomic(dir / "users.dat", users_dat(w));
  io::write_file_atomic(dir / "movies.dat", movies_dat(w));
  io::write_file_atomic(dir / "ratings.dat", ratings);
  r.written = {dir / "ratings.dat", dir / "users.dat", dir / "movies.dat"};
  const json meta = {{"generator", "recblocks synthetic"},
                     {"shape", "movielens-1m"},
                     {"format", "ml-1m raw files (ratings.dat, users.dat, movies.dat)"},
                     {"seed", o.seed},
                     {"users", o.users},
                     {"movies", o.movies},
                     {"zipf_exponent", o.zipf_exponent},
                     {"target", "rating > 3 (rating_binary); bayes_auc is for it"}};
  write_metadata(dir / "synthetic.json", meta, r);
  return r;
}

}  // namespace recblocks::datasets
