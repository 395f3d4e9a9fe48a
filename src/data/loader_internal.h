// The loader's parts shared by its sources: the batch layout (batch.cpp),
// the buffer pool (buffer_pool.cpp), the epoch run with its prefetch thread
// (epoch_run.cpp) and the plan every epoch shares (loader.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "recblocks/core/rng.h"
#include "recblocks/core/tensor.h"
#include "recblocks/data/loader.h"

namespace recblocks::detail {

// The names and schema of a batch's columns, shared by every batch of a
// loader. The split by TARGET is computed once here, since a training loop
// asks for it every step.
struct BatchLayout {
  Schema schema;
  std::vector<std::string> names;
  std::vector<bool> is_list;
  std::shared_ptr<const BatchLayout> features, targets;  // null: compute on demand
  std::vector<std::size_t> feature_indices, target_indices;
};

// A layout with its split by TARGET computed.
std::shared_ptr<const BatchLayout> make_layout_with_split(Schema schema);

// One epoch's batches, however they are made: EpochRun (a dataset in
// memory) or StreamRun (a DataSource, stream_run.cpp).
class BatchRun {
 public:
  virtual ~BatchRun() = default;
  virtual std::int64_t num_batches() const = 0;
  // The next batch of the epoch; rethrows an exception of a background thread.
  virtual Batch next() = 0;
};

// Batches of a full epoch: ceil(rows / batch_size), or floor with drop_last.
inline std::int64_t batches_of(std::int64_t rows, const LoaderOptions& options) {
  const std::int64_t bs = options.batch_size;
  return options.drop_last ? rows / bs : (rows + bs - 1) / bs;
}

// Where a column's rows come from.
struct ColumnSource {
  const std::byte* values = nullptr;
  std::size_t row_bytes = 0;  // bytes per row (dense) or per value (list)
  Shape value_shape;          // the values tensor's shape (dim 0 replaced per batch)
  DType dtype = DType::kFloat32;
  const std::int64_t* offsets = nullptr;  // list columns only
};

// The storage behind one batch: one buffer per column (plus offsets for
// list columns), sized for a full batch and reused batch after batch.
struct BatchBuffers {
  std::vector<Tensor> values;
  std::vector<Tensor> offsets;
};

// Recycles BatchBuffers: a batch holds its buffers through a shared_ptr
// whose deleter hands them back here, so buffers return to the pool when
// the last tensor of a batch is dropped, on whatever thread that happens.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  BufferPool(std::vector<ColumnSource> sources, std::int64_t capacity_rows,
             std::vector<std::int64_t> initial_values, std::size_t max_free)
      : sources_(std::move(sources)),
        capacity_rows_(capacity_rows),
        initial_values_(std::move(initial_values)),
        max_free_(max_free) {}

  std::shared_ptr<BatchBuffers> acquire();

  // Makes sure list column `c` of `buffers` holds `nnz` values.
  void reserve_values(BatchBuffers& buffers, std::size_t c, std::int64_t nnz) const {
    if (buffers.values[c].size(0) >= nnz) return;
    const std::int64_t grown = std::max(nnz, 2 * buffers.values[c].size(0));
    buffers.values[c] = Tensor::empty(sources_[c].value_shape.with(0, grown), sources_[c].dtype);
  }

 private:
  std::unique_ptr<BatchBuffers> allocate() const;
  void release(BatchBuffers* b);

  const std::vector<ColumnSource> sources_;
  const std::int64_t capacity_rows_;
  const std::vector<std::int64_t> initial_values_;
  const std::size_t max_free_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<BatchBuffers>> free_;
};

// The loader's row-major copy of its fixed-width columns: a shuffled
// gather then reads one cache line per row (for rows of up to 64 bytes)
// instead of one per column, and each of those reads is a cache miss on a
// dataset larger than the cache. Strides are powers of two up to 64 bytes,
// so that a row never straddles two lines, and multiples of 64 above. The
// block is backed by transparent huge pages where the kernel allows, which
// spares the TLB a miss per row.
//
// Short lists (a few 4-byte values, such as genres) are cached too, as a
// fixed-width field: the row's length, then its values, zero-padded to the
// longest row.
struct RowCache {
  std::shared_ptr<std::byte> memory;
  std::size_t stride = 0;
  std::vector<std::size_t> offsets;  // per column: offset in a row, or kNotCached
  static constexpr std::size_t kNotCached = ~std::size_t{0};
  // Lists up to this many values are cached (a 64-byte field).
  static constexpr std::int64_t kMaxListLength = 15;

  bool empty() const { return memory == nullptr; }
  bool holds(std::size_t column) const { return !empty() && offsets[column] != kNotCached; }
};

// Memory for row caches that a streaming loader reuses window after
// window: a fresh block of hundreds of MB per window would cost the kernel
// zeroing every page of it. A block is taken only when nobody else holds
// it (the previous window's loader is gone).
struct CacheArena {
  std::shared_ptr<std::byte> memory;
  std::size_t bytes = 0;
};

// Batches and loaders made by the streaming loader (batch.cpp, loader.cpp).
struct LoaderAccess {
  // Rows [begin, end) of `data` (whose schema is the layout's) as a batch:
  // views of its tensors, no copy.
  static Batch slice(const std::shared_ptr<const BatchLayout>& layout, const Dataset& data,
                     std::int64_t begin, std::int64_t end);
  // An in-memory loader over a window whose row cache reuses `arena`.
  static Loader window_loader(Dataset window, LoaderOptions options, CacheArena& arena);
};

// What every epoch of a loader shares.
struct LoaderPlan {
  Dataset dataset;
  LoaderOptions options;
  std::shared_ptr<const BatchLayout> layout;
  std::vector<ColumnSource> sources;
  RowCache cache;
  std::shared_ptr<BufferPool> pool;
  std::int64_t capacity_rows = 0;  // rows of a full batch

  std::int64_t num_batches() const { return batches_of(dataset.num_rows(), options); }
};

// What every epoch of a streaming loader shares.
struct StreamPlan {
  DataSourcePtr source;
  LoaderOptions options;

  std::int64_t num_batches() const { return batches_of(source->num_rows(), options); }
};

// A streaming loader's epoch.
std::unique_ptr<BatchRun> make_stream_run(std::shared_ptr<const StreamPlan> plan,
                                          std::uint64_t epoch);

// How far ahead Fisher-Yates prefetches the element it will swap with.
inline constexpr std::size_t kShuffleAhead = 32;

inline std::size_t draw_below(std::uint64_t key, std::size_t i) {
  return static_cast<std::size_t>((static_cast<unsigned __int128>(mix64(key + i)) * i) >> 64);
}

// Fisher-Yates; draw i is mix64(key + i), key from (seed, epoch), so the
// order depends on nothing else, and the element swapped kShuffleAhead
// steps later can be prefetched now. The bounded draw is Lemire's
// multiply-shift (bias below 2^-32 for any dataset that fits in memory).
template <class Index>
void shuffle_order(std::span<Index> order, std::uint64_t seed, std::uint64_t epoch) {
  const std::uint64_t key = mix64(mix64(seed) + epoch);
  for (std::size_t i = order.size(); i > 1; --i) {
    if (i > kShuffleAhead + 1) __builtin_prefetch(&order[draw_below(key, i - kShuffleAhead)], 1);
    std::swap(order[i - 1], order[draw_below(key, i)]);
  }
}

}  // namespace recblocks::detail
