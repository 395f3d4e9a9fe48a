#include "recblocks/autograd/ops/normalize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "testing/gradient_checker.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::check_gradients;
using ::testing::HasSubstr;
using testing::tensors_close;
using testing::uniform;

TEST(L2NormalizeOp, RowsHaveUnitNorm) {
  const Tensor x = uniform({3, 4}, 1);
  Tape tape;
  Var y = ops::l2_normalize(tape.constant(x));
  EXPECT_TRUE(tensors_close(y.value(), testing::ref::l2_normalize(x, 1e-12f).y, 1e-5, 1e-6));
  for (int r = 0; r < 3; ++r) {
    double ss = 0;
    for (int d = 0; d < 4; ++d) ss += y.value().item(r * 4 + d) * y.value().item(r * 4 + d);
    EXPECT_NEAR(ss, 1.0, 1e-5);
  }
  Var z = ops::l2_normalize(tape.constant(Tensor::zeros({1, 3})));
  EXPECT_EQ(z.value().to_vector(), (std::vector<float>{0, 0, 0}));  // eps, not NaN
}

TEST(L2NormalizeOp, GradientCheck) {
  Parameter x("x", testing::away_from_zero({3, 4}, 2, 0.3f, 1.0f));
  EXPECT_TRUE(check_gradients(
      "l2_normalize", {&x}, [](Tape&, std::span<const Var> in) { return ops::l2_normalize(in[0]); },
      {.step = 3e-3}));
}

TEST(CosineSimilarityOp, ForwardValues) {
  Tape tape;
  Var a = tape.constant(Tensor::from({3, 2}, {1, 0, 1, 1, 2, 0}));
  Var b = tape.constant(Tensor::from({3, 2}, {0, 1, 2, 2, -3, 0}));
  Var c = ops::cosine_similarity(a, b);
  EXPECT_EQ(c.shape(), Shape({3, 1}));
  EXPECT_NEAR(c.value().item(0), 0.0, 1e-6);
  EXPECT_NEAR(c.value().item(1), 1.0, 1e-6);
  EXPECT_NEAR(c.value().item(2), -1.0, 1e-6);
}

TEST(CosineSimilarityOp, GradientCheck) {
  Parameter a("a", testing::away_from_zero({3, 4}, 3, 0.3f, 1.0f)),
      b("b", testing::away_from_zero({3, 4}, 4, 0.3f, 1.0f));
  EXPECT_TRUE(check_gradients(
      "cosine_similarity", {&a, &b},
      [](Tape&, std::span<const Var> in) { return ops::cosine_similarity(in[0], in[1]); },
      {.step = 3e-3}));
  // Similarity of a vector with itself: 1, gradient 0.
  EXPECT_TRUE(check_gradients(
      "cosine_similarity", {&a},
      [](Tape&, std::span<const Var> in) { return ops::cosine_similarity(in[0], in[0]); },
      {.step = 3e-3}));
}

TEST(CosineSimilarityOp, ShapeMismatchThrows) {
  Tape tape;
  try {
    ops::cosine_similarity(tape.constant(Tensor::zeros({3, 4})),
                           tape.constant(Tensor::zeros({3, 5})));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cosine_similarity"));
    EXPECT_THAT(e.what(), HasSubstr("[3, 5]"));
  }
}

}  // namespace
}  // namespace recblocks
