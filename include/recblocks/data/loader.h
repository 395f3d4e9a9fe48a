// Loader: shuffled, batched, prefetched batches of a Dataset.
//
//   auto batch = *rb::Loader(valid, {.batch_size = 4, .shuffle = false}).begin();
//   for (const rb::Batch& b : rb::Loader(train, {.batch_size = 1024, .seed = 7})) {
//     rb::Tensor ids = b.tensor("userId");          // int32 [rows]
//     rb::RaggedTensor g = b.ragged("genres");       // values + int64 offsets
//   }
//
// Each iteration over a Loader (each begin()) is one epoch. With shuffle the
// rows come in a permutation derived from (seed, epoch) alone, so a run is
// reproducible and every epoch has a new order; every row appears exactly
// once per epoch. Batches are gathered into buffers that are recycled when
// the last Batch (or tensor) using them is dropped; a Batch that the user
// keeps stays valid. With prefetch > 0 one background thread prepares the
// next batches while the caller works on the current one; its exceptions
// are rethrown by the iterator, and leaving the loop early (or destroying
// the Loader) stops it cleanly.
//
// A DataSource (source.h) streams instead: Loader(source, options) reads
// it chunk by chunk (a Parquet row group, rows of a .npy directory) with
// bounded memory, for data larger than RAM. Each epoch takes the chunks in
// a random order (seed, epoch), `shuffle_window` chunks at a time, read
// into one window by a background thread while the previous window is
// batched; it shuffles the window's rows together and gathers them into
// batches. A window's last rows, too few for a batch, wait for the next
// window's and join them, so every batch but an epoch's last is full and
// every row comes once per epoch. Memory: about six windows (the one
// batched and the next one, each with its row cache, 1.2 times its rows for
// Criteo's 40 columns) plus the batches in flight and the decoder's
// buffers: 1.07 GB at the peak for windows of 4 x 262,144 Criteo rows
// (168 MB each; bench/stream). Without shuffle the chunks come in order, one at a time, and
// the batches are views of a chunk's rows (of Arrow's own buffers for a
// Parquet column whose type is the schema's): no copy but where a batch
// spans two chunks. The order depends on (seed, epoch, shuffle_window, the
// chunks) alone.
//
// Speed: shuffled batches of the seed's 7 columns come at 25 to 40 million
// rows/s on one core (bench/loader), from a row-major copy of the columns
// (see LoaderOptions::row_cache_bytes); in dataset order, over 100 million.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/core/ragged.h"
#include "recblocks/core/tensor.h"
#include "recblocks/data/dataset.h"
#include "recblocks/data/source.h"
#include "recblocks/schema/schema.h"

namespace recblocks {

namespace detail {
struct BatchLayout;
struct LoaderPlan;
struct StreamPlan;
struct LoaderAccess;
struct CacheArena;
class BatchRun;
class EpochRun;
}  // namespace detail

// One batch: a name -> tensor map in schema order. Dense columns are
// tensors [rows] (or [rows, n] for fixed-length lists and vector columns);
// ragged list columns are RaggedTensors (values [nnz], int64 offsets
// [rows + 1]). Copying a Batch shares its tensors.
class Batch {
 public:
  Batch() = default;
  // Every row of `dataset` as one batch, sharing its storage (no copy).
  explicit Batch(const Dataset& dataset);

  std::int64_t rows() const { return rows_; }
  std::size_t size() const { return columns_.size(); }  // number of columns
  bool empty() const { return columns_.empty(); }
  bool contains(std::string_view name) const;
  bool is_list(std::string_view name) const;  // throws for an unknown name
  // A dense column. Throws ValueError listing the available columns for an
  // unknown name, or saying that `name` is a list column (use ragged()).
  const Tensor& tensor(std::string_view name) const;
  // A ragged list column; throws as tensor() does.
  const RaggedTensor& ragged(std::string_view name) const;
  // Column names, in schema order.
  const std::vector<std::string>& names() const;
  const Schema& schema() const;

  // The columns without the TARGET tag / only those with it.
  Batch features() const;
  Batch targets() const;
  // The named columns, in that order; unknown names throw, listing the
  // available ones.
  Batch select(const std::vector<std::string>& names) const;
  // The rows `rows` (each in [0, rows())), in that order, copied: a batch
  // of rows.size() rows with every column.
  Batch take(std::span<const std::int64_t> rows) const;
  // A copy with `column` added (or replaced, by name): for transforms.
  // Rows must match rows().
  Batch with_column(const ColumnSchema& column, const Tensor& values) const;
  Batch with_column(const ColumnSchema& column, const RaggedTensor& values) const;

  // The batch's rows as a Dataset of its schema, sharing its tensors.
  Dataset to_dataset() const;

  // Each column's name and numpy-like values (see Tensor::str).
  std::string str(int edge_items = 3) const;

 private:
  struct Entry {
    Tensor dense;         // dense columns
    RaggedTensor ragged;  // list columns
  };
  friend class detail::EpochRun;
  friend struct detail::LoaderAccess;
  Batch(std::shared_ptr<const detail::BatchLayout> layout, std::vector<Entry> columns,
        std::int64_t rows);
  std::size_t index_of(std::string_view name) const;  // throws for an unknown name
  Batch subset(std::shared_ptr<const detail::BatchLayout> layout,
               const std::vector<std::size_t>& indices) const;

