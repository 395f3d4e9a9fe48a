#include "recblocks/core/arena.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "recblocks/core/memory.h"

namespace recblocks {

Arena::Block Arena::make_block(std::size_t bytes) {
  RB_CHECK(bytes <= std::numeric_limits<std::size_t>::max() / 2, MemoryLimitError,
           "a step's activations need {} bytes, more than can be addressed", bytes);
  bytes = (bytes + 63) / 64 * 64;
  // Checked, not counted: the arena lives as long as its model or tape and
  // is reused step after step.
  check_allocation(bytes, "a step's activations (a new block of the tape's arena)");
  auto* p = static_cast<std::byte*>(std::aligned_alloc(64, bytes));
  if (p == nullptr) {
    throw MemoryLimitError(fmt::format(
        "a step's activations need {} more: the system refused the allocation (memory limit {})",
        format_bytes(bytes), format_bytes(memory_limit())));
  }
  return Block{{p, [](std::byte* q) { std::free(q); }}, bytes};
}

Arena::Arena(std::size_t initial_bytes) {
  blocks_.reserve(8);
  blocks_.push_back(make_block(std::max<std::size_t>(initial_bytes, 4096)));
}

void* Arena::allocate(std::size_t bytes, std::size_t align) {
  if (bytes == 0) bytes = 1;
  for (;;) {
    Block& b = blocks_[current_];
    const std::size_t start = (offset_ + align - 1) & ~(align - 1);
    if (start + bytes <= b.size) {
      offset_ = start + bytes;
      used_total_ += bytes;
      high_water_ = std::max(high_water_, used_total_);
      return b.data.get() + start;
    }
    if (current_ + 1 == blocks_.size()) {
      // Grow geometrically; reset() later merges everything into one block.
      blocks_.push_back(make_block(std::max(bytes + align, b.size * 2)));
    }
    ++current_;
    offset_ = 0;
  }
}

Tensor Arena::tensor(const Shape& shape, DType dtype) {
  // (Shape bounds numel to 2^60: this cannot overflow.)
  const std::size_t bytes = static_cast<std::size_t>(shape.numel()) * dtype_size(dtype);
  return Tensor::borrow(allocate(bytes), shape, dtype);
}

Tensor Arena::zeros(const Shape& shape, DType dtype) {
  Tensor t = tensor(shape, dtype);
  t.zero();
  return t;
}

void Arena::reset() {
  if (blocks_.size() > 1) {
    // The step did not fit: keep one block that holds the largest step seen,
    // with some slack for alignment padding.
    const std::size_t total = high_water_ + high_water_ / 8 + 4096;
    blocks_.clear();
    blocks_.push_back(make_block(total));
  }
  current_ = 0;
  offset_ = 0;
  used_total_ = 0;
}

std::size_t Arena::capacity() const {
  std::size_t total = 0;
  for (const Block& b : blocks_) total += b.size;
  return total;
}

}  // namespace recblocks
