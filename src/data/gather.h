// Row gathers shared by Dataset::take and the Loader: copy the rows
// `rows[0..n)` of a column into a contiguous destination. These loops are
// the loader's hot path, so they are typed (4- and 8-byte elements are the
// common case), prefetch ahead and never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace recblocks::data_detail {

// How far ahead the gather prefetches: enough to cover a memory latency
// with a few hundred cycles of other loads in flight.
inline constexpr std::size_t kPrefetchDistance = 16;

template <class T, class Index>
inline void gather_elements(const T* __restrict src, std::span<const Index> rows,
                            T* __restrict dst) {
  const std::size_t n = rows.size();
  const Index* idx = rows.data();
  std::size_t i = 0;
  if (n > kPrefetchDistance) {
    for (; i < n - kPrefetchDistance; ++i) {
      __builtin_prefetch(src + idx[i + kPrefetchDistance]);
      dst[i] = src[idx[i]];
    }
  }
  for (; i < n; ++i) dst[i] = src[idx[i]];
}

// Rows of `row_bytes` bytes each (a [rows, ...] tensor's rows).
template <class Index>
inline void gather_rows(const void* src, std::size_t row_bytes, std::span<const Index> rows,
                        void* dst) {
  switch (row_bytes) {
    case 4:
      gather_elements(static_cast<const std::uint32_t*>(src), rows,
                      static_cast<std::uint32_t*>(dst));
      return;
    case 8:
      gather_elements(static_cast<const std::uint64_t*>(src), rows,
                      static_cast<std::uint64_t*>(dst));
      return;
    default: break;
  }
  const auto* s = static_cast<const std::byte*>(src);
  auto* d = static_cast<std::byte*>(dst);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(d + i * row_bytes, s + static_cast<std::size_t>(rows[i]) * row_bytes, row_bytes);
  }
}

// Offsets of the gathered rows of a list column: out_offsets[0..n] with
// out_offsets[0] = 0. Returns the number of values (out_offsets[n]).
template <class Index>
inline std::int64_t gather_offsets(const std::int64_t* offsets, std::span<const Index> rows,
                                   std::int64_t* out_offsets) {
  std::int64_t total = 0;
  out_offsets[0] = 0;
  const std::size_t n = rows.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kPrefetchDistance < n) __builtin_prefetch(offsets + rows[i + kPrefetchDistance]);
    const auto r = static_cast<std::size_t>(rows[i]);
    total += offsets[r + 1] - offsets[r];
    out_offsets[i + 1] = total;
  }
  return total;
}

// Values of the gathered rows, back to back, each value `value_bytes` wide.
// Rows are short (a few ids), so 4-byte values are copied by a loop, not
// a memcpy call per row; the values of the row kPrefetchDistance ahead are
// prefetched (its offsets are cached by gather_offsets).
template <class Index>
inline void gather_list_values(const void* values, std::size_t value_bytes,
                               const std::int64_t* offsets, std::span<const Index> rows,
                               void* dst) {
  const std::size_t n = rows.size();
  if (value_bytes == 4) {
    const auto* s = static_cast<const std::uint32_t*>(values);
    auto* d = static_cast<std::uint32_t*>(dst);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kPrefetchDistance < n) __builtin_prefetch(s + offsets[rows[i + kPrefetchDistance]]);
      const auto r = static_cast<std::size_t>(rows[i]);
      for (std::int64_t k = offsets[r]; k < offsets[r + 1]; ++k) *d++ = s[k];
    }
    return;
  }
  const auto* s = static_cast<const std::byte*>(values);
  auto* d = static_cast<std::byte*>(dst);
  for (std::size_t i = 0; i < n; ++i) {
    const auto r = static_cast<std::size_t>(rows[i]);
    const auto bytes = static_cast<std::size_t>(offsets[r + 1] - offsets[r]) * value_bytes;
    std::memcpy(d, s + static_cast<std::size_t>(offsets[r]) * value_bytes, bytes);
    d += bytes;
  }
}

// ---- Row-major blocks (the loader's row cache) -----------------------------

