// Ragged tensors: variable-length lists per row (list features such as
// genres), stored as values + row offsets, like Merlin's (values, offsets)
// and TorchRec's jagged tensors.
//
//   row r holds values[offsets[r] : offsets[r+1]]
//   values  [nnz] (ids) or [nnz, dim]
//   offsets [rows + 1], int32 or int64, offsets[0] == 0, non-decreasing,
//           offsets[rows] == nnz
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "recblocks/core/tensor.h"

namespace recblocks {

class RaggedTensor {
 public:
  RaggedTensor() = default;
  // Validates the offsets; throws ShapeError/ValueError naming the problem.
  RaggedTensor(Tensor values, Tensor offsets);

  const Tensor& values() const { return values_; }
  const Tensor& offsets() const { return offsets_; }
  std::int64_t rows() const { return offsets_.numel() - 1; }
  std::int64_t nnz() const { return values_.shape()[0]; }
  std::int64_t row_begin(std::int64_t r) const {
    return static_cast<std::int64_t>(offsets_.item(r));
  }
  std::int64_t row_length(std::int64_t r) const { return row_begin(r + 1) - row_begin(r); }
  // Rows [begin, end) as a ragged tensor with rebased offsets (copies offsets).
  RaggedTensor slice_rows(std::int64_t begin, std::int64_t end) const;

  // Dense [rows, max_len] (or [rows, max_len, dim]); short rows padded with
  // `pad`, long rows truncated when max_len > 0 is given. max_len <= 0 uses
  // the longest row.
  Tensor to_dense(std::int64_t max_len = 0, double pad = 0) const;

  std::string str(int edge_items = 3) const;

 private:
  Tensor values_;
  Tensor offsets_;
};

std::ostream& operator<<(std::ostream& os, const RaggedTensor& t);

}  // namespace recblocks
