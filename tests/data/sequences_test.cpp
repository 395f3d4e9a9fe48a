// Sequence data: each row's history of earlier items (add_history, with
// the training rows as context for validation rows), the query after a row
// (advance_history), per-user sequences (group_by_user, ragged and padded),
// against hand-written examples, and MovieLens' timestamp and history
// columns on the real ml-100k.
#include "recblocks/data/sequences.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "data/movielens_testing.h"
#include "recblocks/data/movielens.h"

namespace recblocks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Dataset interactions(const std::vector<std::int32_t>& users, const std::vector<std::int32_t>& items,
                     const std::vector<std::int64_t>& times) {
  const auto rows = static_cast<std::int64_t>(users.size());
  const Schema schema({
      ColumnSchema("userId", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID}).with_domain(0, 9),
      ColumnSchema("movieId", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM_ID})
          .with_domain(0, 99, "movieId"),
      ColumnSchema("timestamp", DType::kInt64, {Tags::TIME}),
  });
  return Dataset(schema, {{"userId", Column{Tensor::from<std::int32_t>({rows}, users), {}}},
                          {"movieId", Column{Tensor::from<std::int32_t>({rows}, items), {}}},
                          {"timestamp", Column{Tensor::from<std::int64_t>({rows}, times), {}}}});
}

// Row r's list of a ragged int32 column.
std::vector<std::int32_t> list_at(const Dataset& data, const std::string& column, std::int64_t r) {
  const Column& c = data.column(column);
  const auto* off = c.offsets.data<std::int64_t>();
  const auto* v = c.values.data<std::int32_t>();
  return {v + off[r], v + off[r + 1]};
}

TEST(AddHistory, EarlierItemsOfTheSameUserOldestFirst) {
  // User 1: items 10 (t=5), 11 (t=3), 12 (t=5, later row: after 10), 13 (t=9).
  // User 2: item 20 (t=1).
  const Dataset data = interactions({1, 1, 2, 1, 1}, {10, 11, 20, 12, 13}, {5, 3, 1, 5, 9});
  const Dataset out = datasets::add_history(data, {.max_length = 2});
  EXPECT_THAT(list_at(out, "movieId_history", 0), ElementsAre(11));
  EXPECT_THAT(list_at(out, "movieId_history", 1), ElementsAre());
  EXPECT_THAT(list_at(out, "movieId_history", 2), ElementsAre());
  EXPECT_THAT(list_at(out, "movieId_history", 3), ElementsAre(11, 10));
  EXPECT_THAT(list_at(out, "movieId_history", 4),
              ElementsAre(10, 12));  // the latest 2 of 11, 10, 12
  const ColumnSchema& c = out.schema().column("movieId_history");
  EXPECT_TRUE(c.is_list() && c.is_ragged());
  EXPECT_TRUE(c.has_tag(Tags::USER) && c.has_tag(Tags::SEQUENCE) && c.has_tag(Tags::CATEGORICAL));
  EXPECT_FALSE(c.has_tag(Tags::ID));  // not a second ITEM_ID column
  EXPECT_EQ(c.domain()->name, "movieId");
  EXPECT_EQ(c.cardinality(), 100);
  EXPECT_EQ(c.value_count()->max, 2);
  // The other columns are kept.
  EXPECT_EQ(out.num_rows(), 5);
  EXPECT_EQ(out.schema().size(), 4u);

  // Validation rows see the training rows as context.
  const Dataset valid = interactions({1, 2, 3}, {14, 21, 30}, {10, 2, 0});
  const Dataset v = datasets::add_history(valid, {.max_length = 3}, &data);
  EXPECT_THAT(list_at(v, "movieId_history", 0), ElementsAre(10, 12, 13));
  EXPECT_THAT(list_at(v, "movieId_history", 1), ElementsAre(20));
  EXPECT_THAT(list_at(v, "movieId_history", 2), ElementsAre());

  // The query after each row: its own item appended, the latest kept.
  const Dataset next = datasets::advance_history(out, {.max_length = 2});
  EXPECT_THAT(list_at(next, "movieId_history", 1), ElementsAre(11));
  EXPECT_THAT(list_at(next, "movieId_history", 4), ElementsAre(12, 13));
}

TEST(AddHistory, Errors) {
  const Dataset data = interactions({1}, {10}, {5});
  auto error_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(error_of([&] { datasets::add_history(data, {.time_column = "ts"}); }),
              HasSubstr("the data has no column 'ts'"));
  EXPECT_THAT(error_of([&] { datasets::add_history(data, {.max_length = 0}); }),
              HasSubstr("max_length is 0"));
  const Dataset twice = datasets::add_history(data);
  EXPECT_THAT(error_of([&] { datasets::add_history(twice); }),
              HasSubstr("already has a column 'movieId_history'"));
  EXPECT_THAT(error_of([&] {
                datasets::add_history(twice, {.item_column = "movieId_history", .name = "h"});
              }),
              HasSubstr("column 'movieId_history' is int32"));
  EXPECT_THAT(error_of([&] { datasets::group_by_user(data, {.pad = true}); }),
              HasSubstr("pad needs a max_length"));
}

