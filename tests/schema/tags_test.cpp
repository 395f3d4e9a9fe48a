#include "recblocks/schema/tags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Tag, NamesAreMerlinsStrings) {
  EXPECT_EQ(Tags::CATEGORICAL.name(), "categorical");
  EXPECT_EQ(Tags::MULTI_CLASS.name(), "multi_class");
  EXPECT_EQ(Tags::USER_ID.name(), "user_id");
  EXPECT_EQ(Tags::BINARY_CLASSIFICATION.name(), "binary_classification");
}

TEST(Tag, ParseIsTheInverseOfNameAndAcceptsEnumNames) {
  for (Tag t : {Tags::CATEGORICAL,
                Tags::CONTINUOUS,
                Tags::LIST,
                Tags::SEQUENCE,
                Tags::TEXT,
                Tags::TIME,
                Tags::EMBEDDING,
                Tags::ID,
                Tags::USER,
                Tags::ITEM,
                Tags::SESSION,
                Tags::CONTEXT,
                Tags::TARGET,
                Tags::REGRESSION,
                Tags::CLASSIFICATION,
                Tags::BINARY,
                Tags::MULTI_CLASS,
                Tags::USER_ID,
                Tags::ITEM_ID,
                Tags::SESSION_ID,
                Tags::BINARY_CLASSIFICATION,
                Tags::MULTI_CLASS_CLASSIFICATION}) {
    EXPECT_EQ(Tag::parse(t.name()), t) << t.name();
  }
  EXPECT_EQ(Tag::parse("ITEM_ID"), Tags::ITEM_ID);
}

TEST(Tag, ParseRejectsUnknownNamesListingKnownOnes) {
  try {
    Tag::parse("categorial");
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown tag 'categorial'"));
    EXPECT_THAT(e.what(), HasSubstr("categorical"));
  }
}

TEST(Tag, CompoundTagsAreTheirParts) {
  EXPECT_TRUE(Tags::USER_ID.is_compound());
  EXPECT_FALSE(Tags::USER.is_compound());
  EXPECT_EQ(Tags::USER_ID.bits(), Tags::USER.bits() | Tags::ID.bits());
  EXPECT_EQ(Tags::MULTI_CLASS_CLASSIFICATION.bits(),
            Tags::MULTI_CLASS.bits() | Tags::CLASSIFICATION.bits());
}

TEST(TagSet, CompoundTagsSplitIntoAtomicOnes) {
  TagSet tags{Tags::USER_ID, Tags::CATEGORICAL};
  EXPECT_THAT(tags.names(), ElementsAre("categorical", "id", "user"));
  EXPECT_TRUE(tags.has(Tags::USER_ID));
  EXPECT_TRUE(tags.has(Tags::USER));
  EXPECT_FALSE(tags.has(Tags::ITEM_ID));  // has ID but not ITEM
  EXPECT_FALSE(TagSet{Tags::USER}.has(Tags::USER_ID));
}

TEST(TagSet, ConflictingTagsAreRejected) {
  EXPECT_THROW((TagSet{Tags::CATEGORICAL, Tags::CONTINUOUS}), ValueError);
  TagSet cat{Tags::CATEGORICAL};
  try {
    (void)cat.with(Tags::CONTINUOUS);
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'categorical' and 'continuous'"));
  }
}

TEST(TagSet, WithoutRemovesEveryPartOfACompoundTag) {
  TagSet tags{Tags::ITEM_ID, Tags::CATEGORICAL};
  EXPECT_THAT(tags.without(Tags::ITEM_ID).names(), ElementsAre("categorical"));
  EXPECT_THAT(tags.without(Tags::ID).names(), ElementsAre("categorical", "item"));
  EXPECT_EQ(to_string(tags), "{categorical, id, item}");
  EXPECT_TRUE(TagSet{}.empty());
  EXPECT_FALSE(TagSet{}.has(Tag{}));
}

}  // namespace
}  // namespace recblocks
