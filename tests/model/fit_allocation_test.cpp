// Heap allocations per step of Model::fit on the seed notebook's model (the
// custom DLRM: embeddings of userId, movieId, the multi-hot title and
// gender, the target encodings -> MLP[64] in parallel, dot interaction with
// the continuous shortcut, MLP[64, 128, 512], binary classification with
// LogitsTemperatureScaler(2) and AUC) trained with Adam. A callback reads
// the allocation counts (testing/allocation_counter.cpp counts every
// operator new: the training thread's alone, which the scheduler cannot
// move between steps, and every thread's, the loader's prefetch thread
// included) at each batch end.
//
// The goal is none once warm, as the ops, the tape and the optimizer
// already manage (autograd/allocation_test.cpp). Today a steady step of
// fit makes kKnownPerStep allocations, all outside the ops and the
// optimizer, in the layers above them (read off backtraces of the
// counted calls):
//   14  RunContext::param: a std::map node per parameter per run
//       (blocks/block.h; this model has 14 parameters);
//   ~19 the blocks' forward: the Flow dicts and vectors that the feature
//       blocks, ParallelBlock/SequentialBlock, the concat aggregation,
//       DotProductInteraction (4: sorted_values, dot_interaction's list;
//       their vectors are reserved, not grown)
//       and MLPBlock build per run;
//   ~4  run_forward and the task: Flow::inputs (a shared_ptr to a copy of
//       the Batch, whose column vector is copied too), the task's loss,
//       prepare_targets (a float32 copy of the int32 targets);
//   ~1  the loader: the shared_ptr control block around the pooled batch
//       buffers and the Batch's column vector (on the prefetch thread,
//       which is why a step now and then counts one more).
// This test holds that number (lower it when one goes) and checks that it
// does not grow from step to step, so an allocation added to the step, or
// a buffer that grows every step, fails it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "recblocks/recblocks.h"
#include "testing/allocation_counter.h"

namespace recblocks {
namespace {

using testing::g_allocations;
using testing::g_counting;

// The seed's columns (seed_columns() of the CLI) at MovieLens-like sizes:
// titles are lists of 1-4 word ids, the target a logistic function of
// per-user and per-movie effects and a target encoding.
Dataset seed_like_dataset(std::int64_t rows, std::uint64_t seed) {
  constexpr std::int64_t kUsers = 300, kMovies = 200, kWords = 500;
  const Schema schema({
      ColumnSchema("userId", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID})
          .with_domain(0, kUsers - 1),
      ColumnSchema("movieId", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM_ID})
          .with_domain(0, kMovies - 1),
      ColumnSchema("title", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM})
          .with_domain(0, kWords - 1)
          .with_list(true),
      ColumnSchema("gender", DType::kInt32, {Tags::CATEGORICAL, Tags::USER}).with_domain(0, 2),
      ColumnSchema("TE_zipcode_rating", DType::kFloat32, {Tags::CONTINUOUS, Tags::USER}),
      ColumnSchema("TE_movieId_rating", DType::kFloat32, {Tags::CONTINUOUS, Tags::ITEM}),
      ColumnSchema("rating_binary", DType::kInt32, {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
  });
  Rng rng(seed);
  std::vector<float> user_effect(kUsers), movie_effect(kMovies);
  for (float& e : user_effect) e = rng.normal();
  for (float& e : movie_effect) e = rng.normal();
  std::vector<std::int32_t> user(rows), movie(rows), gender(rows), label(rows), words;
  std::vector<std::int64_t> offsets{0};
  std::vector<float> te_zip(rows), te_movie(rows);
  for (std::int64_t i = 0; i < rows; ++i) {
    user[i] = static_cast<std::int32_t>(rng.next_u64() % kUsers);
    movie[i] = static_cast<std::int32_t>(rng.next_u64() % kMovies);
    gender[i] = user[i] % 3;
    // A movie's title is always the same words.
    const std::int64_t length = 1 + movie[i] % 4;
    for (std::int64_t w = 0; w < length; ++w)
      words.push_back(static_cast<std::int32_t>((movie[i] * 7 + w * 13) % kWords));
    offsets.push_back(static_cast<std::int64_t>(words.size()));
    te_zip[i] = 0.5f * user_effect[user[i]] + 0.3f * rng.normal();
    te_movie[i] = 0.5f * movie_effect[movie[i]] + 0.3f * rng.normal();
    const float score = user_effect[user[i]] + movie_effect[movie[i]];
    label[i] = rng.uniform() < 1.0f / (1.0f + std::exp(-score)) ? 1 : 0;
  }
  auto i32 = [&](const std::vector<std::int32_t>& v) {
    return Column{Tensor::from<std::int32_t>({static_cast<std::int64_t>(v.size())}, v), {}};
  };
  auto f32 = [&](const std::vector<float>& v) {
    return Column{Tensor::from<float>({rows}, v), {}};
  };
  Column title = i32(words);
  title.offsets = Tensor::from<std::int64_t>({rows + 1}, offsets);
  return Dataset(schema, {{"userId", i32(user)},
                          {"movieId", i32(movie)},
                          {"title", title},
                          {"gender", i32(gender)},
                          {"TE_zipcode_rating", f32(te_zip)},
                          {"TE_movieId_rating", f32(te_movie)},
                          {"rating_binary", i32(label)}});
}

// The seed notebook's model, as examples/define_your_own_architecture.cpp
// writes it (and `recblocks train --model custom-dlrm` builds it).
Model seed_model(const Schema& schema) {
  const auto continuous = ContinuousFeatures::from_schema(schema, Tags::CONTINUOUS);
  const auto deep_continuous = continuous.connect(MLPBlock({64}));
  const auto embeddings = EmbeddingFeatures::from_schema(schema);  // dim 64
  const auto inputs =
      ParallelBlock({{"embeddings", embeddings}, {"deep_continuous", deep_continuous}});
  const auto interaction = inputs.connect_with_shortcut(
      DotProductInteractionBlock(),
      {.shortcut_filter = Filter("deep_continuous"), .aggregation = "concat"});
  const auto deep = interaction.connect(MLPBlock({64, 128, 512}));
  return deep.connect(BinaryClassificationTask(
      "rating_binary", {.metrics = {metrics::AUC()}, .pre = LogitsTemperatureScaler(2.0)}));
}

// Turns counting on at the start of training and records the running count
// at each batch end.
class AllocationRecorder final : public Callback {
 public:
  void on_train_begin(Model& /*model*/) override {
    counts.reserve(1024);  // before counting starts: the record itself never allocates
    all_threads.reserve(1024);
    start = testing::this_thread_allocations();
    g_allocations = 0;
    g_counting = true;
  }
  void on_batch_end(Model& /*model*/, std::int64_t /*step*/, const Logs& logs) override {
    counts.push_back(testing::this_thread_allocations() - start);
    all_threads.push_back(g_allocations.load());
    last_loss = logs.at("loss");
  }
  void on_train_end(Model& /*model*/) override { g_counting = false; }

