#include "recblocks/core/tensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <sstream>
#include <vector>

#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::HasSubstr;

TEST(Tensor, ZerosHasShapeDtypeAndZeroValues) {
  Tensor t = Tensor::zeros({4, 3});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), Shape({4, 3}));
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_EQ(t.rank(), 2);
  EXPECT_EQ(t.size(0), 4);
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_EQ(t.numel(), 12);
  EXPECT_EQ(t.nbytes(), 48u);
  for (float v : t.to_vector()) EXPECT_EQ(v, 0.0f);
}

TEST(Tensor, IntegerZerosAndStorageAlignment) {
  Tensor t = Tensor::zeros({5}, DType::kInt64);
  EXPECT_EQ(t.dtype(), DType::kInt64);
  EXPECT_EQ(t.nbytes(), 40u);
  for (std::int64_t i = 0; i < 5; ++i) EXPECT_EQ(t.data<std::int64_t>()[i], 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(Tensor::empty({3, 7}).raw()) % 64, 0u);
}

TEST(Tensor, FullAndFrom) {
  Tensor f = Tensor::full({2, 2}, 1.5f);
  EXPECT_EQ(f.to_vector(), (std::vector<float>{1.5f, 1.5f, 1.5f, 1.5f}));
  Tensor g = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(g.item(4), 5.0);
  EXPECT_EQ(g.data<float>()[5], 6.0f);
  const std::vector<std::int32_t> ids = {7, -1, 3};
  Tensor h = Tensor::from<std::int32_t>({3}, ids);
  EXPECT_EQ(h.dtype(), DType::kInt32);
  EXPECT_EQ(h.item(1), -1.0);
}

TEST(Tensor, FromWithWrongCountThrowsShapeError) {
  try {
    Tensor::from({2, 3}, {1, 2, 3});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
    EXPECT_THAT(e.what(), HasSubstr("3"));
  }
}

TEST(Tensor, DefaultIsUndefined) {
  Tensor t;
  EXPECT_FALSE(t.defined());
}

TEST(Tensor, ViewSharesStorage) {
  Tensor t = Tensor::zeros({4, 6});
  Tensor v = t.view({2, 12});
  EXPECT_EQ(v.shape(), Shape({2, 12}));
  EXPECT_EQ(v.raw(), t.raw());
  v.data<float>()[13] = 7.0f;
  EXPECT_EQ(t.item(13), 7.0);
}

TEST(Tensor, ViewWithOtherNumelThrows) {
  Tensor t = Tensor::zeros({4, 6});
  try {
    t.view({5, 5});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("[4, 6]"));
    EXPECT_THAT(e.what(), HasSubstr("[5, 5]"));
  }
}

TEST(Tensor, SliceRowsSharesStorage) {
  Tensor t = Tensor::from({3, 2}, {0, 1, 2, 3, 4, 5});
  Tensor s = t.slice_rows(1, 3);
  EXPECT_EQ(s.shape(), Shape({2, 2}));
  EXPECT_EQ(s.item(0), 2.0);
  EXPECT_EQ(s.item(3), 5.0);
  s.data<float>()[0] = -2.0f;
  EXPECT_EQ(t.item(2), -2.0);
  EXPECT_EQ(t.slice_rows(1, 1).numel(), 0);
  EXPECT_THROW(t.slice_rows(2, 4), ShapeError);
  EXPECT_THROW(t.slice_rows(2, 1), ShapeError);
  EXPECT_THROW(Tensor::zeros({}).slice_rows(0, 0), ShapeError);
}

TEST(Tensor, CloneIsDeep) {
  Tensor t = Tensor::from({2}, {1, 2});
  Tensor c = t.clone();
  EXPECT_NE(c.raw(), t.raw());
  c.data<float>()[0] = 10.0f;
  EXPECT_EQ(t.item(0), 1.0);
  EXPECT_EQ(c.item(1), 2.0);
}

