// Parity with an independent PyTorch implementation (bench/torch_ref,
// Debian's python3-torch on the CPU): the same model, the same initial
// weights (recblocks writes weights.safetensors, PyTorch loads them), the
// same rows in the same order, 50 steps; the losses must agree step by step
// and the final weights must agree. Both sides run fp32 on one thread.
//
//   SeedDLRM    the seed's custom DLRM on real ml-100k (Adam, SGD)
//   CriteoDLRM  facebookresearch/dlrm's Criteo Kaggle shape on synthetic
//               criteo data (SGD lr 0.1 with sparse gradients, Adam)
//
// The Python side is RECBLOCKS_TEST_PYTHON running bench/torch_ref/train.py;
// it writes its per-step losses (.npy) and final weights (safetensors, in
// recblocks' names and layout), which are compared here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "data/movielens_testing.h"
#include "recblocks/recblocks.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
using testing_ml::shared_data;
using testing_ml::TempDir;

constexpr int kSteps = 50;

// ---- the two sides ----------------------------------------------------------

struct Trajectory {
  std::vector<double> losses;              // per step, before its update
  std::map<std::string, Tensor> weights;   // after the last step
};

class LossRecorder final : public Callback {
 public:
  void on_batch_end(Model&, std::int64_t, const Logs& logs) override { losses.push_back(logs.at("loss")); }
  std::vector<double> losses;
};

struct RunOptions {
  std::string model;      // train.py --model: "seed" or "criteo"
  std::string optimizer;  // "adam" or "sgd"
  float learning_rate = 1e-3f;
  std::int64_t batch_size = 1024;
  bool shuffle = false;
  std::uint64_t seed = 0;  // the loader's
};

Optimizer make_optimizer(const RunOptions& o) {
  if (o.optimizer == "adam") return optim::Adam({.learning_rate = o.learning_rate});
  return optim::SGD({.learning_rate = o.learning_rate});
}

// Builds and saves `model` (dir/initial/weights.safetensors), fits one
// epoch of `data` (kSteps batches), and returns the losses and weights.
Trajectory fit_recblocks(Model model, const Dataset& data, const RunOptions& o, const fs::path& dir) {
  model.build(data.schema(), /*seed=*/3);
  model.compile(make_optimizer(o));
  model.save(dir / "initial");
  auto recorder = std::make_shared<LossRecorder>();
  model.fit(data, {.batch_size = o.batch_size,
                   .epochs = 1,
                   .shuffle = o.shuffle,
                   .seed = o.seed,
                   .train_metrics_steps = 0,
                   .callbacks = {recorder},
                   .progress = false});
  Trajectory t{recorder->losses, {}};
  for (const auto& [name, w] : model.state()) t.weights.emplace(name, w.clone());
  return t;
}

