#include "recblocks/autograd/ops/activation.h"

#include <gtest/gtest.h>

#include <cmath>

#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::Unary;
using testing::check_gradients;
using testing::tensors_close;

struct ActivationCase {
  const char* name;
  Unary unary;
  Var (*op)(const Var&);
};

const ActivationCase kActivations[] = {
    {"relu", Unary::kRelu, &ops::relu}, {"sigmoid", Unary::kSigmoid, &ops::sigmoid},
    {"tanh", Unary::kTanh, &ops::tanh}, {"softplus", Unary::kSoftplus, &ops::softplus},
    {"gelu", Unary::kGelu, &ops::gelu},
};

class ActivationOpTest : public ::testing::TestWithParam<int> {
 protected:
  const ActivationCase& act() const { return kActivations[GetParam()]; }
};

TEST_P(ActivationOpTest, ForwardMatchesReference) {
  const Tensor x = testing::uniform({3, 4, 5}, 1, -4.0f, 4.0f);
  Tape tape;
  Var y = act().op(tape.constant(x));
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_TRUE(tensors_close(y.value(), testing::ref::unary_forward(act().unary, x), 1e-5, 1e-6));
}

TEST_P(ActivationOpTest, GradientCheck) {
  // Away from 0 so that relu's kink is not hit; wide enough to reach the
  // saturated parts of sigmoid and tanh.
  Parameter x("x", testing::away_from_zero({4, 6}, 2, 0.05f, 3.0f));
  EXPECT_TRUE(check_gradients(act().name, {&x},
                              [this](Tape&, std::span<const Var> in) { return act().op(in[0]); }));
}

TEST_P(ActivationOpTest, GradientCheckThreeDimensional) {
  Parameter x("x", testing::away_from_zero({2, 3, 4}, 3, 0.05f, 2.0f));
  EXPECT_TRUE(check_gradients(act().name, {&x},
                              [this](Tape&, std::span<const Var> in) { return act().op(in[0]); }));
}

INSTANTIATE_TEST_SUITE_P(All, ActivationOpTest, ::testing::Range(0, 5), [](const auto& info) {
  return std::string(kActivations[info.param].name);
});

TEST(ActivationOp, KnownValues) {
  Tape tape;
  Var x = tape.constant(Tensor::from({4}, {-1.0f, 0.0f, 1.0f, 2.0f}));
  EXPECT_EQ(ops::relu(x).value().to_vector(), (std::vector<float>{0, 0, 1, 2}));
  EXPECT_FLOAT_EQ(ops::sigmoid(x).value().data<float>()[1], 0.5f);
  EXPECT_FLOAT_EQ(ops::tanh(x).value().data<float>()[2], std::tanh(1.0f));
  EXPECT_FLOAT_EQ(ops::softplus(x).value().data<float>()[1], std::log(2.0f));
  // Exact gelu (x * Phi(x)), not the tanh approximation: gelu(1) = 0.8413447.
  EXPECT_NEAR(ops::gelu(x).value().data<float>()[2], 0.84134475, 1e-6);
  EXPECT_NEAR(ops::gelu(x).value().data<float>()[0], -0.15865525, 1e-6);
}

TEST(ActivationOp, SoftplusIsStableForLargeInputs) {
  Tape tape;
  Var y = ops::softplus(tape.constant(Tensor::from({3}, {-200.0f, 50.0f, 200.0f})));
  EXPECT_NEAR(y.value().data<float>()[0], 0.0f, 1e-30);
  EXPECT_FLOAT_EQ(y.value().data<float>()[1], 50.0f);
  EXPECT_FLOAT_EQ(y.value().data<float>()[2], 200.0f);
}

TEST(ActivationOp, IntegerInputThrows) {
  Tape tape;
  Var x = tape.constant(Tensor::zeros({2}, DType::kInt32));
  EXPECT_THROW(ops::relu(x), ShapeError);
  EXPECT_THROW(ops::gelu(x), ShapeError);
}

}  // namespace
}  // namespace recblocks
