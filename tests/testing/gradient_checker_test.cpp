// The checker must fail on wrong gradients, or every op test could pass
// vacuously. These tests use hand-written ops recorded with Tape::record, so
// they depend on the tape only.
#include "testing/gradient_checker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "testing/tensor_testing.h"

namespace recblocks::testing {
namespace {

using ::testing::HasSubstr;

// y = x^2 elementwise; args.f[0] is the factor the backward uses (2 is right).
void square_backward(Tape& tape, std::int32_t node) {
  kernels::GradOut g = tape.grad_out(tape.inputs(node)[0]);
  if (!g.wanted()) return;
  const float factor = tape.args(node).f[0];
  const float* x = tape.value(tape.inputs(node)[0]).data<float>();
  const float* dy = tape.grad(node).data<float>();
  float* dx = g.tensor.data<float>();
  for (std::int64_t i = 0; i < g.tensor.numel(); ++i) {
    const float v = factor * x[i] * dy[i];
    dx[i] = g.accumulate ? dx[i] + v : v;
  }
}

Var square(const Var& x, float factor) {
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(x.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    y.data<float>()[i] = x.value().data<float>()[i] * x.value().data<float>()[i];
  }
  OpArgs args;
  args.f[0] = factor;
  return tape.record("square", y, {x}, &square_backward, args);
}

// y = a * b elementwise, whose backward forgets b's gradient.
void product_backward_a_only(Tape& tape, std::int32_t node) {
  const auto in = tape.inputs(node);
  kernels::GradOut g = tape.grad_out(in[0]);
  const float* b = tape.value(in[1]).data<float>();
  const float* dy = tape.grad(node).data<float>();
  float* da = g.tensor.data<float>();
  for (std::int64_t i = 0; i < g.tensor.numel(); ++i) {
    da[i] = g.accumulate ? da[i] + b[i] * dy[i] : b[i] * dy[i];
  }
}

Var product_missing_b(const Var& a, const Var& b) {
  Tape& tape = a.tape();
  Tensor y = tape.arena().tensor(a.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    y.data<float>()[i] = a.value().data<float>()[i] * b.value().data<float>()[i];
  }
  return tape.record("product", y, {a, b}, &product_backward_a_only);
}

// y = max(x, 0) with backward 1 for x > 0, else 0: a kink at 0, where the
// central difference (1/2) differs from the analytic value.
void relu_backward(Tape& tape, std::int32_t node) {
  kernels::GradOut g = tape.grad_out(tape.inputs(node)[0]);
  const float* x = tape.value(tape.inputs(node)[0]).data<float>();
  const float* dy = tape.grad(node).data<float>();
  float* dx = g.tensor.data<float>();
  for (std::int64_t i = 0; i < g.tensor.numel(); ++i) {
    const float v = x[i] > 0 ? dy[i] : 0.0f;
    dx[i] = g.accumulate ? dx[i] + v : v;
  }
}

Var relu_op(const Var& x) {
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(x.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i)
    y.data<float>()[i] = std::max(x.value().data<float>()[i], 0.0f);
  return tape.record("relu", y, {x}, &relu_backward);
}

// y = alpha * x, alpha in args.f[0].
void scale_backward(Tape& tape, std::int32_t node) {
  kernels::GradOut g = tape.grad_out(tape.inputs(node)[0]);
  const float alpha = tape.args(node).f[0];
  const float* dy = tape.grad(node).data<float>();
  float* dx = g.tensor.data<float>();
  for (std::int64_t i = 0; i < g.tensor.numel(); ++i) {
    dx[i] = g.accumulate ? dx[i] + alpha * dy[i] : alpha * dy[i];
  }
}

Var scale_op(const Var& x, float alpha) {
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(x.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i)
    y.data<float>()[i] = alpha * x.value().data<float>()[i];
  OpArgs args;
  args.f[0] = alpha;
  return tape.record("scale", y, {x}, &scale_backward, args);
}

TEST(GradientChecker, PassesOnCorrectGradient) {
  Parameter x("x", uniform({4, 3}, 1));
  const GradCheckReport r =
      run_gradient_check("square", std::vector<Parameter*>{&x},
                         [](Tape&, std::span<const Var> in) { return square(in[0], 2.0f); });
  EXPECT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.checked, 12);
  EXPECT_EQ(r.failed, 0);
}

TEST(GradientChecker, FailsOnWrongGradientAndNamesOpInputAndIndex) {
  Parameter x("my_input", away_from_zero({4, 3}, 2, 0.3f, 1.0f));
  const GradCheckReport r =
      run_gradient_check("square", std::vector<Parameter*>{&x},
                         [](Tape&, std::span<const Var> in) { return square(in[0], 2.5f); });
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failed, 12);
  EXPECT_THAT(r.message, HasSubstr("'square'"));
  EXPECT_THAT(r.message, HasSubstr("'my_input'"));
  EXPECT_THAT(r.message, HasSubstr("flat index 0"));
  EXPECT_THAT(r.message, HasSubstr("analytic"));
  EXPECT_THAT(r.message, HasSubstr("numeric"));
  // The gtest form fails too.
  EXPECT_FALSE(check_gradients("square", {&x},
                               [](Tape&, std::span<const Var> in) { return square(in[0], 2.5f); }));
}

