// Data sources (source.h) and the streaming Loader: every row once per
// epoch, full batches across chunks and windows, rows shuffled within a
// window, the same batches as the in-memory loader without shuffle, errors
// from the reader thread, and fit/evaluate on a source.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "data/loader_testing.h"
#include "io/test_files.h"
#include "model/model_testing.h"
#include "recblocks/data/loader.h"
#include "recblocks/data/source.h"
#include "recblocks/io/npy.h"
#include "recblocks/model/model.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
using testing::expect_consistent;
using testing::flatten;
using ::testing::HasSubstr;
using testing::ids_of;
using testing::indexed_dataset;
using testing::run_epoch;

std::vector<std::int32_t> sorted(std::vector<std::int32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::int32_t> iota_ids(std::int64_t n) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int32_t>(i);
  return v;
}

void expect_same_dataset(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.num_rows(), b.num_rows());
  ASSERT_EQ(a.schema().column_names(), b.schema().column_names());
  for (const auto& [name, column] : a.columns()) {
    EXPECT_TRUE(testing::tensors_bitwise_equal(column.values, b.column(name).values)) << name;
    if (column.is_list()) {
      EXPECT_TRUE(testing::tensors_bitwise_equal(column.offsets, b.column(name).offsets)) << name;
    }
  }
}

TEST(DatasetConcat, JoinsRowsAndListOffsets) {
  const Dataset all = indexed_dataset(23);
  const Dataset joined =
      Dataset::concat({all.slice_rows(0, 5), all.slice_rows(5, 5), all.slice_rows(5, 23)});
  expect_same_dataset(joined, all);
  EXPECT_THAT(testing::error_of([&] {
                Dataset::concat({all, all.select_by_name({"id"})});
              }),
              HasSubstr("part 1 has no column 'x'"));
}

TEST(NpySource, ChunksAreTheDirectorysRows) {
  testing::TempDir dir;
  const Dataset all = indexed_dataset(50);
  all.save(dir.path() / "d");
  const DataSourcePtr source = npy_source(dir.path() / "d", 7);
  EXPECT_EQ(source->num_rows(), 50);
  EXPECT_EQ(source->num_chunks(), 8);
  EXPECT_EQ(source->chunk_rows(7), 1);
  for (std::int64_t c = 0; c < source->num_chunks(); ++c) {
    expect_same_dataset(source->read_chunk(c),
                        all.slice_rows(7 * c, std::min<std::int64_t>(50, 7 * c + 7)));
  }
  const Dataset two = source->read_chunk(2, {"pair", "genres"});
  EXPECT_EQ(two.schema().column_names(), (std::vector<std::string>{"pair", "genres"}));
  EXPECT_THROW(source->read_chunk(8), ValueError);
  EXPECT_THROW(source->read_chunk(0, {"nope"}), ValueError);
  EXPECT_THROW(npy_source(dir.path() / "d", 0), ValueError);
  // The in-memory source cuts the same chunks.
  const DataSourcePtr memory = in_memory_source(all, 7);
  for (std::int64_t c = 0; c < memory->num_chunks(); ++c) {
    expect_same_dataset(memory->read_chunk(c), source->read_chunk(c));
  }
}

TEST(NpySource, ChecksTheDirectoryAndEachChunksOffsets) {
  testing::TempDir dir;
  indexed_dataset(30).save(dir.path() / "d");
  fs::remove(dir.path() / "d" / "x.npy");
  EXPECT_THAT(testing::error_of([&] { npy_source(dir.path() / "d"); }),
              HasSubstr("x.npy: missing file for column 'x'"));

  indexed_dataset(30).save(dir.path() / "e");
  // Offsets that go back: refused when their chunk is read, naming the file.
  const fs::path offsets = dir.path() / "e" / "genres.offsets.npy";
  Tensor o = io::read_npy(offsets, false);
  o.data<std::int64_t>()[20] = 1;
  io::write_npy(offsets, o);
  const DataSourcePtr source = npy_source(dir.path() / "e", 10);
  EXPECT_NO_THROW(source->read_chunk(0));
  EXPECT_THAT(testing::error_of([&] { source->read_chunk(1); }),
              HasSubstr("genres.offsets.npy: column 'genres': offsets[20] = 1"));

  // A file cut short after the source was made: an error naming it, from
  // the loader's reader thread to the caller.
  indexed_dataset(30).save(dir.path() / "f");
  const DataSourcePtr cut = npy_source(dir.path() / "f", 10);
  fs::resize_file(dir.path() / "f" / "x.npy", 128 + 4 * 15);
  Loader loader(cut, {.batch_size = 4, .shuffle = false, .prefetch = 2});
  EXPECT_THAT(testing::error_of([&] {
                for (const Batch& b : loader) (void)b;
              }),
              HasSubstr("x.npy: truncated .npy file"));
}

