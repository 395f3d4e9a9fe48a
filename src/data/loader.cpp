#include "recblocks/data/loader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <ostream>
#include <span>
#include <thread>

#include "data/gather.h"
#include "recblocks/core/rng.h"

namespace recblocks {
namespace detail {

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

namespace {

std::shared_ptr<BatchLayout> make_layout(Schema schema) {
  auto layout = std::make_shared<BatchLayout>();
  for (const ColumnSchema& c : schema) {
    layout->names.push_back(c.name());
    layout->is_list.push_back(c.is_ragged());
  }
  layout->schema = std::move(schema);
  return layout;
}

// Indices of the columns with (targets = true) or without the TARGET tag.
std::vector<std::size_t> indices_by_target(const BatchLayout& layout, bool targets) {
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < layout.schema.size(); ++i) {
    if (layout.schema[i].has_tag(Tags::TARGET) == targets) indices.push_back(i);
  }
  return indices;
}

std::shared_ptr<BatchLayout> sub_layout(const BatchLayout& layout,
                                        const std::vector<std::size_t>& indices) {
  std::vector<ColumnSchema> columns;
  for (std::size_t i : indices) columns.push_back(layout.schema[i]);
  return make_layout(Schema(std::move(columns)));
}

std::shared_ptr<const BatchLayout> make_layout_with_split(Schema schema) {
  auto layout = make_layout(std::move(schema));
  layout->feature_indices = indices_by_target(*layout, false);
  layout->target_indices = indices_by_target(*layout, true);
  layout->features = sub_layout(*layout, layout->feature_indices);
  layout->targets = sub_layout(*layout, layout->target_indices);
  return layout;
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

}  // namespace

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

  std::shared_ptr<BatchBuffers> acquire() {
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

  // Makes sure list column `c` of `buffers` holds `nnz` values.
  void reserve_values(BatchBuffers& buffers, std::size_t c, std::int64_t nnz) const {
    if (buffers.values[c].size(0) >= nnz) return;
    const std::int64_t grown = std::max(nnz, 2 * buffers.values[c].size(0));
    buffers.values[c] = Tensor::empty(sources_[c].value_shape.with(0, grown), sources_[c].dtype);
  }

 private:
  std::unique_ptr<BatchBuffers> allocate() const {
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

  void release(BatchBuffers* b) {
    std::unique_ptr<BatchBuffers> owned(b);
    std::lock_guard lock(mutex_);
    if (free_.size() < max_free_) free_.push_back(std::move(owned));
  }

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

// What every epoch of a loader shares.
struct LoaderPlan {
  Dataset dataset;
  LoaderOptions options;
  std::shared_ptr<const BatchLayout> layout;
  std::vector<ColumnSource> sources;
  RowCache cache;
  std::shared_ptr<BufferPool> pool;
  std::int64_t capacity_rows = 0;  // rows of a full batch

  std::int64_t num_batches() const {
    const std::int64_t n = dataset.num_rows(), bs = options.batch_size;
    return options.drop_last ? n / bs : (n + bs - 1) / bs;
  }
};

namespace {

// How far ahead Fisher-Yates prefetches the element it will swap with.
constexpr std::size_t kShuffleAhead = 32;

std::size_t draw_below(std::uint64_t key, std::size_t i) {
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

template <class Index>
void fill_order(std::vector<Index>& order, std::int64_t rows, const LoaderOptions& options,
                std::uint64_t epoch) {
  order.resize(static_cast<std::size_t>(rows));
  std::iota(order.begin(), order.end(), Index{0});
  shuffle_order(std::span<Index>(order), options.seed, epoch);
}

ColumnSource source_of(const Column& column) {
  ColumnSource s;
  s.values = static_cast<const std::byte*>(column.values.raw());
  s.dtype = column.values.dtype();
  s.value_shape = column.values.shape();
  s.row_bytes = static_cast<std::size_t>(s.value_shape.inner(0)) * dtype_size(s.dtype);
  if (column.is_list()) s.offsets = column.offsets.data<std::int64_t>();
  return s;
}

std::shared_ptr<std::byte> allocate_huge(std::size_t bytes) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (p == nullptr) throw std::bad_alloc();
  ::madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
  return {static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); }};
}

// The field width of column `s` in a row cache: its row bytes for a dense
// column, 4 + 4 * (longest row) for a list of 4-byte values; 0 if it
// cannot be cached (other widths, long lists).
std::size_t cached_width(const ColumnSource& s, std::int64_t rows) {
  if (s.offsets == nullptr) return s.row_bytes % 4 == 0 ? s.row_bytes : 0;
  if (s.row_bytes != 4) return 0;
  std::int64_t longest = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    longest = std::max(longest, s.offsets[r + 1] - s.offsets[r]);
  }
  if (longest > RowCache::kMaxListLength) return 0;
  return 4 + 4 * static_cast<std::size_t>(longest);
}

// Rows [begin, begin + n) of list column `s` into its field: the length,
// then the values.
void pack_list(const ColumnSource& s, std::size_t begin, std::size_t n, std::size_t stride,
               std::size_t offset, std::byte* rows) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t first = s.offsets[begin + i];
    const auto length = static_cast<std::uint32_t>(s.offsets[begin + i + 1] - first);
    std::byte* field = rows + i * stride + offset;
    std::memcpy(field, &length, 4);
    std::memcpy(field + 4, s.values + static_cast<std::size_t>(first) * 4, length * 4);
  }
}

