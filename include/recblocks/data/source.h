// DataSource: a dataset read chunk by chunk, for data larger than memory.
//
//   rb::DataSourcePtr train = rb::npy_source("criteo/train");             // .npy directory
//   rb::DataSourcePtr train = rb::datasets::parquet_source("nvt/train");  // parquet.h
//   model.fit(train, {.batch_size = 1024});                               // streams it
//   for (const rb::Batch& b : rb::Loader(train, {.shuffle_window = 8})) { ... }
//
// A source has a schema, a number of rows and chunks of rows (a Parquet row
// group, or a range of rows of a .npy directory) that it reads on demand,
// from any thread. The Loader streams a source with bounded memory: see
// LoaderOptions::shuffle_window.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "recblocks/data/dataset.h"
#include "recblocks/schema/schema.h"

namespace recblocks {

class DataSource {
 public:
  virtual ~DataSource() = default;

  virtual const Schema& schema() const = 0;
  virtual std::int64_t num_rows() const = 0;
  virtual std::int64_t num_chunks() const = 0;
  // Rows of chunk `chunk` (in [0, num_chunks())); their sum is num_rows().
  virtual std::int64_t chunk_rows(std::int64_t chunk) const = 0;
  // Chunk `chunk` as a Dataset: every column, or the columns named (in
  // that order, as Dataset::select_by_name). Safe to call from several
  // threads at once. Throws ValueError for a chunk out of range or an
  // unknown name, Error naming the file when reading fails.
  virtual Dataset read_chunk(std::int64_t chunk,
                             const std::vector<std::string>& names = {}) const = 0;
  // Chunks `chunks` (in that order) as one Dataset of every column: a
  // streaming loader's window. The .npy and Parquet sources read them
  // straight into its tensors; the default joins read_chunk's.
  virtual Dataset read_chunks(std::span<const std::int64_t> chunks) const;
  // What it reads, for messages: "criteo/train (.npy, 45 chunks)".
  virtual std::string describe() const = 0;
};

using DataSourcePtr = std::shared_ptr<const DataSource>;

// A Dataset already in memory, as chunks of `chunk_rows` rows (> 0); a
// chunk shares the dataset's storage.
DataSourcePtr in_memory_source(Dataset data, std::int64_t chunk_rows = std::int64_t{1} << 20);

// A dataset directory (dataset.h) read chunk by chunk: each chunk's rows are
// read from the .npy files with pread into memory of its own, so the files'
// pages stay in the page cache and out of the process (a memory-mapped
// Dataset::load keeps every page it touched). The directory is checked as
// Dataset::load checks it when the source is made (schema, dtypes, shapes,
// offsets' first and last values); a list column's offsets are checked
// chunk by chunk as they are read. Chunks of `chunk_rows` rows (> 0).
DataSourcePtr npy_source(const std::filesystem::path& dir,
                         std::int64_t chunk_rows = std::int64_t{1} << 18);

// The columns `names` of `source` (in that order), as Dataset::select_by_name
// selects them; ValueError for a name the schema does not have.
DataSourcePtr select_columns(DataSourcePtr source, const std::vector<std::string>& names);

}  // namespace recblocks
