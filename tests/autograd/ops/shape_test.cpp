#include "recblocks/autograd/ops/shape.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>

#include "recblocks/autograd/ops/elementwise.h"
#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::check_gradients;
using ::testing::HasSubstr;
using testing::tensors_close;
using testing::uniform;

TEST(ConcatOp, ForwardValues) {
  Tape tape;
  const std::array<Var, 2> xs = {tape.constant(Tensor::from({2, 2}, {1, 2, 3, 4})),
                                 tape.constant(Tensor::from({2, 1}, {5, 6}))};
  Var y = ops::concat(xs, 1);
  EXPECT_EQ(y.shape(), Shape({2, 3}));
  EXPECT_EQ(y.value().to_vector(), (std::vector<float>{1, 2, 5, 3, 4, 6}));
  const std::array<Var, 2> rows = {tape.constant(Tensor::from({1, 2}, {1, 2})),
                                   tape.constant(Tensor::from({2, 2}, {3, 4, 5, 6}))};
  Var z = ops::concat(rows, 0);
  EXPECT_EQ(z.shape(), Shape({3, 2}));
  EXPECT_EQ(z.value().to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(ConcatOp, GradientCheckEachAxis) {
  Parameter a("a", uniform({2, 3, 2}, 1)), b("b", uniform({2, 3, 3}, 2)),
      c("c", uniform({2, 3, 1}, 3));
  EXPECT_TRUE(check_gradients("concat", {&a, &b, &c},
                              [](Tape&, std::span<const Var> in) { return ops::concat(in, -1); }));
  Parameter d("d", uniform({1, 3, 2}, 4)), e("e", uniform({3, 3, 2}, 5));
  EXPECT_TRUE(check_gradients("concat", {&a, &d, &e},
                              [](Tape&, std::span<const Var> in) { return ops::concat(in, 0); }));
  Parameter f("f", uniform({2, 1, 2}, 6));
  EXPECT_TRUE(check_gradients("concat", {&f, &a},
                              [](Tape&, std::span<const Var> in) { return ops::concat(in, 1); }));
}

TEST(ConcatOp, SameVarTwiceAccumulates) {
  Parameter a("a", uniform({2, 3}, 7));
  EXPECT_TRUE(check_gradients("concat", {&a}, [](Tape&, std::span<const Var> in) {
    const std::array<Var, 2> xs = {in[0], in[0]};
    return ops::concat(xs, 1);
  }));
}

TEST(ConcatOp, MismatchedShapesThrowNamingShapes) {
  Tape tape;
  const std::array<Var, 2> xs = {tape.constant(Tensor::zeros({4, 32})),
                                 tape.constant(Tensor::zeros({3, 64}))};
  try {
    ops::concat(xs, 1);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("concat"));
    EXPECT_THAT(e.what(), HasSubstr("[4, 32]"));
    EXPECT_THAT(e.what(), HasSubstr("[3, 64]"));
  }
  const std::array<Var, 2> ranks = {tape.constant(Tensor::zeros({4, 3})),
                                    tape.constant(Tensor::zeros({4}))};
  EXPECT_THROW(ops::concat(ranks, 0), ShapeError);
  EXPECT_THROW(ops::concat(std::span<const Var>(), 0), ShapeError);
  const std::array<Var, 1> one = {tape.constant(Tensor::zeros({4, 3}))};
  EXPECT_THROW(ops::concat(one, 2), ShapeError);
}

TEST(StackOp, ForwardAndGradients) {
  Tape tape;
  const std::array<Var, 2> xs = {tape.constant(Tensor::from({2}, {1, 2})),
                                 tape.constant(Tensor::from({2}, {3, 4}))};
  EXPECT_EQ(ops::stack(xs, 0).shape(), Shape({2, 2}));
  EXPECT_EQ(ops::stack(xs, 0).value().to_vector(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ops::stack(xs, 1).value().to_vector(), (std::vector<float>{1, 3, 2, 4}));
  EXPECT_EQ(ops::stack(xs, -1).shape(), Shape({2, 2}));

  Parameter a("a", uniform({3, 4}, 8)), b("b", uniform({3, 4}, 9)), c("c", uniform({3, 4}, 10));
  for (int axis : {0, 1, 2}) {
    EXPECT_TRUE(check_gradients("stack", {&a, &b, &c},
                                [axis](Tape&, std::span<const Var> in) {
                                  Var y = ops::stack(in, axis);
                                  return y;
                                }))
        << "axis " << axis;
  }
  tape.reset();
  const std::array<Var, 2> bad = {tape.constant(Tensor::zeros({3, 4})),
                                  tape.constant(Tensor::zeros({4, 3}))};
  try {
    ops::stack(bad, 1);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("stack"));
    EXPECT_THAT(e.what(), HasSubstr("[4, 3]"));
  }
}

TEST(SplitOp, ForwardAndGradients) {
  Tape tape;
  Var x = tape.constant(Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}));
  const std::array<std::int64_t, 2> sizes = {1, 2};
  std::vector<Var> parts = ops::split(x, sizes, 1);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].value().to_vector(), (std::vector<float>{1, 4}));
  EXPECT_EQ(parts[1].shape(), Shape({2, 2}));
  EXPECT_EQ(parts[1].value().to_vector(), (std::vector<float>{2, 3, 5, 6}));

  Parameter p("x", uniform({4, 6}, 11));
  EXPECT_TRUE(check_gradients("split", {&p}, [](Tape&, std::span<const Var> in) {
    const std::array<std::int64_t, 3> s = {2, 2, 2};
    std::vector<Var> v = ops::split(in[0], s, 1);
    return ops::add(ops::mul(v[0], v[1]), v[2]);
  }));
  // Only one part used: the others' gradients are zero.
  EXPECT_TRUE(check_gradients("split", {&p}, [](Tape&, std::span<const Var> in) {
    const std::array<std::int64_t, 2> s = {3, 1};
    return ops::split(in[0], s, 0)[1];
  }));
  const std::array<std::int64_t, 2> wrong = {2, 2};
  try {
    ops::split(x, wrong, 1);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("split"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
  }
}

