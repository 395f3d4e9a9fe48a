// parallel_for over the one OpenMP pool, with static chunks so results are
// reproducible for a fixed thread count.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "recblocks/core/threads.h"

namespace recblocks::kernels::cpu {

// Runs body(begin, end) over [0, n) in static chunks on the OpenMP pool, or
// inline when the work (n * cost_per_item) is below kParallelGrain.
template <class Body>
void parallel_for(std::int64_t n, std::int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  const int threads = omp_in_parallel() ? 1 : num_threads();
  if (threads <= 1 || n < 2 || n * std::max<std::int64_t>(cost_per_item, 1) < kParallelGrain) {
    body(std::int64_t{0}, n);
    return;
  }
  const std::int64_t chunks = std::min<std::int64_t>(threads, n);
#pragma omp parallel num_threads(static_cast <int>(chunks))
  {
    const std::int64_t t = omp_get_thread_num();
    const std::int64_t begin = n * t / chunks;
    const std::int64_t end = n * (t + 1) / chunks;
    if (begin < end) body(begin, end);
  }
}

// Like parallel_for, but body(chunk, begin, end) also gets its chunk index
// in [0, parallel_chunks(n, cost)), for per-chunk partial results that the
// caller then combines in chunk order (deterministic).
template <class Body>
void parallel_for_chunks(std::int64_t n, std::int64_t cost_per_item, Body&& body);

// Number of static chunks parallel_for would use (for per-thread partials).
inline int parallel_chunks(std::int64_t n, std::int64_t cost_per_item) {
  const int threads = omp_in_parallel() ? 1 : num_threads();
  if (threads <= 1 || n < 2 || n * std::max<std::int64_t>(cost_per_item, 1) < kParallelGrain) {
    return 1;
  }
  return static_cast<int>(std::min<std::int64_t>(threads, n));
}

template <class Body>
void parallel_for_chunks(std::int64_t n, std::int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  const int chunks = parallel_chunks(n, cost_per_item);
  if (chunks == 1) {
    body(0, std::int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(chunks)
  {
    const int t = omp_get_thread_num();
    const std::int64_t begin = n * t / chunks;
    const std::int64_t end = n * (t + 1) / chunks;
    body(t, begin, end);
  }
}

}  // namespace recblocks::kernels::cpu