  std::shared_ptr<const detail::BatchLayout> layout_;
  std::vector<Entry> columns_;
  std::int64_t rows_ = 0;
};

std::ostream& operator<<(std::ostream& os, const Batch& batch);

struct LoaderOptions {
  // Rows per batch (> 0). The last batch of an epoch may be shorter.
  std::int64_t batch_size = 1024;
  // A new random order each epoch; without it rows come in dataset order.
  bool shuffle = true;
  // With the epoch number, determines every epoch's order.
  std::uint64_t seed = 0;
  // Drop the last batch of an epoch when it has fewer than batch_size rows.
  bool drop_last = false;
  // Batches prepared ahead by a background thread; 0 = on the caller's
  // thread, when the iterator advances.
  int prefetch = 2;
  // Shuffle only: memory the loader may use for a row-major copy of the
  // fixed-width columns (4-byte multiples: int32, float32, int64, fixed
  // lists) and of short lists (up to 15 values of 4 bytes, stored with
  // their length, padded to the longest row). A shuffled gather then reads
  // one cache line per row instead of one per column (each a cache miss
  // on a dataset larger than the cache): several times faster. The copy is
  // made when the Loader is constructed (about 10 ms per million rows of
  // the seed's 7 columns, 32 bytes a row) and is a snapshot: later writes
  // into the dataset's tensors are not seen. Above this size, or at 0,
  // columns are gathered one by one from the dataset itself.
  std::int64_t row_cache_bytes = std::int64_t{1} << 30;
  // Applied to each batch after gathering, on the producer thread (so it
  // overlaps the caller's work when prefetch > 0), like Merlin's
  // `transforms`; a streaming loader applies it on the caller's thread.
  // Its exceptions reach the caller.
  //   .transform = [](rb::Batch b) { return b.with_column(col, f(b)); }
  std::function<Batch(Batch)> transform = nullptr;
  // Streaming (Loader(DataSourcePtr)) only: chunks whose rows are shuffled
  // together (> 0). A window of w row groups of r rows holds w * r rows;
  // the loader needs about six windows of memory (see above). Larger
  // windows mix rows from more of the data, smaller ones use less memory.
  std::int64_t shuffle_window = 4;
};

class Loader {
 public:
  // Throws ValueError for batch_size <= 0 or prefetch < 0.
  explicit Loader(Dataset dataset, LoaderOptions options = {});
  // Streams `source` (see above). Throws ValueError as above, and for
  // shuffle_window <= 0 or a null source.
  explicit Loader(DataSourcePtr source, LoaderOptions options = {});
  ~Loader();
  Loader(Loader&&) noexcept;
  Loader& operator=(Loader&&) noexcept;

  class Iterator;
  // Starts the next epoch (see epoch()) and positions at its first batch.
  Iterator begin();
  std::default_sentinel_t end() const { return {}; }

  // Batches per epoch: ceil(rows / batch_size), or floor with drop_last.
  std::int64_t num_batches() const;
  // The epoch that the next begin() runs (0, 1, 2, ...); set it to resume.
  std::uint64_t epoch() const { return epoch_; }
  void set_epoch(std::uint64_t epoch) { epoch_ = epoch; }
  // The row order of an epoch: a permutation of [0, rows) (the identity
  // without shuffle): Fisher-Yates whose i-th draw is mix64(key + i), the
  // key from (seed, epoch), so it is a function of (seed, epoch, rows).
  // In-memory loaders only (ValueError for a streaming one).
  std::vector<std::int64_t> epoch_order(std::uint64_t epoch) const;

  bool streaming() const { return stream_ != nullptr; }
  // The dataset of an in-memory loader (ValueError for a streaming one).
  const Dataset& dataset() const;
  // What it reads: the source, or the dataset as one.
  const Schema& schema() const;
  std::int64_t num_rows() const;
  const LoaderOptions& options() const;

 private:
  friend struct detail::LoaderAccess;
  // A streaming loader's window: its row cache in `arena`'s memory.
  Loader(Dataset dataset, LoaderOptions options, detail::CacheArena* arena);

  std::shared_ptr<const detail::LoaderPlan> plan_;    // in memory
  std::shared_ptr<const detail::StreamPlan> stream_;  // streaming
  std::uint64_t epoch_ = 0;
};

// An input iterator over one epoch's batches. Move-only: it owns the epoch
// (and the prefetch thread, which it stops when destroyed).
class Loader::Iterator {
 public:
  using value_type = Batch;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::input_iterator_tag;

  Iterator();  // the end of an epoch
  Iterator(Iterator&&) noexcept;
  Iterator& operator=(Iterator&&) noexcept;
  ~Iterator();

  // The current batch; valid until the iterator advances (copy the Batch
  // to keep it longer).
  const Batch& operator*() const;
  const Batch* operator->() const { return &**this; }
  // Rethrows an exception raised while preparing the next batch.
  Iterator& operator++();
  void operator++(int) { ++*this; }
  // Index of the current batch in the epoch.
  std::int64_t batch_index() const { return index_; }

  friend bool operator==(const Iterator& it, std::default_sentinel_t) { return it.done_; }

 private:
  friend class Loader;
  explicit Iterator(std::unique_ptr<detail::BatchRun> run);

  std::unique_ptr<detail::BatchRun> run_;
  Batch current_;
  std::int64_t index_ = 0;
  bool done_ = true;
};

}  // namespace recblocks
