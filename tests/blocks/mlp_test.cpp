// MLPBlock: shapes, values against a naive reference, gradients, dropout,
// normalization, regularizers, JSON round trip and errors.
#include "recblocks/blocks/mlp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/combinators.h"
#include "recblocks/core/error.h"
#include "recblocks/data/dataset.h"
#include "recblocks/data/loader.h"
#include "testing/gradient_checker.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::HasSubstr;

// ---- helpers ------------------------------------------------------------------

using testing::error_of;

TensorSpec spec_of(Shape row) { return {row, DType::kFloat32}; }

// Runs a built block on `input` on a fresh tape; returns a copy of the
// output tensor.
Tensor run_on(const Block& block, const std::function<Flow(Tape&)>& input, bool training = false) {
  Tape tape;
  static const Batch empty;
  RunContext run(tape, empty, training);
  return block.forward(input(tape), run).tensor().value().clone();
}

Flow tensor_flow(Tape& tape, const Tensor& x) { return Flow::tensor(tape.constant(x)); }

// Sets every parameter of `block` to fresh random values (so biases and
// normalization parameters are not at their trivial initial values).
void randomize(const Block& block, std::uint64_t seed) {
  for (const auto& [name, p] : block.parameters()) {
    const bool variance = name.find("moving_variance") != std::string::npos;
    p->value().copy_from(variance ? testing::uniform(p->value().shape(), seed++, 0.5f, 2.0f)
                                  : testing::uniform(p->value().shape(), seed++, -0.5f, 0.5f));
  }
}

Tensor param(const Block& block, const std::string& name) { return block.state().at(name); }

// ---- naive reference (double, plain loops) --------------------------------------

using Matrix = std::vector<std::vector<double>>;

Matrix to_matrix(const Tensor& t) {
  const std::int64_t cols = t.shape()[-1], rows = t.numel() / cols;
  Matrix m(static_cast<std::size_t>(rows), std::vector<double>(static_cast<std::size_t>(cols)));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) m[r][c] = t.item(r * cols + c);
  return m;
}

Tensor to_tensor(const Matrix& m, const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  std::int64_t i = 0;
  for (const auto& row : m)
    for (double v : row) t.data<float>()[i++] = static_cast<float>(v);
  return t;
}

double activate(const std::string& name, double z) {
  if (name == "relu") return z > 0 ? z : 0;
  if (name == "sigmoid") return 1 / (1 + std::exp(-z));
  if (name == "tanh") return std::tanh(z);
  if (name == "gelu") return 0.5 * z * (1 + std::erf(z / std::sqrt(2.0)));
  if (name == "softplus") return std::log1p(std::exp(z));
  return z;  // linear
}

// act(x @ kernel + bias); bias may be undefined.
Matrix dense(const Matrix& x, const Tensor& kernel, const Tensor& bias, const std::string& act) {
  const std::int64_t in = kernel.size(0), out = kernel.size(1);
  Matrix y(x.size(), std::vector<double>(static_cast<std::size_t>(out)));
  for (std::size_t r = 0; r < x.size(); ++r) {
    for (std::int64_t o = 0; o < out; ++o) {
      double z = bias.defined() ? bias.item(o) : 0.0;
      for (std::int64_t k = 0; k < in; ++k) z += x[r][k] * kernel.item(k * out + o);
      y[r][o] = activate(act, z);
    }
  }
  return y;
}

// (x - mean) / sqrt(var + eps) * gamma + beta per column, with the given
// statistics.
Matrix normalize_columns(const Matrix& x, const std::vector<double>& mean,
                         const std::vector<double>& var, const Tensor& gamma, const Tensor& beta,
                         double eps) {
  Matrix y = x;
  for (std::size_t r = 0; r < x.size(); ++r)
    for (std::size_t c = 0; c < x[r].size(); ++c)
      y[r][c] = (x[r][c] - mean[c]) / std::sqrt(var[c] + eps) * gamma.item(c) + beta.item(c);
  return y;
}

