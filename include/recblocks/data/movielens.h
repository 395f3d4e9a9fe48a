// MovieLens: raw GroupLens files -> train and valid dataset directories,
// with the ETL of Merlin's get_movielens (merlin/datasets/entertainment/
// movielens/dataset.py).
//
//   auto [train, valid] = recblocks::datasets::movielens("ml-1m", "data/");
//
// Variants and the raw files read (GroupLens' names, inside <variant>.zip):
//   ml-100k          u.data (tab separated), u.user, u.item, u.genre ('|';
//                    u.item is latin-1 and has 19 genre flags, named by u.genre)
//   ml-1m            ratings.dat, users.dat, movies.dat ('::'; movies.dat
//                    is latin-1, genres "A|B")
//   ml-25m,          ratings.csv, movies.csv (CSV with a header, quoted
//   ml-latest-small  titles, UTF-8; no user demographics)
// Titles are converted from latin-1 to UTF-8 where the files use latin-1.
//
// Layout under `dir`:
//   dir/<variant>/   the raw files (or `dir` itself, when it holds them)
//   dir/<variant>/train, dir/<variant>/valid   dataset directories (dataset.h)
//   dir/<variant>/etl                          the fitted ETL state (etl.h)
// A second call loads the existing outputs unless options.overwrite.
// Missing raw files come from options.source (a zip or a directory), else
// are downloaded from https://files.grouplens.org/datasets/movielens/
// <variant>.zip (base overridable by $RECBLOCKS_MOVIELENS_URL) and unpacked.
//
// The ETL (as get_movielens; fitted on train only):
//   1. ratings joined with movies (title, genres) and users (gender, age,
//      occupation, zipcode); a rating for an unknown movie or user is an
//      error naming the file and line.
//   2. the split (options.split), both sides in file order (the Loader
//      shuffles):
//      random (default): valid is a uniform random subset of
//        llround(valid_fraction * rows) ratings (the last places of a
//        Fisher-Yates shuffle over Rng(seed)), train the rest. Merlin takes
//        the last 20% of ratings.sample() (unseeded) and keeps the shuffled
//        order.
//      leave-last-out: each user's latest rating is in valid (ties: the
//        later line), the rest in train; retrieval's usual evaluation.
//      time: the llround(valid_fraction * rows) latest ratings are in valid
//        (ties: the later line), the earlier ones in train.
//   3. Categorify (int32, reserved ids 0 pad / 1 null / 2 OOV, see etl.h):
//        userId      tags categorical, user_id (user, id)
//        movieId     tags categorical, item_id (item, id)
//        title       categorical
//        genres      categorical, list, item   (ragged list column)
//        gender, age, occupation, zipcode      categorical
//      TargetEncoding of rating (kfold 5, p_smooth 20, then Normalize):
//        TE_movieId_rating                     continuous, item
//        TE_userId_rating, TE_age_rating, TE_gender_rating,
//        TE_occupation_rating, TE_zipcode_rating   continuous, user
//      Targets:
//        rating_binary int32 = rating > 3      target, binary_classification
//        rating float32                        target, regression
//      Kept as they are:
//        timestamp int64 (seconds since the epoch)  time
//   4. with options.history_length > 0 (sequences.h, add_history):
//        movieId_history  the user's earlier movies (ids as movieId, the
//                         latest history_length, oldest first; a valid
//                         row's history includes the user's train rows)
//                                              categorical, list, sequence, user
//   ml-25m and ml-latest-small have no users file: they produce userId,
//   movieId, title, genres, TE_movieId_rating, TE_userId_rating and the two
//   targets. (Merlin's ml-25m ETL count-encodes userId with a log instead of
//   target encoding it; recblocks runs the same ETL for every variant.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recblocks/data/dataset.h"
#include "recblocks/data/etl.h"

namespace recblocks::datasets {

enum class MovieLensSplit : std::uint8_t { kRandom, kLeaveLastOut, kTime };

struct MovieLensOptions {
  // A <variant>.zip or a directory holding the raw files; empty: look in
  // dir/<variant>/ and dir/, then download.
  std::filesystem::path source = {};
  std::uint64_t seed = 42;                         // the train/valid split
  double valid_fraction = 0.2;                     // in (0, 1); random and time splits
  bool overwrite = false;                          // redo the import even if outputs exist
  bool download = true;                            // allowed to download missing raw files
  bool progress = true;                            // download progress on stderr
  MovieLensSplit split = MovieLensSplit::kRandom;  // step 2 above
  std::int64_t history_length = 0;                 // step 4 above; 0: none
};

std::pair<Dataset, Dataset> movielens(std::string_view variant, const std::filesystem::path& dir,
                                      MovieLensOptions options = {});

// --- the pieces, for tests, benchmarks and serving ---------------------------

// "ml-100k", "ml-1m", "ml-25m", "ml-latest-small".
const std::vector<std::string>& movielens_variants();
// The raw files a variant reads. Throws ValueError listing the variants.
std::vector<std::string> movielens_files(std::string_view variant);
bool movielens_has_demographics(std::string_view variant);

// Reads the raw files in `raw_dir` and joins them: one row per rating, in
// file order, columns userId, movieId (int64), rating (float64),
// rating_binary (int64), title (string), genres (string list) and, with
// demographics, gender, zipcode (string), age (int64) and occupation
// (int64 in ml-1m, string in ml-100k). Errors name the file, the 1-based
// line (and column) and what was expected. Also timestamp (int64, seconds
// since the epoch).
etl::RawTable read_movielens(std::string_view variant, const std::filesystem::path& raw_dir);

// The get_movielens ETL for a variant (unfitted).
etl::Workflow movielens_workflow(std::string_view variant);

// The split: row indices {train, valid} of `rows` rows, each ascending
// (see step 2 above); valid has llround(rows * valid_fraction) rows.
std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_rows(std::int64_t rows,
                                                                           std::uint64_t seed,
                                                                           double valid_fraction);

// Leave-last-out: for each user, its per_user rows with the latest
// timestamps (ties: the later row) in valid; a user with no more than
// per_user rows keeps them all in train. {train, valid}, each ascending.
std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_leave_last_out(
    std::span<const std::int64_t> users, std::span<const std::int64_t> timestamps,
    int per_user = 1);
// By time: the llround(rows * valid_fraction) rows with the latest
// timestamps (ties: the later row) in valid, the rest in train; each
// ascending.
std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_by_time(
    std::span<const std::int64_t> timestamps, double valid_fraction);
// "random", "leave-last-out", "time" and back (ValueError listing them).
const char* split_name(MovieLensSplit split);
MovieLensSplit split_from_name(std::string_view name);

// Where the raw files of `variant` are, fetching them if needed (from
// options.source, else by download). Throws Error saying what to get from
// where and where to put it when they cannot be had.
std::filesystem::path locate_movielens(std::string_view variant, const std::filesystem::path& dir,
                                       const MovieLensOptions& options = {});

}  // namespace recblocks::datasets
