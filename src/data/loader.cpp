// The Loader (loader.h): its plan (column sources, the row cache, the
// buffer pool) and the iteration over epochs (epoch_run.cpp makes the
// batches, batch.cpp the Batch around them).
#include "recblocks/data/loader.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <span>

#include "data/epoch_run.h"
#include "data/gather.h"
#include "data/loader_internal.h"

namespace recblocks {
namespace detail {

namespace {

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
    std::memcpy(field + 4, s.values + static_cast<std::size_t>(first) * 4,
                static_cast<std::size_t>(length) * 4);
  }
}

// Packs the columns that fit (see cached_width) into a RowCache, if it
// fits in options.row_cache_bytes; otherwise returns an empty one (the
// loader then gathers column by column).
RowCache make_row_cache(const std::vector<ColumnSource>& sources, std::int64_t rows,
                        const LoaderOptions& options, CacheArena* arena) {
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
  // A reused block held the previous window's rows of the same layout: its
  // padding is zero already.
  const bool reused = arena != nullptr && arena->memory != nullptr && arena->bytes >= bytes &&
                      arena->memory.use_count() == 1;
  if (reused) {
    cache.memory = arena->memory;
  } else {
    cache.memory = allocate_huge(bytes);
    if (arena != nullptr) *arena = {cache.memory, bytes};
  }
  // In blocks of rows that stay in the L2 cache while every column is
  // written into them.
  const std::size_t block = std::max<std::size_t>(1, (256 << 10) / cache.stride);
  bool has_lists = false;
  for (std::size_t c = 0; c < sources.size(); ++c) {
    has_lists = has_lists || (cache.offsets[c] != RowCache::kNotCached && sources[c].offsets);
  }
  std::vector<std::size_t> offsets4;  // the 4-byte dense fields, packed together
  std::vector<const std::byte*> columns4;
  for (std::size_t begin = 0; begin < static_cast<std::size_t>(rows); begin += block) {
    const std::size_t n = std::min(block, static_cast<std::size_t>(rows) - begin);
    std::byte* dst = cache.memory.get() + begin * cache.stride;
    // No uninitialised bytes: the padding, and short lists' unused values.
    if (reused) {
      // zeroed when the block was first used
    } else if (has_lists) {
      std::memset(dst, 0, n * cache.stride);
    } else if (width < cache.stride) {
      for (std::size_t i = 0; i < n; ++i) {
        std::memset(dst + i * cache.stride + width, 0, cache.stride - width);
      }
    }
    offsets4.clear();
    columns4.clear();
    for (std::size_t c = 0; c < sources.size(); ++c) {
      if (cache.offsets[c] == RowCache::kNotCached) continue;
      const ColumnSource& s = sources[c];
      if (s.offsets != nullptr) {
        pack_list(s, begin, n, cache.stride, cache.offsets[c], dst);
      } else if (s.row_bytes == 4) {  // all at once, below
        offsets4.push_back(cache.offsets[c]);
        columns4.push_back(s.values + begin * 4);
      } else {
        data_detail::pack_field(s.values + begin * s.row_bytes, cache.stride, cache.offsets[c],
                                s.row_bytes, n, dst);
      }
    }
    data_detail::pack_fields4(columns4, offsets4, cache.stride, n, dst);
  }
  return cache;
}

}  // namespace

}  // namespace detail

// ---- Loader -----------------------------------------------------------------

Loader detail::LoaderAccess::window_loader(Dataset window, LoaderOptions options,
                                           CacheArena& arena) {
  return Loader(std::move(window), std::move(options), &arena);
}

Loader::Loader(Dataset dataset, LoaderOptions options)
    : Loader(std::move(dataset), std::move(options), nullptr) {}

Loader::Loader(Dataset dataset, LoaderOptions options, detail::CacheArena* arena) {
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
  plan->cache = detail::make_row_cache(plan->sources, dataset.num_rows(), options, arena);
  plan->dataset = std::move(dataset);
  plan->options = std::move(options);
  plan_ = std::move(plan);
}

Loader::Loader(DataSourcePtr source, LoaderOptions options) {
  RB_CHECK(source != nullptr, ValueError, "Loader: the data source is null");
  RB_CHECK(options.batch_size > 0, ValueError, "Loader: batch_size is {}, expected > 0",
           options.batch_size);
  RB_CHECK(options.prefetch >= 0, ValueError, "Loader: prefetch is {}, expected >= 0",
           options.prefetch);
  RB_CHECK(options.shuffle_window > 0, ValueError, "Loader: shuffle_window is {}, expected > 0",
           options.shuffle_window);
  auto plan = std::make_shared<detail::StreamPlan>();
  plan->source = std::move(source);
  plan->options = std::move(options);
  stream_ = std::move(plan);
}

Loader::~Loader() = default;
Loader::Loader(Loader&&) noexcept = default;
Loader& Loader::operator=(Loader&&) noexcept = default;

Loader::Iterator Loader::begin() {
  if (stream_) return Iterator(detail::make_stream_run(stream_, epoch_++));
  return Iterator(std::make_unique<detail::EpochRun>(plan_, epoch_++));
}

std::int64_t Loader::num_batches() const {
  return stream_ ? stream_->num_batches() : plan_->num_batches();
}

std::vector<std::int64_t> Loader::epoch_order(std::uint64_t epoch) const {
  RB_CHECK(!stream_, ValueError,
           "Loader::epoch_order: a streaming loader has no order over all rows (it shuffles "
           "within windows of chunks)");
  std::vector<std::int64_t> order(static_cast<std::size_t>(plan_->dataset.num_rows()));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  if (plan_->options.shuffle) {
    detail::shuffle_order(std::span<std::int64_t>(order), plan_->options.seed, epoch);
  }
  return order;
}

const Dataset& Loader::dataset() const {
  RB_CHECK(!stream_, ValueError, "Loader::dataset: a streaming loader reads {}",
           stream_->source->describe());
  return plan_->dataset;
}

const Schema& Loader::schema() const {
  return stream_ ? stream_->source->schema() : plan_->dataset.schema();
}

std::int64_t Loader::num_rows() const {
  return stream_ ? stream_->source->num_rows() : plan_->dataset.num_rows();
}

const LoaderOptions& Loader::options() const { return stream_ ? stream_->options : plan_->options; }

// ---- Loader::Iterator -------------------------------------------------------

Loader::Iterator::Iterator(std::unique_ptr<detail::BatchRun> run) : run_(std::move(run)) {
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
