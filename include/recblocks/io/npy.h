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

// Writes `tensor` as a version 1.0 .npy file (2.0 when the header needs it)
// and fsyncs it. Not atomic by itself: write into a StagedDirectory or use
// write_npy_atomic.
void write_npy(const std::filesystem::path& path, const Tensor& tensor);
void write_npy_atomic(const std::filesystem::path& path, const Tensor& tensor);

}  // namespace recblocks::io
