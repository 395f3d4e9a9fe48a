// Tensor shapes: up to kMaxRank dimensions, stored inline (no heap).
// Models use up to 3-D (batch, sequence, dim).
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <string>

namespace recblocks {

class Shape {
 public:
  static constexpr int kMaxRank = 4;
  // The most elements a shape may describe (the product of its non-zero
  // dimensions): their byte size at 8 bytes each still fits in an int64.
  // The constructor throws ShapeError above it.
  static constexpr std::int64_t kMaxElements = std::int64_t{1} << 60;

  Shape() = default;  // rank 0: a scalar
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);

  int rank() const { return rank_; }
  // Negative axes count from the end: shape[-1] is the last dimension.
  std::int64_t operator[](int axis) const { return dims_[normalize_axis(axis)]; }
  std::int64_t& operator[](int axis) { return dims_[normalize_axis(axis)]; }
  std::int64_t numel() const;
  std::span<const std::int64_t> dims() const {
    return {dims_.data(), static_cast<std::size_t>(rank_)};
  }

  // Maps axis in [-rank, rank) to [0, rank); throws ShapeError otherwise.
  int normalize_axis(int axis) const;
  // Same shape with one axis removed / inserted / resized.
  Shape without(int axis) const;
  Shape inserted(int axis, std::int64_t size) const;
  Shape with(int axis, std::int64_t size) const;
  // Row-major size of the dimensions before / after axis.
  std::int64_t outer(int axis) const;
  std::int64_t inner(int axis) const;

  std::string str() const;  // "[4, 64]"
  friend bool operator==(const Shape& a, const Shape& b);

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

std::ostream& operator<<(std::ostream& os, const Shape& s);

}  // namespace recblocks

// fmt::format("{}", shape) prints "[4, 64]".
template <>
struct fmt::formatter<recblocks::Shape> : fmt::formatter<std::string> {
  auto format(const recblocks::Shape& s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(s.str(), ctx);
  }
};