// Packs the columns that fit (see cached_width) into a RowCache, if it
// fits in options.row_cache_bytes; otherwise returns an empty one (the
// loader then gathers column by column).
RowCache make_row_cache(const std::vector<ColumnSource>& sources, std::int64_t rows,
                        const LoaderOptions& options) {
  if (!options.shuffle || rows == 0 || options.row_cache_bytes <= 0) return {};
  RowCache cache;
  cache.offsets.assign(sources.size(), RowCache::kNotCached);
  std::size_t width = 0;
  for (std::size_t c = 0; c < sources.size(); ++c) {
    const std::size_t w = cached_width(sources[c], rows);
    if (w == 0) continue;
    cache.offsets[c] = width;
    width += w;
  }
  if (width == 0) return {};
  cache.stride = width <= 64 ? std::bit_ceil(width) : (width + 63) / 64 * 64;
  const std::size_t bytes = cache.stride * static_cast<std::size_t>(rows);
  if (static_cast<double>(bytes) > static_cast<double>(options.row_cache_bytes)) return {};
  cache.memory = allocate_huge(bytes);
  // In blocks of rows that stay in the L2 cache while every column is
  // written into them.
  const std::size_t block = std::max<std::size_t>(1, (256 << 10) / cache.stride);
  for (std::size_t begin = 0; begin < static_cast<std::size_t>(rows); begin += block) {
    const std::size_t n = std::min(block, static_cast<std::size_t>(rows) - begin);
    std::byte* dst = cache.memory.get() + begin * cache.stride;
    std::memset(dst, 0, n * cache.stride);  // padding and short lists: no uninitialised bytes
    for (std::size_t c = 0; c < sources.size(); ++c) {
      if (cache.offsets[c] == RowCache::kNotCached) continue;
      const ColumnSource& s = sources[c];
      if (s.offsets != nullptr) {
        pack_list(s, begin, n, cache.stride, cache.offsets[c], dst);
      } else {
        data_detail::pack_field(s.values + begin * s.row_bytes, cache.stride, cache.offsets[c],
                                s.row_bytes, n, dst);
      }
    }
  }
  return cache;
}

}  // namespace

