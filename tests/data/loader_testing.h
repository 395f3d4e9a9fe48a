// Test data for the loader's tests (loader_test.cpp, stream_test.cpp): a
// dataset whose every column can be told from its "id" column, and checks
// that a batch's rows hang together.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "recblocks/data/loader.h"

namespace recblocks::testing {

// `rows` rows: id = row index (int32), x = id / 2 (float32), genres = the
// list [id, id + 1, ...] of length id % 4, pair = [id, -id], and a binary
// target label = id % 2.
inline Dataset indexed_dataset(std::int64_t rows) {
  Tensor id = Tensor::empty({rows}, DType::kInt32);
  Tensor x = Tensor::empty({rows});
  Tensor label = Tensor::empty({rows}, DType::kInt32);
  Tensor pair = Tensor::empty({rows, 2});
  Tensor offsets = Tensor::empty({rows + 1}, DType::kInt64);
  std::vector<std::int32_t> genres;
  offsets.data<std::int64_t>()[0] = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    id.data<std::int32_t>()[r] = static_cast<std::int32_t>(r);
    x.data<float>()[r] = static_cast<float>(r) / 2;
    label.data<std::int32_t>()[r] = static_cast<std::int32_t>(r % 2);
    pair.data<float>()[2 * r] = static_cast<float>(r);
    pair.data<float>()[2 * r + 1] = -static_cast<float>(r);
    for (std::int64_t k = 0; k < r % 4; ++k) genres.push_back(static_cast<std::int32_t>(r + k));
    offsets.data<std::int64_t>()[r + 1] = static_cast<std::int64_t>(genres.size());
  }
  const Schema schema({
      ColumnSchema("id", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID}),
      ColumnSchema("x", DType::kFloat32, {Tags::CONTINUOUS}),
      ColumnSchema("genres", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM}).with_list(true),
      ColumnSchema("pair", DType::kFloat32, {Tags::CONTINUOUS})
          .with_list(true, /*is_ragged=*/false, ValueCount{2, 2}),
      ColumnSchema("label", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
  });
  return Dataset(
      schema,
      {{"id", {id, Tensor()}},
       {"x", {x, Tensor()}},
       {"genres",
        {Tensor::from<std::int32_t>({static_cast<std::int64_t>(genres.size())}, genres), offsets}},
       {"pair", {pair, Tensor()}},
       {"label", {label, Tensor()}}});
}

inline std::vector<std::int32_t> ids_of(const Batch& b) {
  const Tensor& t = b.tensor("id");
  return {t.data<std::int32_t>(), t.data<std::int32_t>() + t.numel()};
}

// Checks that every column of `b` holds the rows its "id" column names.
inline void expect_consistent(const Batch& b) {
  const std::vector<std::int32_t> ids = ids_of(b);
  ASSERT_EQ(static_cast<std::int64_t>(ids.size()), b.rows());
  const RaggedTensor& g = b.ragged("genres");
  ASSERT_EQ(g.rows(), b.rows());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t r = ids[i];
    ASSERT_EQ(b.tensor("x").data<float>()[i], static_cast<float>(r) / 2) << "row " << i;
    ASSERT_EQ(b.tensor("label").data<std::int32_t>()[i], r % 2);
    ASSERT_EQ(b.tensor("pair").data<float>()[2 * i], static_cast<float>(r));
    ASSERT_EQ(b.tensor("pair").data<float>()[2 * i + 1], -static_cast<float>(r));
    ASSERT_EQ(g.row_length(static_cast<std::int64_t>(i)), r % 4) << "row " << i;
    for (std::int64_t k = 0; k < r % 4; ++k) {
      ASSERT_EQ(g.values().data<std::int32_t>()[g.row_begin(static_cast<std::int64_t>(i)) + k],
                r + k);
    }
  }
}

// The ids of one epoch, batch by batch.
inline std::vector<std::vector<std::int32_t>> run_epoch(Loader& loader) {
  std::vector<std::vector<std::int32_t>> batches;
  for (const Batch& b : loader) batches.push_back(ids_of(b));
  return batches;
}

inline std::vector<std::int32_t> flatten(const std::vector<std::vector<std::int32_t>>& batches) {
  std::vector<std::int32_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

}  // namespace recblocks::testing