struct Moments {
  std::vector<double> mean, var;  // var: biased
};
Moments column_moments(const Matrix& x) {
  const std::size_t cols = x[0].size();
  Moments m{std::vector<double>(cols, 0.0), std::vector<double>(cols, 0.0)};
  for (const auto& row : x)
    for (std::size_t c = 0; c < cols; ++c) m.mean[c] += row[c] / static_cast<double>(x.size());
  for (const auto& row : x)
    for (std::size_t c = 0; c < cols; ++c)
      m.var[c] += (row[c] - m.mean[c]) * (row[c] - m.mean[c]) / static_cast<double>(x.size());
  return m;
}

Matrix layer_norm_rows(const Matrix& x, const Tensor& gamma, const Tensor& beta, double eps) {
  Matrix y = x;
  for (std::size_t r = 0; r < x.size(); ++r) {
    double mean = 0, var = 0;
    for (double v : x[r]) mean += v / static_cast<double>(x[r].size());
    for (double v : x[r]) var += (v - mean) * (v - mean) / static_cast<double>(x[r].size());
    for (std::size_t c = 0; c < x[r].size(); ++c)
      y[r][c] = (x[r][c] - mean) / std::sqrt(var + eps) * gamma.item(c) + beta.item(c);
  }
  return y;
}

// ---- shapes and parameters ------------------------------------------------------

TEST(MLPBlock, OutputSpecAndKerasParameterLayout) {
  MLPBlock mlp({4, 3});
  BlockContext context(7);
  const FlowSpec out = mlp.build(FlowSpec::tensor(spec_of(Shape{5})), context);
  EXPECT_EQ(out, FlowSpec::tensor(spec_of(Shape{3})));

  const auto params = mlp.parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].first, "dense_0/kernel");
  EXPECT_EQ(params[0].second->value().shape(), (Shape{5, 4}));  // [in, out], as Keras
  EXPECT_EQ(params[1].first, "dense_0/bias");
  EXPECT_EQ(params[1].second->value().shape(), (Shape{4}));
  EXPECT_EQ(params[2].first, "dense_1/kernel");
  EXPECT_EQ(params[2].second->value().shape(), (Shape{4, 3}));
  EXPECT_EQ(params[3].first, "dense_1/bias");

  Tensor x = testing::uniform(Shape{6, 5}, 1);
  EXPECT_EQ(run_on(mlp, [&](Tape& t) { return tensor_flow(t, x); }).shape(), (Shape{6, 3}));
}

TEST(MLPBlock, DictInputIsConcatenatedInKeyOrder) {
  MLPBlock mlp({2});
  BlockContext context(3);
  const FlowSpec spec = FlowSpec::dict({{"zeta", spec_of(Shape{3})}, {"alpha", spec_of(Shape{2})}});
  EXPECT_EQ(mlp.build(spec, context), FlowSpec::tensor(spec_of(Shape{2})));
  EXPECT_EQ(param(mlp, "dense_0/kernel").shape(), (Shape{5, 2}));
  randomize(mlp, 10);

  const Tensor zeta = testing::uniform(Shape{4, 3}, 1), alpha = testing::uniform(Shape{4, 2}, 2);
  const Tensor y = run_on(mlp, [&](Tape& t) {
    return Flow::dict({{"zeta", t.constant(zeta)}, {"alpha", t.constant(alpha)}});
  });
  // alpha's columns come first.
  Matrix x(4, std::vector<double>(5));
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 2; ++c) x[r][c] = alpha.item(r * 2 + c);
    for (int c = 0; c < 3; ++c) x[r][2 + c] = zeta.item(r * 3 + c);
  }
  const Matrix want = dense(x, param(mlp, "dense_0/kernel"), param(mlp, "dense_0/bias"), "relu");
  EXPECT_TRUE(testing::tensors_close(y, to_tensor(want, Shape{4, 2}), 1e-5, 1e-6));
}

TEST(MLPBlock, ThreeDimensionalInputActsOnTheLastAxis) {
  MLPBlock mlp({3}, {.activation = "tanh"});
  BlockContext context;
  EXPECT_EQ(mlp.build(FlowSpec::tensor(spec_of(Shape{2, 4})), context),
            FlowSpec::tensor(spec_of(Shape{2, 3})));
  randomize(mlp, 4);
  const Tensor x = testing::uniform(Shape{3, 2, 4}, 5);
  const Tensor y = run_on(mlp, [&](Tape& t) { return tensor_flow(t, x); });
  const Matrix want =
      dense(to_matrix(x), param(mlp, "dense_0/kernel"), param(mlp, "dense_0/bias"), "tanh");
  EXPECT_TRUE(testing::tensors_close(y, to_tensor(want, Shape{3, 2, 3}), 1e-5, 1e-6));
}

