// Arena: a bump allocator for the tensors of one training step (activations,
// gradients, scratch). reset() frees everything at once; after the first
// steps it holds one block as large as the largest step needed, so a steady
// training loop makes no heap allocation for its tensors.
//
//   Arena arena;
//   Tensor h = arena.tensor({1024, 64});   // uninitialised, 64-byte aligned
//   ...
//   arena.reset();                          // h is dangling from here on
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "recblocks/core/tensor.h"

namespace recblocks {

class Arena {
 public:
  explicit Arena(std::size_t initial_bytes = 1 << 20);
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Uninitialised bytes aligned to `align` (a power of two <= 64).
  void* allocate(std::size_t bytes, std::size_t align = 64);
  Tensor tensor(const Shape& shape, DType dtype = DType::kFloat32);
  Tensor zeros(const Shape& shape, DType dtype = DType::kFloat32);
  template <class T>
  T* array(std::size_t n) {
    return static_cast<T*>(allocate(n * sizeof(T), alignof(T) < 64 ? 64 : alignof(T)));
  }

  // Releases every allocation. If the last step overflowed into extra
  // blocks, they are merged into a single block of the high-water size.
  void reset();

  std::size_t used() const { return used_total_; }
  std::size_t capacity() const;
  std::size_t high_water() const { return high_water_; }

 private:
  struct Block {
    std::unique_ptr<std::byte[], void (*)(std::byte*)> data{nullptr, nullptr};
    std::size_t size = 0;
  };
  static Block make_block(std::size_t bytes);

  std::vector<Block> blocks_;
  std::size_t current_ = 0;     // index of the block being filled
  std::size_t offset_ = 0;      // bytes used in blocks_[current_]
  std::size_t used_total_ = 0;  // bytes handed out since reset()
  std::size_t high_water_ = 0;
};

}  // namespace recblocks
