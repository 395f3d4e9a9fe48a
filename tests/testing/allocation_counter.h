// Counting heap allocations: allocation_counter.cpp replaces the global
// operator new/delete, so only an executable that compiles it in (the
// allocation tests) counts. While g_counting is true, every operator new
// call, on any thread, adds one to g_allocations.
#pragma once

#include <atomic>

namespace recblocks::testing {

extern std::atomic<bool> g_counting;
extern std::atomic<long> g_allocations;
// The calling thread's own count while g_counting is on (every thread's
// are in g_allocations).
long this_thread_allocations();

}  // namespace recblocks::testing
