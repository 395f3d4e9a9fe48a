// .npy files (numpy's format, versions 1.0 to 3.0): one array per file,
// little-endian float32 / int32 / int64, C order. Datasets keep one .npy
// per column so numpy reads them as they are (np.load(path, mmap_mode="r")).
#pragma once

#include <filesystem>

#include "recblocks/core/tensor.h"

namespace recblocks::io {

// Reads `path`. With memory_map the tensor borrows a private (copy-on-write)
// mapping of the file and keeps it alive; otherwise it owns a copy.
// Throws Error naming the file on: a missing file, a bad magic string or
// header, an unsupported dtype (naming it, e.g. '<f8') or Fortran order, a
// rank above kMaxRank, or a file shorter than the header says.
Tensor read_npy(const std::filesystem::path& path, bool memory_map = true);

// A .npy file's header, checked as read_npy checks it (the file's size
// included): the tensor it holds and where its data starts.
struct NpyInfo {
  DType dtype = DType::kFloat32;  // the tensor's ('<f8' files read as float32)
  Shape shape;
  std::size_t data_offset = 0;    // bytes before the data
  std::size_t file_itemsize = 0;  // bytes per element in the file
};
NpyInfo read_npy_info(const std::filesystem::path& path);

// Rows [begin, end) of the file's first dimension, read with pread into a
// tensor of its own (the pages stay in the page cache, not in the process):
// what a streaming reader needs. Throws ValueError for a range outside
// [0, rows] and Error naming the file when the read fails or comes short.
Tensor read_npy_rows(const std::filesystem::path& path, const NpyInfo& info, std::int64_t begin,
                     std::int64_t end);
// The same into `out`, a tensor of info's dtype and row shape with
// end - begin rows (a view into a larger tensor, for instance).
void read_npy_rows_into(const std::filesystem::path& path, const NpyInfo& info, std::int64_t begin,
                        std::int64_t end, Tensor& out);

// Writes `tensor` as a version 1.0 .npy file (2.0 when the header needs it)
// and fsyncs it. Not atomic by itself: write into a StagedDirectory or use
// write_npy_atomic.
void write_npy(const std::filesystem::path& path, const Tensor& tensor);
void write_npy_atomic(const std::filesystem::path& path, const Tensor& tensor);

}  // namespace recblocks::io
