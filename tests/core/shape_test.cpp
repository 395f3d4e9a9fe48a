#include "recblocks/core/shape.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using ::testing::HasSubstr;

TEST(Shape, ScalarHasRankZeroAndOneElement) {
  Shape s;
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.str(), "[]");
}

TEST(Shape, DimsAndNegativeAxes) {
  Shape s{4, 3, 2};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s[0], 4);
  EXPECT_EQ(s[-1], 2);
  EXPECT_EQ(s[-3], 4);
  EXPECT_EQ(s.dims().size(), 3u);
  EXPECT_EQ(s.str(), "[4, 3, 2]");
  EXPECT_EQ(fmt::format("{}", s), "[4, 3, 2]");
  Shape t = s;
  t[1] = 5;
  EXPECT_EQ(t, Shape({4, 5, 2}));
  EXPECT_FALSE(t == s);
  EXPECT_FALSE(Shape({4}) == Shape({4, 1}));
}

TEST(Shape, NormalizeAxis) {
  Shape s{4, 3};
  EXPECT_EQ(s.normalize_axis(0), 0);
  EXPECT_EQ(s.normalize_axis(1), 1);
  EXPECT_EQ(s.normalize_axis(-1), 1);
  EXPECT_EQ(s.normalize_axis(-2), 0);
}

TEST(Shape, NormalizeAxisOutOfRangeThrows) {
  Shape s{4, 3};
  EXPECT_THROW(s.normalize_axis(2), ShapeError);
  EXPECT_THROW(s.normalize_axis(-3), ShapeError);
  EXPECT_THROW(Shape().normalize_axis(0), ShapeError);
  try {
    s.normalize_axis(5);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("5"));
    EXPECT_THAT(e.what(), HasSubstr("[4, 3]"));
  }
  EXPECT_THROW(s[2], ShapeError);
}

TEST(Shape, WithoutInsertedWith) {
  Shape s{4, 3, 2};
  EXPECT_EQ(s.without(1), Shape({4, 2}));
  EXPECT_EQ(s.without(-1), Shape({4, 3}));
  EXPECT_EQ(s.inserted(0, 7), Shape({7, 4, 3, 2}));
  EXPECT_EQ(s.inserted(3, 7), Shape({4, 3, 2, 7}));
  EXPECT_EQ(s.inserted(-1, 7), Shape({4, 3, 2, 7}));
  EXPECT_EQ(s.with(-1, 9), Shape({4, 3, 9}));
  EXPECT_THROW(s.inserted(5, 1), ShapeError);
  EXPECT_THROW(Shape({1, 2, 3, 4}).inserted(0, 1), ShapeError);
}

TEST(Shape, OuterInner) {
  Shape s{4, 3, 2};
  EXPECT_EQ(s.outer(0), 1);
  EXPECT_EQ(s.inner(0), 6);
  EXPECT_EQ(s.outer(1), 4);
  EXPECT_EQ(s.inner(1), 2);
  EXPECT_EQ(s.outer(-1), 12);
  EXPECT_EQ(s.inner(-1), 1);
}

TEST(Shape, InvalidShapesThrow) {
  EXPECT_THROW(Shape({1, 2, 3, 4, 5}), ShapeError);
  try {
    Shape({3, -1});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("-1"));
  }
}

}  // namespace
}  // namespace recblocks