// ---- values ---------------------------------------------------------------------

class MLPActivation : public ::testing::TestWithParam<std::string> {};

TEST_P(MLPActivation, MatchesNaiveReference) {
  const std::string act = GetParam();
  for (const bool no_activation_last_layer : {false, true}) {
    MLPBlock mlp({6, 4, 3},
                 {.activation = act, .no_activation_last_layer = no_activation_last_layer});
    BlockContext context(11);
    mlp.build(FlowSpec::tensor(spec_of(Shape{5})), context);
    randomize(mlp, 20);
    const Tensor x = testing::uniform(Shape{7, 5}, 3, -2.0f, 2.0f);
    const Tensor y = run_on(mlp, [&](Tape& t) { return tensor_flow(t, x); });

    Matrix h = to_matrix(x);
    for (int i = 0; i < 3; ++i) {
      const std::string layer_act = no_activation_last_layer && i == 2 ? "linear" : act;
      h = dense(h, param(mlp, fmt::format("dense_{}/kernel", i)),
                param(mlp, fmt::format("dense_{}/bias", i)), layer_act);
    }
    EXPECT_TRUE(testing::tensors_close(y, to_tensor(h, Shape{7, 3}), 1e-4, 1e-5))
        << act << " no_activation_last_layer=" << no_activation_last_layer;
  }
}

INSTANTIATE_TEST_SUITE_P(AllActivations, MLPActivation,
                         ::testing::Values("relu", "sigmoid", "tanh", "linear", "none", "gelu",
                                           "softplus"));

TEST(MLPBlock, NoActivationLastLayerKeepsNegativeOutputs) {
  MLPBlock relu({8, 8});
  MLPBlock plain({8, 8}, {.no_activation_last_layer = true});
  BlockContext c1(5), c2(5);
  relu.build(FlowSpec::tensor(spec_of(Shape{4})), c1);
  plain.build(FlowSpec::tensor(spec_of(Shape{4})), c2);
  const Tensor x = testing::uniform(Shape{16, 4}, 9);
  const Tensor a = run_on(relu, [&](Tape& t) { return tensor_flow(t, x); });
  const Tensor b = run_on(plain, [&](Tape& t) { return tensor_flow(t, x); });
  int negatives = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    EXPECT_GE(a.item(i), 0.0);
    negatives += b.item(i) < 0;
    if (b.item(i) >= 0) {
      EXPECT_FLOAT_EQ(static_cast<float>(a.item(i)), static_cast<float>(b.item(i)));
    }
  }
  EXPECT_GT(negatives, 10);
}

TEST(MLPBlock, WithoutBiasHasOnlyKernels) {
  MLPBlock mlp({3, 2}, {.use_bias = false});
  BlockContext context;
  mlp.build(FlowSpec::tensor(spec_of(Shape{4})), context);
  const auto state = mlp.state();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_TRUE(state.count("dense_0/kernel") && state.count("dense_1/kernel"));
  randomize(mlp, 1);
  const Tensor x = testing::uniform(Shape{5, 4}, 2);
  Matrix h = dense(to_matrix(x), param(mlp, "dense_0/kernel"), Tensor(), "relu");
  h = dense(h, param(mlp, "dense_1/kernel"), Tensor(), "relu");
  EXPECT_TRUE(testing::tensors_close(run_on(mlp, [&](Tape& t) { return tensor_flow(t, x); }),
                                     to_tensor(h, Shape{5, 2}), 1e-5, 1e-6));
}