// Runs a command; returns its exit status and output (stdout and stderr).
std::pair<int, std::string> run(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed: " + command};
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The same run in PyTorch, from dir/initial/weights.safetensors.
Trajectory fit_torch(const fs::path& data_dir, const RunOptions& o, const fs::path& dir) {
  const fs::path script = fs::path(RECBLOCKS_SOURCE_DIR) / "bench" / "torch_ref" / "train.py";
  const fs::path losses = dir / "torch_losses.npy", weights = dir / "torch_weights.safetensors";
  const std::string command = fmt::format(
      "'{}' '{}' --model {} --data '{}' --optimizer {} --lr {} --batch-size {} --epochs 1 --seed {} {} "
      "--max-steps {} --threads-omp 1 --threads-blas 1 --init-weights '{}' --out-weights '{}' "
      "--out-losses '{}' --json",
      RECBLOCKS_TEST_PYTHON, script.string(), o.model, data_dir.string(), o.optimizer, o.learning_rate,
      o.batch_size, o.seed, o.shuffle ? "--shuffle" : "--no-shuffle", kSteps,
      (dir / "initial" / "weights.safetensors").string(), weights.string(), losses.string());
  const auto [status, output] = run(command);
  EXPECT_EQ(status, 0) << command << "\n" << output;
  Trajectory t;
  if (status != 0) return t;
  const Tensor l = io::read_npy(losses, false);
  for (std::int64_t i = 0; i < l.numel(); ++i) t.losses.push_back(l.data<float>()[i]);
  t.weights = io::read_safetensors(weights).tensors;
  return t;
}

// ---- the comparison ---------------------------------------------------------

struct Tolerances {
  double loss_relative;  // per step: |a - b| / |b|
  double weight_absolute;  // per element, every parameter
};

void expect_parity(const Trajectory& rb, const Trajectory& pt, const Tolerances& tol) {
  ASSERT_EQ(rb.losses.size(), static_cast<std::size_t>(kSteps));
  ASSERT_EQ(pt.losses.size(), static_cast<std::size_t>(kSteps));
  double worst_loss = 0;
  std::size_t worst_step = 0;
  for (std::size_t s = 0; s < rb.losses.size(); ++s) {
    const double rel = std::abs(rb.losses[s] - pt.losses[s]) / std::abs(pt.losses[s]);
    if (!(rel <= worst_loss)) {  // NaN counts as worst
      worst_loss = rel;
      worst_step = s;
    }
  }
  std::vector<std::string> rb_names, pt_names;
  for (const auto& [name, w] : rb.weights) rb_names.push_back(name);
  for (const auto& [name, w] : pt.weights) pt_names.push_back(name);
  ASSERT_EQ(rb_names, pt_names) << "the two sides' parameter names differ";
  double worst_weight = 0, moved = 0;
  std::string worst_name;
  for (const auto& [name, w] : rb.weights) {
    const Tensor& v = pt.weights.at(name);
    ASSERT_EQ(w.shape(), v.shape()) << name;
    const float* a = w.data<float>();
    const float* b = v.data<float>();
    for (std::int64_t i = 0; i < w.numel(); ++i) {
      const double d = std::abs(static_cast<double>(a[i]) - b[i]);
      if (!(d <= worst_weight)) {
        worst_weight = d;
        worst_name = name;
      }
    }
  }
  std::printf("parity: loss step 1 %.7f (recblocks) %.7f (torch), step %d %.7f %.7f\n", rb.losses.front(),
              pt.losses.front(), kSteps, rb.losses.back(), pt.losses.back());
  std::printf("parity: max relative loss difference %.3g (step %zu), max weight difference %.3g (%s)\n",
              worst_loss, worst_step + 1, worst_weight, worst_name.c_str());
  (void)moved;
  EXPECT_LE(worst_loss, tol.loss_relative) << "step " << worst_step + 1 << ": recblocks "
                                           << rb.losses[worst_step] << ", torch " << pt.losses[worst_step];
  EXPECT_LE(worst_weight, tol.weight_absolute) << "parameter " << worst_name;
  // The runs must have trained: a test comparing two idle runs cannot fail.
  EXPECT_LT(rb.losses.back(), rb.losses.front());
}

// ---- SeedDLRM on ml-100k ------------------------------------------------------

const std::vector<std::string>& seed_columns() {
  static const std::vector<std::string> columns = {
      "userId", "movieId", "title", "gender", "TE_zipcode_rating", "TE_movieId_rating", "rating_binary"};
  return columns;
}

// src/cli/architectures.cpp's seed_dlrm_body + seed_dlrm_task.
Model seed_dlrm(const Schema& schema) {
  const auto embeddings = EmbeddingFeatures::from_schema(schema, {.dim = 64});
  const auto continuous = ContinuousFeatures::from_schema(schema, Tags::CONTINUOUS).connect(MLPBlock({64}));
  const auto inputs = ParallelBlock({{"embeddings", embeddings}, {"deep_continuous", continuous}});
  const auto interaction = inputs.connect_with_shortcut(
      DotProductInteractionBlock(), {.shortcut_filter = Filter("deep_continuous"), .aggregation = "concat"});
  return interaction.connect(MLPBlock({64, 128, 512}))
      .connect(BinaryClassificationTask("rating_binary",
                                        {.metrics = {metrics::AUC()}, .pre = LogitsTemperatureScaler(2.0)}));
}

class SeedParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_num_threads(1);
    dir_ = new fs::path(fs::temp_directory_path() / fmt::format("rb_parity_ml100k_{}", ::getpid()));
    fs::remove_all(*dir_);
    auto [train, valid] =
        datasets::movielens("ml-100k", *dir_, {.source = shared_data() / "ml-100k", .download = false,
                                               .progress = false});
    // The first kSteps batches of the seed's columns, as a directory that
    // the PyTorch side reads.
    const Dataset rows = train.select_by_name(seed_columns()).slice_rows(0, kSteps * kBatch);
    rows.save(*dir_ / "seed_rows");
    rows_ = new Dataset(Dataset::load(*dir_ / "seed_rows"));
  }
  static void TearDownTestSuite() {
    delete rows_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  void check(const RunOptions& o, const Tolerances& tol) {
    TempDir dir;
    const Trajectory rb = fit_recblocks(seed_dlrm(rows_->schema()), *rows_, o, dir.path());
    const Trajectory pt = fit_torch(*dir_ / "seed_rows", o, dir.path());
    if (HasFailure()) return;
    expect_parity(rb, pt, tol);
  }

  static constexpr std::int64_t kBatch = 1024;
  static fs::path* dir_;
  static Dataset* rows_;
};
fs::path* SeedParity::dir_ = nullptr;
Dataset* SeedParity::rows_ = nullptr;

