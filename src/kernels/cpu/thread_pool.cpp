#include "kernels/cpu/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace recblocks::kernels::cpu {
namespace {

thread_local bool t_in_task = false;

// Marks the calling thread as running tasks for its lifetime (restoring
// the outer state, exceptions included).
class InTask {
 public:
  InTask() : outer_(t_in_task) { t_in_task = true; }
  ~InTask() { t_in_task = outer_; }
  InTask(const InTask&) = delete;
  InTask& operator=(const InTask&) = delete;

 private:
  bool outer_;
};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// A non-negative integer from the environment, else `fallback`.
std::int64_t from_environment(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  return end != v && *end == '\0' && n >= 0 && n <= 1'000'000 ? n : fallback;
}

std::chrono::microseconds spin_time() {
  static const std::chrono::microseconds spin{
      from_environment("RECBLOCKS_SPIN_US", kSpinMicroseconds)};
  return spin;
}

bool adapt_threads() {
  static const bool adapt = from_environment("RECBLOCKS_ADAPT_THREADS", 1) != 0;
  return adapt;
}

// Calls ready() until it is true or the spin time has passed; true when it
// became true.
template <class Ready>
bool spin_until(Ready&& ready) {
  const auto deadline = std::chrono::steady_clock::now() + spin_time();
  for (int i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return ready();
  }
}

// A worker's doorbell, on its own cache line: the caller bumps `ticket` to
// invite it to a region and wakes it if it sleeps.
struct alignas(64) Slot {
  std::atomic<std::uint32_t> ticket{0};
  std::atomic<bool> sleeping{false};
};

// The region's claim word: generation (24 bits), task count (20 bits),
// next task (20 bits). One compare-and-swap claims a task of exactly the
// region the word names, so a worker that wakes late claims nothing of a
// finished region.
constexpr int kIndexBits = 20;
constexpr std::uint64_t kIndexMask = (std::uint64_t{1} << kIndexBits) - 1;
constexpr int kMaxTasks = static_cast<int>(kIndexMask);
inline std::uint64_t claim_word(std::uint64_t generation, int tasks) {
  return (generation << (2 * kIndexBits)) | (static_cast<std::uint64_t>(tasks) << kIndexBits);
}
inline int word_tasks(std::uint64_t w) { return static_cast<int>((w >> kIndexBits) & kIndexMask); }
inline int word_index(std::uint64_t w) { return static_cast<int>(w & kIndexMask); }

class Pool {
 public:
  void run(int tasks, int threads, detail::TaskFn fn, void* context) {
    const int helpers = std::min(threads, tasks) - 1;
    if (helpers <= 0 || t_in_task || tasks > kMaxTasks) {
      serial(tasks, fn, context);
      return;
    }
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) {
      serial(tasks, fn, context);
      return;
    }
    const auto start = Clock::now();
    if (start < serial_until_) {
      serial(tasks, fn, context);
      return;
    }
    grow(helpers);
    fn_ = fn;
    context_ = context;
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    next_.store(claim_word(++generation_, tasks), std::memory_order_seq_cst);
    for (int w = 0; w < helpers; ++w) {
      Slot& slot = *slots_[static_cast<std::size_t>(w)];
      slot.ticket.fetch_add(1, std::memory_order_seq_cst);
      if (slot.sleeping.load(std::memory_order_seq_cst)) slot.ticket.notify_one();
    }
    claim_and_run();
    // Every task is claimed; workers that claimed one entered `active_`
    // before their claim, so they are waited for here.
    const auto mine_done = Clock::now();
    if (!spin_until([&] { return active_.load(std::memory_order_seq_cst) == 0; })) {
      for (int a; (a = active_.load(std::memory_order_seq_cst)) != 0;) active_.wait(a);
    }
    adapt(start, mine_done, Clock::now());
    if (failed_.load(std::memory_order_acquire)) std::rethrow_exception(error_);
  }

 private:
  using Clock = std::chrono::steady_clock;