TEST(StreamingLoader, WithoutShuffleGivesTheInMemoryBatches) {
  const Dataset all = indexed_dataset(103);
  for (const int prefetch : {0, 2}) {
    for (const std::int64_t window : {1, 2, 5}) {
      Loader memory(all, {.batch_size = 5, .shuffle = false});
      Loader stream(
          in_memory_source(all, 7),
          {.batch_size = 5, .shuffle = false, .prefetch = prefetch, .shuffle_window = window});
      EXPECT_TRUE(stream.streaming());
      EXPECT_EQ(stream.num_batches(), 21);
      const auto batches = run_epoch(stream);
      EXPECT_EQ(batches, run_epoch(memory)) << "window " << window << ", prefetch " << prefetch;
      for (const Batch& b : stream) expect_consistent(b);
    }
  }
}

TEST(StreamingLoader, ShufflesWithinWindowsAndGivesEveryRowOnce) {
  const Dataset all = indexed_dataset(200);
  const LoaderOptions options{.batch_size = 4, .seed = 9, .shuffle_window = 2};
  Loader a(in_memory_source(all, 10), options);
  Loader b(in_memory_source(all, 10), options);
  const auto first = run_epoch(a);
  EXPECT_EQ(first, run_epoch(b));  // (seed, epoch) fix the order
  EXPECT_NE(first, run_epoch(a));  // the next epoch has another
  EXPECT_EQ(sorted(flatten(first)), iota_ids(200));
  EXPECT_NE(flatten(first), iota_ids(200));
  for (const auto& batch : first) EXPECT_EQ(batch.size(), 4u);
  // The first window's 20 rows come first: two whole chunks of 10.
  std::vector<std::int32_t> head = flatten(first);
  head.resize(20);
  std::set<std::int32_t> chunks;
  for (const std::int32_t id : head) chunks.insert(id / 10);
  EXPECT_EQ(chunks.size(), 2u);
  for (const std::int32_t c : chunks) {
    EXPECT_EQ(
        std::count_if(head.begin(), head.end(), [&](std::int32_t id) { return id / 10 == c; }), 10);
  }
  // The window's rows are mixed: its first 10 are not one chunk's.
  std::set<std::int32_t> first_ten;
  for (std::size_t i = 0; i < 10; ++i) first_ten.insert(head[i] / 10);
  EXPECT_EQ(first_ten.size(), 2u);
}

TEST(StreamingLoader, CarriesRowsAcrossWindowsAndDropsTheLastBatch) {
  const Dataset all = indexed_dataset(101);
  // Chunks of 7, windows of 1: every window leaves rows for the next one.
  Loader loader(in_memory_source(all, 7), {.batch_size = 10, .seed = 3, .shuffle_window = 1});
  const auto batches = run_epoch(loader);
  ASSERT_EQ(batches.size(), 11u);
  for (std::size_t i = 0; i + 1 < batches.size(); ++i) EXPECT_EQ(batches[i].size(), 10u);
  EXPECT_EQ(batches.back().size(), 1u);
  EXPECT_EQ(sorted(flatten(batches)), iota_ids(101));
  for (const Batch& b : loader) expect_consistent(b);

  Loader dropping(in_memory_source(all, 7),
                  {.batch_size = 10, .seed = 3, .drop_last = true, .shuffle_window = 1});
  EXPECT_EQ(dropping.num_batches(), 10);
  EXPECT_EQ(run_epoch(dropping).size(), 10u);
}

