#include "recblocks/core/ragged.h"

#include <algorithm>
#include <cstring>
#include <ostream>

namespace recblocks {

RaggedTensor::RaggedTensor(Tensor values, Tensor offsets)
    : values_(std::move(values)), offsets_(std::move(offsets)) {
  RB_CHECK(offsets_.rank() == 1 && offsets_.numel() >= 1, ShapeError,
           "RaggedTensor: offsets have shape {}, expected [rows + 1]", offsets_.shape());
  RB_CHECK(is_integer(offsets_.dtype()), ShapeError,
           "RaggedTensor: offsets dtype is {}, expected int32 or int64",
           dtype_name(offsets_.dtype()));
  RB_CHECK(values_.rank() >= 1, ShapeError,
           "RaggedTensor: values have shape {}, expected [nnz, ...]", values_.shape());
  RB_CHECK(offsets_.item(0) == 0, ValueError, "RaggedTensor: offsets[0] is {}, expected 0",
           offsets_.item(0));
  for (std::int64_t r = 0; r + 1 < offsets_.numel(); ++r) {
    RB_CHECK(offsets_.item(r) <= offsets_.item(r + 1), ValueError,
             "RaggedTensor: offsets[{}] = {} > offsets[{}] = {}, expected non-decreasing", r,
             offsets_.item(r), r + 1, offsets_.item(r + 1));
  }
  RB_CHECK(static_cast<std::int64_t>(offsets_.item(offsets_.numel() - 1)) == nnz(), ValueError,
           "RaggedTensor: last offset is {}, expected nnz = {}",
           offsets_.item(offsets_.numel() - 1), nnz());
}

RaggedTensor RaggedTensor::slice_rows(std::int64_t begin, std::int64_t end) const {
  RB_CHECK(0 <= begin && begin <= end && end <= rows(), ShapeError,
           "RaggedTensor::slice_rows: rows [{}, {}) out of range for {} rows", begin, end, rows());
  const std::int64_t first = row_begin(begin);
  Tensor offsets = Tensor::empty({end - begin + 1}, offsets_.dtype());
  for (std::int64_t r = begin; r <= end; ++r) {
    const std::int64_t v = row_begin(r) - first;
    if (offsets.dtype() == DType::kInt32) {
      offsets.data<std::int32_t>()[r - begin] = static_cast<std::int32_t>(v);
    } else {
      offsets.data<std::int64_t>()[r - begin] = v;
    }
  }
  return RaggedTensor(values_.slice_rows(first, row_begin(end)), offsets);
}

Tensor RaggedTensor::to_dense(std::int64_t max_len, double pad) const {
  std::int64_t longest = 0;
  for (std::int64_t r = 0; r < rows(); ++r) longest = std::max(longest, row_length(r));
  const std::int64_t len = max_len > 0 ? max_len : longest;
  Shape shape = values_.shape().with(0, len).inserted(0, rows());
  Tensor out = Tensor::empty(shape, values_.dtype());
  const std::size_t elem = dtype_size(values_.dtype());
  const std::int64_t width = values_.shape().inner(0);  // elements per value
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    switch (out.dtype()) {
      case DType::kFloat32: out.data<float>()[i] = static_cast<float>(pad); break;
      case DType::kInt32: out.data<std::int32_t>()[i] = static_cast<std::int32_t>(pad); break;
      case DType::kInt64: out.data<std::int64_t>()[i] = static_cast<std::int64_t>(pad); break;
      case DType::kBFloat16: static_cast<std::uint16_t*>(out.raw())[i] = 0; break;
    }
  }
  auto* dst = static_cast<std::byte*>(out.raw());
  const auto* src = static_cast<const std::byte*>(values_.raw());
  for (std::int64_t r = 0; r < rows(); ++r) {
    const std::int64_t n = std::min(row_length(r), len);
    std::memcpy(dst + r * len * width * elem, src + row_begin(r) * width * elem, n * width * elem);
  }
  return out;
}

std::string RaggedTensor::str(int edge_items) const {
  std::string out = fmt::format("ragged(rows={}, nnz={}, dtype={})\n[", rows(), nnz(),
                                dtype_name(values_.dtype()));
  for (std::int64_t r = 0; r < rows(); ++r) {
    if (rows() > 2 * static_cast<std::int64_t>(edge_items) && r == edge_items) {
      out += "...,\n ";
      r = rows() - edge_items - 1;
      continue;
    }
    out += '[';
    const std::int64_t width = values_.shape().inner(0);
    for (std::int64_t i = row_begin(r); i < row_begin(r + 1); ++i) {
      if (width == 1) {
        out += fmt::format("{}", values_.item(i));
      } else {
        out += fmt::format("<{} values>", width);
      }
      if (i + 1 < row_begin(r + 1)) out += ", ";
    }
    out += ']';
    if (r + 1 < rows()) out += ",\n ";
  }
  return out + "]";
}

std::ostream& operator<<(std::ostream& os, const RaggedTensor& t) { return os << t.str(); }

}  // namespace recblocks
