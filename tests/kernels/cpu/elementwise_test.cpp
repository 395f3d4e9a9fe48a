// Elementwise kernels: binary ops with numpy broadcasting, unary
// activations, scale and dropout, against the naive reference.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "recblocks/core/threads.h"
#include "recblocks/kernels/backend.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::Binary;
using kernels::GradOut;
using kernels::Unary;
using testing::nans;
using testing::tensors_close;
using testing::uniform;

const char* binary_name(Binary op) {
  switch (op) {
    case Binary::kAdd: return "Add";
    case Binary::kSub: return "Sub";
    case Binary::kMul: return "Mul";
    case Binary::kDiv: return "Div";
  }
  return "?";
}

struct ShapePair {
  const char* name;
  Shape a, b;
};

const ShapePair kShapePairs[] = {
    {"Same", {4, 3}, {4, 3}},
    {"Row", {4, 3}, {3}},
    {"Column", {4, 1}, {4, 3}},
    {"OuterBoth", {4, 1}, {1, 3}},
    {"RowFirst", {3}, {4, 3}},
    {"ThreeD", {2, 1, 3}, {4, 1}},
    {"Scalar", {4, 3}, {}},
    {"RealisticBias", {1024, 128}, {128}},
    {"RealisticSame", {256, 100}, {256, 100}},
};

Tensor operand(Binary op, const Shape& s, std::uint64_t seed, bool denominator) {
  // Denominators away from 0.
  return op == Binary::kDiv && denominator ? testing::away_from_zero(s, seed, 0.5f, 2.0f)
                                           : uniform(s, seed);
}

class BinaryKernelTest : public ::testing::TestWithParam<std::tuple<Binary, int>> {};

TEST_P(BinaryKernelTest, ForwardMatchesReference) {
  const auto [op, which] = GetParam();
  const ShapePair& p = kShapePairs[which];
  const Tensor a = operand(op, p.a, 1, false), b = operand(op, p.b, 2, true);
  const Tensor expected = testing::ref::binary_forward(op, a, b);
  const Tensor y = nans(expected.shape());
  kernels::backend().binary_forward(op, a, b, y);
  EXPECT_TRUE(tensors_close(y, expected, 1e-6, 1e-7));
}

TEST_P(BinaryKernelTest, BackwardMatchesReference) {
  const auto [op, which] = GetParam();
  const ShapePair& p = kShapePairs[which];
  const Tensor a = operand(op, p.a, 3, false), b = operand(op, p.b, 4, true);
  const Shape out = testing::ref::broadcast_shape(p.a, p.b);
  const Tensor dy = uniform(out, 5);
  const auto e = testing::ref::binary_backward(op, a, b, dy);
  const double atol = out.numel() > 1000 ? 1e-4 : 1e-6;

  const Tensor da = nans(p.a), db = nans(p.b);
  kernels::backend().binary_backward(op, a, b, dy, GradOut{da, false}, GradOut{db, false});
  EXPECT_TRUE(tensors_close(da, e.da, 1e-5, atol)) << "da";
  EXPECT_TRUE(tensors_close(db, e.db, 1e-5, atol)) << "db";

  // Accumulate into existing values; one side only.
  const Tensor da2 = Tensor::full(p.a, 1.0f);
  kernels::backend().binary_backward(op, a, b, dy, GradOut{da2, true}, GradOut{});
  Tensor expected = e.da.clone();
  for (std::int64_t i = 0; i < expected.numel(); ++i) expected.data<float>()[i] += 1.0f;
  EXPECT_TRUE(tensors_close(da2, expected, 1e-5, atol)) << "accumulated da";

  const Tensor db2 = Tensor::full(p.b, -1.0f);
  kernels::backend().binary_backward(op, a, b, dy, GradOut{}, GradOut{db2, true});
  expected = e.db.clone();
  for (std::int64_t i = 0; i < expected.numel(); ++i) expected.data<float>()[i] -= 1.0f;
  EXPECT_TRUE(tensors_close(db2, expected, 1e-5, atol)) << "accumulated db";
}

INSTANTIATE_TEST_SUITE_P(
    All, BinaryKernelTest,
    ::testing::Combine(::testing::Values(Binary::kAdd, Binary::kSub, Binary::kMul, Binary::kDiv),
                       ::testing::Range(0, static_cast<int>(std::size(kShapePairs)))),
    [](const auto& info) {
      return std::string(binary_name(std::get<0>(info.param))) + "_" +
             kShapePairs[std::get<1>(info.param)].name;
    });

const char* unary_name(Unary op) {
  switch (op) {
    case Unary::kRelu: return "Relu";
    case Unary::kSigmoid: return "Sigmoid";
    case Unary::kTanh: return "Tanh";
    case Unary::kSoftplus: return "Softplus";
    case Unary::kGelu: return "Gelu";
  }
  return "?";
}

class UnaryKernelTest : public ::testing::TestWithParam<std::tuple<Unary, int>> {
 protected:
  Shape shape() const { return std::get<1>(GetParam()) == 0 ? Shape{3, 5} : Shape{1024, 128}; }
};

TEST_P(UnaryKernelTest, ForwardMatchesReference) {
  const Unary op = std::get<0>(GetParam());
  const Tensor x = uniform(shape(), 6, -4.0f, 4.0f);
  const Tensor y = nans(shape());
  kernels::backend().unary_forward(op, x, y);
  EXPECT_TRUE(tensors_close(y, testing::ref::unary_forward(op, x), 1e-5, 1e-6));
}

