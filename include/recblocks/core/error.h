// Errors raised by recblocks. Library code never aborts the process: every
// failure is an exception whose message names the thing that was wrong and
// gives the actual and the expected value, e.g.
//   linear: input has shape [4, 32], expected [*, 64] (kernel [64, 128])
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

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

}  // namespace recblocks

// RB_CHECK(cond, ErrorType, "fmt", args...) throws ErrorType(fmt::format(...))
// when cond is false.
#define RB_CHECK(cond, ErrorType, ...)             \
  do {                                             \
    if (!(cond)) [[unlikely]] {                    \
      throw ErrorType(::fmt::format(__VA_ARGS__)); \
    }                                              \
  } while (false)
