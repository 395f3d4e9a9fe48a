// One epoch of a Loader (loader.h): the order, the batches produced so far
// and, with prefetch, the producer thread and its bounded queue.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "data/loader_internal.h"

namespace recblocks::detail {

class EpochRun final : public BatchRun {
 public:
  // Starts the producer thread when the plan asks for prefetch.
  EpochRun(std::shared_ptr<const LoaderPlan> plan, std::uint64_t epoch);
  ~EpochRun() override;

  std::int64_t num_batches() const override { return num_batches_; }

  // The next batch of the epoch; rethrows the producer's exception.
  Batch next() override;

 private:
  struct Item {
    Batch batch;
    std::exception_ptr error;
  };

  // 32-bit row numbers where they suffice: half the memory traffic of the
  // shuffle and of reading the order.
  bool narrow() const { return plan_->dataset.num_rows() <= std::int64_t{UINT32_MAX}; }

  void make_order();
  void produce_all();
  Batch produce(std::int64_t b);
  // The batch's tensors: views of `buffers`, which they keep alive; the
  // last one to go hands them back to the pool.
  Batch assemble(const std::shared_ptr<BatchBuffers>& buffers, std::int64_t rows) const;
  // Gathers `rows` of every column into `buffers`: the cached columns
  // through the row cache (one line per row into a staging block that
  // stays in L1/L2, then unpacked field by field), the others with one
  // tight loop per column.
  template <class Index>
  void fill(BatchBuffers& buffers, std::span<const Index> rows);
  // List column c of `n` staged rows: offsets from the cached lengths,
  // then the values back to back.
  void unpack_list(BatchBuffers& buffers, std::size_t c, const std::byte* stage,
                   std::size_t n) const;
  // Rows [begin, begin + rows) in dataset order: one copy per column.
  void fill_range(BatchBuffers& buffers, std::int64_t begin, std::int64_t rows) const;

  const std::shared_ptr<const LoaderPlan> plan_;
  const std::uint64_t epoch_;
  const std::int64_t num_batches_;
  // The epoch's order (shuffle only), 32-bit when the rows allow.
  std::vector<std::uint32_t> order32_;
  std::vector<std::int64_t> order64_;
  Tensor stage_;  // rows gathered from the row cache
  // fill's 4-byte fields, unpacked together (kept to reuse their memory).
  std::vector<std::size_t> field_offsets_;
  std::vector<std::byte*> field_columns_;
  std::int64_t next_batch_ = 0;  // prefetch == 0 only

  std::thread producer_;
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Item> queue_;
  bool stop_ = false;
};

}  // namespace recblocks::detail
