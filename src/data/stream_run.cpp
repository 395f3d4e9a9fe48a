// One epoch of a streaming Loader (loader.h): the chunks in the epoch's
// order, read a window at a time by a background thread. With shuffle an
// in-memory Loader batches each window (its rows shuffled and gathered
// through its row cache); in order the batches are views of the window's
// rows. A window's last, partial batch waits for the next window's, so
// every batch but the epoch's last is full.
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

// A window ready to batch: its rows and, with shuffle, the loader over
// them, its row cache packed on the reader thread.
struct Window {
  Dataset rows;
  std::optional<Loader> loader;
};

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
    // In order, a window is one chunk: its batches are views of it (of
    // Arrow's own buffers for Parquet), and nothing needs joining.
    window_size_ =
        plan_->options.shuffle ? static_cast<std::size_t>(plan_->options.shuffle_window) : 1;
    windows_ = (chunks_.size() + window_size_ - 1) / window_size_;
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
    const std::int64_t bs = plan_->options.batch_size;
    for (;;) {
      if (std::optional<Batch> batch = window_batch()) {
        if (batch->rows() == bs) return finish(std::move(*batch));
        // A window's last, partial batch: its rows wait with those left
        // before, and make a batch once there are enough.
        add_pending(batch->to_dataset());
        if (pending_->num_rows() >= bs) return finish(take_pending(bs));
        continue;
      }
      if (taken_ < windows_) {
        // The window done goes first: its row cache's memory is then free
        // for the reader to pack a later window into.
        it_ = Loader::Iterator();
        inner_.reset();
        start_window(take_window());
        continue;
      }
      // The epoch's last batch: the rows left over.
      RB_CHECK(pending_ && pending_->num_rows() > 0, ValueError,
               "Loader: the epoch's batches are done ({} batches from {})", num_batches_,
               plan_->source->describe());
      return finish(take_pending(pending_->num_rows()));
    }
  }

 private:
  // Window w: its chunks, in the epoch's order, as one dataset, and with
  // shuffle its loader (row cache packed in one of two alternating arenas:
  // window w - 1's is still in use while w is prepared).
  Window prepare_window(std::size_t w) {
    const LoaderOptions& options = plan_->options;
    if (!options.shuffle) return {plan_->source->read_chunk(chunks_[w]), {}};
    const std::size_t begin = w * window_size_,
                      end = std::min(chunks_.size(), begin + window_size_);
    Window window{plan_->source->read_chunks(std::span(chunks_).subspan(begin, end - begin)), {}};
    window.loader.emplace(
        LoaderAccess::window_loader(window.rows,
                                    {
                                        .batch_size = options.batch_size,
                                        .shuffle = true,
                                        .seed = mix64(options.seed + w),
                                        .prefetch = options.prefetch,
                                        .row_cache_bytes = options.row_cache_bytes,
                                    },
                                    arenas_[w % 2]));
    window.loader->set_epoch(epoch_);
    return window;
  }

  // Batches a window: shuffled by its loader (its prefetch thread gathers
  // through the row cache), or in order as views of its rows.
  void start_window(Window window) {
    window_ = std::move(window.rows);
    position_ = 0;
    if (window.loader) {
      inner_.emplace(std::move(*window.loader));
      it_ = inner_->begin();
    } else if (!layout_) {
      layout_ = make_layout_with_split(window_.schema());
    }
  }

  // The window's next batch (full, or its last one, shorter), or nothing
  // when it has no more rows. In order, the rows pending from the previous
  // window are completed first from this one's.
  std::optional<Batch> window_batch() {
    if (inner_) {
      if (it_ == std::default_sentinel) return std::nullopt;
      Batch batch = *it_;
      ++it_;
      return batch;
    }
    const std::int64_t bs = plan_->options.batch_size;
    if (pending_ && position_ < window_.num_rows()) {
      // In order, the rows left from the previous window come first.
      const std::int64_t take = std::min(bs - pending_->num_rows(), window_.num_rows() - position_);
      add_pending(window_.slice_rows(position_, position_ + take));
      position_ += take;
      if (pending_->num_rows() == bs) return take_pending(bs);
      return std::nullopt;  // the window is used up
    }
    if (position_ >= window_.num_rows()) return std::nullopt;
    const std::int64_t end = std::min(window_.num_rows(), position_ + bs);
    Batch batch = LoaderAccess::slice(layout_, window_, position_, end);
    position_ = end;
    return batch;
  }

  void add_pending(Dataset rows) {
    pending_ = pending_ ? Dataset::concat({*pending_, rows}) : std::move(rows);
  }

  // The first `rows` pending rows as a batch; the rest stay pending.
  Batch take_pending(std::int64_t rows) {
    Batch batch(pending_->slice_rows(0, rows));
    if (rows < pending_->num_rows()) {
      pending_ = pending_->slice_rows(rows, pending_->num_rows());
    } else {
      pending_.reset();
    }
    return batch;
  }

  Batch finish(Batch batch) const {
    const LoaderOptions& options = plan_->options;
    return options.transform ? options.transform(std::move(batch)) : batch;
  }

  // The next window: read here without prefetch, else handed over by the
  // reader thread (started on the first call), which then reads the next.
  Window take_window() {
    if (plan_->options.prefetch == 0) return prepare_window(taken_++);
    if (!reader_.joinable()) reader_ = std::thread([this] { read_ahead(); });
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return ready_.has_value() || error_ != nullptr; });
    if (error_) {
      ++taken_;
      std::rethrow_exception(error_);
    }
    Window window = std::move(*ready_);
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
        Window window = prepare_window(w);
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
  std::size_t window_size_ = 1;       // chunks per window
  std::size_t windows_ = 0;
  std::size_t taken_ = 0;  // windows handed to the consumer

  Dataset window_;               // the rows being batched
  std::optional<Loader> inner_;  // shuffle: batches window_
  Loader::Iterator it_;
  std::shared_ptr<const BatchLayout> layout_;  // in order: of the views
  std::int64_t position_ = 0;                  // in order: the next row
  CacheArena arenas_[2];            // shuffle: the row caches' memory (reader thread only)
  std::optional<Dataset> pending_;  // rows of partial batches, fewer than a batch

  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Window> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace

std::unique_ptr<BatchRun> make_stream_run(std::shared_ptr<const StreamPlan> plan,
                                          std::uint64_t epoch) {
  return std::make_unique<StreamRun>(std::move(plan), epoch);
}

}  // namespace recblocks::detail
