#include "recblocks/data/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "data/loader_testing.h"
#include "io/test_files.h"
#include "testing/tensor_testing.h"

namespace rb = recblocks;

namespace recblocks {
namespace {

using testing::expect_consistent;
using testing::flatten;
using ::testing::HasSubstr;
using testing::ids_of;
using testing::indexed_dataset;
using testing::run_epoch;

TEST(Batch, TakeCopiesTheNamedRowsOfEveryColumn) {
  const Batch all(indexed_dataset(9));
  const std::vector<std::int64_t> rows{7, 2, 2, 0, 5};
  const Batch some = all.take(rows);
  EXPECT_EQ(some.rows(), 5);
  EXPECT_EQ(some.names(), all.names());
  EXPECT_EQ(ids_of(some), (std::vector<std::int32_t>{7, 2, 2, 0, 5}));
  expect_consistent(some);  // dense, fixed-length and ragged columns
  EXPECT_EQ(all.take(std::vector<std::int64_t>{}).rows(), 0);
  EXPECT_THAT(testing::error_of([&] {
                all.take(std::vector<std::int64_t>{1, 9});
              }),
              HasSubstr("rows[1] = 9 out of range for 9 rows"));
}

TEST(Loader, TheSeedsFirstBatchIdiomWorksAndTheBatchOutlivesTheLoader) {
  const Dataset valid = indexed_dataset(10);
  auto batch = *rb::Loader(valid, {.batch_size = 4, .shuffle = false}).begin();
  EXPECT_EQ(batch.rows(), 4);
  EXPECT_EQ(ids_of(batch), (std::vector<std::int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(batch.tensor("x").shape(), Shape({4}));
  EXPECT_EQ(batch.tensor("pair").shape(), Shape({4, 2}));
  expect_consistent(batch);
}

TEST(Loader, EveryRowAppearsExactlyOncePerShuffledEpochWithAShortLastBatch) {
  const Dataset train = indexed_dataset(10007);
  for (int prefetch : {0, 2}) {
    SCOPED_TRACE(prefetch);
    Loader loader(train, {.batch_size = 1000, .shuffle = true, .seed = 7, .prefetch = prefetch});
    EXPECT_EQ(loader.num_batches(), 11);
    for (int epoch = 0; epoch < 2; ++epoch) {
      std::int64_t batches = 0;
      std::vector<std::int32_t> all;
      for (const rb::Batch& b : loader) {
        EXPECT_EQ(b.rows(), batches < 10 ? 1000 : 7);
        expect_consistent(b);
        const auto ids = ids_of(b);
        all.insert(all.end(), ids.begin(), ids.end());
        ++batches;
      }
      EXPECT_EQ(batches, 11);
      std::vector<std::int32_t> sorted = all;
      std::sort(sorted.begin(), sorted.end());
      std::vector<std::int32_t> expected(10007);
      std::iota(expected.begin(), expected.end(), 0);
      EXPECT_EQ(sorted, expected);
      EXPECT_NE(all, expected);  // shuffled
    }
  }
}

TEST(Loader, EpochsDifferAndTheSameSeedGivesTheSameOrders) {
  const Dataset train = indexed_dataset(500);
  Loader a(train, {.batch_size = 64, .seed = 3});
  Loader b(train, {.batch_size = 64, .seed = 3});
  Loader c(train, {.batch_size = 64, .seed = 4});
  const auto a0 = run_epoch(a), a1 = run_epoch(a);
  const auto b0 = run_epoch(b), b1 = run_epoch(b);
  const auto c0 = run_epoch(c);
  EXPECT_EQ(a0, b0);
  EXPECT_EQ(a1, b1);
  EXPECT_NE(a0, a1);
  EXPECT_NE(a0, c0);
  EXPECT_EQ(a.epoch(), 2u);
  // epoch_order() is the order the batches come in; set_epoch replays.
  const std::vector<std::int64_t> order = a.epoch_order(1);
  const auto flat = flatten(a1);
  EXPECT_TRUE(std::equal(flat.begin(), flat.end(), order.begin(), order.end()));
  a.set_epoch(1);
  EXPECT_EQ(run_epoch(a), a1);
}

TEST(Loader, ShuffleIsUniformEnough) {
  // Where row 0 lands, and whether rows stay in place, over many epochs: a
  // biased or Sattolo-style (no fixed points) shuffle fails this.
  const std::int64_t n = 8, epochs = 8000;
  Loader loader(indexed_dataset(n), {.batch_size = n, .seed = 11, .prefetch = 0});
  std::vector<int> position_of_zero(n, 0);
  int fixed_points = 0;
  for (std::int64_t e = 0; e < epochs; ++e) {
    const auto order = loader.epoch_order(static_cast<std::uint64_t>(e));
    for (std::int64_t i = 0; i < n; ++i) {
      if (order[i] == 0) ++position_of_zero[i];
      if (order[i] == i) ++fixed_points;
    }
  }
  for (std::int64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(position_of_zero[i], epochs / n, 0.15 * epochs / n) << "position " << i;
  }
  EXPECT_NEAR(fixed_points, epochs, 0.1 * epochs);  // one fixed point per permutation on average
}

TEST(Loader, DropLastDropsTheShortBatch) {
  const Dataset train = indexed_dataset(10007);
  Loader loader(train, {.batch_size = 1000, .seed = 1, .drop_last = true});
  EXPECT_EQ(loader.num_batches(), 10);
  const auto batches = run_epoch(loader);
  EXPECT_EQ(batches.size(), 10u);
  for (const auto& b : batches) EXPECT_EQ(b.size(), 1000u);
  Loader exact(indexed_dataset(3000), {.batch_size = 1000, .drop_last = true});
  EXPECT_EQ(exact.num_batches(), 3);
  Loader too_small(indexed_dataset(999), {.batch_size = 1000, .drop_last = true});
  EXPECT_EQ(too_small.num_batches(), 0);
  EXPECT_TRUE(run_epoch(too_small).empty());
}

TEST(Loader, WithoutShuffleRowsComeInDatasetOrder) {
  const Dataset d = indexed_dataset(10);
  for (int prefetch : {0, 1}) {
    Loader loader(d, {.batch_size = 4, .shuffle = false, .prefetch = prefetch});
    const auto batches = run_epoch(loader);
    ASSERT_EQ(batches.size(), 3u);
    EXPECT_EQ(batches[2], (std::vector<std::int32_t>{8, 9}));
    std::vector<std::int32_t> expected(10);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(flatten(batches), expected);
    for (const Batch& b : loader) expect_consistent(b);
  }
}

TEST(Loader, ListColumnsAreGatheredRowByRow) {
  Loader loader(indexed_dataset(37), {.batch_size = 8, .seed = 5, .prefetch = 0});
  std::int64_t total_values = 0;
  for (const Batch& b : loader) {
    expect_consistent(b);
    const RaggedTensor& g = b.ragged("genres");
    EXPECT_EQ(g.offsets().dtype(), DType::kInt64);
    EXPECT_EQ(g.offsets().item(0), 0.0);
    total_values += g.nnz();
  }
  std::int64_t expected = 0;
  for (std::int64_t r = 0; r < 37; ++r) expected += r % 4;
  EXPECT_EQ(total_values, expected);
}

TEST(Loader, PrefetchZeroAndTwoGiveIdenticalBatches) {
  const Dataset d = indexed_dataset(5000);
  Loader sync(d, {.batch_size = 300, .seed = 9, .prefetch = 0});
  Loader async(d, {.batch_size = 300, .seed = 9, .prefetch = 2});
  for (int epoch = 0; epoch < 2; ++epoch) {
    auto it = async.begin();
    std::int64_t n = 0;
    for (const Batch& s : sync) {
      ASSERT_FALSE(it == async.end());
      const Batch& a = *it;
      EXPECT_EQ(it.batch_index(), n);
      for (const std::string& name : s.names()) {
        SCOPED_TRACE(name);
        if (s.is_list(name)) {
          EXPECT_TRUE(
              testing::tensors_bitwise_equal(s.ragged(name).values(), a.ragged(name).values()));
          EXPECT_TRUE(
              testing::tensors_bitwise_equal(s.ragged(name).offsets(), a.ragged(name).offsets()));
        } else {
          EXPECT_TRUE(testing::tensors_bitwise_equal(s.tensor(name), a.tensor(name)));
        }
      }
      ++it;
      ++n;
    }
    EXPECT_TRUE(it == async.end());
    EXPECT_EQ(n, 17);
  }
}

TEST(Loader, BatchesKeptByTheCallerStayValid) {
  const Dataset d = indexed_dataset(2000);
  for (int prefetch : {0, 3}) {
    Loader loader(d, {.batch_size = 100, .seed = 2, .prefetch = prefetch});
    std::vector<Batch> kept;
    std::vector<std::vector<std::int32_t>> seen;
    for (const Batch& b : loader) {
      kept.push_back(b);
      seen.push_back(ids_of(b));
    }
    ASSERT_EQ(kept.size(), 20u);
    for (std::size_t i = 0; i < kept.size(); ++i) {
      EXPECT_EQ(ids_of(kept[i]), seen[i]);
      expect_consistent(kept[i]);
    }
    // Tensors alone keep their storage too.
    Tensor x = kept[0].tensor("x");
    const std::vector<float> before = x.to_vector();
    kept.clear();
    for (const Batch& b : loader) expect_consistent(b);
    EXPECT_EQ(x.to_vector(), before);
  }
}

TEST(Loader, BuffersAreRecycledWhenBatchesAreDropped) {
  const Dataset d = indexed_dataset(5000);
  {
    Loader loader(d, {.batch_size = 100, .seed = 2, .prefetch = 0});
    std::set<const void*> buffers;
    for (const Batch& b : loader) buffers.insert(b.tensor("x").raw());
    EXPECT_EQ(buffers.size(), 1u);  // the single buffer goes back before each gather
  }
  {
    Loader loader(d, {.batch_size = 100, .seed = 2, .prefetch = 2});
    std::set<const void*> buffers;
    for (int epoch = 0; epoch < 3; ++epoch) {
      for (const Batch& b : loader) buffers.insert(b.tensor("x").raw());
    }
    // In flight at most: the queue (2), the one being gathered, the current one.
    EXPECT_LE(buffers.size(), 4u);
  }
}

// indexed_dataset plus an int64 column big = id * 2^33 and a list column
// tags whose row r holds r % 20 values (longer than the row cache takes).
Dataset wide_dataset(std::int64_t rows) {
  const Dataset base = indexed_dataset(rows);
  std::map<std::string, Column> columns(base.columns().begin(), base.columns().end());
  Tensor big = Tensor::empty({rows}, DType::kInt64);
  Tensor offsets = Tensor::empty({rows + 1}, DType::kInt64);
  std::vector<float> tags;
  offsets.data<std::int64_t>()[0] = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    big.data<std::int64_t>()[r] = r << 33;
    for (std::int64_t k = 0; k < r % 20; ++k) tags.push_back(static_cast<float>(r) + 0.5f);
    offsets.data<std::int64_t>()[r + 1] = static_cast<std::int64_t>(tags.size());
  }
  columns["big"] = {big, Tensor()};
  columns["tags"] = {Tensor::from<float>({static_cast<std::int64_t>(tags.size())}, tags), offsets};
  const Schema schema =
      base.schema() + Schema({
                          ColumnSchema("big", DType::kInt64, {Tags::CATEGORICAL}),
                          ColumnSchema("tags", DType::kFloat32, {Tags::CONTINUOUS}).with_list(true),
                      });
  return Dataset(schema, columns);
}

void expect_wide_consistent(const Batch& b) {
  expect_consistent(b);
  const std::vector<std::int32_t> ids = ids_of(b);
  const RaggedTensor& tags = b.ragged("tags");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t r = ids[i];
    ASSERT_EQ(b.tensor("big").data<std::int64_t>()[i], r << 33);
    ASSERT_EQ(tags.row_length(static_cast<std::int64_t>(i)), r % 20);
    for (std::int64_t k = 0; k < r % 20; ++k) {
      ASSERT_EQ(tags.values().data<float>()[tags.row_begin(static_cast<std::int64_t>(i)) + k],
                static_cast<float>(r) + 0.5f);
    }
  }
}

TEST(Loader, TheRowCacheChangesNothingButSpeed) {
  // With the cache (int32, float32, int64, fixed and short lists cached;
  // the long list gathered by row), with one too small to be used, and
  // without one: the same batches.
  const Dataset d = wide_dataset(3000);
  for (int prefetch : {0, 2}) {
    SCOPED_TRACE(prefetch);
    Loader cached(d, {.batch_size = 128, .seed = 5, .prefetch = prefetch});
    Loader too_small(d,
                     {.batch_size = 128, .seed = 5, .prefetch = prefetch, .row_cache_bytes = 1000});
    Loader uncached(d, {.batch_size = 128, .seed = 5, .prefetch = prefetch, .row_cache_bytes = 0});
    for (int epoch = 0; epoch < 2; ++epoch) {
      auto a = cached.begin(), b = too_small.begin(), c = uncached.begin();
      std::int64_t n = 0;
      for (; a != cached.end(); ++a, ++b, ++c, ++n) {
        ASSERT_FALSE(b == too_small.end());
        ASSERT_FALSE(c == uncached.end());
        expect_wide_consistent(*a);
        for (const std::string& name : a->names()) {
          SCOPED_TRACE(name);
          for (const Loader::Iterator* other : {&b, &c}) {
            if (a->is_list(name)) {
              EXPECT_TRUE(testing::tensors_bitwise_equal(a->ragged(name).values(),
                                                         (**other).ragged(name).values()));
              EXPECT_TRUE(testing::tensors_bitwise_equal(a->ragged(name).offsets(),
                                                         (**other).ragged(name).offsets()));
            } else {
              EXPECT_TRUE(testing::tensors_bitwise_equal(a->tensor(name), (**other).tensor(name)));
            }
          }
        }
      }
      EXPECT_EQ(n, 24);
      EXPECT_TRUE(b == too_small.end());
      EXPECT_TRUE(c == uncached.end());
    }
  }
}

TEST(Loader, LeavingTheLoopEarlyOrDroppingTheLoaderMidEpochDoesNotHang) {
  const Dataset d = indexed_dataset(20000);
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 50; ++round) {
    Loader loader(d, {.batch_size = 64, .seed = static_cast<std::uint64_t>(round), .prefetch = 2});
    int seen = 0;
    for (const Batch& b : loader) {
      expect_consistent(b);
      if (++seen == round % 4) break;
    }
  }
  // An iterator may outlive its Loader: it shares the loader's state.
  auto it = Loader(d, {.batch_size = 64, .seed = 1, .prefetch = 2}).begin();
  ++it;
  ++it;
  expect_consistent(*it);
  EXPECT_EQ(it.batch_index(), 2);
  it = Loader::Iterator();  // stops that epoch's producer
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(Loader, ProducerExceptionsReachTheCaller) {
  const Dataset d = indexed_dataset(1000);
  for (int prefetch : {0, 2}) {
    SCOPED_TRACE(prefetch);
    int produced = 0;
    Loader loader(d, {.batch_size = 100, .prefetch = prefetch, .transform = [&produced](Batch b) {
                        if (++produced == 4) throw ValueError("transform failed on batch 3");
                        return b;
                      }});
    int seen = 0;
    try {
      for (const Batch& b : loader) {
        expect_consistent(b);
        ++seen;
      }
      FAIL() << "expected the transform's ValueError";
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), HasSubstr("transform failed on batch 3"));
    }
    EXPECT_EQ(seen, 3);
    // The next epoch starts afresh.
    produced = 100;
    EXPECT_EQ(run_epoch(loader).size(), 10u);
  }
}