// Copies rows `rows[i]` of a row-major block of `kStride`-byte rows to
// dst + i * kStride, a fixed-size copy each (no memcpy call), every cache
// line of the row kAhead rows ahead prefetched (a 160-byte row, Criteo's 40
// fields, spans three or four lines).
template <std::size_t kStride, class Index>
inline void gather_block_rows_fixed(const std::byte* __restrict base, std::span<const Index> rows,
                                    std::byte* __restrict dst) {
  constexpr std::size_t kAhead = 2 * kPrefetchDistance;
  const std::size_t n = rows.size();
  const Index* idx = rows.data();
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) {
      const std::byte* ahead = base + static_cast<std::size_t>(idx[i + kAhead]) * kStride;
      for (std::size_t line = 0; line < kStride; line += 64) __builtin_prefetch(ahead + line);
      if constexpr (kStride % 64 != 0) __builtin_prefetch(ahead + kStride - 1);
    }
    std::memcpy(dst + i * kStride, base + static_cast<std::size_t>(idx[i]) * kStride, kStride);
  }
}

template <class Index>
inline void gather_block_rows(const std::byte* base, std::size_t stride,
                              std::span<const Index> rows, std::byte* dst) {
  switch (stride) {
    case 8: return gather_block_rows_fixed<8>(base, rows, dst);
    case 16: return gather_block_rows_fixed<16>(base, rows, dst);
    case 32: return gather_block_rows_fixed<32>(base, rows, dst);
    case 64: return gather_block_rows_fixed<64>(base, rows, dst);
    case 128: return gather_block_rows_fixed<128>(base, rows, dst);
    case 160: return gather_block_rows_fixed<160>(base, rows, dst);
    case 192: return gather_block_rows_fixed<192>(base, rows, dst);
    case 256: return gather_block_rows_fixed<256>(base, rows, dst);
    default: break;
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i + kPrefetchDistance < rows.size()) {
      __builtin_prefetch(base + static_cast<std::size_t>(rows[i + kPrefetchDistance]) * stride);
    }
    std::memcpy(dst + i * stride, base + static_cast<std::size_t>(rows[i]) * stride, stride);
  }
}

// The field at `offset` (`width` bytes) of `n` rows of `stride` bytes,
// into a contiguous column: the inverse of packing a column into a block.
inline void unpack_field(const std::byte* __restrict rows, std::size_t stride, std::size_t offset,
                         std::size_t width, std::size_t n, void* __restrict dst) {
  const std::byte* src = rows + offset;
  if (width == 4) {
    auto* d = static_cast<std::uint32_t*>(dst);
    for (std::size_t i = 0; i < n; ++i) std::memcpy(d + i, src + i * stride, 4);
  } else if (width == 8) {
    auto* d = static_cast<std::uint64_t*>(dst);
    for (std::size_t i = 0; i < n; ++i) std::memcpy(d + i, src + i * stride, 8);
  } else {
    auto* d = static_cast<std::byte*>(dst);
    for (std::size_t i = 0; i < n; ++i) std::memcpy(d + i * width, src + i * stride, width);
  }
}

// The other way: `n` rows of a contiguous column into the field at
// `offset` of rows of `stride` bytes.
inline void pack_field(const void* __restrict column, std::size_t stride, std::size_t offset,
                       std::size_t width, std::size_t n, std::byte* __restrict rows) {
  std::byte* dst = rows + offset;
  const auto* s = static_cast<const std::byte*>(column);
  if (width == 4) {
    for (std::size_t i = 0; i < n; ++i) std::memcpy(dst + i * stride, s + i * 4, 4);
  } else {
    for (std::size_t i = 0; i < n; ++i) std::memcpy(dst + i * stride, s + i * width, width);
  }
}

// Several 4-byte fields at once, row by row: each row's lines are read (or
// written) once while they are in L1, instead of one strided pass over the
// whole block per field. offsets[j] is field j's place in a row, columns[j]
// its contiguous column.
inline void unpack_fields4(const std::byte* __restrict rows, std::size_t stride, std::size_t n,
                           std::span<const std::size_t> offsets,
                           std::span<std::byte* const> columns) {
  const std::size_t k = offsets.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::byte* row = rows + i * stride;
    for (std::size_t j = 0; j < k; ++j) std::memcpy(columns[j] + 4 * i, row + offsets[j], 4);
  }
}

inline void pack_fields4(std::span<const std::byte* const> columns,
                         std::span<const std::size_t> offsets, std::size_t stride, std::size_t n,
                         std::byte* __restrict rows) {
  const std::size_t k = offsets.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::byte* row = rows + i * stride;
    for (std::size_t j = 0; j < k; ++j) std::memcpy(row + offsets[j], columns[j] + 4 * i, 4);
  }
}

}  // namespace recblocks::data_detail
