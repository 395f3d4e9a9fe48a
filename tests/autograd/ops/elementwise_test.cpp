#include "recblocks/autograd/ops/elementwise.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tuple>

#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::Binary;
using testing::check_gradients;
using ::testing::HasSubstr;
using testing::tensors_close;
using testing::uniform;

const char* binary_name(Binary op) {
  switch (op) {
    case Binary::kAdd: return "add";
    case Binary::kSub: return "sub";
    case Binary::kMul: return "mul";
    case Binary::kDiv: return "div";
  }
  return "?";
}

Var apply(Binary op, const Var& a, const Var& b) {
  switch (op) {
    case Binary::kAdd: return ops::add(a, b);
    case Binary::kSub: return ops::sub(a, b);
    case Binary::kMul: return ops::mul(a, b);
    case Binary::kDiv: return ops::div(a, b);
  }
  return {};
}

struct ShapePair {
  const char* name;
  Shape a, b;
};

const ShapePair kPairs[] = {
    {"Same", {4, 3}, {4, 3}},      {"Row", {4, 3}, {3}},          {"Column", {4, 3}, {4, 1}},
    {"RowOf1", {4, 3}, {1, 3}},    {"OuterBoth", {4, 1}, {1, 3}}, {"LeftBroadcast", {3}, {4, 3}},
    {"ThreeD", {2, 3, 4}, {3, 1}},
};

Tensor operand(Binary op, const Shape& s, std::uint64_t seed, bool denominator) {
  return op == Binary::kDiv && denominator ? testing::away_from_zero(s, seed, 0.5f, 1.5f)
                                           : uniform(s, seed);
}

class BinaryOpTest : public ::testing::TestWithParam<std::tuple<Binary, int>> {};

TEST_P(BinaryOpTest, ForwardMatchesReference) {
  const auto [op, which] = GetParam();
  const ShapePair& p = kPairs[which];
  const Tensor a = operand(op, p.a, 1, false), b = operand(op, p.b, 2, true);
  Tape tape;
  Var y = apply(op, tape.constant(a), tape.constant(b));
  EXPECT_EQ(y.shape(), testing::ref::broadcast_shape(p.a, p.b));
  EXPECT_TRUE(tensors_close(y.value(), testing::ref::binary_forward(op, a, b), 1e-6, 1e-7));
  EXPECT_FALSE(y.requires_grad());
}

TEST_P(BinaryOpTest, GradientCheck) {
  const auto [op, which] = GetParam();
  const ShapePair& p = kPairs[which];
  Parameter a("a", operand(op, p.a, 3, false)), b("b", operand(op, p.b, 4, true));
  EXPECT_TRUE(check_gradients(binary_name(op), {&a, &b}, [op](Tape&, std::span<const Var> in) {
    return apply(op, in[0], in[1]);
  }));
}

TEST_P(BinaryOpTest, GradientCheckWithOneConstantSide) {
  const auto [op, which] = GetParam();
  const ShapePair& p = kPairs[which];
  Parameter b("b", operand(op, p.b, 5, true));
  const Tensor a = operand(op, p.a, 6, false);
  EXPECT_TRUE(check_gradients(binary_name(op), {&b}, [op, a](Tape& tape, std::span<const Var> in) {
    return apply(op, tape.constant(a), in[0]);
  }));
}

INSTANTIATE_TEST_SUITE_P(
    All, BinaryOpTest,
    ::testing::Combine(::testing::Values(Binary::kAdd, Binary::kSub, Binary::kMul, Binary::kDiv),
                       ::testing::Range(0, static_cast<int>(std::size(kPairs)))),
    [](const auto& info) {
      return std::string(binary_name(std::get<0>(info.param))) + "_" +
             kPairs[std::get<1>(info.param)].name;
    });

TEST(ElementwiseOp, SameVarOnBothSides) {
  // x * x: both inputs are one node, whose gradient must be 2x.
  Parameter x("x", uniform({3, 2}, 7));
  EXPECT_TRUE(check_gradients(
      "mul", {&x}, [](Tape&, std::span<const Var> in) { return ops::mul(in[0], in[0]); }));
  Parameter y("y", testing::away_from_zero({3, 2}, 8, 0.5f, 1.5f));
  EXPECT_TRUE(check_gradients("div", {&y}, [](Tape&, std::span<const Var> in) {
    return ops::div(ops::add(in[0], in[0]), in[0]);
  }));
}

TEST(ElementwiseOp, Scale) {
  Parameter x("x", uniform({4, 3}, 9));
  Tape tape;
  Var y = ops::scale(tape.parameter(x), -2.5f);
  for (std::int64_t i = 0; i < 12; ++i)
    EXPECT_FLOAT_EQ(y.value().data<float>()[i], -2.5f * x.value().data<float>()[i]);
  EXPECT_TRUE(check_gradients(
      "scale", {&x}, [](Tape&, std::span<const Var> in) { return ops::scale(in[0], -2.5f); }));
}

TEST(ElementwiseOp, BroadcastShapes) {
  EXPECT_EQ(ops::broadcast_shapes({4, 3}, {3}, "add"), Shape({4, 3}));
  EXPECT_EQ(ops::broadcast_shapes({4, 1}, {1, 3}, "add"), Shape({4, 3}));
  EXPECT_EQ(ops::broadcast_shapes({2, 1, 3}, {4, 1}, "add"), Shape({2, 4, 3}));
  EXPECT_EQ(ops::broadcast_shapes({}, {2, 2}, "add"), Shape({2, 2}));
  try {
    ops::broadcast_shapes({4, 3}, {4}, "my_op");
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("my_op"));
    EXPECT_THAT(e.what(), HasSubstr("[4, 3]"));
    EXPECT_THAT(e.what(), HasSubstr("[4]"));
  }
}

TEST(ElementwiseOp, IncompatibleShapesThrowNamingTheOp) {
  Tape tape;
  Var a = tape.constant(Tensor::zeros({4, 3})), b = tape.constant(Tensor::zeros({2, 3}));
  for (Binary op : {Binary::kAdd, Binary::kSub, Binary::kMul, Binary::kDiv}) {
    try {
      apply(op, a, b);
      FAIL() << "expected ShapeError for " << binary_name(op);
    } catch (const ShapeError& e) {
      EXPECT_THAT(e.what(), HasSubstr(binary_name(op)));
      EXPECT_THAT(e.what(), HasSubstr("[4, 3]"));
      EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
    }
  }
  EXPECT_THROW(ops::add(a, tape.constant(Tensor::zeros({4, 3}, DType::kInt64))), ShapeError);
}

}  // namespace
}  // namespace recblocks
