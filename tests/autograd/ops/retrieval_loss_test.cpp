// ops::retrieval_loss: every loss kind against a naive double-precision
// reference written from the formulas, with the logQ bias and accidental
// hits, finite-difference gradients, and its errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "recblocks/autograd/ops.h"
#include "recblocks/autograd/ops/retrieval.h"
#include "testing/gradient_checker.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using testing::check_gradients;
using ::testing::HasSubstr;

// The loss from the header's formulas, in double.
double reference(const Tensor& scores, const std::vector<std::int64_t>& positives,
                 const std::vector<float>& bias, const std::vector<std::int64_t>& ids,
                 ops::RetrievalLoss kind, double margin) {
  const std::int64_t rows = scores.size(0), cols = scores.size(1);
  auto s = [&](std::int64_t i, std::int64_t j) {
    return static_cast<double>(scores.data<float>()[i * cols + j]) + (bias.empty() ? 0.0 : bias[j]);
  };
  auto negative = [&](std::int64_t i, std::int64_t j) {
    const std::int64_t p = positives[i];
    return j != p && (ids.empty() || ids[j] != ids[p]);
  };
  double total = 0;
  std::int64_t pairs = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t p = positives[i];
    if (kind == ops::RetrievalLoss::kCategoricalCrossEntropy) {
      double z = 0;
      for (std::int64_t j = 0; j < cols; ++j) {
        if (j == p || negative(i, j)) z += std::exp(s(i, j));
      }
      total += -(s(i, p) - std::log(z));
      continue;
    }
    for (std::int64_t j = 0; j < cols; ++j) {
      if (!negative(i, j)) continue;
      const double d = s(i, p) - s(i, j);
      ++pairs;
      if (kind == ops::RetrievalLoss::kHinge) {
        total += std::max(0.0, margin - d);
      } else if (kind == ops::RetrievalLoss::kBPR) {
        total += -std::log(1.0 / (1.0 + std::exp(-d)));
      } else {
        total += std::log(1.0 + std::exp(-d));
      }
    }
  }
  if (kind == ops::RetrievalLoss::kCategoricalCrossEntropy)
    return total / static_cast<double>(rows);
  return pairs == 0 ? 0.0 : total / static_cast<double>(pairs);
}

const ops::RetrievalLoss kKinds[] = {ops::RetrievalLoss::kCategoricalCrossEntropy,
                                     ops::RetrievalLoss::kBPR, ops::RetrievalLoss::kLogistic,
                                     ops::RetrievalLoss::kHinge};

TEST(RetrievalLossOp, MatchesTheFormulasWithBiasAndAccidentalHits) {
  const Tensor scores = testing::uniform({5, 7}, 3, -2.0f, 2.0f);
  const std::vector<std::int64_t> positives{0, 1, 2, 3, 6};
  // Columns 0 and 4 hold the same item: an accidental hit for row 0, and
  // column 6 the same as column 2.
  const std::vector<std::int64_t> ids{10, 11, 12, 13, 10, 15, 12};
  const std::vector<float> bias{0.5f, -0.25f, 1.0f, 0.0f, 0.75f, -1.0f, 0.3f};
  for (ops::RetrievalLoss kind : kKinds) {
    for (bool with_extras : {false, true}) {
      Tape tape;
      ops::RetrievalLossOptions options{.kind = kind, .margin = 0.8f};
      if (with_extras) {
        options.column_bias = Tensor::from<float>({7}, bias);
        // int32 ids, as categorified columns are.
        std::vector<std::int32_t> ids32(ids.begin(), ids.end());
        options.column_ids = Tensor::from<std::int32_t>({7}, ids32);
      }
      const Var loss = ops::retrieval_loss(tape.constant(scores),
                                           Tensor::from<std::int64_t>({5}, positives), options);
      EXPECT_EQ(loss.shape(), Shape({}));
      const double expected =
          reference(scores, positives, with_extras ? bias : std::vector<float>{},
                    with_extras ? ids : std::vector<std::int64_t>{}, kind, 0.8);
      EXPECT_NEAR(loss.value().item(), expected, 1e-5 * std::max(1.0, std::abs(expected)))
          << ops::retrieval_loss_name(kind) << " extras " << with_extras;
    }
  }
}

