// The train/valid splits of an import (movielens.h): random, leave the
// last out per user, by time.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "recblocks/core/error.h"
#include "recblocks/core/rng.h"
#include "recblocks/data/movielens.h"

namespace recblocks::datasets {

namespace {

// {rows not in valid, rows in valid}, both in file order: gathers stay
// sequential, and the loader shuffles anyway.
std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_of(
    const std::vector<std::uint8_t>& in_valid) {
  std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split;
  const auto valid = static_cast<std::size_t>(std::count(in_valid.begin(), in_valid.end(), 1));
  split.first.reserve(in_valid.size() - valid);
  split.second.reserve(valid);
  for (std::size_t r = 0; r < in_valid.size(); ++r) {
    (in_valid[r] ? split.second : split.first).push_back(static_cast<std::int64_t>(r));
  }
  return split;
}

}  // namespace

std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_rows(std::int64_t rows,
                                                                           std::uint64_t seed,
                                                                           double valid_fraction) {
  RB_CHECK(valid_fraction > 0 && valid_fraction < 1, ValueError,
           "valid_fraction {}: expected a value in (0, 1)", valid_fraction);
  const auto n_valid =
      static_cast<std::int64_t>(std::llround(static_cast<double>(rows) * valid_fraction));
  // The last n_valid places of a Fisher-Yates shuffle: a uniform random
  // subset of rows (only those places need drawing).
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) order[static_cast<std::size_t>(i)] = i;
  Rng rng(seed);
  for (std::int64_t i = rows - 1; i >= rows - n_valid && i > 0; --i) {
    const auto j = static_cast<std::int64_t>(rng.next_u64() % static_cast<std::uint64_t>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  std::vector<std::uint8_t> in_valid(static_cast<std::size_t>(rows), 0);
  for (std::int64_t i = rows - n_valid; i < rows; ++i) {
    in_valid[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
  }
  return split_of(in_valid);
}

std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_leave_last_out(
    std::span<const std::int64_t> users, std::span<const std::int64_t> timestamps, int per_user) {
  RB_CHECK(users.size() == timestamps.size(), ValueError,
           "leave-last-out split: {} users but {} timestamps", users.size(), timestamps.size());
  RB_CHECK(per_user >= 1, ValueError, "leave-last-out split: per_user is {}, expected >= 1",
           per_user);
  const auto rows = static_cast<std::int64_t>(users.size());
  // Rows by (user, timestamp, row): each user's rows end with its latest.
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) order[static_cast<std::size_t>(i)] = i;
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
    if (users[ua] != users[ub]) return users[ua] < users[ub];
    if (timestamps[ua] != timestamps[ub]) return timestamps[ua] < timestamps[ub];
    return a < b;
  });
  std::vector<std::uint8_t> in_valid(static_cast<std::size_t>(rows), 0);
  for (std::int64_t begin = 0; begin < rows;) {
    std::int64_t end = begin + 1;
    const std::int64_t user =
        users[static_cast<std::size_t>(order[static_cast<std::size_t>(begin)])];
    while (end < rows &&
           users[static_cast<std::size_t>(order[static_cast<std::size_t>(end)])] == user)
      ++end;
    if (end - begin > per_user) {
      for (std::int64_t i = end - per_user; i < end; ++i)
        in_valid[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
    }
    begin = end;
  }
  return split_of(in_valid);
}

std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_by_time(
    std::span<const std::int64_t> timestamps, double valid_fraction) {
  RB_CHECK(valid_fraction > 0 && valid_fraction < 1, ValueError,
           "valid_fraction {}: expected a value in (0, 1)", valid_fraction);
  const auto rows = static_cast<std::int64_t>(timestamps.size());
  const auto n_valid =
      static_cast<std::int64_t>(std::llround(static_cast<double>(rows) * valid_fraction));
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) order[static_cast<std::size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return timestamps[static_cast<std::size_t>(a)] < timestamps[static_cast<std::size_t>(b)];
  });
  std::vector<std::uint8_t> in_valid(static_cast<std::size_t>(rows), 0);
  for (std::int64_t i = rows - n_valid; i < rows; ++i)
    in_valid[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
  return split_of(in_valid);
}

const char* split_name(MovieLensSplit split) {
  switch (split) {
    case MovieLensSplit::kRandom: return "random";
    case MovieLensSplit::kLeaveLastOut: return "leave-last-out";
    case MovieLensSplit::kTime: return "time";
  }
  return "";
}

MovieLensSplit split_from_name(std::string_view name) {
  for (MovieLensSplit s :
       {MovieLensSplit::kRandom, MovieLensSplit::kLeaveLastOut, MovieLensSplit::kTime}) {
    if (name == split_name(s)) return s;
  }
  throw ValueError(
      fmt::format("MovieLens split '{}': expected random, leave-last-out or time", name));
}

}  // namespace recblocks::datasets
