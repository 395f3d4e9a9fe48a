#include "recblocks/core/arena.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace recblocks {
namespace {

std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

TEST(Arena, AllocationsAreAlignedAndCounted) {
  Arena arena(1 << 16);
  void* a = arena.allocate(10);
  void* b = arena.allocate(100, 16);
  void* c = arena.allocate(1);
  EXPECT_EQ(addr(a) % 64, 0u);
  EXPECT_EQ(addr(b) % 16, 0u);
  EXPECT_EQ(addr(c) % 64, 0u);
  EXPECT_NE(a, b);
  EXPECT_GE(addr(b), addr(a) + 10);
  EXPECT_GE(addr(c), addr(b) + 100);
  EXPECT_GE(arena.used(), 111u);
  EXPECT_GE(arena.capacity(), std::size_t{1} << 16);
}

TEST(Arena, TensorAndZeros) {
  Arena arena;
  Tensor t = arena.tensor({8, 4});
  EXPECT_EQ(t.shape(), Shape({8, 4}));
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_EQ(addr(t.raw()) % 64, 0u);
  t.fill(3.0f);  // writable
  Tensor z = arena.zeros({5}, DType::kInt64);
  EXPECT_EQ(z.dtype(), DType::kInt64);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(z.data<std::int64_t>()[i], 0);
  EXPECT_EQ(t.item(31), 3.0);  // not overwritten by the next allocation
}

TEST(Arena, ResetReusesMemory) {
  Arena arena(1 << 16);
  const std::size_t capacity = arena.capacity();
  void* first = arena.allocate(1000);
  arena.allocate(2000);
  EXPECT_GE(arena.used(), 3000u);
  arena.reset();
  EXPECT_EQ(arena.used(), 0u);
  EXPECT_EQ(arena.capacity(), capacity);
  EXPECT_EQ(arena.allocate(1000), first);
  EXPECT_GE(arena.high_water(), 3000u);
}

TEST(Arena, OverflowBlocksAreMergedOnReset) {
  Arena arena(4096);
  const std::size_t initial = arena.capacity();
  void* a = arena.allocate(3000);
  void* b = arena.allocate(3000);  // does not fit: a second block
  void* c = arena.allocate(10000);
  EXPECT_NE(a, b);
  EXPECT_GT(arena.capacity(), initial);
  std::uint8_t* bytes = static_cast<std::uint8_t*>(c);
  bytes[9999] = 1;  // the whole allocation is usable
  EXPECT_GE(arena.high_water(), 16000u);

  arena.reset();
  const std::size_t merged = arena.capacity();
  EXPECT_GE(merged, arena.high_water());
  // The same step now fits into one block: consecutive allocations are
  // contiguous and the capacity does not change any more.
  void* a2 = arena.allocate(3000);
  void* b2 = arena.allocate(3000);
  void* c2 = arena.allocate(10000);
  EXPECT_EQ(addr(b2), addr(a2) + 3008);  // 3000 rounded up to 64-byte alignment
  EXPECT_EQ(addr(c2), addr(b2) + 3008);
  EXPECT_EQ(arena.capacity(), merged);
  arena.reset();
  EXPECT_EQ(arena.capacity(), merged);
  EXPECT_EQ(arena.allocate(3000), a2);
}

TEST(Arena, ZeroByteAllocationsAreDistinctAndValid) {
  Arena arena;
  void* a = arena.allocate(0);
  void* b = arena.allocate(0);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
  Tensor empty = arena.tensor({0, 4});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_TRUE(empty.defined());
}

}  // namespace
}  // namespace recblocks