TEST(MLPBlock, InitializersFollowKerasDefaultsAndTheContextSeed) {
  MLPBlock a({30}), b({30}), c({30});
  BlockContext ca(1), cb(1), cc(2);
  for (auto [block, ctx] : {std::pair{&a, &ca}, std::pair{&b, &cb}, std::pair{&c, &cc}}) {
    block->build(FlowSpec::tensor(spec_of(Shape{20})), *ctx);
  }
  const Tensor kernel = param(a, "dense_0/kernel");
  const double limit = std::sqrt(6.0 / (20 + 30));  // glorot_uniform
  double max_abs = 0;
  for (std::int64_t i = 0; i < kernel.numel(); ++i)
    max_abs = std::max(max_abs, std::fabs(kernel.item(i)));
  EXPECT_LE(max_abs, limit);
  EXPECT_GT(max_abs, 0.9 * limit);
  EXPECT_TRUE(testing::tensors_bitwise_equal(param(a, "dense_0/bias"), Tensor::zeros(Shape{30})));
  EXPECT_TRUE(testing::tensors_bitwise_equal(kernel, param(b, "dense_0/kernel")));  // same seed
  EXPECT_FALSE(testing::tensors_bitwise_equal(kernel, param(c, "dense_0/kernel")));

  MLPBlock custom({3}, {.kernel_initializer = Initializer::constant(0.25),
                        .bias_initializer = Initializer::ones()});
  BlockContext context;
  custom.build(FlowSpec::tensor(spec_of(Shape{2})), context);
  EXPECT_TRUE(testing::tensors_bitwise_equal(param(custom, "dense_0/kernel"),
                                             Tensor::full(Shape{2, 3}, 0.25f)));
  EXPECT_TRUE(
      testing::tensors_bitwise_equal(param(custom, "dense_0/bias"), Tensor::full(Shape{3}, 1.0f)));
}

// ---- normalization --------------------------------------------------------------

TEST(MLPBlock, BatchNormUsesMovingStatisticsInEvaluation) {
  MLPBlock mlp({4, 3}, {.normalization = "batch_norm"});
  BlockContext context(2);
  mlp.build(FlowSpec::tensor(spec_of(Shape{5})), context);
  const auto state = mlp.state();
  for (const char* name :
       {"batch_norm_0/gamma", "batch_norm_0/beta", "batch_norm_0/moving_mean",
        "batch_norm_0/moving_variance", "batch_norm_1/gamma", "batch_norm_1/moving_variance"}) {
    EXPECT_TRUE(state.count(name)) << name;
  }
  for (const auto& [name, p] : mlp.parameters()) {
    EXPECT_EQ(p->trainable(), name.find("moving_") == std::string::npos) << name;
  }
  randomize(mlp, 30);
  const Tensor x = testing::uniform(Shape{6, 5}, 4);
  const Tensor y = run_on(mlp, [&](Tape& t) { return tensor_flow(t, x); });

  Matrix h = to_matrix(x);
  for (int i = 0; i < 2; ++i) {
    const std::string bn = fmt::format("batch_norm_{}/", i);
    h = dense(h, param(mlp, fmt::format("dense_{}/kernel", i)),
              param(mlp, fmt::format("dense_{}/bias", i)), "relu");
    const Tensor mean = param(mlp, bn + "moving_mean"), var = param(mlp, bn + "moving_variance");
    std::vector<double> m, v;
    for (std::int64_t c = 0; c < mean.numel(); ++c)
      m.push_back(mean.item(c)), v.push_back(var.item(c));
    h = normalize_columns(h, m, v, param(mlp, bn + "gamma"), param(mlp, bn + "beta"), 1e-3);
  }
  EXPECT_TRUE(testing::tensors_close(y, to_tensor(h, Shape{6, 3}), 1e-4, 1e-5));
}

TEST(MLPBlock, BatchNormTrainsOnBatchStatisticsWithKerasMomentum) {
  MLPBlock mlp({3}, {.activation = "linear", .normalization = "batch_norm"});
  BlockContext context(2);
  mlp.build(FlowSpec::tensor(spec_of(Shape{4})), context);
  randomize(mlp, 40);
  const Tensor mean0 = param(mlp, "batch_norm_0/moving_mean").clone();
  const Tensor var0 = param(mlp, "batch_norm_0/moving_variance").clone();
  const Tensor x = testing::uniform(Shape{8, 4}, 6);
  const Tensor y = run_on(
      mlp, [&](Tape& t) { return tensor_flow(t, x); }, /*training=*/true);

  const Matrix h =
      dense(to_matrix(x), param(mlp, "dense_0/kernel"), param(mlp, "dense_0/bias"), "linear");
  const Moments m = column_moments(h);
  const Matrix want = normalize_columns(h, m.mean, m.var, param(mlp, "batch_norm_0/gamma"),
                                        param(mlp, "batch_norm_0/beta"), 1e-3);
  EXPECT_TRUE(testing::tensors_close(y, to_tensor(want, Shape{8, 3}), 1e-4, 1e-5));
  // Keras' momentum 0.99: moving = 0.99 moving + 0.01 batch (the variance
  // unbiased, as ops::batch_norm updates it).
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(param(mlp, "batch_norm_0/moving_mean").item(c),
                0.99 * mean0.item(c) + 0.01 * m.mean[c], 1e-6);
    EXPECT_NEAR(param(mlp, "batch_norm_0/moving_variance").item(c),
                0.99 * var0.item(c) + 0.01 * m.var[c] * 8.0 / 7.0, 1e-5);
  }
}

