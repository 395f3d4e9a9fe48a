#include "recblocks/autograd/ops/embedding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "recblocks/autograd/ops/elementwise.h"
#include "recblocks/autograd/ops/reduce.h"
#include "recblocks/autograd/ops/shape.h"
#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::Pooling;
using testing::check_gradients;
using ::testing::HasSubstr;
using testing::ids32;
using testing::ids64;
using testing::tensors_close;
using testing::uniform;

TEST(EmbeddingOp, ForwardLooksUpRows) {
  Parameter table("user_id/embedding", uniform({6, 3}, 1));
  for (const Tensor& ids : {ids32({4, 1, 4, 0}), ids64({4, 1, 4, 0})}) {
    Tape tape;
    Var y = ops::embedding(tape.parameter(table), ids);
    EXPECT_EQ(y.shape(), Shape({4, 3}));
    EXPECT_TRUE(tensors_close(
        y.value(), testing::ref::embedding_bag(table.value(), ids, Tensor(), Pooling::kSum), 0, 0));
  }
}

TEST(EmbeddingOp, GradientCheckWithDuplicateIds) {
  for (const Tensor& ids : {ids32({4, 1, 4, 0, 4}), ids64({4, 1, 4, 0, 4})}) {
    Parameter table("table", uniform({6, 3}, 2));
    EXPECT_TRUE(check_gradients("embedding", {&table}, [ids](Tape&, std::span<const Var> in) {
      return ops::embedding(in[0], ids);
    })) << dtype_name(ids.dtype());
  }
}

TEST(EmbeddingOp, TableGradientIsSparseUniqueSortedRows) {
  Parameter table("table", uniform({6, 2}, 3));
  Tape tape;
  Var y = ops::embedding(tape.parameter(table), ids64({4, 1, 4, 0}));
  const Tensor dy_weights = Tensor::from({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  tape.backward(ops::sum_all(ops::mul(y, tape.constant(dy_weights))));
  EXPECT_FALSE(table.has_dense_grad());
  ASSERT_EQ(table.sparse_grads().size(), 1u);
  const kernels::SparseRows& g = table.sparse_grads()[0];
  EXPECT_EQ(testing::to_doubles(g.rows), (std::vector<double>{0, 1, 4}));
  EXPECT_EQ(g.values.to_vector(), (std::vector<float>{7, 8, 3, 4, 6, 8}));  // row 4: 1+5, 2+6
  const Tensor dense = table.grad_as_dense();
  EXPECT_EQ(dense.to_vector(), (std::vector<float>{7, 8, 3, 4, 0, 0, 0, 0, 6, 8, 0, 0}));
}

TEST(EmbeddingOp, ComputedTableGetsADenseGradient) {
  // A table that is the output of another op (not a parameter leaf).
  Parameter table("table", uniform({5, 2}, 4));
  EXPECT_TRUE(check_gradients("embedding", {&table}, [](Tape&, std::span<const Var> in) {
    return ops::embedding(ops::scale(in[0], 2.0f), ids32({3, 3, 0}));
  }));
}

TEST(EmbeddingOp, IdOutOfRangeNamesIdAndCardinality) {
  Parameter table("movie_id/embedding", Tensor::zeros({3706, 4}));
  Tape tape;
  try {
    ops::embedding(tape.parameter(table), ids64({5, 5000, 2}));
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("embedding"));
    EXPECT_THAT(e.what(), HasSubstr("5000"));
    EXPECT_THAT(e.what(), HasSubstr("3706"));
  }
  try {
    ops::embedding(tape.parameter(table), ids32({-1}));
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("-1"));
    EXPECT_THAT(e.what(), HasSubstr("3706"));
  }
}

TEST(EmbeddingOp, IdsMustBeIntegersAndTableTwoDimensional) {
  Parameter table("table", Tensor::zeros({4, 2}));
  Tape tape;
  EXPECT_THROW(ops::embedding(tape.parameter(table), Tensor::zeros({3})), ShapeError);
  EXPECT_THROW(ops::embedding(tape.constant(Tensor::zeros({8})), ids64({1})), ShapeError);
}

// Bags: {2, 2, 5}, {}, {0}, {5, 6, 2}.
Tensor bag_values() { return ids64({2, 2, 5, 0, 5, 6, 2}); }
Tensor bag_offsets() { return ids64({0, 3, 3, 4, 7}); }