// One epoch: the order, the batches produced so far and, with prefetch,
// the producer thread and its bounded queue.
class EpochRun {
 public:
  EpochRun(std::shared_ptr<const LoaderPlan> plan, std::uint64_t epoch)
      : plan_(std::move(plan)), epoch_(epoch), num_batches_(plan_->num_batches()) {
    if (plan_->options.prefetch == 0) {
      make_order();
    } else if (num_batches_ > 0) {
      producer_ = std::thread([this] { produce_all(); });
    }
  }

  ~EpochRun() {
    if (!producer_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    not_full_.notify_all();
    producer_.join();
  }

  std::int64_t num_batches() const { return num_batches_; }

  // The next batch of the epoch; rethrows the producer's exception.
  Batch next() {
    if (plan_->options.prefetch == 0) return produce(next_batch_++);
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [this] { return !queue_.empty(); });
    Item item = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    if (item.error) std::rethrow_exception(item.error);
    return std::move(item.batch);
  }

 private:
  struct Item {
    Batch batch;
    std::exception_ptr error;
  };

  // 32-bit row numbers where they suffice: half the memory traffic of the
  // shuffle and of reading the order.
  bool narrow() const { return plan_->dataset.num_rows() <= std::int64_t{UINT32_MAX}; }

  void make_order() {
    if (!plan_->options.shuffle) return;  // dataset order: batches are row ranges
    if (narrow()) {
      fill_order(order32_, plan_->dataset.num_rows(), plan_->options, epoch_);
    } else {
      fill_order(order64_, plan_->dataset.num_rows(), plan_->options, epoch_);
    }
  }

  void produce_all() {
    try {
      make_order();
      for (std::int64_t b = 0; b < num_batches_; ++b) {
        Batch batch = produce(b);
        std::unique_lock lock(mutex_);
        not_full_.wait(lock, [this] {
          return stop_ || queue_.size() < static_cast<std::size_t>(plan_->options.prefetch);
        });
        if (stop_) return;
        queue_.push_back({std::move(batch), nullptr});
        lock.unlock();
        not_empty_.notify_one();
      }
    } catch (...) {
      {
        std::lock_guard lock(mutex_);
        queue_.push_back({Batch(), std::current_exception()});
      }
      not_empty_.notify_one();
    }
  }

  Batch produce(std::int64_t b) {
    const std::int64_t bs = plan_->options.batch_size;
    const std::int64_t begin = b * bs;
    const std::int64_t rows = std::min(bs, plan_->dataset.num_rows() - begin);
    std::shared_ptr<BatchBuffers> buffers = plan_->pool->acquire();
    if (!plan_->options.shuffle) {
      fill_range(*buffers, begin, rows);
    } else if (narrow()) {
      fill(*buffers, std::span<const std::uint32_t>(order32_).subspan(begin, rows));
    } else {
      fill(*buffers, std::span<const std::int64_t>(order64_).subspan(begin, rows));
    }
    return assemble(std::move(buffers), rows);
  }

  // The batch's tensors: views of `buffers`, which they keep alive; the
  // last one to go hands them back to the pool.
  Batch assemble(std::shared_ptr<BatchBuffers> buffers, std::int64_t rows) const {
    const std::shared_ptr<const void> keep_alive(buffers, buffers.get());
    std::vector<Batch::Entry> entries(plan_->sources.size());
    for (std::size_t c = 0; c < entries.size(); ++c) {
      Batch::Entry& e = entries[c];
      const ColumnSource& s = plan_->sources[c];
      if (s.offsets == nullptr) {
        e.dense = Tensor::borrow(buffers->values[c].raw(), s.value_shape.with(0, rows), s.dtype,
                                 keep_alive);
        continue;
      }
      Tensor offsets =
          Tensor::borrow(buffers->offsets[c].raw(), {rows + 1}, DType::kInt64, keep_alive);
      const std::int64_t nnz = offsets.data<std::int64_t>()[rows];
      e.ragged = RaggedTensor(
          Tensor::borrow(buffers->values[c].raw(), s.value_shape.with(0, nnz), s.dtype, keep_alive),
          offsets);
    }
    Batch batch(plan_->layout, std::move(entries), rows);
    if (plan_->options.transform) batch = plan_->options.transform(std::move(batch));
    return batch;
  }

