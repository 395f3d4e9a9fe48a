// Element types of tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace recblocks {

// kBFloat16 is reserved for mixed precision: tensors can hold it, no kernel
// computes in it yet.
enum class DType : std::uint8_t { kFloat32, kInt32, kInt64, kBFloat16 };

constexpr std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::kFloat32: return 4;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kBFloat16: return 2;
  }
  return 0;
}

// numpy's names: "float32", "int32", "int64", "bfloat16".
constexpr std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::kFloat32: return "float32";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kBFloat16: return "bfloat16";
  }
  return "?";
}

constexpr bool is_integer(DType d) { return d == DType::kInt32 || d == DType::kInt64; }

// The DType of a C++ element type: dtype_of<float>() == DType::kFloat32.
template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::kFloat32;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::kInt32;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::kInt64;
}

}  // namespace recblocks
