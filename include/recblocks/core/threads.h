// Threads: recblocks runs on one OpenMP pool, shared with the BLAS (which is
// an OpenMP build, see bench/RESULTS.md), so two pools never compete.
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
