#include "recblocks/core/error.h"

#include <gtest/gtest.h>

#include <string>

namespace recblocks {
namespace {

TEST(QuotedExcerpt, QuotesPrintableTextAsItIs) {
  EXPECT_EQ(quoted_excerpt("userId"), "'userId'");
  EXPECT_EQ(quoted_excerpt(""), "''");
  // Printable UTF-8 stays readable: é (2 bytes), € (3), 😀 (4).
  EXPECT_EQ(quoted_excerpt("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "'caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80'");
}

TEST(QuotedExcerpt, EscapesControlBytes) {
  EXPECT_EQ(quoted_excerpt("a\tb\nc\rd"), "'a\\x09b\\x0Ac\\x0Dd'");
  EXPECT_EQ(quoted_excerpt(std::string("nul\0x", 5)), "'nul\\x00x'");
  EXPECT_EQ(quoted_excerpt("\x1B[31mred"), "'\\x1B[31mred'");
  EXPECT_EQ(quoted_excerpt("del\x7F"), "'del\\x7F'");
  // C1 controls (U+0085 NEL), the line separator U+2028, a bidi override
  // U+202E and U+FFFD are valid UTF-8 but break or disguise a line.
  EXPECT_EQ(quoted_excerpt("x\xC2\x85y"), "'x\\xC2\\x85y'");
  EXPECT_EQ(quoted_excerpt("x\xE2\x80\xA8y"), "'x\\xE2\\x80\\xA8y'");
  EXPECT_EQ(quoted_excerpt("\xE2\x80\xAEtxt"), "'\\xE2\\x80\\xAEtxt'");
  EXPECT_EQ(quoted_excerpt("\xEF\xBF\xBD"), "'\\xEF\\xBF\\xBD'");
}

TEST(QuotedExcerpt, EscapesInvalidUtf8ByteByByte) {
  EXPECT_EQ(quoted_excerpt("\x93NUMPY\x01"), "'\\x93NUMPY\\x01'");
  EXPECT_EQ(quoted_excerpt("\xFF\xFE"), "'\\xFF\\xFE'");
  // Overlong '/' (C0 AF), a surrogate (ED A0 80), above U+10FFFF (F4 90 80 80).
  EXPECT_EQ(quoted_excerpt("\xC0\xAF"), "'\\xC0\\xAF'");
  EXPECT_EQ(quoted_excerpt("\xED\xA0\x80"), "'\\xED\\xA0\\x80'");
  EXPECT_EQ(quoted_excerpt("\xF4\x90\x80\x80"), "'\\xF4\\x90\\x80\\x80'");
  // A sequence cut short: the lead byte is escaped, the next character kept.
  EXPECT_EQ(quoted_excerpt("\xE2\x82z"), "'\\xE2\\x82z'");
  EXPECT_EQ(quoted_excerpt("ab\xC3"), "'ab\\xC3'");
}

TEST(QuotedExcerpt, CutsLongTextAndGivesItsSize) {
  const std::string field(10'000'000, 'x');
  const std::string out = quoted_excerpt(field);
  EXPECT_EQ(out, "'" + std::string(200, 'x') + "'... (10000000 bytes)");
  EXPECT_EQ(quoted_excerpt("abcdef", 3), "'abc'... (6 bytes)");
  EXPECT_EQ(quoted_excerpt("abc", 3), "'abc'");
  EXPECT_EQ(quoted_excerpt("abc", 0), "''... (3 bytes)");
}

TEST(QuotedExcerpt, CountsEscapesAsTheirWidthAndNeverSplitsACharacter) {
  // Binary data: each byte shows as 4 characters, so at most max_chars of
  // them reach the message.
  const std::string binary(1000, '\x01');
  const std::string out = quoted_excerpt(binary, 10);
  EXPECT_EQ(out, "'\\x01\\x01'... (1000 bytes)");
  // A multi-byte character counts as one and is kept whole or left out.
  EXPECT_EQ(quoted_excerpt("\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC", 2),
            "'\xE2\x82\xAC\xE2\x82\xAC'... (9 bytes)");
  // An escaped sequence is not split either: 3 bytes need 12 characters.
  EXPECT_EQ(quoted_excerpt("a\xE2\x80\xA8", 12), "'a'... (4 bytes)");
}

}  // namespace
}  // namespace recblocks

namespace recblocks {
namespace {

TEST(IsValidUtf8, AcceptsWellFormedAndRefusesOverlongSurrogatesAndTruncated) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));                                  // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));                              // a surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));                          // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("ok \xe2\x82"));                               // truncated
  EXPECT_FALSE(is_valid_utf8("\x80"));                                      // a lone continuation
}

}  // namespace
}  // namespace recblocks