TEST(RetrievalLossOp, GradientsMatchFiniteDifferences) {
  const std::vector<std::int64_t> ids{4, 5, 4, 7, 8, 5};
  for (ops::RetrievalLoss kind : kKinds) {
    Parameter scores("scores", testing::uniform({6, 6}, 11, -1.5f, 1.5f));
    const Tensor diagonal =
        Tensor::from<std::int64_t>({6}, std::vector<std::int64_t>{0, 1, 2, 3, 4, 5});
    ops::RetrievalLossOptions options{.kind = kind,
                                      .column_bias = testing::uniform({6}, 12),
                                      .column_ids = Tensor::from<std::int64_t>({6}, ids),
                                      .margin = 1.0f};
    EXPECT_TRUE(check_gradients(ops::retrieval_loss_name(kind), {&scores},
                                [&](Tape&, std::span<const Var> in) {
                                  return ops::retrieval_loss(in[0], diagonal, options);
                                },
                                {.atol = 1e-4}));
  }
}

TEST(RetrievalLossOp, ColumnCountsEqualTheExpandedColumns) {
  // Four distinct columns standing for 1, 3, 2 and 1 copies: the loss and
  // each column's gradient (the sum over its copies) equal those of the
  // seven columns written out, with and without item ids (accidental hits)
  // and logQ bias, for every kind.
  const std::vector<std::int64_t> counts{1, 3, 2, 1};
  const std::vector<std::int64_t> unique_ids{20, 21, 22, 23};
  const std::vector<float> unique_bias{0.4f, -0.3f, 0.9f, 0.1f};
  const std::vector<std::int64_t> positives{1, 0, 2, 1, 3};  // distinct columns
  const std::int64_t rows = 5, distinct = 4, cols = 7;
  std::vector<std::int64_t> copy_of;  // expanded column -> distinct column
  std::vector<std::int64_t> first_copy(distinct);
  for (std::int64_t c = 0; c < distinct; ++c) {
    first_copy[c] = static_cast<std::int64_t>(copy_of.size());
    for (std::int64_t k = 0; k < counts[c]; ++k) copy_of.push_back(c);
  }
  const Tensor unique_scores = testing::uniform({rows, distinct}, 41, -2.0f, 2.0f);
  Tensor expanded = Tensor::empty({rows, cols});
  std::vector<std::int64_t> ids, expanded_positives;
  std::vector<float> bias;
  for (std::int64_t j = 0; j < cols; ++j) {
    ids.push_back(unique_ids[copy_of[j]]);
    bias.push_back(unique_bias[copy_of[j]]);
    for (std::int64_t i = 0; i < rows; ++i) {
      expanded.data<float>()[i * cols + j] = unique_scores.data<float>()[i * distinct + copy_of[j]];
    }
  }
  // A row's positive is one of its column's copies (not always the first).
  for (std::int64_t i = 0; i < rows; ++i) {
    expanded_positives.push_back(first_copy[positives[i]] + (counts[positives[i]] > 1 ? i % 2 : 0));
  }
  for (ops::RetrievalLoss kind : kKinds) {
    for (bool with_ids : {false, true}) {
      Tape tape;
      ops::RetrievalLossOptions full{
          .kind = kind, .column_bias = Tensor::from<float>({cols}, bias), .margin = 0.7f};
      ops::RetrievalLossOptions merged{
          .kind = kind,
          .column_bias = Tensor::from<float>({distinct}, unique_bias),
          .column_counts = Tensor::from<std::int64_t>({distinct}, counts),
          .margin = 0.7f};
      if (with_ids) {
        full.column_ids = Tensor::from<std::int64_t>({cols}, ids);
        merged.column_ids = Tensor::from<std::int64_t>({distinct}, unique_ids);
      }
      Parameter pa("expanded", expanded.clone());
      Parameter pb("merged", unique_scores.clone());
      const Var a = tape.parameter(pa);
      const Var b = tape.parameter(pb);
      const Var expected =
          ops::retrieval_loss(a, Tensor::from<std::int64_t>({rows}, expanded_positives), full);
      const Var got = ops::retrieval_loss(b, Tensor::from<std::int64_t>({rows}, positives), merged);
      const std::string what =
          std::string(ops::retrieval_loss_name(kind)) + (with_ids ? " ids" : "");
      EXPECT_NEAR(got.value().item(), expected.value().item(), 1e-6) << what;
      tape.backward(ops::add(expected, got));
      for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t c = 0; c < distinct; ++c) {
          double sum = 0;
          for (std::int64_t j = 0; j < cols; ++j) {
            if (copy_of[j] == c) sum += pa.dense_grad().data<float>()[i * cols + j];
          }
          EXPECT_NEAR(pb.dense_grad().data<float>()[i * distinct + c], sum, 1e-6)
              << what << " " << i << "," << c;
        }
      }
    }
  }
}

