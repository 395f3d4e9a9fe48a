// Embedding bag kernels: pooled lookups and their sparse gradients (unique
// sorted rows, duplicates merged), tiny, at MovieLens-1M size (B=1024
// ragged rows into a 6040 x 64 table) and a few ids into a large table.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "recblocks/kernels/backend.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::Pooling;
using kernels::SparseRows;
using testing::ids32;
using testing::ids64;
using testing::nans;
using testing::tensors_close;
using testing::uniform;

// The sparse gradient: rows strictly increasing, exactly the ids used, and
// values equal to the reference's dense gradient at those rows.
void expect_sparse_matches(const SparseRows& g, const Tensor& ids, const Tensor& expected_dense) {
  ASSERT_EQ(g.rows.dtype(), DType::kInt64);
  ASSERT_EQ(g.rows.rank(), 1);
  const std::int64_t n = g.rows.numel(), dim = expected_dense.size(1);
  ASSERT_EQ(g.values.shape(), Shape({n, dim}));
  std::set<std::int64_t> used;
  for (std::int64_t i = 0; i < ids.numel(); ++i)
    used.insert(static_cast<std::int64_t>(ids.item(i)));
  std::vector<std::int64_t> rows(g.rows.data<std::int64_t>(), g.rows.data<std::int64_t>() + n);
  EXPECT_EQ(rows, std::vector<std::int64_t>(used.begin(), used.end()));
  Tensor expected_values = Tensor::empty({n, dim});
  for (std::int64_t i = 0; i < n && i < static_cast<std::int64_t>(used.size()); ++i) {
    for (std::int64_t d = 0; d < dim; ++d) {
      expected_values.data<float>()[i * dim + d] = expected_dense.data<float>()[rows[i] * dim + d];
    }
  }
  EXPECT_TRUE(tensors_close(g.values, expected_values, 1e-5, 1e-6));
}

TEST(EmbeddingKernel, FindOutOfRange) {
  kernels::Backend& be = kernels::backend();
  EXPECT_EQ(be.find_out_of_range(ids64({0, 5, 9}), 10), -1);
  EXPECT_EQ(be.find_out_of_range(ids64({0, 10, 11}), 10), 1);
  EXPECT_EQ(be.find_out_of_range(ids32({3, -1, 20}), 10), 1);
  EXPECT_EQ(be.find_out_of_range(ids32({}), 10), -1);
  Tensor many = testing::random_ids({100000}, 6040, 1);
  EXPECT_EQ(be.find_out_of_range(many, 6040), -1);
  many.data<std::int64_t>()[77777] = 6040;
  many.data<std::int64_t>()[88888] = -5;
  EXPECT_EQ(be.find_out_of_range(many, 6040), 77777);
}

TEST(EmbeddingKernel, OneIdPerRowWithoutOffsets) {
  for (DType dt : {DType::kInt32, DType::kInt64}) {
    const Tensor table = uniform({6, 3}, 2);
    const Tensor ids = dt == DType::kInt32 ? ids32({4, 1, 4, 0}) : ids64({4, 1, 4, 0});
    const Tensor out = nans({4, 3});
    kernels::backend().embedding_bag_forward(table, ids, Tensor(), Pooling::kSum, out);
    EXPECT_TRUE(
        tensors_close(out, testing::ref::embedding_bag(table, ids, Tensor(), Pooling::kSum), 0, 0));

    Arena arena;
    const Tensor dout = uniform({4, 3}, 3);
    const SparseRows g =
        kernels::backend().embedding_bag_backward(ids, Tensor(), Pooling::kSum, dout, arena);
    expect_sparse_matches(
        g, ids, testing::ref::embedding_bag_backward(ids, Tensor(), Pooling::kSum, dout, 6));
  }
}