TEST(SliceOp, ForwardAndGradients) {
  Tape tape;
  Var x = tape.constant(Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ops::slice(x, 1, 1, 3).value().to_vector(), (std::vector<float>{2, 3, 5, 6}));
  EXPECT_EQ(ops::slice(x, 0, 1, 2).value().to_vector(), (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(ops::slice(x, -1, 0, 1).shape(), Shape({2, 1}));

  Parameter p("x", uniform({3, 4, 2}, 12));
  for (int axis : {0, 1, 2}) {
    EXPECT_TRUE(check_gradients(
        "slice", {&p},
        [axis](Tape&, std::span<const Var> in) { return ops::slice(in[0], axis, 1, 2); }))
        << "axis " << axis;
  }
  EXPECT_THROW(ops::slice(x, 1, 2, 4), ShapeError);
  EXPECT_THROW(ops::slice(x, 1, 2, 1), ShapeError);
  EXPECT_THROW(ops::slice(x, 2, 0, 1), ShapeError);
}

TEST(ReshapeOp, IsAViewAndPassesGradients) {
  Tape tape;
  Var x = tape.constant(Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}));
  Var y = ops::reshape(x, {3, -1});
  EXPECT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_EQ(y.value().raw(), x.value().raw());
  const std::array<std::int64_t, 1> flat = {6};
  EXPECT_EQ(ops::reshape(x, flat).shape(), Shape({6}));
  try {
    ops::reshape(x, {4, 2});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("reshape"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
  }
  EXPECT_THROW(ops::reshape(x, {-1, -1}), ShapeError);
  EXPECT_THROW(ops::reshape(x, {4, -1}), ShapeError);

  Parameter p("x", uniform({2, 3, 4}, 13));
  EXPECT_TRUE(check_gradients("reshape", {&p}, [](Tape&, std::span<const Var> in) {
    // Reshape then use elementwise so that positions matter.
    return ops::mul(ops::reshape(in[0], {6, 4}), ops::reshape(in[0], {6, -1}));
  }));
}

TEST(TransposeOp, ForwardAndGradients) {
  Tape tape;
  Var x = tape.constant(Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}));
  Var y = ops::transpose(x, 0, 1);
  EXPECT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_EQ(y.value().to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));

  const Tensor t = uniform({2, 3, 4}, 14);
  Var z = ops::transpose(tape.constant(t), 1, 2);
  EXPECT_TRUE(tensors_close(z.value(), testing::ref::transpose(t, 1, 2), 0, 0));

  Parameter p("x", t);
  for (auto [a0, a1] : {std::pair{0, 1}, std::pair{1, 2}, std::pair{0, 2}, std::pair{-1, 0}}) {
    EXPECT_TRUE(check_gradients(
        "transpose", {&p},
        [a0, a1](Tape&, std::span<const Var> in) { return ops::transpose(in[0], a0, a1); }))
        << a0 << " " << a1;
  }
  EXPECT_THROW(ops::transpose(x, 0, 2), ShapeError);
}

TEST(ShapeOps, ConstantInputsGetNoGradient) {
  // Inputs that need no gradient are skipped by the backward (GradOut not
  // wanted), while the others still get theirs.
  Parameter a("a", uniform({2, 3}, 15));
  const Tensor c = uniform({2, 2}, 16);
  EXPECT_TRUE(check_gradients("concat", {&a}, [c](Tape& tape, std::span<const Var> in) {
    const std::array<Var, 3> xs = {tape.constant(c), in[0], tape.constant(c)};
    return ops::concat(xs, 1);
  }));
  const Tensor d = uniform({2, 3}, 17);
  EXPECT_TRUE(check_gradients("stack", {&a}, [d](Tape& tape, std::span<const Var> in) {
    const std::array<Var, 2> xs = {tape.constant(d), in[0]};
    return ops::stack(xs, 1);
  }));
}

}  // namespace
}  // namespace recblocks