TEST(MLPBlock, LayerNormNormalizesEachRow) {
  MLPBlock mlp({5, 4}, {.activation = "softplus", .normalization = "layer_norm"});
  BlockContext context(2);
  mlp.build(FlowSpec::tensor(spec_of(Shape{3})), context);
  EXPECT_EQ(mlp.state().size(), 8u);  // kernel, bias, gamma, beta per layer
  randomize(mlp, 50);
  const Tensor x = testing::uniform(Shape{4, 3}, 8);
  for (const bool training : {false, true}) {
    const Tensor y = run_on(
        mlp, [&](Tape& t) { return tensor_flow(t, x); }, training);
    Matrix h = to_matrix(x);
    for (int i = 0; i < 2; ++i) {
      const std::string ln = fmt::format("layer_norm_{}/", i);
      h = dense(h, param(mlp, fmt::format("dense_{}/kernel", i)),
                param(mlp, fmt::format("dense_{}/bias", i)), "softplus");
      h = layer_norm_rows(h, param(mlp, ln + "gamma"), param(mlp, ln + "beta"), 1e-3);
    }
    EXPECT_TRUE(testing::tensors_close(y, to_tensor(h, Shape{4, 4}), 1e-4, 1e-5)) << training;
  }
}

// ---- dropout --------------------------------------------------------------------

TEST(MLPBlock, DropoutOnlyInTrainingAndScalesSurvivors) {
  MLPBlock with({64}, {.activation = "linear", .dropout = 0.25});
  MLPBlock without({64}, {.activation = "linear"});
  BlockContext c1(3), c2(3);
  with.build(FlowSpec::tensor(spec_of(Shape{8})), c1);
  without.build(FlowSpec::tensor(spec_of(Shape{8})), c2);
  randomize(with, 1);
  without.load_state(with.state());
  const Tensor x = testing::away_from_zero(Shape{32, 8}, 2);
  const Tensor eval = run_on(with, [&](Tape& t) { return tensor_flow(t, x); });
  EXPECT_TRUE(testing::tensors_bitwise_equal(
      eval, run_on(without, [&](Tape& t) { return tensor_flow(t, x); })));

  const Tensor train = run_on(
      with, [&](Tape& t) { return tensor_flow(t, x); }, true);
  std::int64_t dropped = 0;
  for (std::int64_t i = 0; i < train.numel(); ++i) {
    if (train.item(i) == 0.0) {
      ++dropped;
    } else {
      EXPECT_NEAR(train.item(i), eval.item(i) / 0.75, 1e-5 * (1 + std::fabs(eval.item(i))));
    }
  }
  const double rate = static_cast<double>(dropped) / static_cast<double>(train.numel());
  EXPECT_NEAR(rate, 0.25, 0.04);
}

TEST(MLPBlock, NoActivationLastLayerAlsoSkipsItsDropout) {
  // One layer: with no_activation_last_layer it has neither activation nor
  // dropout, so training and evaluation agree exactly.
  MLPBlock mlp({16}, {.dropout = 0.5, .no_activation_last_layer = true});
  BlockContext context;
  mlp.build(FlowSpec::tensor(spec_of(Shape{4})), context);
  const Tensor x = testing::uniform(Shape{8, 4}, 2);
  EXPECT_TRUE(
      testing::tensors_bitwise_equal(run_on(
                                         mlp, [&](Tape& t) { return tensor_flow(t, x); }, true),
                                     run_on(
                                         mlp, [&](Tape& t) { return tensor_flow(t, x); }, false)));
  // Two layers: the first one's dropout is still there.
  MLPBlock two({16, 16},
               {.activation = "linear", .dropout = 0.5, .no_activation_last_layer = true});
  BlockContext c2;
  two.build(FlowSpec::tensor(spec_of(Shape{4})), c2);
  EXPECT_FALSE(
      testing::tensors_bitwise_equal(run_on(
                                         two, [&](Tape& t) { return tensor_flow(t, x); }, true),
                                     run_on(
                                         two, [&](Tape& t) { return tensor_flow(t, x); }, false)));
}

