// safetensors: the weights file of a model directory.
//
// Format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON
//   {"__metadata__": {"k": "v", ...},
//    "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the data section: the tensors' bytes, row-major, little-endian,
// [begin, end) relative to the end of the header. The ranges must tile the
// data section exactly (no gaps, no overlaps), so tensors cannot be padded
// apart: instead the header is padded with spaces so that the data section
// starts at a multiple of 8 bytes of the file, and the tensors are laid out
// as Python's safetensors lays them out, by dtype in decreasing alignment
// (I64, F32, I32, BF16), then by name. Every tensor then starts at a
// multiple of its element size, so the file can be memory-mapped and read
// as it is by Python's safetensors, by numpy (np.frombuffer at the offsets)
// and by PyTorch; a tensor starts at a multiple of 8 when the tensors
// before it have byte sizes that are multiples of 8. The header is compact
// JSON, metadata keys sorted, tensors in data order: the same bytes as
// safetensors.numpy.save_file writes (safetensors 0.8; metadata order
// varies across its versions).
//
// Supported dtypes: F32 (float32), I32 (int32), I64 (int64), BF16 (bfloat16).
// Shapes of rank 0 (scalars) to Shape::kMaxRank, empty tensors (a zero
// dimension, begin == end) included. Reading validates everything before
// trusting it (and before allocating): header length within the file and
// at most 100 MB, valid JSON object without duplicate keys, exactly the
// fields dtype/shape/data_offsets, known dtype, non-negative integer
// dimensions and offsets, shape product x dtype size == end - begin, ranges
// inside the data section, non-overlapping and covering it, metadata values
// strings. Errors are ValueError (format) or Error (I/O, with strerror);
// each names the file, the tensor and the expected value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "recblocks/core/tensor.h"

namespace recblocks::io {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Writes atomically (write_file_atomic semantics: streamed to a temporary
// beside `path`, fsync, rename; no copy of the data is made). Throws
// ValueError for an undefined tensor, a tensor named "__metadata__" or a
// name or metadata string that is not UTF-8.
void write_safetensors(const std::filesystem::path& path,
                       const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// Reads the whole file into owned tensors (after checking that they fit
// under the memory limit together: core/memory.h).
SafetensorsFile read_safetensors(const std::filesystem::path& path);

// The header alone, validated as read_safetensors validates it (so the
// data section matches it), without reading or allocating any tensor: what
// a loader checks against what it expects before it allocates anything.
struct SafetensorsHeader {
  struct Entry {
    DType dtype;
    Shape shape;
    std::uint64_t begin;  // [begin, end) in the data section
    std::uint64_t end;
  };
  std::map<std::string, Entry> tensors;
  std::map<std::string, std::string> metadata;
  std::uint64_t data_bytes = 0;  // the data section's size
};
SafetensorsHeader read_safetensors_header(const std::filesystem::path& path);

}  // namespace recblocks::io
