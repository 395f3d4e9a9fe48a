// The fused DLRM dot interaction, against the naive pairwise reference, at
// a tiny size, the seed DLRM's (B=1024, F=5, D=64) and Criteo's (B=256,
// F=27, D=16).
#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "recblocks/kernels/backend.h"
#include "testing/reference.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using kernels::MatrixView;
using testing::nans;
using testing::tensors_close;
using testing::uniform;

MatrixView full_view(const Tensor& t) { return {t.data<float>(), t.size(0), t.size(1), t.size(1)}; }

struct Size {
  std::int64_t b, f, d;
};
constexpr Size kSizes[] = {{2, 3, 4}, {1024, 5, 64}, {256, 27, 16}};

class DotInteractionKernelTest : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  Size size() const { return kSizes[std::get<0>(GetParam())]; }
  bool self() const { return std::get<1>(GetParam()); }
  double atol() const { return 1e-5 * static_cast<double>(size().d); }
};

TEST_P(DotInteractionKernelTest, ForwardFromSeparateMatrices) {
  const Size s = size();
  std::vector<Tensor> xs;
  std::vector<MatrixView> views;
  for (std::int64_t f = 0; f < s.f; ++f) {
    xs.push_back(uniform({s.b, s.d}, 10 + f));
    views.push_back(full_view(xs.back()));
  }
  const Tensor expected = testing::ref::dot_interaction(xs, self());
  ASSERT_EQ(expected.size(1), s.f * (s.f + (self() ? 1 : -1)) / 2);
  const Tensor out = nans(expected.shape());
  kernels::backend().dot_interaction_forward(views, self(), out);
  EXPECT_TRUE(tensors_close(out, expected, 1e-5, atol()));
}

TEST_P(DotInteractionKernelTest, ForwardAndBackwardFromStackedBuffer) {
  // Features as column blocks of one [B, F, D] buffer: row stride F * D.
  const Size s = size();
  const Tensor stacked = uniform({s.b, s.f, s.d}, 20);
  std::vector<Tensor> xs;
  std::vector<MatrixView> views;
  for (std::int64_t f = 0; f < s.f; ++f) {
    Tensor x = Tensor::empty({s.b, s.d});
    for (std::int64_t b = 0; b < s.b; ++b)
      for (std::int64_t d = 0; d < s.d; ++d)
        x.data<float>()[b * s.d + d] = stacked.data<float>()[(b * s.f + f) * s.d + d];
    xs.push_back(x);
    views.push_back({stacked.data<float>() + f * s.d, s.b, s.d, s.f * s.d});
  }
  const Tensor expected = testing::ref::dot_interaction(xs, self());
  const Tensor out = nans(expected.shape());
  kernels::backend().dot_interaction_forward(views, self(), out);
  EXPECT_TRUE(tensors_close(out, expected, 1e-5, atol()));

  const Tensor dout = uniform(expected.shape(), 21);
  const std::vector<Tensor> dxs = testing::ref::dot_interaction_backward(xs, self(), dout);
  const Tensor dstacked = nans({s.b, s.f, s.d});
  std::vector<MatrixView> dviews;
  for (std::int64_t f = 0; f < s.f; ++f)
    dviews.push_back({dstacked.data<float>() + f * s.d, s.b, s.d, s.f * s.d});
  bool accumulate[27] = {};
  kernels::backend().dot_interaction_backward(
      views, self(), dout, dviews,
      std::span<const bool>(accumulate, static_cast<std::size_t>(s.f)));
  for (std::int64_t f = 0; f < s.f; ++f) {
    Tensor got = Tensor::empty({s.b, s.d});
    for (std::int64_t b = 0; b < s.b; ++b)
      for (std::int64_t d = 0; d < s.d; ++d)
        got.data<float>()[b * s.d + d] = dstacked.data<float>()[(b * s.f + f) * s.d + d];
    EXPECT_TRUE(tensors_close(got, dxs[f], 1e-4, 1e-5 * static_cast<double>(s.f)))
        << "feature " << f;
  }
}

