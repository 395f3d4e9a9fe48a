// Ragged or fixed-length lists -> dense [rows, L] in the step's arena, each
// row padded with 0 or truncated (used by AsDenseFeatures and
// SequenceEmbeddingFeatures).
#pragma once

#include <algorithm>
#include <cstdint>

#include "recblocks/core/arena.h"
#include "recblocks/core/error.h"
#include "recblocks/core/tensor.h"

namespace recblocks::detail {

// Row offsets as int64 whatever their stored dtype.
inline std::int64_t offset_at(const Tensor& offsets, std::int64_t i) {
  return offsets.dtype() == DType::kInt64
             ? offsets.data<std::int64_t>()[i]
             : static_cast<std::int64_t>(offsets.data<std::int32_t>()[i]);
}

template <class T>
void pad_rows(const T* values, const Tensor& offsets, std::int64_t fixed, std::int64_t rows,
              std::int64_t length, T* out) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t begin = offsets.defined() ? offset_at(offsets, r) : r * fixed;
    const std::int64_t end = offsets.defined() ? offset_at(offsets, r + 1) : (r + 1) * fixed;
    const std::int64_t n = std::min(end - begin, length);
    std::copy(values + begin, values + begin + n, out + r * length);
    std::fill(out + r * length + n, out + (r + 1) * length, T(0));
  }
}

// values [nnz] with offsets [rows + 1] (ragged), or values [rows, fixed]
// with offsets undefined -> [rows, length] of values' dtype.
inline Tensor pad_to_dense(const Tensor& values, const Tensor& offsets, std::int64_t rows,
                           std::int64_t length, Arena& arena) {
  const std::int64_t fixed = offsets.defined() ? 0 : values.shape()[1];
  Tensor out = arena.tensor({rows, length}, values.dtype());
  switch (values.dtype()) {
    case DType::kFloat32:
      pad_rows(values.data<float>(), offsets, fixed, rows, length, out.data<float>());
      break;
    case DType::kInt32:
      pad_rows(values.data<std::int32_t>(), offsets, fixed, rows, length, out.data<std::int32_t>());
      break;
    case DType::kInt64:
      pad_rows(values.data<std::int64_t>(), offsets, fixed, rows, length, out.data<std::int64_t>());
      break;
    default:
      throw ShapeError(fmt::format("list values are {}, expected float32, int32 or int64",
                                   dtype_name(values.dtype())));
  }
  return out;
}

}  // namespace recblocks::detail