TEST(EmbeddingKernel, BagsWithEmptyRowAndDuplicates) {
  for (Pooling pooling : {Pooling::kSum, Pooling::kMean}) {
    for (DType dt : {DType::kInt32, DType::kInt64}) {
      const Tensor table = uniform({7, 4}, 4);
      // Rows: {2, 2, 5}, {}, {0}, {5, 6, 2, 2}.
      const Tensor ids =
          dt == DType::kInt32 ? ids32({2, 2, 5, 0, 5, 6, 2, 2}) : ids64({2, 2, 5, 0, 5, 6, 2, 2});
      const Tensor offsets = dt == DType::kInt32 ? ids32({0, 3, 3, 4, 8}) : ids64({0, 3, 3, 4, 8});
      const Tensor out = nans({4, 4});
      kernels::backend().embedding_bag_forward(table, ids, offsets, pooling, out);
      const Tensor expected = testing::ref::embedding_bag(table, ids, offsets, pooling);
      EXPECT_TRUE(tensors_close(out, expected, 1e-6, 1e-7));
      for (int d = 0; d < 4; ++d) EXPECT_EQ(out.data<float>()[4 + d], 0.0f) << "empty row";

      Arena arena;
      const Tensor dout = uniform({4, 4}, 5);
      const SparseRows g =
          kernels::backend().embedding_bag_backward(ids, offsets, pooling, dout, arena);
      expect_sparse_matches(g, ids,
                            testing::ref::embedding_bag_backward(ids, offsets, pooling, dout, 7));
      EXPECT_GT(arena.used(), 0u) << "sparse rows come from the arena";
    }
  }
}

TEST(EmbeddingKernel, RealisticRaggedBagsIntoMovieLensTable) {
  const std::int64_t batch = 1024, rows = 6040, dim = 64;
  testing::TestRng rng(6);
  std::vector<std::int64_t> offsets = {0};
  for (std::int64_t b = 0; b < batch; ++b)
    offsets.push_back(offsets.back() + rng.below(6));  // 0..5 ids
  const std::int64_t nnz = offsets.back();
  const Tensor ids = testing::random_ids({nnz}, rows, 7);
  const Tensor off = Tensor::from<std::int64_t>({batch + 1}, offsets);
  const Tensor table = uniform({rows, dim}, 8);
  for (Pooling pooling : {Pooling::kSum, Pooling::kMean}) {
    const Tensor out = nans({batch, dim});
    kernels::backend().embedding_bag_forward(table, ids, off, pooling, out);
    EXPECT_TRUE(
        tensors_close(out, testing::ref::embedding_bag(table, ids, off, pooling), 1e-5, 1e-6));

    Arena arena;
    const Tensor dout = uniform({batch, dim}, 9);
    const SparseRows g = kernels::backend().embedding_bag_backward(ids, off, pooling, dout, arena);
    expect_sparse_matches(g, ids,
                          testing::ref::embedding_bag_backward(ids, off, pooling, dout, rows));
  }
}

// The backward groups rows by a counting sort when the table's rows span
// little more than the ids (the test above), else by a radix sort: a few
// ids into a 200,000-row table, three 8-bit passes, duplicates included.
TEST(EmbeddingKernel, FewIdsIntoALargeTableTakeTheRadixSort) {
  const std::int64_t batch = 300, rows = 200000, dim = 8;
  Tensor ids = testing::random_ids({batch}, rows, 17);
  ids.data<std::int64_t>()[5] = ids.data<std::int64_t>()[250];  // a duplicate
  ids.data<std::int64_t>()[7] = rows - 1;
  const Tensor dout = uniform({batch, dim}, 18);
  Arena arena;
  const SparseRows g =
      kernels::backend().embedding_bag_backward(ids, Tensor(), Pooling::kSum, dout, arena);
  expect_sparse_matches(
      g, ids, testing::ref::embedding_bag_backward(ids, Tensor(), Pooling::kSum, dout, rows));
}

TEST(EmbeddingKernel, ScatterAddRows) {
  const Tensor dense = Tensor::full({5, 2}, 1.0f);
  SparseRows g{ids64({0, 3}), Tensor::from({2, 2}, {1, 2, 3, 4})};
  kernels::backend().scatter_add_rows(g, dense);
  EXPECT_EQ(dense.to_vector(), (std::vector<float>{2, 3, 1, 1, 1, 1, 4, 5, 1, 1}));
  kernels::backend().scatter_add_rows(SparseRows{ids64({}), Tensor::zeros({0, 2})}, dense);
  EXPECT_EQ(dense.item(0), 2.0);
}

}  // namespace
}  // namespace recblocks