TEST(GradientChecker, FailsWhenAnInputGetsNoGradient) {
  Parameter a("a", away_from_zero({3}, 3));
  Parameter b("b", away_from_zero({3}, 4));
  const GradCheckReport r = run_gradient_check(
      "product", std::vector<Parameter*>{&a, &b},
      [](Tape&, std::span<const Var> in) { return product_missing_b(in[0], in[1]); });
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failed, 3);
  EXPECT_THAT(r.message, HasSubstr("'b'"));
  EXPECT_THAT(r.message, ::testing::Not(HasSubstr("'a'")));
}

TEST(GradientChecker, FailsOnASmallRelativeError) {
  // 2.1 instead of 2: a 5% error must not hide in the tolerance.
  Parameter x("x", away_from_zero({6}, 5, 0.5f, 1.0f));
  EXPECT_FALSE(check_gradients("square", {&x},
                               [](Tape&, std::span<const Var> in) { return square(in[0], 2.1f); }));
}

TEST(GradientChecker, SkipsAFewKinks) {
  Tensor v = away_from_zero({40}, 6);
  v.data<float>()[7] = 0.0f;  // exactly on the kink
  Parameter x("x", v);
  const GradCheckReport r =
      run_gradient_check("relu", std::vector<Parameter*>{&x},
                         [](Tape&, std::span<const Var> in) { return relu_op(in[0]); });
  EXPECT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.skipped, 1);
  EXPECT_EQ(r.checked, 40);
}

TEST(GradientChecker, FailsWhenTooManyElementsAreKinks) {
  Parameter x("x", Tensor::zeros({10}));
  const GradCheckReport r =
      run_gradient_check("relu", std::vector<Parameter*>{&x},
                         [](Tape&, std::span<const Var> in) { return relu_op(in[0]); });
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.skipped, 10);
  EXPECT_THAT(r.message, HasSubstr("kinks"));
}

TEST(GradientChecker, FailsOnANonDeterministicForward) {
  Parameter x("x", uniform({3}, 7));
  int calls = 0;
  const GradCheckReport r = run_gradient_check(
      "noisy", std::vector<Parameter*>{&x}, [&calls](Tape&, std::span<const Var> in) {
        return scale_op(in[0], 1.0f + 0.01f * static_cast<float>(++calls));
      });
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.message, HasSubstr("not deterministic"));
}

TEST(GradientChecker, RestoresTheTapeRngForEveryEvaluation) {
  // An op whose output depends on the tape's Rng (like dropout) is checkable
  // only if every evaluation starts from the same Rng state.
  Parameter x("x", away_from_zero({5}, 8));
  const GradCheckReport r = run_gradient_check(
      "random_scale", std::vector<Parameter*>{&x}, [](Tape& tape, std::span<const Var> in) {
        return scale_op(in[0], 0.5f + tape.rng().uniform());
      });
  EXPECT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.checked, 5);
}

TEST(GradientChecker, RestoresParameterValues) {
  Tensor v = uniform({4}, 9);
  const Tensor before = v.clone();
  Parameter x("x", v);
  EXPECT_TRUE(check_gradients("square", {&x},
                              [](Tape&, std::span<const Var> in) { return square(in[0], 2.0f); }));
  EXPECT_TRUE(tensors_bitwise_equal(x.value(), before));
}

TEST(GradientChecker, ReportsAnOutputThatNeedsNoGradient) {
  Parameter x("x", uniform({4}, 10));
  const GradCheckReport r = run_gradient_check(
      "constant", std::vector<Parameter*>{&x},
      [](Tape& tape, std::span<const Var>) { return tape.constant(Tensor::zeros({2})); });
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.message, HasSubstr("does not require a gradient"));
}

}  // namespace
}  // namespace recblocks::testing
