// Threads: recblocks' kernels run on its own pool (src/kernels/cpu/
// thread_pool.h: the calling thread and n - 1 workers that spin briefly and
// then sleep, with a fallback to the calling thread when the machine is
// busy); the BLAS runs single-threaded inside it.
//
// The thread count comes from set_num_threads(n) or, at start-up, from the
// environment variable RECBLOCKS_NUM_THREADS (else OMP_NUM_THREADS, else the
// number of cores). Results are reproducible for a fixed seed and thread
// count: work is split statically and partial sums are combined in order.
#pragma once

#include <cstdint>

namespace recblocks {

void set_num_threads(int n);
int num_threads();
// The logical CPUs this process may run on (OpenMP's omp_get_num_procs()):
// the default thread count, and the most the command line accepts.
int max_threads();

// Below this many elements of work an elementwise kernel runs on one thread:
// waking the pool costs more than it saves.
inline constexpr std::int64_t kParallelGrain = 1 << 14;

}  // namespace recblocks
