// Synthetic data with a planted signal: ids with power-law (Zipf)
// popularity, and a binary target drawn from a known logit, so a model's
// AUC can be compared with the best possible one.
//
// The true logit of a row is
//   bias + <user factors, item factors>      hidden factors, dim 8
//        + sum over categorical columns of a per-id effect
//        + sum over continuous columns of weight * value
// and the binary target is Bernoulli(sigmoid(logit)). The bias is set so
// the positive rate is the shape's (Criteo ~0.25, MovieLens ~0.575).
// bayes_auc is the AUC of sigmoid(logit) against the drawn targets on the
// generated rows: what an oracle knowing the logit scores (ties count one
// half). Everything is drawn from counter-based streams keyed by (seed,
// what, row), so the output depends on the seed only, not on the thread
// count.
//
// Shapes:
//   movielens-1m  RAW FILES in the ml-1m format, to be imported by
//                 datasets::movielens("ml-1m", dir, ...) like the real ones:
//                   dir/ratings.dat  UserID::MovieID::Rating::Timestamp
//                   dir/users.dat    UserID::Gender::Age::Occupation::Zip-code
//                   dir/movies.dat   MovieID::Title (Year)::Genre|Genre
//                   dir/synthetic.json   seed, counts, bayes_auc
//                 6,040 users (M/F, the 7 ml-1m age codes, occupation
//                 0-20, 5-digit zip codes), 3,706 movies (titles
//                 "Movie 123 (1995)", 1-3 of the 18 ml-1m genres),
//                 1,000,209 ratings; every user has >= 20 ratings and every
//                 movie >= 1, ratings 1-5 with P(rating > 3) =
//                 sigmoid(logit) (rating_binary is the planted target).
//                 ASCII only (so latin-1 and UTF-8 read the same).
//   criteo        a dataset directory with the columns of datasets::criteo
//                 (label, I1..I13 = log(1 + max(x, 0)), C1..C26 ids from 3,
//                 ids 0-2 reserved as Categorify's): 26 tables with the
//                 Criteo Kaggle (DLRM) sizes capped at max_table_size,
//                 log-normal counts for the dense features, missing values
//                 at Criteo-like rates. Optionally the raw TSV too:
//                   out/train/, out/valid/ (valid_fraction > 0)
//                   out/raw/train.tsv, out/raw/valid.tsv   (write_tsv)
//                   out/synthetic.json
//   from a schema a dataset directory for any schema (schema.json, with
//                 domains for the categorical columns, at least one target).
// The criteo and schema folders are written as a whole (io::StagedDirectory):
// they replace an existing `out` in one step, so a killed run leaves the
// previous folder as it was, never a new train/ beside an old valid/.
//
//   auto r = datasets::synthetic_criteo("synth", {.rows = 100'000, .seed = 7});
//   r.bayes_auc;   // ~0.8
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "recblocks/data/dataset.h"
#include "recblocks/schema/schema.h"

namespace recblocks::datasets {

struct SyntheticResult {
  std::int64_t rows = 0;
  // AUC of the true probabilities against the binary target, all rows.
  double bayes_auc = 0.0;
  // The same on the validation rows (NaN without a split).
  double valid_bayes_auc = std::numeric_limits<double>::quiet_NaN();
  double positive_rate = 0.0;
  // Per generated row, in row order (ratings.dat order for movielens-1m):
  // the true P(target = 1) and the drawn target.
  std::vector<float> probabilities;
  std::vector<std::uint8_t> labels;
  Dataset train, valid;  // dataset shapes; valid has 0 columns without a split
  std::vector<std::filesystem::path> written;  // files and directories, in order
};

// ---- movielens-1m ------------------------------------------------------------
struct SyntheticMovieLensOptions {
  std::int64_t users = 6040;
  std::int64_t movies = 3706;
  std::int64_t ratings = 1'000'209;
  std::int64_t min_ratings_per_user = 20;  // lowered to ratings / users if needed
  std::uint64_t seed = 0;
  double zipf_exponent = 0.5;  // movie popularity ~ rank^-s
};
SyntheticResult synthetic_movielens(const std::filesystem::path& dir,
                                    const SyntheticMovieLensOptions& options = {});

// ---- criteo -------------------------------------------------------------------
// The 26 table sizes of the Criteo Kaggle data as DLRM counts them.
inline constexpr std::array<std::int64_t, 26> kCriteoKaggleTableSizes = {
    1460, 583,   10131227, 2202608, 305,  24,   12517, 633,     3,  93145, 5683,   8351593, 3194,
    27,   14992, 5461306,  10,      5652, 2173, 4,     7046547, 18, 15,    286181, 105,     142572};

struct SyntheticCriteoOptions {
  std::int64_t rows = 1'000'000;
  std::uint64_t seed = 0;
  // Tables larger than this are capped (0 = no cap).
  std::int64_t max_table_size = 100'000;
  // Empty: kCriteoKaggleTableSizes. Otherwise 26 sizes.
  std::vector<std::int64_t> table_sizes = {};
  double zipf_exponent = 1.1;
  double valid_fraction = 0.0;  // the last rows
  bool write_tsv = false;       // also out/raw/*.tsv in the original format
};
SyntheticResult synthetic_criteo(const std::filesystem::path& out,
                                 const SyntheticCriteoOptions& options = {});

// ---- any schema -----------------------------------------------------------------
// Categorical columns need a domain: ids are drawn in [min, max], leaving
// out 0, 1, 2 (Categorify's pad, null, OOV) when min is 0 and max > 3.
// List columns draw lengths in their value_count (default 1..4). The first
// USER_ID and ITEM_ID columns get the hidden factors; every other
// categorical column a per-id effect (lists: the mean over the elements);
// float32 continuous columns are N(0, 1) with a weight. Targets: binary
// ones (int32 or float32) are the Bernoulli draw, regression ones
// logit + N(0, 0.5^2).
struct SyntheticOptions {
  std::int64_t rows = 100'000;
  std::uint64_t seed = 0;
  double zipf_exponent = 1.1;
  double positive_rate = 0.3;
  double valid_fraction = 0.0;
};
SyntheticResult synthetic_from_schema(const Schema& schema, const std::filesystem::path& out,
                                      const SyntheticOptions& options = {});

// The exact AUC of scores against binary labels (ties count one half);
// NaN when a class is absent. O(n log n).
double exact_auc(std::span<const float> scores, std::span<const std::uint8_t> labels);

}  // namespace recblocks::datasets