TEST(GroupByUser, SequencesSortedByTimeRaggedAndPadded) {
  const Dataset data = interactions({2, 1, 1, 2, 1}, {20, 10, 11, 21, 12}, {7, 9, 3, 1, 4});
  const Dataset users = datasets::group_by_user(data);
  ASSERT_EQ(users.num_rows(), 2);
  EXPECT_EQ(users.column("userId").values.data<std::int32_t>()[0], 1);
  EXPECT_THAT(list_at(users, "movieId_list", 0), ElementsAre(11, 12, 10));
  EXPECT_THAT(list_at(users, "movieId_list", 1), ElementsAre(21, 20));
  EXPECT_EQ(users.column("movieId_count").values.data<std::int32_t>()[0], 3);
  const Column& times = users.column("timestamp_list");
  EXPECT_EQ(times.values.data<std::int64_t>()[0], 3);
  EXPECT_EQ(times.values.data<std::int64_t>()[2], 9);

  // Sessions of at most 2, padded with id 0: the latest 2, left-aligned.
  const Dataset padded = datasets::group_by_user(data, {.max_length = 2, .pad = true});
  const Column& items = padded.column("movieId_list");
  EXPECT_FALSE(items.is_list());
  ASSERT_EQ(items.values.shape(), Shape({2, 2}));
  const auto* v = items.values.data<std::int32_t>();
  EXPECT_THAT(std::vector<std::int32_t>(v, v + 4), ElementsAre(12, 10, 21, 20));
  const ColumnSchema& c = padded.schema().column("movieId_list");
  EXPECT_FALSE(c.is_ragged());
  EXPECT_EQ(c.value_count()->min, 2);
  EXPECT_TRUE(c.has_tag(Tags::ITEM) && c.has_tag(Tags::SEQUENCE));
  // A user with fewer items than the length: zeros after them.
  const Dataset short_one =
      datasets::group_by_user(interactions({5}, {50}, {1}), {.max_length = 3, .pad = true});
  const auto* s = short_one.column("movieId_list").values.data<std::int32_t>();
  EXPECT_THAT(std::vector<std::int32_t>(s, s + 3), ElementsAre(50, 0, 0));
  // The padded dataset saves and loads as a fixed-length list.
  testing_ml::TempDir dir;
  padded.save(dir.path() / "users");
  const Dataset loaded = Dataset::load(dir.path() / "users");
  EXPECT_EQ(loaded.column("movieId_list").values.shape(), Shape({2, 2}));
}

TEST(MovieLensSequences, TimestampAndHistoryColumnsOnLeaveLastOut) {
  RB_REQUIRE_TEST_DATA(ml100k, "ml-100k", "u.data");
  testing_ml::TempDir dir;
  const auto [train, valid] = datasets::movielens("ml-100k", dir.path(),
                                                  {.source = ml100k,
                                                   .download = false,
                                                   .progress = false,
                                                   .split = datasets::MovieLensSplit::kLeaveLastOut,
                                                   .history_length = 20});
  ASSERT_TRUE(train.schema().contains("timestamp"));
  EXPECT_TRUE(train.schema().column("timestamp").has_tag(Tags::TIME));
  ASSERT_TRUE(valid.schema().contains("movieId_history"));
  // Each valid row (a user's latest rating) has the user's 20 latest train
  // items as history: every ml-100k user has at least 20 ratings.
  const auto* users = valid.column("userId").values.data<std::int32_t>();
  const auto* times = valid.column("timestamp").values.data<std::int64_t>();
  std::map<std::int32_t, std::vector<std::pair<std::int64_t, std::int32_t>>> by_user;
  for (std::int64_t r = 0; r < train.num_rows(); ++r) {
    by_user[train.column("userId").values.data<std::int32_t>()[r]].emplace_back(
        train.column("timestamp").values.data<std::int64_t>()[r] * 1000000 + r,
        train.column("movieId").values.data<std::int32_t>()[r]);
  }
  for (std::int64_t r = 0; r < valid.num_rows(); ++r) {
    auto seq = by_user.at(users[r]);
    std::sort(seq.begin(), seq.end());
    ASSERT_GE(seq.size(), 19u);
    std::vector<std::int32_t> expected;
    for (std::size_t k = seq.size() > 20 ? seq.size() - 20 : 0; k < seq.size(); ++k)
      expected.push_back(seq[k].second);
    EXPECT_EQ(list_at(valid, "movieId_history", r), expected) << "valid row " << r;
    EXPECT_GE(times[r], seq.back().first / 1000000);
  }
  // Train rows: a user's first rating has no history.
  std::int64_t empty = 0;
  for (std::int64_t r = 0; r < train.num_rows(); ++r)
    empty += list_at(train, "movieId_history", r).empty() ? 1 : 0;
  EXPECT_EQ(empty, 943);
}

}  // namespace
}  // namespace recblocks
