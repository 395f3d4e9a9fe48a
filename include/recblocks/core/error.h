// Errors raised by recblocks. Library code never aborts the process: every
// failure is an exception whose message names the thing that was wrong and
// gives the actual and the expected value, e.g.
//   linear: input has shape [4, 32], expected [*, 64] (kernel [64, 128])
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace recblocks {

// Base of every exception thrown by recblocks.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A tensor of the wrong shape or dtype reached an op or a block.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A value is out of its allowed range (an id >= cardinality, a NaN, ...).
class ValueError : public Error {
 public:
  using Error::Error;
};

// A NaN or an infinity where a finite number is needed: a gradient the
// optimizer refuses, a training loss. A ValueError, so catches of that
// keep working.
class NonFiniteError : public ValueError {
 public:
  using ValueError::ValueError;
};

// User data for an error message: `user_text` between single quotes, every
// byte that is not printable UTF-8 (control characters, C1 controls, line
// and paragraph separators, bidi overrides, U+FFFD, invalid or truncated
// sequences) written as \xNN, and at most `max_chars` characters shown (an
// escape counts as its 4) followed by "... (N bytes)" with the whole size.
// A message built with it stays one readable line whatever a file holds:
//   quoted_excerpt("a\tb")                     -> 'a\x09b'
//   quoted_excerpt(std::string(10'000'000, 'x')) -> 'xxx...x'... (10000000 bytes)
std::string quoted_excerpt(std::string_view user_text, std::size_t max_chars = 200);

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), the test quoted_excerpt escapes by.
bool is_valid_utf8(std::string_view text);

}  // namespace recblocks

// RB_CHECK(cond, ErrorType, "fmt", args...) throws ErrorType(fmt::format(...))
// when cond is false.
#define RB_CHECK(cond, ErrorType, ...)             \
  do {                                             \
    if (!(cond)) [[unlikely]] {                    \
      throw ErrorType(::fmt::format(__VA_ARGS__)); \
    }                                              \
  } while (false)
