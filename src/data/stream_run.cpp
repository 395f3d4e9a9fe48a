// One epoch of a streaming Loader (loader.h): the chunks in the epoch's
// order, read a window at a time by a background thread; each window (with
// the rows the previous one left over) is batched by an in-memory Loader,
// which shuffles its rows and gathers them through its row cache.
#include <condition_variable>
#include <exception>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

#include "data/loader_internal.h"
#include "recblocks/core/rng.h"

namespace recblocks::detail {
namespace {

// Keeps the chunks' order apart from the rows' orders within windows.
constexpr std::uint64_t kChunkOrderSalt = 0x6a09e667f3bcc908ULL;

class StreamRun final : public BatchRun {
 public:
  StreamRun(std::shared_ptr<const StreamPlan> plan, std::uint64_t epoch)
      : plan_(std::move(plan)), epoch_(epoch), num_batches_(plan_->num_batches()) {
    const DataSource& source = *plan_->source;
    chunks_.resize(static_cast<std::size_t>(source.num_chunks()));
    std::iota(chunks_.begin(), chunks_.end(), std::int64_t{0});
    if (plan_->options.shuffle) {
      shuffle_order(std::span<std::int64_t>(chunks_), plan_->options.seed ^ kChunkOrderSalt,
                    epoch_);
    }
    const auto window = static_cast<std::size_t>(plan_->options.shuffle_window);
    windows_ = (chunks_.size() + window - 1) / window;
  }

  ~StreamRun() override {
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    if (reader_.joinable()) reader_.join();
  }

  std::int64_t num_batches() const override { return num_batches_; }

  Batch next() override {
    const LoaderOptions& options = plan_->options;
    for (;;) {
      if (inner_ && !(it_ == std::default_sentinel)) {
        Batch batch = *it_;
        ++it_;
        if (batch.rows() < options.batch_size && taken_ < windows_) {
          leftover_ = batch.to_dataset();  // into the next window's first batch
          continue;
        }
        return options.transform ? options.transform(std::move(batch)) : batch;
      }
      RB_CHECK(taken_ < windows_, ValueError,
               "Loader: the epoch's batches are done ({} batches from {})", num_batches_,
               plan_->source->describe());
      Dataset window = take_window();
      if (leftover_) {
        window = Dataset::concat({*leftover_, window});
        leftover_.reset();
      }
      it_ = Loader::Iterator();
      inner_.emplace(std::move(window), LoaderOptions{
                                            .batch_size = options.batch_size,
                                            .shuffle = options.shuffle,
                                            .seed = mix64(options.seed + taken_),
                                            .drop_last = false,
                                            .prefetch = options.prefetch,
                                            .row_cache_bytes = options.row_cache_bytes,
                                        });
      inner_->set_epoch(epoch_);
      it_ = inner_->begin();
    }
  }

 private:
  // The rows of window w: its chunks, in the epoch's order, as one dataset.
  Dataset read_window(std::size_t w) const {
    const auto size = static_cast<std::size_t>(plan_->options.shuffle_window);
    std::vector<Dataset> parts;
    for (std::size_t i = w * size; i < std::min(chunks_.size(), (w + 1) * size); ++i) {
      parts.push_back(plan_->source->read_chunk(chunks_[i]));
    }
    return Dataset::concat(parts);
  }

  // The next window: read here without prefetch, else handed over by the
  // reader thread (started on the first call), which then reads the next.
  Dataset take_window() {
    if (plan_->options.prefetch == 0) return read_window(taken_++);
    if (!reader_.joinable()) reader_ = std::thread([this] { read_ahead(); });
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return ready_.has_value() || error_ != nullptr; });
    if (error_) {
      ++taken_;
      std::rethrow_exception(error_);
    }
    Dataset window = std::move(*ready_);
    ready_.reset();
    ++taken_;
    lock.unlock();
    cv_.notify_all();
    return window;
  }

  void read_ahead() {
    try {
      for (std::size_t w = 0; w < windows_; ++w) {
        {
          std::unique_lock lock(mutex_);
          // One window read ahead of the one being batched, no more.
          cv_.wait(lock, [&] { return stop_ || !ready_.has_value(); });
          if (stop_) return;
        }
        Dataset window = read_window(w);
        {
          const std::lock_guard lock(mutex_);
          if (stop_) return;
          ready_.emplace(std::move(window));
        }
        cv_.notify_all();
      }
    } catch (...) {
      {
        const std::lock_guard lock(mutex_);
        error_ = std::current_exception();
      }
      cv_.notify_all();
    }
  }

  const std::shared_ptr<const StreamPlan> plan_;
  const std::uint64_t epoch_;
  const std::int64_t num_batches_;
  std::vector<std::int64_t> chunks_;  // the epoch's chunk order
  std::size_t windows_ = 0;
  std::size_t taken_ = 0;  // windows handed to the consumer

  std::optional<Loader> inner_;  // batches the current window
  Loader::Iterator it_;
  std::optional<Dataset> leftover_;

  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Dataset> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace

std::unique_ptr<BatchRun> make_stream_run(std::shared_ptr<const StreamPlan> plan,
                                          std::uint64_t epoch) {
  return std::make_unique<StreamRun>(std::move(plan), epoch);
}

}  // namespace recblocks::detail
