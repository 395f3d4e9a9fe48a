// A steady training step makes no heap allocation: the tape's arena and node
// vectors keep their capacity across reset(), parameters keep their gradient
// buffers, sparse gradients live in the arena. This executable replaces the
// global operator new/delete to count calls, so it is built on its own.
#include <gtest/gtest.h>

// The replacement operator delete frees what the replacement operator new
// malloc'ed; with the sanitizers GCC inlines `delete` down to free() and
// flags the pair as mismatched, which is what this file does on purpose.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

#include "recblocks/autograd/tape.h"
#include "testing/tiny_dlrm.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counted_allocate(std::size_t n, std::size_t align) {
  if (g_counting.load(std::memory_order_relaxed))
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = align <= alignof(std::max_align_t)
                ? std::malloc(n)
                : std::aligned_alloc(align, (n + align - 1) / align * align);
  return p;
}

}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_allocate(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_allocate(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted_allocate(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = counted_allocate(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_allocate(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_allocate(n, 0);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace recblocks {
namespace {

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