TEST(StreamingLoader, EmptyChunksTransformAndErrors) {
  const Dataset all = indexed_dataset(12);
  const Dataset empty = all.slice_rows(0, 0);
  Loader loader(
      in_memory_source(all, 5),
      {.batch_size = 5, .shuffle = false, .transform = [](Batch b) { return b.select({"id"}); }});
  const auto batches = run_epoch(loader);
  EXPECT_EQ(batches.size(), 3u);
  for (const Batch& b : loader) EXPECT_EQ(b.size(), 1u);
  Loader none(in_memory_source(empty, 5), {.batch_size = 5});
  EXPECT_EQ(none.num_batches(), 0);
  EXPECT_TRUE(run_epoch(none).empty());

  EXPECT_THROW(Loader(in_memory_source(all), {.shuffle_window = 0}), ValueError);
  EXPECT_THROW(Loader(DataSourcePtr(), {}), ValueError);
  Loader stream(in_memory_source(all), {});
  EXPECT_THROW((void)stream.dataset(), ValueError);
  EXPECT_THROW((void)stream.epoch_order(0), ValueError);
  EXPECT_EQ(stream.num_rows(), 12);
  EXPECT_EQ(stream.schema().column_names(), all.schema().column_names());
}

TEST(StreamingFit, WithoutShuffleTrainsAsInMemory) {
  testing::OneThread one_thread;
  testing::TempDir dir;
  const Dataset data = testing::planted_dataset(1000);
  data.save(dir.path() / "d");
  Model memory = testing::small_seed_model(data, 4);
  Model stream = testing::small_seed_model(data, 4);
  memory.compile("adam");
  stream.compile("adam");
  const FitOptions options{.batch_size = 64, .epochs = 2, .shuffle = false, .progress = false};
  const History a = memory.fit(data, options);
  const History b = stream.fit(npy_source(dir.path() / "d", 150), options);
  EXPECT_TRUE(testing::same_state(memory, stream));
  EXPECT_EQ(a.epochs, b.epochs);
  const Logs ea = memory.evaluate(data, {.progress = false});
  const Logs eb = stream.evaluate(npy_source(dir.path() / "d", 150), {.progress = false});
  EXPECT_EQ(ea, eb);

  // Shuffled: it learns the planted signal as well as in memory.
  Model shuffled = testing::small_seed_model(data, 4);
  shuffled.compile(optim::Adam({.learning_rate = 1e-2f}));
  shuffled.fit(npy_source(dir.path() / "d", 100),
               {.batch_size = 64, .epochs = 4, .progress = false, .shuffle_window = 3});
  EXPECT_GT(shuffled.evaluate(data, {.progress = false})
                .at("rating_binary/binary_classification_task/auc"),
            0.75);

  EXPECT_THAT(
      testing::error_of([&] { shuffled.fit(npy_source(dir.path() / "d"), {.shuffle_window = 0}); }),
      HasSubstr("shuffle_window is 0"));
}

TEST(StreamingEvaluate, RefusesNonFiniteFeaturesBatchByBatch) {
  testing::TempDir dir;
  const Dataset data = testing::planted_dataset(300);
  Tensor te_a = data.column("TE_a").values;  // shares the dataset's storage
  te_a.data<float>()[250] = std::nanf("");
  data.save(dir.path() / "d");
  Model model = testing::small_seed_model(data);
  model.compile("adam");
  EXPECT_THAT(testing::error_of(
                  [&] { model.evaluate(npy_source(dir.path() / "d", 100), {.progress = false}); }),
              HasSubstr("TE_a"));
  EXPECT_NO_THROW(model.evaluate(npy_source(dir.path() / "d", 100),
                                 {.progress = false, .allow_non_finite = true}));
}

}  // namespace
}  // namespace recblocks
