#include "recblocks/core/threads.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "recblocks/core/error.h"

namespace recblocks {
namespace {

TEST(Threads, SetAndGet) {
  const int saved = num_threads();
  EXPECT_GE(saved, 1);
  set_num_threads(2);
  EXPECT_EQ(num_threads(), 2);
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(saved);
  EXPECT_EQ(num_threads(), saved);
}

TEST(Threads, NonPositiveCountThrows) {
  const int saved = num_threads();
  try {
    set_num_threads(0);
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("0"));
  }
  EXPECT_THROW(set_num_threads(-3), ValueError);
  EXPECT_EQ(num_threads(), saved);
}

}  // namespace
}  // namespace recblocks
