// A small in-memory dataset with the seed notebook's column layout, for the
// feature and transformation block tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/data/dataset.h"
#include "recblocks/data/loader.h"
#include "recblocks/schema/schema.h"

namespace recblocks::testing {

inline Tensor seed_i32(const std::vector<std::int32_t>& v) {
  return Tensor::from<std::int32_t>({static_cast<std::int64_t>(v.size())}, v);
}
inline Tensor seed_i64(const std::vector<std::int64_t>& v) {
  return Tensor::from<std::int64_t>({static_cast<std::int64_t>(v.size())}, v);
}

// userId (10 ids), movieId (20), title (20), gender (3): int32 categorical;
// TE_zipcode_rating, TE_movieId_rating: float32 continuous; genres: ragged
// int32 list (8 ids, at most 4 per row); rating_binary: int32 target.
inline Schema seed_schema() {
  return Schema({
      ColumnSchema("userId", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID}).with_domain(0, 9),
      ColumnSchema("movieId", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM_ID}).with_domain(0, 19),
      ColumnSchema("title", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 19),
      ColumnSchema("gender", DType::kInt32, {Tags::CATEGORICAL}).with_domain(0, 2),
      ColumnSchema("TE_zipcode_rating", DType::kFloat32, {Tags::CONTINUOUS, Tags::USER}),
      ColumnSchema("TE_movieId_rating", DType::kFloat32, {Tags::CONTINUOUS, Tags::ITEM}),
      ColumnSchema("genres", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM})
          .with_domain(0, 7)
          .with_list(true, /*is_ragged=*/true, ValueCount{0, 4}),
      ColumnSchema("rating_binary", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
  });
}

// 5 rows; genres: [1, 2], [], [3], [4, 5, 6, 7], [2, 2, 5].
inline std::map<std::string, Column> seed_columns() {
  return {
      {"userId", {seed_i32({3, 1, 4, 1, 9}), Tensor()}},
      {"movieId", {seed_i32({5, 0, 19, 7, 2}), Tensor()}},
      {"title", {seed_i32({2, 3, 4, 5, 6}), Tensor()}},
      {"gender", {seed_i32({0, 1, 2, 1, 0}), Tensor()}},
      {"TE_zipcode_rating", {Tensor::from({5}, {0.5f, -1.25f, 2.0f, 0.0f, 3.5f}), Tensor()}},
      {"TE_movieId_rating", {Tensor::from({5}, {-0.75f, 0.25f, 1.5f, -2.0f, 0.125f}), Tensor()}},
      {"genres", {seed_i32({1, 2, 3, 4, 5, 6, 7, 2, 2, 5}), seed_i64({0, 2, 2, 3, 7, 10})}},
      {"rating_binary", {seed_i32({1, 0, 0, 1, 1}), Tensor()}},
  };
}

inline Dataset seed_dataset() { return Dataset(seed_schema(), seed_columns()); }
inline Batch seed_batch() { return Batch(seed_dataset()); }

// The genres lists of seed_columns(), row by row.
inline std::vector<std::vector<std::int32_t>> seed_genres() {
  return {{1, 2}, {}, {3}, {4, 5, 6, 7}, {2, 2, 5}};
}

}  // namespace recblocks::testing
