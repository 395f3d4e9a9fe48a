// The kernels' thread pool (src/kernels/cpu/thread_pool.h): every task
// runs exactly once, nested and concurrent regions run on their caller,
// exceptions reach the caller, and a forked child has a pool of its own.
#include "kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

namespace recblocks::kernels::cpu {
namespace {

TEST(ThreadPool, EveryTaskRunsOnce) {
  for (int threads : {1, 2, 3, 8}) {
    for (int tasks : {1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> runs(static_cast<std::size_t>(tasks));
      for (int repeat = 0; repeat < 50; ++repeat) {
        run_tasks(tasks, threads, [&](int i) {
          EXPECT_TRUE(in_parallel_task());
          runs[static_cast<std::size_t>(i)].fetch_add(1);
        });
      }
      for (int i = 0; i < tasks; ++i) {
        EXPECT_EQ(runs[static_cast<std::size_t>(i)].load(), 50)
            << "task " << i << " of " << tasks << " on " << threads << " threads";
      }
    }
  }
  EXPECT_FALSE(in_parallel_task());
}

TEST(ThreadPool, NestedRegionsRunOnTheirTasksThread) {
  std::atomic<int> inner{0};
  run_tasks(4, 4, [&](int) {
    const auto outer = std::this_thread::get_id();
    run_tasks(8, 4, [&](int) {
      EXPECT_EQ(std::this_thread::get_id(), outer);
      inner.fetch_add(1);
    });
  });
  EXPECT_EQ(inner.load(), 32);
}

TEST(ThreadPool, ExceptionsReachTheCallerAfterTheRegion) {
  std::atomic<int> finished{0};
  EXPECT_THROW(run_tasks(64, 2,
                         [&](int i) {
                           if (i == 3) throw std::runtime_error("task 3");
                           finished.fetch_add(1);
                         }),
               std::runtime_error);
  EXPECT_LT(finished.load(), 64);
  // The pool is usable afterwards.
  std::atomic<int> again{0};
  run_tasks(16, 2, [&](int) { again.fetch_add(1); });
  EXPECT_EQ(again.load(), 16);
}

TEST(ThreadPool, ConcurrentCallersEachFinishTheirRegions) {
  std::atomic<long> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int r = 0; r < 200; ++r) run_tasks(8, 2, [&](int i) { total.fetch_add(i + 1); });
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4L * 200 * 36);
}

TEST(ThreadPool, ForkedChildRunsRegions) {
  run_tasks(4, 2, [](int) {});  // the parent's workers exist
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::atomic<int> n{0};
    for (int r = 0; r < 20; ++r) run_tasks(4, 2, [&](int) { n.fetch_add(1); });
    _exit(n.load() == 80 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace recblocks::kernels::cpu
