// Checked size arithmetic and the memory limit (core/checked.h,
// core/memory.h).
#include "recblocks/core/memory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>

#include "recblocks/core/arena.h"
#include "recblocks/core/checked.h"
#include "recblocks/core/tensor.h"

namespace recblocks {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr std::int64_t kMax64 = std::numeric_limits<std::int64_t>::max();

// Restores the default limit whatever a test sets.
class LimitGuard {
 public:
  ~LimitGuard() { set_memory_limit(0); }
};

TEST(CheckedArithmetic, MultipliesAndAddsWithinRange) {
  EXPECT_EQ(checked_mul<std::int64_t>(3, 4), 12);
  EXPECT_EQ(checked_mul<std::int64_t>(0, kMax64), 0);
  EXPECT_EQ(checked_add<std::size_t>(2, 3), 5u);
  EXPECT_EQ(mul_or_throw<std::int64_t>(1 << 20, 1 << 20, "x"), std::int64_t{1} << 40);
}

TEST(CheckedArithmetic, OverflowAndNegativesAreNullopt) {
  // 16 * 2^58 * 4 bytes: the .npy case whose byte size used to wrap to 0.
  EXPECT_EQ(checked_mul<std::int64_t>(16 * 4, std::int64_t{1} << 58), std::nullopt);
  EXPECT_EQ(checked_mul<std::int64_t>(kMax64, 2), std::nullopt);
  EXPECT_EQ(checked_mul<std::int64_t>(-1, 2), std::nullopt);
  EXPECT_EQ(checked_add<std::int64_t>(kMax64, 1), std::nullopt);
  EXPECT_EQ(checked_mul<std::size_t>(std::size_t{1} << 40, std::size_t{1} << 40), std::nullopt);
  EXPECT_THAT(
      [] {
        try {
          (void)mul_or_throw<std::int64_t>(kMax64, 3, "table 'userId'");
        } catch (const ValueError& e) {
          return std::string(e.what());
        }
        return std::string();
      }(),
      AllOf(HasSubstr("table 'userId'"), HasSubstr("9223372036854775807 x 3"),
            HasSubstr("overflows")));
}

TEST(CheckedArithmetic, NumelAndBytes) {
  EXPECT_EQ(checked_numel(std::array<std::int64_t, 2>{3, 4}), 12);
  EXPECT_EQ(checked_numel(std::array<std::int64_t, 0>{}), 1);
  EXPECT_EQ(checked_numel(std::array<std::int64_t, 2>{0, 5}), 0);
  // An empty tensor's other dimensions must still multiply without overflow.
  EXPECT_EQ(checked_numel(std::array<std::int64_t, 3>{0, kMax64, kMax64}), std::nullopt);
  EXPECT_EQ(checked_numel(std::array<std::int64_t, 2>{2, -1}), std::nullopt);
  EXPECT_EQ(checked_nbytes(std::array<std::int64_t, 2>{16, std::int64_t{1} << 58}, 4),
            std::nullopt);
  EXPECT_EQ(checked_nbytes(std::array<std::int64_t, 2>{16, 1024}, 4), 65536);
}

TEST(ShapeLimit, AShapeBeyond2To60ElementsIsRefused) {
  EXPECT_NO_THROW(Shape({std::int64_t{1} << 30, std::int64_t{1} << 30}));
  EXPECT_THROW(Shape({16, std::int64_t{1} << 58}), ShapeError);
  EXPECT_THROW(Shape({0, kMax64, kMax64}), ShapeError);
  try {
    Shape({std::int64_t{1} << 31, std::int64_t{1} << 31});
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("[2147483648, 2147483648]"), HasSubstr("too large")));
  }
}

TEST(MemorySize, ParsesTheEnvironmentSyntax) {
  EXPECT_EQ(parse_memory_size("1073741824", 0), std::size_t{1} << 30);
  EXPECT_EQ(parse_memory_size("12G", 0), std::size_t{12} << 30);
  EXPECT_EQ(parse_memory_size("512M", 0), std::size_t{512} << 20);
  EXPECT_EQ(parse_memory_size("64k", 0), std::size_t{64} << 10);
  EXPECT_EQ(parse_memory_size("2GiB", 0), std::size_t{2} << 30);
  EXPECT_EQ(parse_memory_size(" 3T ", 0), std::size_t{3} << 40);
  EXPECT_EQ(parse_memory_size("50%", 1000), 500u);
  EXPECT_EQ(parse_memory_size("abc", 0), std::nullopt);
  EXPECT_EQ(parse_memory_size("12X", 0), std::nullopt);
  EXPECT_EQ(parse_memory_size("150%", 1000), std::nullopt);
  EXPECT_EQ(parse_memory_size("-5", 0), std::nullopt);
  EXPECT_EQ(parse_memory_size("99999999999T", 0), std::nullopt);  // overflows
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(std::size_t{3} << 30), "3 GiB");
}

TEST(MemoryLimit, DefaultIsPositiveAndTheSetterOverridesIt) {
  LimitGuard guard;
  EXPECT_GT(default_memory_limit(), 0u);
  EXPECT_EQ(memory_limit(), default_memory_limit());
  set_memory_limit(std::size_t{123} << 20);
  EXPECT_EQ(memory_limit(), std::size_t{123} << 20);
  set_memory_limit(0);
  EXPECT_EQ(memory_limit(), default_memory_limit());
}

TEST(MemoryLimit, OwnedTensorsAreCountedAndReleased) {
  const std::size_t before = memory_in_use();
  {
    const Tensor t = Tensor::empty({1024, 256});
    EXPECT_EQ(memory_in_use(), before + 1024 * 256 * 4);
    const Tensor shared = t;  // a handle, not a copy
    EXPECT_EQ(memory_in_use(), before + 1024 * 256 * 4);
  }
  EXPECT_EQ(memory_in_use(), before);
}

TEST(MemoryLimit, AnAllocationOverTheLimitThrowsBeforeAllocating) {
  LimitGuard guard;
  set_memory_limit(memory_in_use() + (std::size_t{1} << 20));  // 1 MiB to spare
  const std::size_t before = memory_in_use();
  EXPECT_NO_THROW(Tensor::empty({1000}));
  try {
    (void)Tensor::zeros({1024, 1024});  // 4 MiB
    FAIL() << "no error";
  } catch (const MemoryLimitError& e) {
    EXPECT_THAT(e.what(),
                AllOf(HasSubstr("[1024, 1024]"), HasSubstr("4 MiB"), HasSubstr("(4194304 bytes)"),
                      HasSubstr("memory limit"), HasSubstr("RECBLOCKS_MAX_MEMORY")));
  }
  EXPECT_EQ(memory_in_use(), before);
  EXPECT_THROW(check_allocation(std::size_t{2} << 20, "a test"), MemoryLimitError);
  EXPECT_NO_THROW(check_allocation(std::size_t{1} << 19, "a test"));
}

TEST(MemoryLimit, AHugeTensorIsRefusedWhateverTheLimit) {
  // 2^60 float32 elements: bytes beyond any limit, refused without an
  // attempt to allocate (no std::bad_alloc).
  EXPECT_THROW(Tensor::empty({std::int64_t{1} << 30, std::int64_t{1} << 30}), MemoryLimitError);
}

TEST(MemoryLimit, ArenaBlocksAreChecked) {
  LimitGuard guard;
  Arena arena(4096);
  set_memory_limit(memory_in_use() + (std::size_t{1} << 20));
  EXPECT_THROW(arena.tensor({1024, 1024}), MemoryLimitError);
  EXPECT_NO_THROW(arena.tensor({64, 64}));
}

}  // namespace
}  // namespace recblocks