class EmbeddingBagOpTest : public ::testing::TestWithParam<Pooling> {};

TEST_P(EmbeddingBagOpTest, ForwardMatchesReference) {
  const Pooling pooling = GetParam();
  Parameter table("genres/embedding", uniform({7, 3}, 5));
  Tape tape;
  Var y = ops::embedding_bag(tape.parameter(table), bag_values(), bag_offsets(), pooling);
  EXPECT_EQ(y.shape(), Shape({4, 3}));
  EXPECT_TRUE(tensors_close(
      y.value(), testing::ref::embedding_bag(table.value(), bag_values(), bag_offsets(), pooling),
      1e-6, 1e-7));
  for (int d = 0; d < 3; ++d) EXPECT_EQ(y.value().item(3 + d), 0.0) << "empty bag";
}

TEST_P(EmbeddingBagOpTest, GradientCheck) {
  const Pooling pooling = GetParam();
  Parameter table("table", uniform({7, 3}, 6));
  EXPECT_TRUE(check_gradients("embedding_bag", {&table}, [pooling](Tape&, std::span<const Var> in) {
    return ops::embedding_bag(in[0], bag_values(), bag_offsets(), pooling);
  }));
}

TEST_P(EmbeddingBagOpTest, RaggedOverloadAndInt32) {
  const Pooling pooling = GetParam();
  Parameter table("table", uniform({7, 3}, 7));
  const RaggedTensor ragged(ids32({2, 2, 5, 0, 5, 6, 2}), ids32({0, 3, 3, 4, 7}));
  Tape tape;
  Var y = ops::embedding_bag(tape.parameter(table), ragged, pooling);
  EXPECT_TRUE(tensors_close(
      y.value(), testing::ref::embedding_bag(table.value(), bag_values(), bag_offsets(), pooling),
      1e-6, 1e-7));
  EXPECT_TRUE(check_gradients("embedding_bag", {&table},
                              [&ragged, pooling](Tape&, std::span<const Var> in) {
                                return ops::embedding_bag(in[0], ragged, pooling);
                              }));
}

INSTANTIATE_TEST_SUITE_P(Poolings, EmbeddingBagOpTest,
                         ::testing::Values(Pooling::kSum, Pooling::kMean), [](const auto& info) {
                           return info.param == Pooling::kSum ? "Sum" : "Mean";
                         });

TEST(EmbeddingBagOp, BadOffsetsAndIdsThrow) {
  Parameter table("genres/embedding", Tensor::zeros({18, 4}));
  Tape tape;
  Var t = tape.parameter(table);
  EXPECT_THROW(ops::embedding_bag(t, ids64({1, 2}), ids64({0, 3})), Error);  // last offset != nnz
  EXPECT_THROW(ops::embedding_bag(t, ids64({1, 2}), ids64({1, 2})), Error);  // first offset != 0
  try {
    ops::embedding_bag(t, ids64({1, 25}), ids64({0, 1, 2}));
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("25"));
    EXPECT_THAT(e.what(), HasSubstr("18"));
    EXPECT_THAT(e.what(), HasSubstr("genres/embedding"));
  }
}

TEST(EmbeddingOp, TiedTableGetsDenseAndSparseGradients) {
  // One table used by a lookup (sparse gradient) and by a dense op (dense
  // gradient): grad_as_dense() holds their sum.
  Parameter table("table", uniform({5, 2}, 8));
  EXPECT_TRUE(check_gradients("embedding", {&table}, [](Tape&, std::span<const Var> in) {
    return ops::add(ops::embedding(in[0], ids64({4, 0, 4})),
                    ops::slice(ops::mul(in[0], in[0]), 0, 1, 4));
  }));
}

TEST(EmbeddingBagOp, AllBagsEmpty) {
  Parameter table("table", uniform({5, 2}, 9));
  Tape tape;
  Var y = ops::embedding_bag(tape.parameter(table), ids64({}), ids64({0, 0, 0}), Pooling::kMean);
  EXPECT_EQ(y.shape(), Shape({2, 2}));
  EXPECT_EQ(y.value().to_vector(), (std::vector<float>{0, 0, 0, 0}));
  tape.backward(ops::sum_all(ops::add(y, ops::slice(tape.parameter(table), 0, 0, 2))));
  EXPECT_EQ(table.grad_as_dense().to_vector(), (std::vector<float>{1, 1, 1, 1, 0, 0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace recblocks