TEST(Loader, TransformCanAddColumns) {
  const ColumnSchema doubled("x2", DType::kFloat32, {Tags::CONTINUOUS});
  Loader loader(indexed_dataset(50), {.batch_size = 16, .seed = 4, .transform = [&](Batch b) {
                                        Tensor x2 = b.tensor("x").clone();
                                        for (float& v : std::span(x2.data<float>(), x2.numel()))
                                          v *= 2;
                                        return b.with_column(doubled, x2);
                                      }});
  for (const Batch& b : loader) {
    ASSERT_TRUE(b.contains("x2"));
    EXPECT_EQ(b.names().back(), "x2");
    EXPECT_EQ(b.schema().column("x2").dtype(), DType::kFloat32);
    for (std::int64_t i = 0; i < b.rows(); ++i) {
      EXPECT_EQ(b.tensor("x2").data<float>()[i], 2 * b.tensor("x").data<float>()[i]);
    }
  }
}

TEST(Batch, FeaturesAndTargetsSplitByTheTargetTag) {
  const Batch b = *Loader(indexed_dataset(10), {.batch_size = 5, .shuffle = false}).begin();
  EXPECT_EQ(b.names(), (std::vector<std::string>{"id", "x", "genres", "pair", "label"}));
  const Batch f = b.features();
  const Batch t = b.targets();
  EXPECT_EQ(f.names(), (std::vector<std::string>{"id", "x", "genres", "pair"}));
  EXPECT_EQ(t.names(), std::vector<std::string>{"label"});
  EXPECT_EQ(f.schema().column_names(), f.names());
  EXPECT_TRUE(t.schema().column("label").has_tag(Tags::BINARY_CLASSIFICATION));
  EXPECT_EQ(t.rows(), 5);
  EXPECT_EQ(t.tensor("label").raw(), b.tensor("label").raw());  // shared, not copied
  EXPECT_FALSE(f.contains("label"));
  EXPECT_TRUE(f.targets().empty());
  EXPECT_EQ(f.features().names(), f.names());
  EXPECT_EQ(b.select({"label", "id"}).names(), (std::vector<std::string>{"label", "id"}));
}