  // Gathers `rows` of every column into `buffers`: the cached columns
  // through the row cache (one line per row into a staging block that
  // stays in L1/L2, then unpacked field by field), the others with one
  // tight loop per column.
  template <class Index>
  void fill(BatchBuffers& buffers, std::span<const Index> rows) {
    const RowCache& cache = plan_->cache;
    if (!cache.empty()) {
      if (stage_.raw() == nullptr) {
        const auto words = plan_->capacity_rows * static_cast<std::int64_t>(cache.stride / 4);
        stage_ = Tensor::empty({words}, DType::kInt32);
      }
      auto* stage = static_cast<std::byte*>(stage_.raw());
      data_detail::gather_block_rows(cache.memory.get(), cache.stride, rows, stage);
      for (std::size_t c = 0; c < plan_->sources.size(); ++c) {
        if (!cache.holds(c)) continue;
        if (plan_->sources[c].offsets != nullptr) {
          unpack_list(buffers, c, stage, rows.size());
          continue;
        }
        data_detail::unpack_field(stage, cache.stride, cache.offsets[c],
                                  plan_->sources[c].row_bytes, rows.size(),
                                  buffers.values[c].raw());
      }
    }
    for (std::size_t c = 0; c < plan_->sources.size(); ++c) {
      if (cache.holds(c)) continue;
      const ColumnSource& s = plan_->sources[c];
      if (s.offsets == nullptr) {
        data_detail::gather_rows(s.values, s.row_bytes, rows, buffers.values[c].raw());
        continue;
      }
      auto* offsets = buffers.offsets[c].data<std::int64_t>();
      const std::int64_t nnz = data_detail::gather_offsets(s.offsets, rows, offsets);
      plan_->pool->reserve_values(buffers, c, nnz);
      data_detail::gather_list_values(s.values, s.row_bytes, s.offsets, rows,
                                      buffers.values[c].raw());
    }
  }

  // List column c of `n` staged rows: offsets from the cached lengths,
  // then the values back to back.
  void unpack_list(BatchBuffers& buffers, std::size_t c, const std::byte* stage,
                   std::size_t n) const {
    const std::size_t stride = plan_->cache.stride;
    const std::byte* field = stage + plan_->cache.offsets[c];
    auto* offsets = buffers.offsets[c].data<std::int64_t>();
    offsets[0] = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t length;
      std::memcpy(&length, field + i * stride, 4);
      offsets[i + 1] = offsets[i] + length;
    }
    plan_->pool->reserve_values(buffers, c, offsets[n]);
    auto* values = static_cast<std::uint32_t*>(buffers.values[c].raw());
    for (std::size_t i = 0; i < n; ++i) {
      const auto length = static_cast<std::size_t>(offsets[i + 1] - offsets[i]);
      std::memcpy(values + offsets[i], field + i * stride + 4, length * 4);
    }
  }

  // Rows [begin, begin + rows) in dataset order: one copy per column.
  void fill_range(BatchBuffers& buffers, std::int64_t begin, std::int64_t rows) const {
    for (std::size_t c = 0; c < plan_->sources.size(); ++c) {
      const ColumnSource& s = plan_->sources[c];
      std::int64_t first = begin, count = rows;
      if (s.offsets != nullptr) {
        auto* offsets = buffers.offsets[c].data<std::int64_t>();
        for (std::int64_t r = 0; r <= rows; ++r)
          offsets[r] = s.offsets[begin + r] - s.offsets[begin];
        first = s.offsets[begin];
        count = offsets[rows];
        plan_->pool->reserve_values(buffers, c, count);
      }
      std::memcpy(buffers.values[c].raw(), s.values + static_cast<std::size_t>(first) * s.row_bytes,
                  static_cast<std::size_t>(count) * s.row_bytes);
    }
  }

  const std::shared_ptr<const LoaderPlan> plan_;
  const std::uint64_t epoch_;
  const std::int64_t num_batches_;
  // The epoch's order (shuffle only), 32-bit when the rows allow.
  std::vector<std::uint32_t> order32_;
  std::vector<std::int64_t> order64_;
  Tensor stage_;                 // rows gathered from the row cache
  std::int64_t next_batch_ = 0;  // prefetch == 0 only

  std::thread producer_;
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Item> queue_;
  bool stop_ = false;
};

}  // namespace detail