TEST(RetrievalLossOp, GradientsWithColumnCountsMatchFiniteDifferences) {
  for (ops::RetrievalLoss kind : kKinds) {
    for (bool with_ids : {false, true}) {
      Parameter scores("scores", testing::uniform({5, 4}, 51, -1.5f, 1.5f));
      ops::RetrievalLossOptions options{
          .kind = kind,
          .column_bias = testing::uniform({4}, 52),
          .column_counts = Tensor::from<std::int64_t>({4}, std::vector<std::int64_t>{2, 1, 3, 1}),
          .margin = 1.0f};
      if (with_ids)
        options.column_ids =
            Tensor::from<std::int64_t>({4}, std::vector<std::int64_t>{7, 8, 9, 10});
      const Tensor positives =
          Tensor::from<std::int64_t>({5}, std::vector<std::int64_t>{0, 2, 1, 3, 2});
      EXPECT_TRUE(check_gradients(ops::retrieval_loss_name(kind), {&scores},
                                  [&](Tape&, std::span<const Var> in) {
                                    return ops::retrieval_loss(in[0], positives, options);
                                  },
                                  {.atol = 1e-4}))
          << "ids " << with_ids;
    }
  }
}

TEST(RetrievalLossOp, ThroughTheScoresOfTwoTowers) {
  // The whole in-batch path: q c^T of two towers' outputs, L2-normalised.
  Parameter q("q", testing::uniform({4, 3}, 21));
  Parameter c("c", testing::uniform({4, 3}, 22));
  const Tensor diagonal = Tensor::from<std::int64_t>({4}, std::vector<std::int64_t>{0, 1, 2, 3});
  EXPECT_TRUE(check_gradients("two towers", {&q, &c},
                              [&](Tape&, std::span<const Var> in) {
                                const Var s =
                                    ops::scale(ops::matmul(ops::l2_normalize(in[0]),
                                                           ops::l2_normalize(in[1]), false, true),
                                               1.0f / 0.5f);
                                return ops::retrieval_loss(s, diagonal);
                              },
                              {.atol = 1e-4}));
}

TEST(RetrievalLossOp, ScoresUsedTwiceGetBothGradients) {
  // The loss hands its saved gradient to the scores when it is the first to
  // write there, and adds into it when another consumer wrote first.
  Parameter q("q", testing::uniform({5, 3}, 31));
  Parameter c("c", testing::uniform({5, 3}, 32));
  const Tensor diagonal = Tensor::from<std::int64_t>({5}, std::vector<std::int64_t>{0, 1, 2, 3, 4});
  for (bool loss_first : {true, false}) {
    EXPECT_TRUE(check_gradients("scores used twice", {&q, &c},
                                [&](Tape&, std::span<const Var> in) {
                                  const Var s = ops::matmul(in[0], in[1], false, true);
                                  if (loss_first) {
                                    const Var loss = ops::retrieval_loss(s, diagonal);
                                    return ops::add(loss,
                                                    ops::scale(ops::sum_all(ops::mul(s, s)), 0.1f));
                                  }
                                  const Var other = ops::scale(ops::sum_all(ops::mul(s, s)), 0.1f);
                                  return ops::add(ops::retrieval_loss(s, diagonal), other);
                                },
                                {.atol = 1e-4}))
        << "loss first " << loss_first;
  }
}