TEST(Batch, LookupErrorsNameTheColumnAndTheAlternatives) {
  const Batch b = *Loader(indexed_dataset(10), {.batch_size = 5, .shuffle = false}).begin();
  try {
    b.tensor("movieId");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no column 'movieId'"));
    EXPECT_THAT(e.what(), HasSubstr("id, x, genres, pair, label"));
  }
  try {
    b.tensor("genres");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'genres' is a list column"));
    EXPECT_THAT(e.what(), HasSubstr("ragged(\"genres\")"));
  }
  try {
    b.ragged("x");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'x' is not a list column"));
    EXPECT_THAT(e.what(), HasSubstr("[5]"));
  }
  EXPECT_THROW(b.select({"nope"}), ValueError);
  EXPECT_THROW(b.is_list("nope"), ValueError);
  EXPECT_THROW(b.with_column(ColumnSchema("y"), Tensor::zeros({4})), ShapeError);
}

TEST(Batch, PrintsEveryColumnLikeNumpy) {
  const Batch b = *Loader(indexed_dataset(10), {.batch_size = 4, .shuffle = false}).begin();
  std::ostringstream out;
  out << b;
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("Batch(rows=4, columns=5)"));
  EXPECT_THAT(text, HasSubstr("id: tensor(shape=[4], dtype=int32)\n[0, 1, 2, 3]"));
  EXPECT_THAT(text, HasSubstr("x: tensor(shape=[4], dtype=float32)\n[0., 0.5, 1., 1.5]"));
  EXPECT_THAT(text, HasSubstr("genres: ragged(rows=4, nnz=6, dtype=int32)"));
  EXPECT_THAT(text, HasSubstr("pair: tensor(shape=[4, 2], dtype=float32)"));
  EXPECT_THAT(text, HasSubstr("label: tensor(shape=[4], dtype=int32)\n[0, 1, 0, 1]"));
}

