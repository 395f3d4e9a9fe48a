// The replacement global operator new/delete of the allocation tests
// (allocation_counter.h): malloc and free, with a count of the calls made
// while counting is on.
#include "testing/allocation_counter.h"

// The replacement operator delete frees what the replacement operator new
// malloc'ed; with the sanitizers GCC inlines `delete` down to free() and
// flags the pair as mismatched, which is what this file does on purpose.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <cstddef>
#include <cstdlib>
#include <new>

namespace recblocks::testing {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

namespace {
thread_local long t_allocations = 0;
}  // namespace

long this_thread_allocations() { return t_allocations; }

void count_this_thread() { ++t_allocations; }

}  // namespace recblocks::testing

namespace {

using recblocks::testing::g_allocations;
using recblocks::testing::g_counting;

void* counted_allocate(std::size_t n, std::size_t align) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    recblocks::testing::count_this_thread();
  }
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
