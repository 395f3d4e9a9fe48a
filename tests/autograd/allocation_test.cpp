// A steady training step makes no heap allocation: the tape's arena and node
// vectors keep their capacity across reset(), parameters keep their gradient
// buffers, sparse gradients live in the arena. This executable replaces the
// global operator new/delete to count calls (testing/allocation_counter.cpp),
// so it is built on its own.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

#include "recblocks/autograd/tape.h"
#include "testing/allocation_counter.h"
#include "testing/tiny_dlrm.h"

namespace recblocks {
namespace {

using testing::g_allocations;
using testing::g_counting;

std::vector<int>* volatile g_sink = nullptr;

TEST(Allocation, CounterSeesOperatorNew) {
  g_allocations = 0;
  g_counting = true;
  g_sink = new std::vector<int>(100);
  g_counting = false;
  delete g_sink;
  EXPECT_GE(g_allocations.load(), 2) << "the replacement operator new is not in use";
}

TEST(Allocation, SteadyTrainingStepMakesNoHeapAllocation) {
  testing::TinyDlrm model({.batch = 128, .dim = 16, .dropout = false, .seed = 3});
  const testing::TinyDlrmBatch batch = model.make_batch(1);
  Tape tape;
  for (int step = 0; step < 5; ++step) model.train_step(tape, batch, 0.05f);

  float losses[20];
  g_allocations = 0;
  g_counting = true;
  for (float& loss : losses) loss = model.train_step(tape, batch, 0.05f);
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0) << "operator new calls in 20 steady training steps";

  for (float loss : losses) EXPECT_TRUE(std::isfinite(loss));
  EXPECT_LT(losses[19], losses[0]) << "training on one batch must reduce its loss";
}

}  // namespace
}  // namespace recblocks
