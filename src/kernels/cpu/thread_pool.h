// The kernels' thread pool: the calling thread and num_threads() - 1
// workers run the tasks of one parallel region, each task taken by
// whichever thread is free next.
//
// Why not OpenMP's pool: libgomp's threads spin at every barrier for about
// 300,000 iterations before they sleep, and its static splits make every
// thread wait for the slowest. On a machine shared with one busy process
// that took the seed model's training from ~110k to 30k samples/s on 2
// cores (bench/load). Here a worker spins for kSpinMicroseconds after its
// last task (a training step's regions follow each other within
// microseconds) and then sleeps on a futex, and tasks are claimed
// dynamically, so a thread that the OS descheduled holds up at most the
// one task it holds.
//
// Results never depend on which thread runs a task: callers give each task
// its own outputs, or partial results combined in task order.
#pragma once

#include <cstdint>
#include <type_traits>

namespace recblocks::kernels::cpu {

// How long an idle worker spins before it sleeps (the environment variable
// RECBLOCKS_SPIN_US overrides it: 0 sleeps at once, OpenMP's "passive").
// RECBLOCKS_ADAPT_THREADS=0 turns off the fallback to the calling thread
// under load (Pool::adapt in thread_pool.cpp).
inline constexpr std::int64_t kSpinMicroseconds = 50;

namespace detail {
using TaskFn = void (*)(void* context, int task);
void run_tasks(int tasks, int threads, TaskFn fn, void* context);
}  // namespace detail

// Runs task(i) for every i in [0, tasks) on up to `threads` threads (the
// caller's included) and returns when all have finished. From inside a
// task, or while another thread is running a region, the tasks run in
// order on the calling thread. The first exception a task throws is
// rethrown here after the other tasks have finished.
template <class Task>
void run_tasks(int tasks, int threads, Task&& task) {
  using T = std::remove_reference_t<Task>;
  detail::run_tasks(
      tasks, threads, [](void* context, int i) { (*static_cast<T*>(context))(i); },
      const_cast<void*>(static_cast<const void*>(&task)));
}

// True on a thread that is running a task: a kernel called there runs on
// that thread alone.
bool in_parallel_task();

}  // namespace recblocks::kernels::cpu