// ---- Batch ------------------------------------------------------------------

Batch::Batch(std::shared_ptr<const detail::BatchLayout> layout, std::vector<Entry> columns,
             std::int64_t rows)
    : layout_(std::move(layout)), columns_(std::move(columns)), rows_(rows) {}

Batch::Batch(const Dataset& dataset)
    : layout_(detail::make_layout_with_split(dataset.schema())), rows_(dataset.num_rows()) {
  for (const std::string& name : layout_->names) {
    const Column& c = dataset.column(name);
    columns_.push_back(c.is_list() ? Entry{Tensor(), c.ragged()} : Entry{c.values, {}});
  }
}

const std::vector<std::string>& Batch::names() const {
  static const std::vector<std::string> kNone;
  return layout_ ? layout_->names : kNone;
}

const Schema& Batch::schema() const {
  static const Schema kEmpty;
  return layout_ ? layout_->schema : kEmpty;
}

bool Batch::contains(std::string_view name) const {
  const auto& n = names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

std::size_t Batch::index_of(std::string_view name) const {
  const auto& n = names();
  const auto it = std::find(n.begin(), n.end(), name);
  RB_CHECK(it != n.end(), ValueError, "Batch: no column '{}' (available: {})", name,
           n.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(n, ", ")));
  return static_cast<std::size_t>(it - n.begin());
}

bool Batch::is_list(std::string_view name) const { return layout_->is_list[index_of(name)]; }

const Tensor& Batch::tensor(std::string_view name) const {
  const std::size_t i = index_of(name);
  RB_CHECK(!layout_->is_list[i], ValueError,
           "Batch: '{}' is a list column (values + offsets); use ragged(\"{}\")", name, name);
  return columns_[i].dense;
}

const RaggedTensor& Batch::ragged(std::string_view name) const {
  const std::size_t i = index_of(name);
  RB_CHECK(layout_->is_list[i], ValueError,
           "Batch: '{}' is not a list column (it is a tensor of shape {}); use tensor(\"{}\")",
           name, columns_[i].dense.shape(), name);
  return columns_[i].ragged;
}

Batch Batch::subset(std::shared_ptr<const detail::BatchLayout> layout,
                    const std::vector<std::size_t>& indices) const {
  std::vector<Entry> columns;
  columns.reserve(indices.size());
  for (std::size_t i : indices) columns.push_back(columns_[i]);
  return Batch(std::move(layout), std::move(columns), rows_);
}

Batch Batch::features() const {
  if (!layout_) return {};
  if (layout_->features) return subset(layout_->features, layout_->feature_indices);
  const auto indices = detail::indices_by_target(*layout_, false);
  return subset(detail::sub_layout(*layout_, indices), indices);
}

Batch Batch::targets() const {
  if (!layout_) return {};
  if (layout_->targets) return subset(layout_->targets, layout_->target_indices);
  const auto indices = detail::indices_by_target(*layout_, true);
  return subset(detail::sub_layout(*layout_, indices), indices);
}

Batch Batch::select(const std::vector<std::string>& names) const {
  std::vector<std::size_t> indices;
  for (const std::string& name : names) indices.push_back(index_of(name));
  if (!layout_) return {};
  return subset(detail::sub_layout(*layout_, indices), indices);
}

