// Sequence data from interactions: each row's history of earlier items,
// and per-user sequences (YoutubeDNNRetrievalModel, NextItemPredictionTask,
// SequenceEmbeddingFeatures).
//
//   auto [train, valid] = rb::datasets::movielens("ml-100k", "data/",
//                                                 {.split = kLeaveLastOut, .history_length = 20});
//   // train/valid now have movieId_history: the user's earlier movies
//   auto users = rb::datasets::group_by_user(train, {.max_length = 50, .pad = true});
//
// Time order is the time column, ties broken by the row order of the data
// (for add_history, the context rows come before the data's own).
#pragma once

#include <cstdint>
#include <string>

#include "recblocks/data/dataset.h"

namespace recblocks::datasets {

struct HistoryOptions {
  std::string user_column = "userId";
  std::string item_column = "movieId";
  std::string time_column = "timestamp";
  // The latest this many items are kept (oldest first); >= 1.
  std::int64_t max_length = 20;
  // Default "<item_column>_history".
  std::string name = {};
};

// `data` with one more column: for each row, the item ids of the same
// user's rows before it in time (from `data`, and from `context` when
// given: the training rows when `data` is the validation split), the
// latest max_length of them, oldest first. A ragged int32 list column
// tagged CATEGORICAL, LIST, SEQUENCE and USER (it describes the user at
// that moment), with the item column's domain: an embedding block looks
// it up in the item id table. The user and item columns must be scalar
// integer columns, the time column an integer one; errors name the column.
// `context` must not hold `data`'s own rows: a row there too would count
// as its own history.
Dataset add_history(const Dataset& data, const HistoryOptions& options = {},
                    const Dataset* context = nullptr);

// The query for what comes after each row: the row with its own item
// appended to its history (the latest max_length kept). Recommending to a
// user from their latest row of a history dataset uses this.
Dataset advance_history(const Dataset& rows, const HistoryOptions& options = {});

struct GroupByUserOptions {
  std::string user_column = "userId";
  std::string item_column = "movieId";
  std::string time_column = "timestamp";
  // Keep the latest max_length items of each user (0: all).
  std::int64_t max_length = 0;
  // With max_length: write fixed-length lists [users, max_length], the
  // sequence left-aligned and padded with id 0 (the padding id), instead of
  // ragged ones.
  bool pad = false;
};

// One row per user (ascending id): the user column, "<item>_list" (the
// user's items sorted by time, tagged CATEGORICAL, LIST, SEQUENCE, ITEM,
// the item column's domain), "<time>_list" (their times, int64, TIME) and
// "<item>_count" (int32: how many items before truncation). Padded
// sessions are for SequenceEmbeddingFeatures (padding masked); the pooled
// EmbeddingFeatures average the padding rows in, so give them ragged lists.
Dataset group_by_user(const Dataset& data, const GroupByUserOptions& options = {});

}  // namespace recblocks::datasets