TEST(MLPBlock, NormalizationComesAfterDropout) {
  // Merlin appends Dense, Dropout, then the normalization layer. The
  // reference draws the same mask: ops::dropout on a fresh tape, first draw.
  MLPBlock mlp({6}, {.activation = "tanh", .dropout = 0.5, .normalization = "layer_norm"});
  BlockContext context(4);
  mlp.build(FlowSpec::tensor(spec_of(Shape{3})), context);
  randomize(mlp, 60);
  const Tensor x = testing::uniform(Shape{5, 3}, 3);
  const Tensor y = run_on(
      mlp, [&](Tape& t) { return tensor_flow(t, x); }, true);

  const Matrix h =
      dense(to_matrix(x), param(mlp, "dense_0/kernel"), param(mlp, "dense_0/bias"), "tanh");
  Tape tape;
  const Tensor dropped = ops::dropout(tape.constant(to_tensor(h, Shape{5, 6})), 0.5f, true).value();
  const Matrix want = layer_norm_rows(to_matrix(dropped), param(mlp, "layer_norm_0/gamma"),
                                      param(mlp, "layer_norm_0/beta"), 1e-3);
  EXPECT_TRUE(testing::tensors_close(y, to_tensor(want, Shape{5, 6}), 1e-4, 1e-5));
}

// ---- regularizers ---------------------------------------------------------------

TEST(MLPBlock, ReportsL2RegularizersWithTheirFactors) {
  MLPBlock none({3, 2});
  BlockContext c0;
  none.build(FlowSpec::tensor(spec_of(Shape{4})), c0);
  EXPECT_TRUE(none.regularizers().empty());

  MLPBlock mlp({3, 2}, {.kernel_regularizer_l2 = 1e-4, .bias_regularizer_l2 = 2e-3});
  BlockContext context;
  mlp.build(FlowSpec::tensor(spec_of(Shape{4})), context);
  std::map<std::string, float> factors;
  for (const auto& [p, f] : mlp.regularizers()) factors[p->name()] = f;
  EXPECT_EQ(factors, (std::map<std::string, float>{{"dense_0/kernel", 1e-4f},
                                                   {"dense_0/bias", 2e-3f},
                                                   {"dense_1/kernel", 1e-4f},
                                                   {"dense_1/bias", 2e-3f}}));
}

// ---- gradients ------------------------------------------------------------------

// Checks d(output)/d(every parameter and the input) of `mlp` built for
// [in] inputs, by finite differences.
::testing::AssertionResult check_mlp_gradients(const MLPBlock& mlp, std::int64_t in, bool training,
                                               std::uint64_t seed) {
  BlockContext context(seed);
  mlp.build(FlowSpec::tensor(spec_of(Shape{in})), context);
  randomize(mlp, seed + 100);
  Parameter x("x", testing::away_from_zero(Shape{5, in}, seed));
  std::vector<Parameter*> inputs{&x};
  for (const auto& [name, p] : mlp.parameters()) {
    if (p->trainable()) inputs.push_back(p.get());
  }
  static const Batch empty;
  return testing::check_gradients("MLPBlock", inputs,
                                  [&](Tape& tape, std::span<const Var> v) {
                                    RunContext run(tape, empty, training);
                                    return mlp.forward(Flow::tensor(v[0]), run).tensor();
                                  },
                                  {.step = 1e-3, .rtol = 2e-2, .atol = 2e-3});
}

TEST(MLPBlock, GradientsOfEveryActivation) {
  for (const char* act : {"relu", "sigmoid", "tanh", "linear", "gelu", "softplus"}) {
    EXPECT_TRUE(check_mlp_gradients(MLPBlock({4, 3}, {.activation = act}), 3, false, 1)) << act;
  }
}

