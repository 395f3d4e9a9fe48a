// The Loader's epoch (epoch_run.h): the shuffled order, the gathers into
// pooled buffers and the prefetch thread.
#include "data/epoch_run.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "data/gather.h"

namespace recblocks::detail {

namespace {

template <class Index>
void fill_order(std::vector<Index>& order, std::int64_t rows, const LoaderOptions& options,
                std::uint64_t epoch) {
  order.resize(static_cast<std::size_t>(rows));
  std::iota(order.begin(), order.end(), Index{0});
  shuffle_order(std::span<Index>(order), options.seed, epoch);
}

}  // namespace

EpochRun::EpochRun(std::shared_ptr<const LoaderPlan> plan, std::uint64_t epoch)
    : plan_(std::move(plan)), epoch_(epoch), num_batches_(plan_->num_batches()) {
  if (plan_->options.prefetch == 0) {
    make_order();
  } else if (num_batches_ > 0) {
    producer_ = std::thread([this] { produce_all(); });
  }
}

EpochRun::~EpochRun() {
  if (!producer_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  not_full_.notify_all();
  producer_.join();
}

Batch EpochRun::next() {
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

void EpochRun::make_order() {
  if (!plan_->options.shuffle) return;  // dataset order: batches are row ranges
  if (narrow()) {
    fill_order(order32_, plan_->dataset.num_rows(), plan_->options, epoch_);
  } else {
    fill_order(order64_, plan_->dataset.num_rows(), plan_->options, epoch_);
  }
}

template <class Index>
void EpochRun::fill(BatchBuffers& buffers, std::span<const Index> rows) {
  const RowCache& cache = plan_->cache;
  if (!cache.empty()) {
    if (stage_.raw() == nullptr) {
      const auto words = plan_->capacity_rows * static_cast<std::int64_t>(cache.stride / 4);
      stage_ = Tensor::empty({words}, DType::kInt32);
    }
    auto* stage = static_cast<std::byte*>(stage_.raw());
    data_detail::gather_block_rows(cache.memory.get(), cache.stride, rows, stage);
    field_offsets_.clear();
    field_columns_.clear();
    for (std::size_t c = 0; c < plan_->sources.size(); ++c) {
      if (!cache.holds(c)) continue;
      if (plan_->sources[c].offsets != nullptr) {
        unpack_list(buffers, c, stage, rows.size());
      } else if (plan_->sources[c].row_bytes == 4) {  // all at once, below
        field_offsets_.push_back(cache.offsets[c]);
        field_columns_.push_back(static_cast<std::byte*>(buffers.values[c].raw()));
      } else {
        data_detail::unpack_field(stage, cache.stride, cache.offsets[c],
                                  plan_->sources[c].row_bytes, rows.size(),
                                  buffers.values[c].raw());
      }
    }
    data_detail::unpack_fields4(stage, cache.stride, rows.size(), field_offsets_, field_columns_);
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

void EpochRun::unpack_list(BatchBuffers& buffers, std::size_t c, const std::byte* stage,
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

void EpochRun::fill_range(BatchBuffers& buffers, std::int64_t begin, std::int64_t rows) const {
  for (std::size_t c = 0; c < plan_->sources.size(); ++c) {
    const ColumnSource& s = plan_->sources[c];
    std::int64_t first = begin, count = rows;
    if (s.offsets != nullptr) {
      auto* offsets = buffers.offsets[c].data<std::int64_t>();
      for (std::int64_t r = 0; r <= rows; ++r) offsets[r] = s.offsets[begin + r] - s.offsets[begin];
      first = s.offsets[begin];
      count = offsets[rows];
      plan_->pool->reserve_values(buffers, c, count);
    }
    std::memcpy(buffers.values[c].raw(), s.values + static_cast<std::size_t>(first) * s.row_bytes,
                static_cast<std::size_t>(count) * s.row_bytes);
  }
}

Batch EpochRun::produce(std::int64_t b) {
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
  return assemble(buffers, rows);
}

void EpochRun::produce_all() {
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

Batch EpochRun::assemble(const std::shared_ptr<BatchBuffers>& buffers, std::int64_t rows) const {
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

}  // namespace recblocks::detail
