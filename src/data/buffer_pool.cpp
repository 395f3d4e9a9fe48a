// BufferPool (loader_internal.h): batch buffers recycled across batches.
#include <utility>

#include "data/loader_internal.h"

namespace recblocks::detail {

std::shared_ptr<BatchBuffers> BufferPool::acquire() {
  std::unique_ptr<BatchBuffers> buffers;
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      buffers = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!buffers) buffers = allocate();
  return {buffers.release(), [pool = shared_from_this()](BatchBuffers* b) { pool->release(b); }};
}

std::unique_ptr<BatchBuffers> BufferPool::allocate() const {
  auto b = std::make_unique<BatchBuffers>();
  for (std::size_t c = 0; c < sources_.size(); ++c) {
    const ColumnSource& s = sources_[c];
    if (s.offsets != nullptr) {
      b->offsets.push_back(Tensor::empty({capacity_rows_ + 1}, DType::kInt64));
      b->values.push_back(Tensor::empty(s.value_shape.with(0, initial_values_[c]), s.dtype));
    } else {
      b->offsets.emplace_back();
      b->values.push_back(Tensor::empty(s.value_shape.with(0, capacity_rows_), s.dtype));
    }
  }
  return b;
}

void BufferPool::release(BatchBuffers* b) {
  std::unique_ptr<BatchBuffers> owned(b);
  std::lock_guard lock(mutex_);
  if (free_.size() < max_free_) free_.push_back(std::move(owned));
}

}  // namespace recblocks::detail
