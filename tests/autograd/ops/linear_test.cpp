#include "recblocks/autograd/ops/linear.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tuple>

#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::Activation;
using testing::activation_name;
using testing::check_gradients;
using ::testing::HasSubstr;
using testing::tensors_close;
using testing::uniform;

// (activation, bias, 3-D input)
class LinearOpTest : public ::testing::TestWithParam<std::tuple<Activation, bool, bool>> {};

TEST_P(LinearOpTest, ForwardMatchesReference) {
  const auto [act, with_bias, three_d] = GetParam();
  const Tensor x = three_d ? uniform({2, 3, 4}, 1) : uniform({5, 4}, 1);
  Parameter w("kernel", uniform({4, 3}, 2)), b("bias", uniform({3}, 3));
  Tape tape;
  Var y =
      ops::linear(tape.constant(x), tape.parameter(w), with_bias ? tape.parameter(b) : Var(), act);
  const Shape expected_shape = three_d ? Shape{2, 3, 3} : Shape{5, 3};
  ASSERT_EQ(y.shape(), expected_shape);
  const Tensor expected = testing::ref::linear_forward(x.view({x.numel() / 4, 4}), w.value(),
                                                       with_bias ? b.value() : Tensor(), act);
  EXPECT_TRUE(tensors_close(y.value().view(expected.shape()), expected, 1e-5, 1e-6));
}

TEST_P(LinearOpTest, GradientCheck) {
  const auto [act, with_bias, three_d] = GetParam();
  Parameter x("x", three_d ? uniform({2, 3, 4}, 4) : uniform({5, 4}, 4));
  Parameter w("kernel", uniform({4, 3}, 5)), b("bias", uniform({3}, 6));
  std::vector<Parameter*> inputs = {&x, &w};
  if (with_bias) inputs.push_back(&b);
  EXPECT_TRUE(check_gradients("linear", inputs, [&](Tape&, std::span<const Var> in) {
    return ops::linear(in[0], in[1], with_bias ? in[2] : Var(), act);
  }));
}

INSTANTIATE_TEST_SUITE_P(All, LinearOpTest,
                         ::testing::Combine(::testing::Values(Activation::kNone, Activation::kRelu,
                                                              Activation::kSigmoid,
                                                              Activation::kTanh),
                                            ::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return activation_name(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_Bias" : "_NoBias") +
                                  (std::get<2>(info.param) ? "_3D" : "_2D");
                         });

TEST(LinearOp, ConstantInputGetsNoGradientButKernelDoes) {
  Parameter w("top_mlp/0/kernel", uniform({4, 2}, 7));
  Tape tape;
  Var x = tape.constant(uniform({3, 4}, 8));
  Var y = ops::linear(x, tape.parameter(w));
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(x.requires_grad());
}

TEST(LinearOp, InputWidthMismatchNamesOpAndShapes) {
  Parameter w("kernel", Tensor::zeros({64, 128}));
  Tape tape;
  try {
    ops::linear(tape.constant(Tensor::zeros({4, 32})), tape.parameter(w));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("linear"));
    EXPECT_THAT(e.what(), HasSubstr("[4, 32]"));
    EXPECT_THAT(e.what(), HasSubstr("[64, 128]"));
  }
}

TEST(LinearOp, BiasShapeMismatchThrows) {
  Parameter w("kernel", Tensor::zeros({4, 3})), b("bias", Tensor::zeros({4}));
  Tape tape;
  try {
    ops::linear(tape.constant(Tensor::zeros({2, 4})), tape.parameter(w), tape.parameter(b));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("linear"));
    EXPECT_THAT(e.what(), HasSubstr("[4]"));
  }
}

TEST(LinearOp, IntegerInputThrowsShapeError) {
  Parameter w("kernel", Tensor::zeros({4, 3}));
  Tape tape;
  EXPECT_THROW(ops::linear(tape.constant(Tensor::zeros({2, 4}, DType::kInt32)), tape.parameter(w)),
               ShapeError);
  EXPECT_THROW(ops::linear(tape.constant(Tensor::zeros({4})), tape.parameter(w)), ShapeError);
}

TEST(LinearOp, GradientCheckWithConstantInput) {
  // The usual first layer: x is data, only kernel and bias are trained.
  const Tensor x = uniform({4, 3}, 9);
  Parameter w("kernel", uniform({3, 2}, 10)), b("bias", uniform({2}, 11));
  EXPECT_TRUE(check_gradients("linear", {&w, &b}, [x](Tape& tape, std::span<const Var> in) {
    return ops::linear(tape.constant(x), in[0], in[1], Activation::kTanh);
  }));
  // Frozen kernel: only x and bias.
  Parameter x2("x", uniform({4, 3}, 12));
  const Tensor frozen = uniform({3, 2}, 13);
  EXPECT_TRUE(check_gradients("linear", {&x2, &b}, [frozen](Tape& tape, std::span<const Var> in) {
    return ops::linear(in[0], tape.constant(frozen), in[1], Activation::kSigmoid);
  }));
}

}  // namespace
}  // namespace recblocks
