#include "recblocks/autograd/ops/interaction.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>

#include "recblocks/autograd/ops/shape.h"
#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::check_gradients;
using ::testing::HasSubstr;
using testing::tensors_close;
using testing::uniform;

TEST(DotInteractionOp, SizeFormula) {
  static_assert(ops::dot_interaction_size(5, false) == 10);
  static_assert(ops::dot_interaction_size(5, true) == 15);
  static_assert(ops::dot_interaction_size(27, false) == 351);
  SUCCEED();
}

class DotInteractionOpTest : public ::testing::TestWithParam<bool> {};

TEST_P(DotInteractionOpTest, ListForwardMatchesReference) {
  const bool self = GetParam();
  const std::vector<Tensor> xs = {uniform({3, 4}, 1), uniform({3, 4}, 2), uniform({3, 4}, 3),
                                  uniform({3, 4}, 4)};
  Tape tape;
  std::vector<Var> vars;
  for (const Tensor& x : xs) vars.push_back(tape.constant(x));
  Var y = ops::dot_interaction(vars, self);
  EXPECT_EQ(y.shape(), Shape({3, ops::dot_interaction_size(4, self)}));
  EXPECT_TRUE(tensors_close(y.value(), testing::ref::dot_interaction(xs, self), 1e-5, 1e-6));
}

TEST_P(DotInteractionOpTest, StackedForwardMatchesList) {
  const bool self = GetParam();
  const Tensor stacked = uniform({3, 4, 5}, 5);  // B=3, F=4, D=5
  std::vector<Tensor> xs;
  for (std::int64_t f = 0; f < 4; ++f) {
    Tensor x = Tensor::empty({3, 5});
    for (std::int64_t b = 0; b < 3; ++b)
      for (std::int64_t d = 0; d < 5; ++d)
        x.data<float>()[b * 5 + d] = stacked.data<float>()[(b * 4 + f) * 5 + d];
    xs.push_back(x);
  }
  Tape tape;
  Var y = ops::dot_interaction(tape.constant(stacked), self);
  EXPECT_EQ(y.shape(), Shape({3, ops::dot_interaction_size(4, self)}));
  EXPECT_TRUE(tensors_close(y.value(), testing::ref::dot_interaction(xs, self), 1e-5, 1e-6));
}

TEST_P(DotInteractionOpTest, ListGradientCheck) {
  const bool self = GetParam();
  Parameter a("a", uniform({2, 4}, 6)), b("b", uniform({2, 4}, 7)), c("c", uniform({2, 4}, 8));
  EXPECT_TRUE(check_gradients(
      "dot_interaction", {&a, &b, &c},
      [self](Tape&, std::span<const Var> in) { return ops::dot_interaction(in, self); }));
}

TEST_P(DotInteractionOpTest, StackedGradientCheck) {
  const bool self = GetParam();
  Parameter x("x", uniform({2, 4, 3}, 9));
  EXPECT_TRUE(check_gradients("dot_interaction", {&x}, [self](Tape&, std::span<const Var> in) {
    return ops::dot_interaction(in[0], self);
  }));
}

TEST_P(DotInteractionOpTest, SameVarTwiceInTheList) {
  const bool self = GetParam();
  Parameter a("a", uniform({2, 3}, 10)), b("b", uniform({2, 3}, 11));
  EXPECT_TRUE(check_gradients("dot_interaction", {&a, &b}, [self](Tape&, std::span<const Var> in) {
    const std::array<Var, 4> xs = {in[0], in[1], in[0], in[0]};
    return ops::dot_interaction(xs, self);
  }));
}

TEST_P(DotInteractionOpTest, StackedFromStackOp) {
  // The DLRM pattern: stack the feature vectors, then interact.
  const bool self = GetParam();
  Parameter a("a", uniform({2, 3}, 12)), b("b", uniform({2, 3}, 13)), c("c", uniform({2, 3}, 14));
  EXPECT_TRUE(
      check_gradients("dot_interaction", {&a, &b, &c}, [self](Tape&, std::span<const Var> in) {
        return ops::dot_interaction(ops::stack(in, 1), self);
      }));
}

INSTANTIATE_TEST_SUITE_P(Both, DotInteractionOpTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Self" : "NoSelf"; });

TEST(DotInteractionOp, MismatchedFeatureShapesThrow) {
  Tape tape;
  const std::array<Var, 3> xs = {tape.constant(Tensor::zeros({4, 64})),
                                 tape.constant(Tensor::zeros({4, 64})),
                                 tape.constant(Tensor::zeros({4, 32}))};
  try {
    ops::dot_interaction(xs);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("dot_interaction"));
    EXPECT_THAT(e.what(), HasSubstr("[4, 32]"));
    EXPECT_THAT(e.what(), HasSubstr("[4, 64]"));
  }
  EXPECT_THROW(ops::dot_interaction(tape.constant(Tensor::zeros({4, 64}))), ShapeError);
  EXPECT_THROW(ops::dot_interaction(std::span<const Var>()), ShapeError);
}

TEST(DotInteractionOp, SomeFeaturesConstant) {
  Parameter a("a", uniform({2, 3}, 15));
  const Tensor c0 = uniform({2, 3}, 16), c1 = uniform({2, 3}, 17);
  EXPECT_TRUE(
      check_gradients("dot_interaction", {&a}, [c0, c1](Tape& tape, std::span<const Var> in) {
        const std::array<Var, 3> xs = {tape.constant(c0), in[0], tape.constant(c1)};
        return ops::dot_interaction(xs);
      }));
}

}  // namespace
}  // namespace recblocks