  // Claims and runs tasks of the current region until none is left.
  void claim_and_run() {
    const InTask in_task;
    std::uint64_t w = next_.load(std::memory_order_seq_cst);
    while (word_index(w) < word_tasks(w)) {
      if (!next_.compare_exchange_weak(w, w + 1, std::memory_order_seq_cst)) continue;
      try {
        fn_(context_, word_index(w));
      } catch (...) {
        if (!failed_.exchange(true, std::memory_order_acq_rel)) error_ = std::current_exception();
        // The rest of the region is skipped.
        std::uint64_t cur = next_.load(std::memory_order_seq_cst);
        while ((cur >> (2 * kIndexBits)) == (w >> (2 * kIndexBits)) &&
               !next_.compare_exchange_weak(
                   cur, (cur & ~kIndexMask) | static_cast<std::uint64_t>(word_tasks(cur)))) {
        }
      }
      w = next_.load(std::memory_order_seq_cst);
    }
  }

  static void serial(int tasks, detail::TaskFn fn, void* context) {
    const InTask in_task;
    for (int i = 0; i < tasks; ++i) fn(context, i);
  }

  // Under load (another process on the helpers' cores) a helper is
  // descheduled for milliseconds holding a task while the caller waits,
  // and a region costs more on two threads than on one. The caller's wait
  // for the helpers, as a share of the region, is averaged; past
  // kSlowShare the regions of the next kSerialSpell run on the calling
  // thread alone (the same tasks: results do not change), then the
  // helpers are tried again.
  void adapt(Clock::time_point start, Clock::time_point mine_done, Clock::time_point end) {
    if (!adapt_threads()) return;
    const double region = std::chrono::duration<double>(end - start).count();
    const double wait = std::chrono::duration<double>(end - mine_done).count();
    if (region <= 0) return;
    wait_share_ += (wait / region - wait_share_) / 8;
    if (wait_share_ > kSlowShare) {
      serial_until_ = end + kSerialSpell;
      wait_share_ = kSlowShare * 0.75;  // a trial that goes as badly ends at once
    }
  }

  // Starts workers until there are `helpers`. They are never stopped: the
  // pool lives as long as the process (a worker asleep costs nothing).
  void grow(int helpers) {
    while (static_cast<int>(slots_.size()) < helpers) {
      slots_.push_back(std::make_unique<Slot>());
      Slot* slot = slots_.back().get();
      std::thread([this, slot] { work(*slot); }).detach();
    }
  }

  void work(Slot& slot) {
    std::uint32_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return slot.ticket.load(std::memory_order_acquire) != seen; })) {
        slot.sleeping.store(true, std::memory_order_seq_cst);
        for (std::uint32_t t; (t = slot.ticket.load(std::memory_order_seq_cst)) == seen;) {
          slot.ticket.wait(t, std::memory_order_seq_cst);
        }
        slot.sleeping.store(false, std::memory_order_relaxed);
      }
      seen = slot.ticket.load(std::memory_order_acquire);
      active_.fetch_add(1, std::memory_order_seq_cst);
      claim_and_run();
      if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1) active_.notify_one();
    }
  }

  static constexpr double kSlowShare = 0.25;
  static constexpr auto kSerialSpell = std::chrono::milliseconds(100);

  std::mutex mutex_;  // one region at a time; other callers run serially
  std::vector<std::unique_ptr<Slot>> slots_;
  // The current region: written by the caller before next_ publishes it,
  // read by whoever claims one of its tasks.
  detail::TaskFn fn_ = nullptr;
  void* context_ = nullptr;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
  std::atomic<std::uint64_t> next_{0};
  std::uint64_t generation_ = 0;
  std::atomic<int> active_{0};  // workers inside claim_and_run
  // The caller's state for adapt().
  double wait_share_ = 0;
  Clock::time_point serial_until_{};
};

// The process's pool, never destroyed (its workers outlive static
// destructors). After fork() the child has none of the parent's threads:
// it starts a pool of its own.
Pool* g_pool = nullptr;

Pool& pool() {
  [[maybe_unused]] static const bool started = [] {
    g_pool = new Pool;
    pthread_atfork(nullptr, nullptr, [] { g_pool = new Pool; });  // the parent's stays, unused
    return true;
  }();
  return *g_pool;
}

}  // namespace

namespace detail {
void run_tasks(int tasks, int threads, TaskFn fn, void* context) {
  if (tasks <= 0) return;
  pool().run(tasks, threads, fn, context);
}
}  // namespace detail

bool in_parallel_task() { return t_in_task; }

}  // namespace recblocks::kernels::cpu
