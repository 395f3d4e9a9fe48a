// Same seed and thread count -> bitwise identical training (the kernels
// split work statically and combine partial sums in order; dropout masks
// come from a counter-based stream).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "recblocks/core/threads.h"
#include "testing/tensor_testing.h"
#include "testing/tiny_dlrm.h"

namespace recblocks {
namespace {

struct TrainingRun {
  std::vector<float> losses;
  std::vector<Tensor> parameters;
};

TrainingRun train(int threads, bool dropout) {
  const int saved = num_threads();
  set_num_threads(threads);
  testing::TinyDlrm model({.batch = 512, .dim = 16, .dropout = dropout, .seed = 11});
  const testing::TinyDlrmBatch batches[2] = {model.make_batch(1), model.make_batch(2)};
  Tape tape;
  TrainingRun run;
  for (int step = 0; step < 4; ++step)
    run.losses.push_back(model.train_step(tape, batches[step % 2], 0.1f));
  for (Parameter* p : model.parameters()) run.parameters.push_back(p->value().clone());
  set_num_threads(saved);
  return run;
}

class DeterminismTest : public ::testing::TestWithParam<int> {};

TEST_P(DeterminismTest, SameSeedAndThreadsGiveBitwiseIdenticalTraining) {
  const int threads = GetParam();
  for (bool dropout : {false, true}) {
    const TrainingRun a = train(threads, dropout), b = train(threads, dropout);
    ASSERT_EQ(a.losses.size(), b.losses.size());
    for (std::size_t i = 0; i < a.losses.size(); ++i) {
      EXPECT_TRUE(std::isfinite(a.losses[i]));
      EXPECT_EQ(a.losses[i], b.losses[i]) << "step " << i << ", dropout " << dropout;
    }
    ASSERT_EQ(a.parameters.size(), b.parameters.size());
    for (std::size_t i = 0; i < a.parameters.size(); ++i) {
      EXPECT_TRUE(testing::tensors_bitwise_equal(a.parameters[i], b.parameters[i]))
          << "parameter " << i << ", dropout " << dropout;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, DeterminismTest, ::testing::Values(1, 2),
                         [](const auto& info) { return std::to_string(info.param) + "Threads"; });

TEST(Determinism, TrainingChangesParametersAndThreadCountsAgreeClosely) {
  testing::TinyDlrm initial({.batch = 512, .dim = 16, .dropout = true, .seed = 11});
  const TrainingRun one = train(1, true), two = train(2, true);
  std::size_t changed = 0;
  for (std::size_t i = 0; i < one.parameters.size(); ++i) {
    changed += !testing::tensors_bitwise_equal(one.parameters[i], initial.parameters()[i]->value());
    // Different thread counts may round differently, but only slightly.
    EXPECT_TRUE(testing::tensors_close(two.parameters[i], one.parameters[i], 1e-3, 1e-5))
        << "parameter " << i;
  }
  EXPECT_EQ(changed, one.parameters.size()) << "every parameter is trained";
}

}  // namespace
}  // namespace recblocks