  // The training thread's allocations (per step: exact, whatever the
  // scheduler does), and every thread's (the loader's prefetch thread
  // included, whose allocations land in one step or another).
  std::vector<long> counts;
  std::vector<long> all_threads;
  long start = 0;
  double last_loss = 0;
};

// Allocations of each step after the first `warm_up` steps.
std::vector<long> per_step(const std::vector<long>& counts, std::size_t warm_up) {
  std::vector<long> steps;
  for (std::size_t i = warm_up; i < counts.size(); ++i) steps.push_back(counts[i] - counts[i - 1]);
  return steps;
}

// The most frequent count in `steps`.
long mode(const std::vector<long>& steps) {
  std::map<long, int> seen;
  for (long n : steps) ++seen[n];
  long best = -1;
  int best_count = 0;
  for (const auto& [n, count] : seen) {
    if (count > best_count) std::tie(best, best_count) = std::pair{n, count};
  }
  return best;
}

// The steady count per step. kLoaderSlack: what the loader's thread adds
// over a whole epoch: a step now and then counts one more (its pooled
// buffers' control block lands in one step or the next), and the buffer
// pool allocates another set of batch buffers (~20 allocations) whenever
// the prefetch thread runs further ahead than before, a few times at most.
// The training thread's steady count; the loader's prefetch thread adds
// about kLoaderPerStep per step (counted in the total only).
constexpr long kKnownPerStep = 36;
constexpr long kLoaderPerStep = 2;
constexpr long kLoaderSlack = 100;

TEST(FitAllocation, SeedModelStepsWithAdamAllocateAFixedSteadyAmount) {
  const Dataset train = seed_like_dataset(64 * 40, 5);
  Model model = seed_model(train.schema());
  model.compile(optim::Adam());
  auto recorder = std::make_shared<AllocationRecorder>();
  // One epoch of 40 steps; no per-step training metrics (AUC keeps every
  // prediction of the epoch) and no progress bar.
  const History history = model.fit(train, {.batch_size = 64,
                                            .epochs = 1,
                                            .train_metrics_steps = 0,
                                            .callbacks = {recorder},
                                            .progress = false});
  ASSERT_EQ(recorder->counts.size(), 40u);
  EXPECT_TRUE(std::isfinite(recorder->last_loss));
  EXPECT_LT(history["loss"][0], 0.7);
  EXPECT_GT(recorder->counts[0], kKnownPerStep) << "the first step warms up: it must allocate more";

  const std::vector<long> steps = per_step(recorder->counts, 3);
  ::testing::Message all;
  for (long n : steps) all << n << " ";
  EXPECT_EQ(mode(steps), kKnownPerStep) << "operator new calls in most steady steps (all: " << all
                                        << "); if it went down, lower kKnownPerStep";
  // Not growing: the last ten steps are as the others.
  EXPECT_EQ(mode(std::vector<long>(steps.end() - 10, steps.end())), kKnownPerStep) << all;
  const std::vector<long> every_thread = per_step(recorder->all_threads, 3);
  long total = 0;
  for (long n : every_thread) total += n;
  EXPECT_LE(total, static_cast<long>(every_thread.size()) * (kKnownPerStep + kLoaderPerStep) +
                       kLoaderSlack)
      << all;
}

}  // namespace
}  // namespace recblocks