TEST_P(DotInteractionKernelTest, BackwardAccumulatesPerFeature) {
  const Size s = size();
  std::vector<Tensor> xs, dxs;
  std::vector<MatrixView> views, dviews;
  bool accumulate[27] = {};
  for (std::int64_t f = 0; f < s.f; ++f) {
    xs.push_back(uniform({s.b, s.d}, 30 + f));
    views.push_back(full_view(xs.back()));
    // Odd features accumulate into ones, even ones overwrite NaN.
    accumulate[f] = f % 2 == 1;
    dxs.push_back(accumulate[f] ? Tensor::full({s.b, s.d}, 1.0f) : nans({s.b, s.d}));
    dviews.push_back(full_view(dxs.back()));
  }
  const Tensor dout = uniform({s.b, s.f * (s.f + (self() ? 1 : -1)) / 2}, 40);
  const std::vector<Tensor> expected = testing::ref::dot_interaction_backward(xs, self(), dout);
  kernels::backend().dot_interaction_backward(
      views, self(), dout, dviews,
      std::span<const bool>(accumulate, static_cast<std::size_t>(s.f)));
  for (std::int64_t f = 0; f < s.f; ++f) {
    Tensor e = expected[f].clone();
    if (accumulate[f]) {
      for (std::int64_t i = 0; i < e.numel(); ++i) e.data<float>()[i] += 1.0f;
    }
    EXPECT_TRUE(tensors_close(dxs[f], e, 1e-4, 1e-5 * static_cast<double>(s.f))) << "feature " << f;
  }
}

std::string interaction_test_name(const ::testing::TestParamInfo<std::tuple<int, bool>>& info) {
  const char* names[] = {"B2F3D4", "B1024F5D64", "B256F27D16"};
  return std::string(names[std::get<0>(info.param)]) +
         (std::get<1>(info.param) ? "_Self" : "_NoSelf");
}

INSTANTIATE_TEST_SUITE_P(All, DotInteractionKernelTest,
                         ::testing::Combine(::testing::Values(0, 1, 2), ::testing::Bool()),
                         interaction_test_name);

TEST(DotInteractionKernel, PairOrderIsTheDlrmReference) {
  // Features e0 = [1, 0], e1 = [2, 0], e2 = [0, 3], one sample: the pairs
  // (1,0), (2,0), (2,1) give 2, 0, 0; with self: (0,0), (1,0), (1,1), (2,0),
  // (2,1), (2,2) give 1, 2, 4, 0, 0, 9.
  const Tensor e0 = Tensor::from({1, 2}, {1, 0}), e1 = Tensor::from({1, 2}, {2, 0}),
               e2 = Tensor::from({1, 2}, {0, 3});
  const MatrixView v[] = {full_view(e0), full_view(e1), full_view(e2)};
  Tensor out = nans({1, 3});
  kernels::backend().dot_interaction_forward(v, false, out);
  EXPECT_EQ(out.to_vector(), (std::vector<float>{2, 0, 0}));
  out = nans({1, 6});
  kernels::backend().dot_interaction_forward(v, true, out);
  EXPECT_EQ(out.to_vector(), (std::vector<float>{1, 2, 4, 0, 0, 9}));
}

TEST(DotInteractionKernel, TwoFeaturesSharingOneGradientBuffer) {
  // The same matrix passed as features 0 and 2: its gradient is the sum of
  // both, when the second write accumulates.
  const Tensor a = uniform({3, 4}, 50), b = uniform({3, 4}, 51);
  const MatrixView v[] = {full_view(a), full_view(b), full_view(a)};
  const Tensor dout = uniform({3, 3}, 52);
  const std::vector<Tensor> e = testing::ref::dot_interaction_backward({a, b, a}, false, dout);
  const Tensor da = nans({3, 4}), db = nans({3, 4});
  const MatrixView dv[] = {full_view(da), full_view(db), full_view(da)};
  const bool accumulate[] = {false, false, true};
  kernels::backend().dot_interaction_backward(v, false, dout, dv, accumulate);
  Tensor sum = e[0].clone();
  for (std::int64_t i = 0; i < sum.numel(); ++i) sum.data<float>()[i] += e[2].data<float>()[i];
  EXPECT_TRUE(tensors_close(da, sum, 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close(db, e[1], 1e-5, 1e-6));
}

}  // namespace
}  // namespace recblocks