TEST_P(UnaryKernelTest, BackwardMatchesReference) {
  const Unary op = std::get<0>(GetParam());
  const Tensor x = uniform(shape(), 7, -4.0f, 4.0f);
  const Tensor y = testing::ref::unary_forward(op, x);
  const Tensor dy = uniform(shape(), 8);
  const Tensor expected = testing::ref::unary_backward(op, x, dy);
  const Tensor dx = nans(shape());
  kernels::backend().unary_backward(op, x, y, dy, GradOut{dx, false});
  EXPECT_TRUE(tensors_close(dx, expected, 1e-4, 1e-6));

  const Tensor acc = Tensor::full(shape(), 2.0f);
  kernels::backend().unary_backward(op, x, y, dy, GradOut{acc, true});
  Tensor plus = expected.clone();
  for (std::int64_t i = 0; i < plus.numel(); ++i) plus.data<float>()[i] += 2.0f;
  EXPECT_TRUE(tensors_close(acc, plus, 1e-4, 1e-6));
}

TEST_P(UnaryKernelTest, ExtremeInputsStayFinite) {
  const Unary op = std::get<0>(GetParam());
  const Tensor x = Tensor::from({6}, {-100.0f, -30.0f, -1e-3f, 0.0f, 30.0f, 100.0f});
  const Tensor y = nans({6});
  kernels::backend().unary_forward(op, x, y);
  EXPECT_TRUE(tensors_close(y, testing::ref::unary_forward(op, x), 1e-5, 1e-6));
}

INSTANTIATE_TEST_SUITE_P(All, UnaryKernelTest,
                         ::testing::Combine(::testing::Values(Unary::kRelu, Unary::kSigmoid,
                                                              Unary::kTanh, Unary::kSoftplus,
                                                              Unary::kGelu),
                                            ::testing::Values(0, 1)),
                         [](const auto& info) {
                           return std::string(unary_name(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) == 0 ? "_3x5" : "_1024x128");
                         });

TEST(ScaleKernel, OverwritesAndAccumulates) {
  for (const Shape& s : {Shape{3, 4}, Shape{1024, 64}}) {
    const Tensor x = uniform(s, 9);
    const Tensor y = nans(s);
    kernels::backend().scale(x, -0.5f, GradOut{y, false});
    Tensor expected = Tensor::empty(s);
    for (std::int64_t i = 0; i < x.numel(); ++i)
      expected.data<float>()[i] = -0.5f * x.data<float>()[i];
    EXPECT_TRUE(tensors_close(y, expected, 1e-6, 0));

    const Tensor z = Tensor::full(s, 1.0f);
    kernels::backend().scale(x, 2.0f, GradOut{z, true});
    for (std::int64_t i = 0; i < x.numel(); ++i)
      expected.data<float>()[i] = 1.0f + 2.0f * x.data<float>()[i];
    EXPECT_TRUE(tensors_close(z, expected, 1e-6, 1e-7));
  }
}

TEST(DropoutKernel, KeepsOrScalesEachElementAndBackwardUsesTheSameMask) {
  const float rate = 0.25f;
  for (const Shape& s : {Shape{4, 5}, Shape{1024, 64}}) {
    const Tensor x = testing::away_from_zero(s, 10);
    const Tensor y = nans(s);
    const std::uint64_t stream = 12345;
    kernels::backend().dropout_forward(x, rate, stream, y);
    std::int64_t kept = 0;
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const float v = y.data<float>()[i];
      if (v == 0.0f) continue;
      ++kept;
      ASSERT_NEAR(v, x.data<float>()[i] / (1.0f - rate), 1e-6) << "index " << i;
    }
    if (s.numel() > 1000) {
      EXPECT_NEAR(static_cast<double>(kept) / static_cast<double>(s.numel()), 1.0 - rate, 0.02);
    }
    // The backward regenerates the mask from the stream: dx = dy * y / x.
    const Tensor dy = uniform(s, 11);
    const Tensor dx = nans(s);
    kernels::backend().dropout_backward(dy, rate, stream, GradOut{dx, false});
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const float expected =
          y.data<float>()[i] == 0.0f ? 0.0f : dy.data<float>()[i] / (1.0f - rate);
      ASSERT_NEAR(dx.data<float>()[i], expected, 1e-6) << "index " << i;
    }
    const Tensor acc = Tensor::full(s, 1.0f);
    kernels::backend().dropout_backward(dy, rate, stream, GradOut{acc, true});
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      ASSERT_NEAR(acc.data<float>()[i], 1.0f + dx.data<float>()[i], 1e-6) << "index " << i;
    }
  }
}

TEST(DropoutKernel, MaskDependsOnStreamNotOnThreadCount) {
  const Shape s{512, 64};
  const Tensor x = Tensor::full(s, 1.0f);
  const int saved = num_threads();
  set_num_threads(1);
  const Tensor one = Tensor::empty(s);
  kernels::backend().dropout_forward(x, 0.5f, 99, one);
  set_num_threads(2);
  const Tensor two = Tensor::empty(s);
  kernels::backend().dropout_forward(x, 0.5f, 99, two);
  set_num_threads(saved);
  EXPECT_TRUE(testing::tensors_bitwise_equal(one, two));
  const Tensor other = Tensor::empty(s);
  kernels::backend().dropout_forward(x, 0.5f, 99 + s.numel(), other);
  EXPECT_FALSE(testing::tensors_bitwise_equal(one, other));
}

}  // namespace
}  // namespace recblocks