TEST(MLPBlock, GradientsWithNormalizationDropoutAndNoBias) {
  EXPECT_TRUE(check_mlp_gradients(
      MLPBlock({4, 3}, {.activation = "tanh", .normalization = "batch_norm"}), 3, true, 2));
  EXPECT_TRUE(check_mlp_gradients(
      MLPBlock({4, 3}, {.activation = "tanh", .normalization = "batch_norm"}), 3, false, 3));
  EXPECT_TRUE(check_mlp_gradients(
      MLPBlock({4, 3}, {.activation = "sigmoid", .normalization = "layer_norm"}), 3, true, 4));
  EXPECT_TRUE(
      check_mlp_gradients(MLPBlock({6, 2}, {.activation = "tanh", .dropout = 0.3}), 3, true, 5));
  EXPECT_TRUE(check_mlp_gradients(
      MLPBlock({4, 2}, {.activation = "gelu", .use_bias = false, .no_activation_last_layer = true}),
      3, false, 6));
}

// ---- JSON -------------------------------------------------------------------------

TEST(MLPBlock, JsonRoundTripGivesIdenticalOutputs) {
  MLPBlock mlp({6, 4}, {.activation = "gelu",
                        .use_bias = true,
                        .dropout = 0.2,
                        .normalization = "batch_norm",
                        .no_activation_last_layer = true,
                        .kernel_initializer = Initializer::he_normal(),
                        .bias_initializer = Initializer::constant(0.1),
                        .kernel_regularizer_l2 = 1e-5,
                        .bias_regularizer_l2 = 1e-6});
  const FlowSpec spec = FlowSpec::dict({{"a", spec_of(Shape{3})}, {"b", spec_of(Shape{2})}});
  BlockContext context(9);
  mlp.build(spec, context);
  randomize(mlp, 70);

  const nlohmann::json j = mlp.to_json();
  EXPECT_EQ(j["type"], "MLPBlock");
  EXPECT_EQ(j["config"]["dimensions"], nlohmann::json::array({6, 4}));
  const Block again = Block::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(again.to_json(), j);
  BlockContext other(12345);  // different initialisation, overwritten below
  again.build(spec, other);
  again.load_state(mlp.state());
  EXPECT_EQ(again.regularizers().size(), 4u);

  const Tensor a = testing::uniform(Shape{5, 3}, 1), b = testing::uniform(Shape{5, 2}, 2);
  auto input = [&](Tape& t) { return Flow::dict({{"a", t.constant(a)}, {"b", t.constant(b)}}); };
  EXPECT_TRUE(testing::tensors_bitwise_equal(run_on(mlp, input), run_on(again, input)));
  EXPECT_TRUE(testing::tensors_bitwise_equal(run_on(mlp, input, true), run_on(again, input, true)));
}

TEST(MLPBlock, JsonDefaultsMatchTheConstructorDefaults) {
  const Block from_json =
      Block::from_json({{"type", "MLPBlock"}, {"config", {{"dimensions", {8}}}}});
  EXPECT_EQ(from_json.to_json(), MLPBlock({8}).to_json());
}

// ---- errors -----------------------------------------------------------------------

TEST(MLPBlock, BadOptionsAreNamed) {
  EXPECT_THAT(error_of([] { MLPBlock({4}, {.activation = "swishy"}); }),
              HasSubstr("MLPBlock: unknown activation 'swishy'; expected one of: relu, sigmoid, "
                        "tanh, linear, none, "
                        "gelu, softplus"));
  EXPECT_THAT(error_of([] { MLPBlock(std::vector<std::int64_t>{}); }),
              HasSubstr("MLPBlock: dims is empty"));
  EXPECT_THAT(error_of([] {
                MLPBlock({4, 0});
              }),
              HasSubstr("MLPBlock: layer 1 has 0 units, expected > 0"));
  EXPECT_THAT(error_of([] { MLPBlock({4}, {.dropout = 1.0}); }),
              HasSubstr("MLPBlock: dropout rate 1 is outside [0, 1)"));
  EXPECT_THAT(error_of([] { MLPBlock({4}, {.normalization = "group_norm"}); }),
              HasSubstr("MLPBlock: unknown normalization 'group_norm'"));
}

