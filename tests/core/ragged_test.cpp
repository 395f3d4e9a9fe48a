#include "recblocks/core/ragged.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::HasSubstr;
using testing::ids32;
using testing::ids64;

TEST(RaggedTensor, RowsAndLengths) {
  RaggedTensor r(ids64({5, 6, 7, 8}), ids32({0, 2, 2, 4}));
  EXPECT_EQ(r.rows(), 3);
  EXPECT_EQ(r.nnz(), 4);
  EXPECT_EQ(r.row_begin(1), 2);
  EXPECT_EQ(r.row_length(0), 2);
  EXPECT_EQ(r.row_length(1), 0);
  EXPECT_EQ(r.row_length(2), 2);
}

TEST(RaggedTensor, ToDensePadsAndTruncates) {
  RaggedTensor r(ids64({5, 6, 7, 8, 9}), ids64({0, 2, 2, 5}));
  Tensor d = r.to_dense();
  EXPECT_EQ(d.shape(), Shape({3, 3}));
  EXPECT_EQ(d.dtype(), DType::kInt64);
  EXPECT_EQ(testing::to_doubles(d), (std::vector<double>{5, 6, 0, 0, 0, 0, 7, 8, 9}));
  Tensor t = r.to_dense(2, -1);
  EXPECT_EQ(t.shape(), Shape({3, 2}));
  EXPECT_EQ(testing::to_doubles(t), (std::vector<double>{5, 6, -1, -1, 7, 8}));
}

TEST(RaggedTensor, ToDenseWithVectorValues) {
  Tensor values = Tensor::from({3, 2}, {1, 2, 3, 4, 5, 6});
  RaggedTensor r(values, ids32({0, 1, 3}));
  Tensor d = r.to_dense(0, 0.5);
  EXPECT_EQ(d.shape(), Shape({2, 2, 2}));
  EXPECT_EQ(d.to_vector(), (std::vector<float>{1, 2, 0.5f, 0.5f, 3, 4, 5, 6}));
}

TEST(RaggedTensor, SliceRowsRebasesOffsets) {
  RaggedTensor r(ids64({5, 6, 7, 8, 9}), ids32({0, 2, 2, 5}));
  RaggedTensor s = r.slice_rows(1, 3);
  EXPECT_EQ(s.rows(), 2);
  EXPECT_EQ(s.nnz(), 3);
  EXPECT_EQ(s.row_begin(0), 0);
  EXPECT_EQ(s.row_length(1), 3);
  EXPECT_EQ(s.values().item(0), 7.0);
  EXPECT_THROW(r.slice_rows(2, 4), ShapeError);
}

TEST(RaggedTensor, FirstOffsetMustBeZero) {
  try {
    RaggedTensor(ids64({1, 2}), ids32({1, 2}));
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("offsets[0]"));
  }
}

TEST(RaggedTensor, OffsetsMustNotDecrease) {
  try {
    RaggedTensor(ids64({1, 2, 3}), ids32({0, 2, 1, 3}));
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("offsets[1] = 2"));
    EXPECT_THAT(e.what(), HasSubstr("offsets[2] = 1"));
  }
}

TEST(RaggedTensor, LastOffsetMustEqualNnz) {
  try {
    RaggedTensor(ids64({1, 2, 3}), ids32({0, 2}));
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("2"));
    EXPECT_THAT(e.what(), HasSubstr("3"));
  }
}

TEST(RaggedTensor, OffsetsShapeAndDtypeAreChecked) {
  EXPECT_THROW(RaggedTensor(ids64({1}), Tensor::zeros({0}, DType::kInt32)), ShapeError);
  EXPECT_THROW(RaggedTensor(ids64({1}), Tensor::zeros({1, 2}, DType::kInt32)), ShapeError);
  EXPECT_THROW(RaggedTensor(ids64({1}), Tensor::from({2}, {0, 1})), ShapeError);
}

TEST(RaggedTensor, Printing) {
  RaggedTensor r(ids64({5, 6, 7}), ids32({0, 2, 2, 3}));
  EXPECT_EQ(r.str(), "ragged(rows=3, nnz=3, dtype=int64)\n[[5, 6],\n [],\n [7]]");
}

}  // namespace
}  // namespace recblocks