TEST(RetrievalLossOp, MinusInfinityLeavesAColumnOutOfItsRow) {
  // Row 0's column 2 and row 1's column 0 at -inf: each row's loss is the
  // one of its scores without that column, and the column gets no gradient.
  const Tensor full = testing::uniform({2, 4}, 41, -1.0f, 1.0f);
  const float inf = std::numeric_limits<float>::infinity();
  for (ops::RetrievalLoss kind : kKinds) {
    Tape tape;
    Parameter p("scores", full.clone());
    p.value().data<float>()[2] = -inf;
    p.value().data<float>()[4] = -inf;
    const std::vector<std::int64_t> positives{1, 3};
    const Var loss = ops::retrieval_loss(
        tape.parameter(p), Tensor::from<std::int64_t>({2}, positives), {.kind = kind});
    // The reference: each row alone, over its three remaining columns.
    const float* f = full.data<float>();
    const Tensor row0 = Tensor::from<float>({1, 3}, std::vector<float>{f[0], f[1], f[3]});
    const Tensor row1 = Tensor::from<float>({1, 3}, std::vector<float>{f[5], f[6], f[7]});
    const double r0 = reference(row0, {1}, {}, {}, kind, 1.0);
    const double r1 = reference(row1, {2}, {}, {}, kind, 1.0);
    // Cross-entropy averages rows; the pairwise losses average pairs (two per row here).
    const double expected = (r0 + r1) / 2;
    EXPECT_NEAR(loss.value().item(), expected, 1e-5) << ops::retrieval_loss_name(kind);
    tape.backward(loss);
    const Tensor g = p.grad_as_dense();
    EXPECT_EQ(g.data<float>()[2], 0.0f) << ops::retrieval_loss_name(kind);
    EXPECT_EQ(g.data<float>()[4], 0.0f) << ops::retrieval_loss_name(kind);
    for (std::int64_t i = 0; i < g.numel(); ++i) EXPECT_TRUE(std::isfinite(g.data<float>()[i]));
  }
  // A positive at -inf has no finite loss: an error naming the row.
  Tape tape;
  Tensor bad = full.clone();
  bad.data<float>()[5] = -inf;
  try {
    ops::retrieval_loss(tape.constant(bad),
                        Tensor::from<std::int64_t>({2}, std::vector<std::int64_t>{0, 1}));
    ADD_FAILURE() << "no error";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("the positive of row 1 (column 1) scores -inf"));
  }
}

TEST(RetrievalLossOp, NoValidPairIsZeroLossAndGradient) {
  // Every column holds the same item: no negative is left.
  Tape tape;
  Parameter p("scores", testing::uniform({3, 3}, 5));
  const Var s = tape.parameter(p);
  const Var loss = ops::retrieval_loss(
      s, Tensor::from<std::int64_t>({3}, std::vector<std::int64_t>{0, 1, 2}),
      {.kind = ops::RetrievalLoss::kBPR,
       .column_ids = Tensor::from<std::int64_t>({3}, std::vector<std::int64_t>{1, 1, 1})});
  EXPECT_EQ(loss.value().item(), 0.0);
  tape.backward(loss);
  const Tensor g = p.grad_as_dense();
  for (std::int64_t i = 0; i < g.numel(); ++i) EXPECT_EQ(g.data<float>()[i], 0.0f);
}

TEST(RetrievalLossOp, Errors) {
  Tape tape;
  const Var s = tape.constant(Tensor::zeros({2, 3}));
  const Tensor pos = Tensor::from<std::int64_t>({2}, std::vector<std::int64_t>{0, 1});
  auto message = [&](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(
      message([&] {
        ops::retrieval_loss(s, Tensor::from<std::int64_t>({2}, std::vector<std::int64_t>{0, 3}));
      }),
      HasSubstr("the positive of row 1 is column 3, expected [0, 3)"));
  EXPECT_THAT(message([&] {
                ops::retrieval_loss(s,
                                    Tensor::from<std::int64_t>({1}, std::vector<std::int64_t>{0}));
              }),
              HasSubstr("positives have shape [1], expected [2]"));
  EXPECT_THAT(message([&] { ops::retrieval_loss(s, pos, {.column_bias = Tensor::zeros({2})}); }),
              HasSubstr("column_bias is float32 [2], expected float32 [3]"));
  EXPECT_THAT(message([&] {
                ops::retrieval_loss(s, pos, {.column_ids = testing::ids64({1, 2})});
              }),
              HasSubstr("column_ids have shape [2], expected [3]"));
  EXPECT_THAT(message([&] { ops::retrieval_loss(tape.constant(Tensor::zeros({3})), pos); }),
              HasSubstr("expected [queries, candidates]"));
  EXPECT_THAT(message([] { ops::retrieval_loss_from_name("softmax"); }),
              HasSubstr("expected categorical_crossentropy (or ce), bpr, logistic or hinge"));
  EXPECT_EQ(ops::retrieval_loss_from_name("ce"), ops::RetrievalLoss::kCategoricalCrossEntropy);
  EXPECT_EQ(ops::retrieval_loss_from_name("hinge"), ops::RetrievalLoss::kHinge);
}

}  // namespace
}  // namespace recblocks
