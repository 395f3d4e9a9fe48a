#include "recblocks/autograd/ops/matmul.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tuple>

#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::check_gradients;
using ::testing::HasSubstr;
using testing::tensors_close;
using testing::uniform;

Shape op_shape(bool trans, std::int64_t rows, std::int64_t cols) {
  return trans ? Shape{cols, rows} : Shape{rows, cols};
}

std::string transposes_name(const ::testing::TestParamInfo<std::tuple<bool, bool>>& info) {
  return std::string(std::get<0>(info.param) ? "T" : "N") + (std::get<1>(info.param) ? "T" : "N");
}

class MatmulOpTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(MatmulOpTest, ForwardMatchesReference) {
  const auto [ta, tb] = GetParam();
  const Tensor a = uniform(op_shape(ta, 3, 4), 1), b = uniform(op_shape(tb, 4, 5), 2);
  Tape tape;
  Var y = ops::matmul(tape.constant(a), tape.constant(b), ta, tb);
  EXPECT_EQ(y.shape(), Shape({3, 5}));
  EXPECT_TRUE(
      tensors_close(y.value(), testing::ref::gemm(ta, tb, 1.0f, a, b, 0.0f, Tensor()), 1e-5, 1e-6));
}

TEST_P(MatmulOpTest, GradientCheck) {
  const auto [ta, tb] = GetParam();
  Parameter a("a", uniform(op_shape(ta, 3, 4), 3)), b("b", uniform(op_shape(tb, 4, 5), 4));
  EXPECT_TRUE(check_gradients("matmul", {&a, &b}, [ta, tb](Tape&, std::span<const Var> in) {
    return ops::matmul(in[0], in[1], ta, tb);
  }));
}

INSTANTIATE_TEST_SUITE_P(Transposes, MatmulOpTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()), transposes_name);

class BmmOpTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

Shape batched(bool trans, std::int64_t batch, std::int64_t rows, std::int64_t cols) {
  return trans ? Shape{batch, cols, rows} : Shape{batch, rows, cols};
}

TEST_P(BmmOpTest, ForwardMatchesReference) {
  const auto [ta, tb] = GetParam();
  const Tensor a = uniform(batched(ta, 2, 3, 4), 5), b = uniform(batched(tb, 2, 4, 2), 6);
  Tape tape;
  Var y = ops::bmm(tape.constant(a), tape.constant(b), ta, tb);
  ASSERT_EQ(y.shape(), Shape({2, 3, 2}));
  EXPECT_TRUE(tensors_close(
      y.value(), testing::ref::batched_gemm(ta, tb, 1.0f, a, b, 0.0f, y.value()), 1e-5, 1e-6));
}

TEST_P(BmmOpTest, GradientCheck) {
  const auto [ta, tb] = GetParam();
  Parameter a("a", uniform(batched(ta, 2, 3, 4), 7)), b("b", uniform(batched(tb, 2, 4, 2), 8));
  EXPECT_TRUE(check_gradients("bmm", {&a, &b}, [ta, tb](Tape&, std::span<const Var> in) {
    return ops::bmm(in[0], in[1], ta, tb);
  }));
}

TEST_P(BmmOpTest, SharedTwoDimensionalB) {
  const auto [ta, tb] = GetParam();
  Parameter a("a", uniform(batched(ta, 3, 2, 4), 9)), b("b", uniform(op_shape(tb, 4, 3), 10));
  Tape tape;
  Var y = ops::bmm(tape.constant(a.value()), tape.constant(b.value()), ta, tb);
  ASSERT_EQ(y.shape(), Shape({3, 2, 3}));
  EXPECT_TRUE(tensors_close(
      y.value(), testing::ref::batched_gemm(ta, tb, 1.0f, a.value(), b.value(), 0.0f, y.value()),
      1e-5, 1e-6));
  // b's gradient sums over the batch.
  EXPECT_TRUE(check_gradients("bmm", {&a, &b}, [ta, tb](Tape&, std::span<const Var> in) {
    return ops::bmm(in[0], in[1], ta, tb);
  }));
}

INSTANTIATE_TEST_SUITE_P(Transposes, BmmOpTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()), transposes_name);

TEST(MatmulOp, SelfProductXXt) {
  // x @ x^T with one Var on both sides.
  Parameter x("x", uniform({3, 4}, 11));
  EXPECT_TRUE(check_gradients("matmul", {&x}, [](Tape&, std::span<const Var> in) {
    return ops::matmul(in[0], in[0], false, true);
  }));
}

TEST(MatmulOp, ShapeMismatchesThrow) {
  Tape tape;
  Var a = tape.constant(Tensor::zeros({3, 4})), b = tape.constant(Tensor::zeros({5, 2}));
  try {
    ops::matmul(a, b);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("matmul"));
    EXPECT_THAT(e.what(), HasSubstr("[3, 4]"));
    EXPECT_THAT(e.what(), HasSubstr("[5, 2]"));
  }
  EXPECT_NO_THROW(ops::matmul(a, tape.constant(Tensor::zeros({2, 4})), false, true));
  EXPECT_THROW(
      ops::matmul(tape.constant(Tensor::zeros({2, 3, 4})), tape.constant(Tensor::zeros({4, 2}))),
      ShapeError);
  Var x = tape.constant(Tensor::zeros({2, 3, 4}));
  EXPECT_THROW(ops::bmm(x, tape.constant(Tensor::zeros({3, 4, 2}))), ShapeError);  // batch 2 vs 3
  try {
    ops::bmm(x, tape.constant(Tensor::zeros({2, 5, 2})));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bmm"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 3, 4]"));
  }
}

TEST(MatmulOp, OneConstantOperand) {
  Parameter a("a", uniform({3, 4}, 12));
  const Tensor b = uniform({4, 2}, 13);
  EXPECT_TRUE(check_gradients("matmul", {&a}, [b](Tape& tape, std::span<const Var> in) {
    return ops::matmul(in[0], tape.constant(b));
  }));
  Parameter w("w", uniform({4, 2}, 14));
  const Tensor x = uniform({2, 3, 4}, 15);
  EXPECT_TRUE(check_gradients("bmm", {&w}, [x](Tape& tape, std::span<const Var> in) {
    return ops::bmm(tape.constant(x), in[0]);
  }));
}

}  // namespace
}  // namespace recblocks