TEST(MLPBlock, WrongInputsAreNamed) {
  BlockContext context;
  EXPECT_THAT(error_of([&] {
                MLPBlock({4}).build(FlowSpec::tensor(spec_of(Shape{2, 3, 5})), context);
              }),
              HasSubstr("MLPBlock: input has shape [batch, 2, 3, 5], expected rank 2 [batch, "
                        "features] or rank 3"));
  EXPECT_THAT(error_of([&] {
                MLPBlock({4}).build(
                    FlowSpec::dict({{"a", spec_of(Shape{3})}, {"b", spec_of(Shape{2, 3})}}),
                    context);
              }),
              HasSubstr("MLPBlock: cannot concatenate the dict on the last axis"));
  const Schema schema({ColumnSchema("x", DType::kFloat32, {Tags::CONTINUOUS})});
  EXPECT_THAT(error_of([&] { MLPBlock({4}).build(FlowSpec::inputs(schema), context); }),
              HasSubstr("MLPBlock: expected a tensor or a dict of tensors"));
}

TEST(MLPBlock, UnknownConfigKeyIsNamed) {
  EXPECT_THAT(error_of([] {
                Block::from_json({{"type", "MLPBlock"},
                                  {"config", {{"dimensions", {8}}, {"activaton", "relu"}}}});
              }),
              HasSubstr("MLPBlock config: unknown key 'activaton'"));
  EXPECT_THAT(error_of([] {
                Block::from_json({{"type", "MLPBlock"}, {"config", nlohmann::json::object()}});
              }),
              HasSubstr("MLPBlock config: missing 'dimensions'"));
  EXPECT_THAT(error_of([] {
                Block::from_json(
                    {{"type", "MLPBlock"}, {"config", {{"dimensions", {8}}, {"dropout", "high"}}}});
              }),
              HasSubstr("MLPBlock config:"));
}

// ---- on a Batch -------------------------------------------------------------------

// The raw inputs' float columns as one dict {name: [B, 1]}, standing in for
// ContinuousFeatures so that this test depends only on Batch.
class ColumnsImpl final : public BlockBase {
 public:
  std::string_view type() const override { return "TestColumns"; }
  nlohmann::json config() const override { return nlohmann::json::object(); }
  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    FlowSpec::Dict dict;
    for (const std::string& name : input.schema().column_names())
      dict.emplace_back(name, spec_of(Shape{1}));
    return FlowSpec::dict(dict);
  }
  Flow forward(const Flow& input, RunContext& run) const override {
    Flow::Dict dict;
    for (const std::string& name : input.batch().names()) {
      const Tensor& t = input.batch().tensor(name);
      dict.emplace_back(name, run.tape().constant(t.view(Shape{t.size(0), 1})));
    }
    return Flow::dict(dict);
  }
};

TEST(MLPBlock, EagerCallOnABatchLikeTheSeedsDeepContinuous) {
  const Schema schema({ColumnSchema("TE_movieId_rating", DType::kFloat32, {Tags::CONTINUOUS}),
                       ColumnSchema("TE_userId_rating", DType::kFloat32, {Tags::CONTINUOUS})});
  const Tensor movie = Tensor::from(Shape{4}, {0.1f, -0.4f, 0.7f, 0.2f});
  const Tensor user = Tensor::from(Shape{4}, {-0.3f, 0.5f, 0.9f, -0.8f});
  const Dataset dataset(
      schema, {{"TE_movieId_rating", Column{movie, {}}}, {"TE_userId_rating", Column{user, {}}}});
  const Batch batch(dataset);

  const Block continuous(std::make_shared<ColumnsImpl>());
  const MLPBlock mlp({64});
  const Block deep_continuous = continuous.connect(mlp);
  const Output out = deep_continuous(batch);
  ASSERT_EQ(out.shape(), (Shape{4, 64}));

  Matrix x(4, std::vector<double>(2));
  for (int r = 0; r < 4; ++r) x[r] = {movie.item(r), user.item(r)};
  const Matrix want = dense(x, param(mlp, "dense_0/kernel"), param(mlp, "dense_0/bias"), "relu");
  EXPECT_TRUE(testing::tensors_close(out.tensor(), to_tensor(want, Shape{4, 64}), 1e-5, 1e-6));
  EXPECT_EQ(deep_continuous.parameters().front().first, "1/dense_0/kernel");
}

}  // namespace
}  // namespace recblocks