TEST(Tensor, CopyFromChecksShapeAndDtype) {
  Tensor a = Tensor::zeros({2, 2});
  a.copy_from(Tensor::from({2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(a.item(3), 4.0);
  EXPECT_THROW(a.copy_from(Tensor::zeros({4})), ShapeError);
  EXPECT_THROW(a.copy_from(Tensor::zeros({2, 2}, DType::kInt32)), ShapeError);
}

TEST(Tensor, FillAndZero) {
  Tensor a = Tensor::empty({3});
  a.fill(2.0f);
  EXPECT_EQ(a.to_vector(), (std::vector<float>{2, 2, 2}));
  a.zero();
  EXPECT_EQ(a.to_vector(), (std::vector<float>{0, 0, 0}));
  EXPECT_THROW(Tensor::zeros({2}, DType::kInt64).fill(1.0f), ShapeError);
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor t = Tensor::zeros({2}, DType::kInt32);
  EXPECT_NO_THROW(t.data<std::int32_t>());
  EXPECT_THROW(t.data<float>(), ShapeError);
  EXPECT_THROW(t.data<std::int64_t>(), ShapeError);
  EXPECT_THROW(t.to_vector(), ShapeError);
  try {
    t.check_dtype(DType::kFloat32, "weights");
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("weights"));
    EXPECT_THAT(e.what(), HasSubstr("int32"));
    EXPECT_THAT(e.what(), HasSubstr("float32"));
  }
}

TEST(Tensor, ItemOutOfRangeThrows) {
  Tensor t = Tensor::zeros({2});
  EXPECT_THROW(t.item(2), ShapeError);
  EXPECT_THROW(t.item(-1), ShapeError);
}

TEST(Tensor, BorrowKeepsOwnerAlive) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  Tensor t = Tensor::borrow(owner->data(), {2, 2}, DType::kFloat32, owner);
  std::weak_ptr<std::vector<float>> weak = owner;
  owner.reset();
  EXPECT_FALSE(weak.expired());
  EXPECT_EQ(t.item(3), 4.0);
  t = Tensor();
  EXPECT_TRUE(weak.expired());
  EXPECT_THROW(Tensor::borrow(nullptr, {2}, DType::kFloat32), ValueError);
}

TEST(Tensor, AllClose) {
  Tensor a = Tensor::from({2}, {1.0f, 2.0f});
  EXPECT_TRUE(allclose(a, Tensor::from({2}, {1.0f, 2.0f + 1e-6f})));
  EXPECT_FALSE(allclose(a, Tensor::from({2}, {1.0f, 2.1f})));
  EXPECT_FALSE(allclose(a, Tensor::from({1, 2}, {1.0f, 2.0f})));
  EXPECT_FALSE(allclose(a, Tensor::zeros({2}, DType::kInt32)));
}

// numpy prints np.array([[1, 2.5, -3], [0, 0.25, 100]], dtype=np.float32) with
// each value in its shortest form ("1.", "2.5", "0.25"); recblocks uses
// commas between elements and one row per line.
TEST(TensorPrinting, SmallFloatMatrixExact) {
  Tensor t = Tensor::from({2, 3}, {1, 2.5f, -3, 0, 0.25f, 100});
  EXPECT_EQ(t.str(),
            "tensor(shape=[2, 3], dtype=float32)\n"
            "[[1., 2.5, -3.],\n"
            " [0., 0.25, 100.]]");
}

TEST(TensorPrinting, IntegerMatrixExact) {
  const std::vector<std::int64_t> v = {1, 2, 3, -4, 5, 60};
  Tensor t = Tensor::from<std::int64_t>({2, 3}, v);
  EXPECT_EQ(t.str(), "tensor(shape=[2, 3], dtype=int64)\n[[1, 2, 3],\n [-4, 5, 60]]");
}

TEST(TensorPrinting, ThreeDimensionsSeparateBlocksWithBlankLine) {
  const std::vector<std::int32_t> v = {0, 1, 2, 3, 4, 5, 6, 7};
  Tensor t = Tensor::from<std::int32_t>({2, 2, 2}, v);
  EXPECT_EQ(t.str(),
            "tensor(shape=[2, 2, 2], dtype=int32)\n[[[0, 1],\n  [2, 3]],\n\n [[4, 5],\n  [6, 7]]]");
}

TEST(TensorPrinting, LargeTensorIsAbbreviated) {
  std::vector<std::int32_t> v(100);
  for (int i = 0; i < 100; ++i) v[i] = i;
  Tensor t = Tensor::from<std::int32_t>({100}, v);
  EXPECT_EQ(t.str(), "tensor(shape=[100], dtype=int32)\n[0, 1, 2, ..., 97, 98, 99]");
  EXPECT_EQ(t.str(1), "tensor(shape=[100], dtype=int32)\n[0, ..., 99]");

  const std::string s = Tensor::zeros({50, 40}).str();
  EXPECT_THAT(s, HasSubstr("..."));
  EXPECT_LT(s.size(), 400u);  // 6 x 6 visible values, not 2000
}

TEST(TensorPrinting, StreamOperatorMatchesStr) {
  Tensor t = Tensor::from({2}, {0.5f, -1.0f});
  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), t.str());
  EXPECT_THAT(t.str(), HasSubstr("tensor(shape=[2], dtype=float32)"));
}

}  // namespace
}  // namespace recblocks