TEST(Batch, AWholeDatasetAsOneBatchSharesItsStorage) {
  const Dataset d = indexed_dataset(9);
  const Batch b(d);
  EXPECT_EQ(b.rows(), 9);
  EXPECT_EQ(b.tensor("x").raw(), d.column("x").values.raw());
  expect_consistent(b);
  EXPECT_EQ(b.targets().names(), std::vector<std::string>{"label"});
}

TEST(Loader, OptionsAreChecked) {
  const Dataset d = indexed_dataset(3);
  EXPECT_THROW(Loader(d, {.batch_size = 0}), ValueError);
  try {
    Loader(d, {.prefetch = -1});
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("prefetch is -1, expected >= 0"));
  }
}

TEST(Loader, EmptyDatasetHasNoBatches) {
  Loader loader(indexed_dataset(0), {.batch_size = 4});
  EXPECT_EQ(loader.num_batches(), 0);
  EXPECT_TRUE(loader.begin() == loader.end());
}

TEST(Loader, LoadsAMemoryMappedDataset) {
  testing::TempDir dir;
  indexed_dataset(3000).save(dir / "ds");
  Loader loader(Dataset::load(dir / "ds"), {.batch_size = 256, .seed = 8});
  std::int64_t rows = 0;
  for (const Batch& b : loader) {
    expect_consistent(b);
    rows += b.rows();
  }
  EXPECT_EQ(rows, 3000);
}

}  // namespace
}  // namespace recblocks
