#include "recblocks/core/shape.h"

#include <algorithm>
#include <optional>
#include <ostream>

#include "recblocks/core/checked.h"
#include "recblocks/core/error.h"

namespace recblocks {

Shape::Shape(std::initializer_list<std::int64_t> dims)
    : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  RB_CHECK(dims.size() <= kMaxRank, ShapeError, "shape has rank {}, at most {} is supported",
           dims.size(), kMaxRank);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    RB_CHECK(dims[i] >= 0, ShapeError, "shape dimension {} is {}, expected >= 0", i, dims[i]);
    dims_[i] = dims[i];
  }
  rank_ = static_cast<int>(dims.size());
  // Every size computed from a shape (numel, a row's size, bytes at up to
  // 8 per element) then fits in an int64, whatever the dimensions came from.
  // (The product of the non-zero dimensions: a row of an empty [0, n]
  // tensor still has n elements.)
  std::optional<std::int64_t> n = 1;
  for (std::size_t i = 0; i < dims.size() && n; ++i)
    n = checked_mul(*n, std::max<std::int64_t>(dims[i], 1));
  RB_CHECK(n.has_value() && *n <= kMaxElements, ShapeError,
           "shape {} is too large: {} elements, more than a tensor may hold (2^60)", str(),
           n ? fmt::format("{}", *n) : std::string("more than 2^63"));
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

int Shape::normalize_axis(int axis) const {
  const int a = axis < 0 ? axis + rank_ : axis;
  RB_CHECK(a >= 0 && a < rank_, ShapeError, "axis {} is out of range for shape {}", axis, str());
  return a;
}

Shape Shape::without(int axis) const {
  const int a = normalize_axis(axis);
  Shape s;
  for (int i = 0; i < rank_; ++i)
    if (i != a) s.dims_[s.rank_++] = dims_[i];
  return s;
}

Shape Shape::inserted(int axis, std::int64_t size) const {
  const int a = axis < 0 ? axis + rank_ + 1 : axis;
  RB_CHECK(a >= 0 && a <= rank_ && rank_ < kMaxRank, ShapeError,
           "cannot insert axis {} into shape {}", axis, str());
  Shape s;
  for (int i = 0; i < a; ++i) s.dims_[s.rank_++] = dims_[i];
  s.dims_[s.rank_++] = size;
  for (int i = a; i < rank_; ++i) s.dims_[s.rank_++] = dims_[i];
  return s;
}

Shape Shape::with(int axis, std::int64_t size) const {
  Shape s = *this;
  s[axis] = size;
  return s;
}

std::int64_t Shape::outer(int axis) const {
  const int a = normalize_axis(axis);
  std::int64_t n = 1;
  for (int i = 0; i < a; ++i) n *= dims_[i];
  return n;
}

std::int64_t Shape::inner(int axis) const {
  const int a = normalize_axis(axis);
  std::int64_t n = 1;
  for (int i = a + 1; i < rank_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  return s + "]";
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.rank_ != b.rank_) return false;
  for (int i = 0; i < a.rank_; ++i)
    if (a.dims_[i] != b.dims_[i]) return false;
  return true;
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

}  // namespace recblocks