TEST_F(SeedParity, ParameterNamesAndShapes) {
  Model model = seed_dlrm(rows_->schema());
  model.build(rows_->schema());
  std::map<std::string, Shape> shapes;
  for (const auto& [name, p] : model.parameters()) shapes.emplace(name, p->value().shape());
  for (const auto& [name, shape] : shapes) std::printf("  %s %s\n", name.c_str(), fmt::format("{}", shape).c_str());
  // 5 vectors -> 10 dot products, + the 64-wide shortcut = 74.
  EXPECT_EQ(shapes.at("1/dense_0/kernel"), (Shape{74, 64}));
  EXPECT_EQ(shapes.at("0/0/deep_continuous/1/dense_0/kernel"), (Shape{2, 64}));
  EXPECT_EQ(shapes.at("rating_binary/binary_classification_task/output/dense_0/kernel"), (Shape{512, 1}));
  EXPECT_TRUE(shapes.count("0/0/embeddings/userId"));
  EXPECT_EQ(shapes.size(), 4u + 2u + 6u + 2u);
}

// Shuffled: the PyTorch side reproduces the Loader's order (epoch_order).
TEST_F(SeedParity, Adam) {
  check({.model = "seed", .optimizer = "adam", .learning_rate = 1e-3f, .batch_size = kBatch, .shuffle = true,
         .seed = 11},
        {.loss_relative = 1e-5, .weight_absolute = 1e-4});
}

TEST_F(SeedParity, SGD) {
  check({.model = "seed", .optimizer = "sgd", .learning_rate = 0.05f, .batch_size = kBatch, .shuffle = false},
        {.loss_relative = 1e-5, .weight_absolute = 1e-4});
}

// ---- CriteoDLRM on synthetic criteo data ----------------------------------------

// facebookresearch/dlrm's Kaggle configuration from recblocks' blocks:
// tables of 16, bottom 13-512-256-64-16, top 367-512-256 and the task's
// Dense(1).
Model criteo_dlrm(const Schema& schema) {
  const auto embeddings = EmbeddingFeatures::from_schema(schema, {.dim = 16});
  const auto continuous =
      ContinuousFeatures::from_schema(schema, Tags::CONTINUOUS).connect(MLPBlock({512, 256, 64, 16}));
  const auto inputs = ParallelBlock({{"embeddings", embeddings}, {"deep_continuous", continuous}});
  return inputs
      .connect_with_shortcut(DotProductInteractionBlock(),
                             {.shortcut_filter = Filter("deep_continuous"), .aggregation = "concat"})
      .connect(MLPBlock({512, 256}))
      .connect(BinaryClassificationTask("label", {.metrics = {metrics::AUC()}}));
}

class CriteoParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_num_threads(1);
    dir_ = new fs::path(fs::temp_directory_path() / fmt::format("rb_parity_criteo_{}", ::getpid()));
    fs::remove_all(*dir_);
    datasets::synthetic_criteo(*dir_, {.rows = kSteps * kBatch, .seed = 5, .max_table_size = 1000});
    rows_ = new Dataset(Dataset::load(*dir_ / "train"));
  }
  static void TearDownTestSuite() {
    delete rows_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  void check(const RunOptions& o, const Tolerances& tol) {
    TempDir dir;
    const Trajectory rb = fit_recblocks(criteo_dlrm(rows_->schema()), *rows_, o, dir.path());
    const Trajectory pt = fit_torch(*dir_ / "train", o, dir.path());
    if (HasFailure()) return;
    expect_parity(rb, pt, tol);
  }

  static constexpr std::int64_t kBatch = 128;
  static fs::path* dir_;
  static Dataset* rows_;
};
fs::path* CriteoParity::dir_ = nullptr;
Dataset* CriteoParity::rows_ = nullptr;