Batch Batch::take(std::span<const std::int64_t> rows) const {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    RB_CHECK(0 <= rows[i] && rows[i] < rows_, ValueError,
             "Batch::take: rows[{}] = {} out of range for {} rows", i, rows[i], rows_);
  }
  const auto n = static_cast<std::int64_t>(rows.size());
  std::vector<Entry> columns;
  columns.reserve(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (layout_->is_list[c]) {
      const RaggedTensor& from = columns_[c].ragged;
      const Tensor& values = from.values();
      Tensor offsets = Tensor::empty({n + 1}, DType::kInt64);
      const std::int64_t nnz = data_detail::gather_offsets(from.offsets().data<std::int64_t>(),
                                                           rows, offsets.data<std::int64_t>());
      Shape shape = values.shape();
      shape[0] = nnz;
      Tensor gathered = Tensor::empty(shape, values.dtype());
      const auto value_bytes =
          static_cast<std::size_t>(values.numel() / std::max<std::int64_t>(values.size(0), 1)) *
          dtype_size(values.dtype());
      data_detail::gather_list_values(values.raw(), value_bytes,
                                      from.offsets().data<std::int64_t>(), rows, gathered.raw());
      columns.push_back(Entry{Tensor(), RaggedTensor(std::move(gathered), std::move(offsets))});
    } else {
      const Tensor& from = columns_[c].dense;
      Shape shape = from.shape();
      shape[0] = n;
      Tensor gathered = Tensor::empty(shape, from.dtype());
      const auto row_bytes =
          static_cast<std::size_t>(from.numel() / std::max<std::int64_t>(from.size(0), 1)) *
          dtype_size(from.dtype());
      data_detail::gather_rows(from.raw(), row_bytes, rows, gathered.raw());
      columns.push_back(Entry{std::move(gathered), {}});
    }
  }
  return Batch(layout_, std::move(columns), n);
}

namespace {

void check_rows(std::string_view name, std::int64_t rows, std::int64_t expected, bool empty) {
  RB_CHECK(empty || rows == expected, ShapeError,
           "Batch::with_column: '{}' has {} rows, the batch has {}", name, rows, expected);
}

}  // namespace

Batch Batch::with_column(const ColumnSchema& column, const Tensor& values) const {
  RB_CHECK(values.rank() >= 1, ShapeError,
           "Batch::with_column: '{}' has shape {}, expected [rows, ...]", column.name(),
           values.shape());
  check_rows(column.name(), values.size(0), rows_, columns_.empty());
  RB_CHECK(!column.is_ragged(), ValueError,
           "Batch::with_column: '{}' is a ragged list column; pass a RaggedTensor", column.name());
  const Schema schema = this->schema().with_column(column);
  std::vector<Entry> columns;
  for (const ColumnSchema& c : schema) {
    columns.push_back(c.name() == column.name() ? Entry{values, {}} : columns_[index_of(c.name())]);
  }
  return Batch(detail::make_layout(schema), std::move(columns), values.size(0));
}

Batch Batch::with_column(const ColumnSchema& column, const RaggedTensor& values) const {
  check_rows(column.name(), values.rows(), rows_, columns_.empty());
  RB_CHECK(column.is_ragged(), ValueError,
           "Batch::with_column: '{}' is not a ragged list column in its schema; pass a Tensor",
           column.name());
  const Schema schema = this->schema().with_column(column);
  std::vector<Entry> columns;
  for (const ColumnSchema& c : schema) {
    columns.push_back(c.name() == column.name() ? Entry{Tensor(), values}
                                                : columns_[index_of(c.name())]);
  }
  return Batch(detail::make_layout(schema), std::move(columns), values.rows());
}

std::string Batch::str(int edge_items) const {
  std::string out = fmt::format("Batch(rows={}, columns={})", rows_, columns_.size());
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    out += fmt::format("\n{}: {}", layout_->names[i],
                       layout_->is_list[i] ? columns_[i].ragged.str(edge_items)
                                           : columns_[i].dense.str(edge_items));
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Batch& batch) { return os << batch.str(); }

