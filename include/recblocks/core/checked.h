// Size arithmetic that cannot overflow. Every size that comes from a file
// or a flag (a .npy shape, a safetensors shape or offset, a schema domain, a
// model dimension) is multiplied and added through these, so that a huge
// value is reported instead of wrapping around to a small one that passes
// the next check:
//
//   std::optional<std::int64_t> n = checked_mul<std::int64_t>(rows, dim);  // nullopt on overflow
//   std::size_t bytes = mul_or_throw<std::size_t>(numel, 4, "embedding table 'userId'");
//   std::int64_t numel = checked_numel(dims, "x.npy: shape");  // throws naming the dims
#pragma once

#include <fmt/format.h>

#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "recblocks/core/error.h"

namespace recblocks {

// a * b, or nullopt when the product does not fit in T (or an operand is
// negative: sizes are never negative).
template <std::integral T>
constexpr std::optional<T> checked_mul(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (a < 0 || b < 0) return std::nullopt;
  }
  T out{};
  if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

// a + b, or nullopt when the sum does not fit in T (or an operand is negative).
template <std::integral T>
constexpr std::optional<T> checked_add(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (a < 0 || b < 0) return std::nullopt;
  }
  T out{};
  if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
  return out;
}

// a * b; throws ValueError "<what>: <a> x <b> overflows" otherwise.
template <std::integral T>
T mul_or_throw(T a, T b, std::string_view what) {
  const std::optional<T> out = checked_mul(a, b);
  RB_CHECK(out.has_value(), ValueError, "{}: {} x {} is too large (it overflows a {}-bit integer)",
           what, a, b, 8 * sizeof(T));
  return *out;
}

// a + b; throws ValueError naming `what` on overflow.
template <std::integral T>
T add_or_throw(T a, T b, std::string_view what) {
  const std::optional<T> out = checked_add(a, b);
  RB_CHECK(out.has_value(), ValueError, "{}: {} + {} is too large (it overflows a {}-bit integer)",
           what, a, b, 8 * sizeof(T));
  return *out;
}

// The product of `dims`, each >= 0; nullopt on a negative one or when the
// product of the non-zero ones overflows (a row of an empty [0, n] tensor
// still has n elements, so n must be representable too).
inline std::optional<std::int64_t> checked_numel(std::span<const std::int64_t> dims) {
  std::int64_t n = 1;
  bool empty = false;
  for (const std::int64_t d : dims) {
    if (d < 0) return std::nullopt;
    if (d == 0) {
      empty = true;
      continue;
    }
    const std::optional<std::int64_t> next = checked_mul(n, d);
    if (!next) return std::nullopt;
    n = *next;
  }
  return empty ? 0 : n;
}

// The byte size of `dims` elements of `itemsize` bytes, nullopt when it
// does not fit in an int64 (the largest size a tensor may have).
inline std::optional<std::int64_t> checked_nbytes(std::span<const std::int64_t> dims,
                                                  std::int64_t itemsize) {
  const std::optional<std::int64_t> n = checked_numel(dims);
  if (!n) return std::nullopt;
  return checked_mul(*n, itemsize);
}

}  // namespace recblocks
