#include "recblocks/core/threads.h"

#include <omp.h>

#include <cstdlib>
#include <string>

#include "recblocks/core/error.h"

namespace recblocks {
namespace {

int threads_from_environment() {
  for (const char* name : {"RECBLOCKS_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
      char* end = nullptr;
      const long n = std::strtol(v, &end, 10);
      if (end != v && *end == '\0' && n > 0 && n <= 4096) return static_cast<int>(n);
    }
  }
  return omp_get_num_procs();
}

int& thread_count() {
  static int n = [] {
    const int t = threads_from_environment();
    omp_set_num_threads(t);
    return t;
  }();
  return n;
}

}  // namespace

void set_num_threads(int n) {
  RB_CHECK(n >= 1, ValueError, "set_num_threads: {} threads, expected >= 1", n);
  thread_count() = n;
  omp_set_num_threads(n);
}

int num_threads() { return thread_count(); }

int max_threads() { return omp_get_num_procs(); }

}  // namespace recblocks
