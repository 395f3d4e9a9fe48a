// parallel_for over the kernels' thread pool (thread_pool.h), in static
// chunks so results are reproducible for a fixed thread count: a chunk's
// range depends on the thread count only, never on which thread runs it.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/thread_pool.h"
#include "recblocks/core/threads.h"

namespace recblocks::kernels::cpu {

// Number of static chunks parallel_for uses for n items of cost_per_item
// (1 below kParallelGrain, or inside a task): the threads to use.
inline int parallel_chunks(std::int64_t n, std::int64_t cost_per_item) {
  const int threads = in_parallel_task() ? 1 : num_threads();
  if (threads <= 1 || n < 2 || n * std::max<std::int64_t>(cost_per_item, 1) < kParallelGrain) {
    return 1;
  }
  return static_cast<int>(std::min<std::int64_t>(threads, n));
}

// Runs body(chunk, begin, end) over [0, n) in parallel_chunks(n, cost)
// static chunks, each with its index, for per-chunk partial results that
// the caller then combines in chunk order (deterministic).
template <class Body>
void parallel_for_chunks(std::int64_t n, std::int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  const int chunks = parallel_chunks(n, cost_per_item);
  if (chunks == 1) {
    body(0, std::int64_t{0}, n);
    return;
  }
  run_tasks(chunks, chunks, [&](int t) {
    const std::int64_t begin = n * t / chunks;
    const std::int64_t end = n * (t + 1) / chunks;
    if (begin < end) body(t, begin, end);
  });
}

// Runs body(begin, end) over [0, n) in static chunks on the pool, or
// inline when the work (n * cost_per_item) is below kParallelGrain.
template <class Body>
void parallel_for(std::int64_t n, std::int64_t cost_per_item, Body&& body) {
  parallel_for_chunks(n, cost_per_item,
                      [&](int, std::int64_t begin, std::int64_t end) { body(begin, end); });
}

}  // namespace recblocks::kernels::cpu