// ---- Loader -----------------------------------------------------------------

Loader::Loader(Dataset dataset, LoaderOptions options) {
  RB_CHECK(options.batch_size > 0, ValueError, "Loader: batch_size is {}, expected > 0",
           options.batch_size);
  RB_CHECK(options.prefetch >= 0, ValueError, "Loader: prefetch is {}, expected >= 0",
           options.prefetch);
  auto plan = std::make_shared<detail::LoaderPlan>();
  plan->layout = detail::make_layout_with_split(dataset.schema());
  const std::int64_t capacity =
      std::max<std::int64_t>(1, std::min(options.batch_size, dataset.num_rows()));
  std::vector<std::int64_t> initial_values;
  for (const std::string& name : plan->layout->names) {
    const Column& column = dataset.column(name);
    plan->sources.push_back(detail::source_of(column));
    // A list buffer starts at the mean row length times the batch rows.
    const std::int64_t rows = std::max<std::int64_t>(1, dataset.num_rows());
    const std::int64_t nnz = column.is_list() ? column.values.size(0) : 0;
    initial_values.push_back(std::max<std::int64_t>(1, (nnz + rows - 1) / rows * capacity));
  }
  const auto max_free = static_cast<std::size_t>(options.prefetch) + 4;
  plan->pool = std::make_shared<detail::BufferPool>(plan->sources, capacity,
                                                    std::move(initial_values), max_free);
  plan->capacity_rows = capacity;
  plan->cache = detail::make_row_cache(plan->sources, dataset.num_rows(), options);
  plan->dataset = std::move(dataset);
  plan->options = std::move(options);
  plan_ = std::move(plan);
}

Loader::~Loader() = default;
Loader::Loader(Loader&&) noexcept = default;
Loader& Loader::operator=(Loader&&) noexcept = default;

Loader::Iterator Loader::begin() {
  return Iterator(std::make_unique<detail::EpochRun>(plan_, epoch_++));
}

std::int64_t Loader::num_batches() const { return plan_->num_batches(); }

std::vector<std::int64_t> Loader::epoch_order(std::uint64_t epoch) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(plan_->dataset.num_rows()));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  if (plan_->options.shuffle) {
    detail::shuffle_order(std::span<std::int64_t>(order), plan_->options.seed, epoch);
  }
  return order;
}

const Dataset& Loader::dataset() const { return plan_->dataset; }
const LoaderOptions& Loader::options() const { return plan_->options; }

// ---- Loader::Iterator -------------------------------------------------------

Loader::Iterator::Iterator(std::unique_ptr<detail::EpochRun> run) : run_(std::move(run)) {
  done_ = run_->num_batches() == 0;
  if (done_) {
    run_.reset();
    return;
  }
  try {
    current_ = run_->next();
  } catch (...) {
    done_ = true;
    run_.reset();
    throw;
  }
}

Loader::Iterator::Iterator() = default;
Loader::Iterator::Iterator(Iterator&&) noexcept = default;
Loader::Iterator& Loader::Iterator::operator=(Iterator&&) noexcept = default;
Loader::Iterator::~Iterator() = default;

const Batch& Loader::Iterator::operator*() const {
  RB_CHECK(!done_, ValueError, "Loader::Iterator: dereferenced past the end of the epoch");
  return current_;
}

Loader::Iterator& Loader::Iterator::operator++() {
  RB_CHECK(!done_, ValueError, "Loader::Iterator: advanced past the end of the epoch");
  current_ = Batch();  // hands its buffers back before the next gather
  if (++index_ == run_->num_batches()) {
    done_ = true;
    run_.reset();
    return *this;
  }
  try {
    current_ = run_->next();
  } catch (...) {
    done_ = true;
    run_.reset();
    throw;
  }
  return *this;
}

}  // namespace recblocks