TEST_F(CriteoParity, InteractionWidthIs367) {
  Model model = criteo_dlrm(rows_->schema());
  model.build(rows_->schema());
  std::map<std::string, Shape> shapes;
  for (const auto& [name, p] : model.parameters()) shapes.emplace(name, p->value().shape());
  // 26 embeddings + the bottom MLP's output = 27 vectors: 351 pairs + 16.
  EXPECT_EQ(shapes.at("1/dense_0/kernel"), (Shape{367, 512}));
  EXPECT_EQ(shapes.at("0/0/deep_continuous/1/dense_0/kernel"), (Shape{13, 512}));
  EXPECT_EQ(shapes.at("label/binary_classification_task/output/dense_0/kernel"), (Shape{256, 1}));
  EXPECT_EQ(shapes.at("0/0/embeddings/C1"), (Shape{rows_->schema().column("C1").cardinality(), 16}));
}

TEST_F(CriteoParity, SGDSparse) {
  check({.model = "criteo", .optimizer = "sgd", .learning_rate = 0.1f, .batch_size = kBatch, .shuffle = false},
        {.loss_relative = 1e-5, .weight_absolute = 1e-4});
}

TEST_F(CriteoParity, Adam) {
  check({.model = "criteo", .optimizer = "adam", .learning_rate = 1e-3f, .batch_size = kBatch, .shuffle = true,
         .seed = 2},
        {.loss_relative = 1e-5, .weight_absolute = 1e-4});
}

// ---- the Loader's order ---------------------------------------------------------

// recblocks_torch.epoch_order against Loader::epoch_order.
TEST(LoaderOrderParity, EpochOrderMatchesTheLoader) {
  TempDir dir;
  struct Case {
    std::int64_t rows;
    std::uint64_t seed, epoch;
  };
  const std::vector<Case> cases = {{1, 0, 0}, {2, 0, 0}, {1000, 7, 3}, {100003, 42, 1}, {5000, ~0ull, ~0ull - 1}};
  std::string calls;
  for (std::size_t c = 0; c < cases.size(); ++c) {
    calls += fmt::format("np.save('{}/order_{}.npy', rt.epoch_order({}, {}, {}, True))\n", dir.path().string(), c,
                         cases[c].rows, cases[c].seed, cases[c].epoch);
  }
  const std::string script = fmt::format(
      "import sys\nsys.path.insert(0, '{}')\nimport numpy as np\nimport recblocks_torch as rt\n{}",
      (fs::path(RECBLOCKS_SOURCE_DIR) / "bench" / "torch_ref").string(), calls);
  testing_ml::write_text(dir.path() / "orders.py", script);
  const auto [status, output] = run(fmt::format("'{}' '{}'", RECBLOCKS_TEST_PYTHON, (dir.path() / "orders.py").string()));
  ASSERT_EQ(status, 0) << output;
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const Schema schema({ColumnSchema("x", DType::kInt32, {Tags::CONTINUOUS})});
    const Dataset data(schema, {{"x", Column{Tensor::zeros({cases[c].rows}, DType::kInt32), {}}}});
    const Loader loader(data, {.batch_size = 16, .shuffle = true, .seed = cases[c].seed});
    const std::vector<std::int64_t> expected = loader.epoch_order(cases[c].epoch);
    const Tensor got = io::read_npy(dir.path() / fmt::format("order_{}.npy", c), false);
    ASSERT_EQ(got.numel(), cases[c].rows);
    const std::vector<std::int64_t> actual(got.data<std::int64_t>(), got.data<std::int64_t>() + got.numel());
    EXPECT_EQ(actual, expected) << "rows " << cases[c].rows << ", seed " << cases[c].seed << ", epoch "
                                << cases[c].epoch;
  }
}

}  // namespace
}  // namespace recblocks
