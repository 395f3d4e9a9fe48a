#include "recblocks/autograd/ops/reduce.h"

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

// (mean?, axis, keepdim)
class ReduceOpTest : public ::testing::TestWithParam<std::tuple<bool, int, bool>> {};

TEST_P(ReduceOpTest, ForwardMatchesReference) {
  const auto [mean, axis, keepdim] = GetParam();
  const Shape s{2, 3, 4};
  const Tensor x = uniform(s, 1);
  Tape tape;
  Var y =
      mean ? ops::mean(tape.constant(x), axis, keepdim) : ops::sum(tape.constant(x), axis, keepdim);
  const int a = s.normalize_axis(axis);
  const Shape expected_shape = keepdim ? s.with(a, 1) : s.without(a);
  ASSERT_EQ(y.shape(), expected_shape);
  const Tensor expected =
      testing::ref::reduce_sum(x, a, mean ? 1.0f / static_cast<float>(s[a]) : 1.0f);
  EXPECT_TRUE(tensors_close(y.value().view(expected.shape()), expected, 1e-6, 1e-7));
}

TEST_P(ReduceOpTest, GradientCheck) {
  const auto [mean, axis, keepdim] = GetParam();
  Parameter x("x", uniform({2, 3, 4}, 2));
  EXPECT_TRUE(check_gradients(mean ? "mean" : "sum", {&x}, [=](Tape&, std::span<const Var> in) {
    return mean ? ops::mean(in[0], axis, keepdim) : ops::sum(in[0], axis, keepdim);
  }));
}

INSTANTIATE_TEST_SUITE_P(All, ReduceOpTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(0, 1, 2, -1),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           const int axis = std::get<1>(info.param);
                           return std::string(std::get<0>(info.param) ? "Mean" : "Sum") + "_Axis" +
                                  (axis < 0 ? "Minus" + std::to_string(-axis)
                                            : std::to_string(axis)) +
                                  (std::get<2>(info.param) ? "_KeepDim" : "_DropDim");
                         });

TEST(ReduceOp, TwoDimensionalKnownValues) {
  Tape tape;
  Var x = tape.constant(Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ops::sum(x, 0).value().to_vector(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(ops::sum(x, 1).value().to_vector(), (std::vector<float>{6, 15}));
  EXPECT_EQ(ops::mean(x, -1, true).shape(), Shape({2, 1}));
  EXPECT_EQ(ops::mean(x, -1, true).value().to_vector(), (std::vector<float>{2, 5}));
  Var s = ops::sum_all(x);
  EXPECT_EQ(s.shape(), Shape({}));
  EXPECT_EQ(s.value().item(), 21.0);
  Var m = ops::mean_all(x);
  EXPECT_EQ(m.shape(), Shape({}));
  EXPECT_EQ(m.value().item(), 3.5);
}

TEST(ReduceOp, SumAllAndMeanAllGradients) {
  Parameter x("x", uniform({3, 5}, 3));
  EXPECT_TRUE(check_gradients("sum_all", {&x},
                              [](Tape&, std::span<const Var> in) { return ops::sum_all(in[0]); }));
  EXPECT_TRUE(check_gradients("mean_all", {&x},
                              [](Tape&, std::span<const Var> in) { return ops::mean_all(in[0]); },
                              {.atol = 1e-4}));
  Parameter y("y", uniform({2, 3, 2}, 4));
  EXPECT_TRUE(check_gradients("mean_all", {&y},
                              [](Tape&, std::span<const Var> in) { return ops::mean_all(in[0]); },
                              {.atol = 1e-4}));
}

TEST(ReduceOp, AxisOutOfRangeThrows) {
  Tape tape;
  Var x = tape.constant(Tensor::zeros({2, 3}));
  try {
    ops::sum(x, 2);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
  }
  EXPECT_THROW(ops::mean(x, -3), ShapeError);
}

}  // namespace
}  // namespace recblocks
