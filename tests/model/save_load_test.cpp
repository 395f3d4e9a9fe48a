// Model directories: save, load, checkpoints and resume, atomic writes,
// and the weights read from Python.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "io/test_files.h"
#include "model/model_testing.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::planted_dataset;
using testing::small_seed_model;
using testing::TempDir;

const char* kTask = "rating_binary/binary_classification_task";

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

TEST(ModelSaveLoad, LoadedModelPredictsIdentically) {
  const Dataset data = planted_dataset(600, 1);
  Model model = small_seed_model(data, 4, {.dropout = 0.1, .normalization = "batch_norm"});
  model.compile("adam");
  model.fit(data, {.batch_size = 100, .epochs = 2, .progress = false});
  TempDir dir;
  fs::create_directories(dir / "etl");
  testing::write_bytes(dir / "etl" / "vocab.json", "{\"userId\": [1, 2]}");
  model.save(dir / "m", {.etl = dir / "etl"});
  for (const char* file : {"model.json", "weights.safetensors", "schema.json", "etl/vocab.json"}) {
    EXPECT_TRUE(fs::exists(dir / "m" / file)) << file;
  }
  const Model again = Model::load(dir / "m");
  EXPECT_TRUE(testing::same_state(model, again));
  EXPECT_TRUE(bitwise_equal(again.predict(data).at(kTask), model.predict(data).at(kTask)));
  EXPECT_EQ(again.tasks()[0].to_json(), model.tasks()[0].to_json());
  ASSERT_TRUE(again.compiled());
  EXPECT_EQ(again.optimizer().to_json(), model.optimizer().to_json());
  // A loaded model trains on.
  Model trained = Model::load(dir / "m");
  trained.fit(data, {.batch_size = 100, .epochs = 1, .progress = false});
  EXPECT_FALSE(testing::same_state(trained, model));
}

TEST(ModelSaveLoad, PythonReadsTheWeightsWithSafetensorsAndNumpy) {
  const Dataset data = planted_dataset(200, 2);
  Model model = small_seed_model(data, 1);
  TempDir dir;
  model.save(dir / "m");
  double kernel_sum = 0;
  const Tensor kernel = model.state().at(std::string(kTask) + "/output/dense_0/kernel");
  for (float v : kernel.to_vector()) kernel_sum += v;
  const std::string script = fmt::format(R"(
import json, numpy as np
from safetensors.numpy import load_file
w = load_file("m/weights.safetensors")
k = w["{task}/output/dense_0/kernel"]
assert k.dtype == np.float32 and k.shape == (8, 1), (k.dtype, k.shape)
assert abs(float(k.astype(np.float64).sum()) - {sum:.17g}) < 1e-6
# the same bytes with numpy alone
raw = open("m/weights.safetensors", "rb").read()
n = int.from_bytes(raw[:8], "little")
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
assert meta["format"] == "recblocks.model", meta
for name, info in header.items():
    b, e = info["data_offsets"]
    a = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=np.float32).reshape(info["shape"])
    assert np.array_equal(a, w[name]), name
model = json.load(open("m/model.json"))
assert model["format_version"] == 1
assert sorted(p["name"] for p in model["parameters"]) == sorted(header)
print("ok", len(header))
)",
                                         fmt::arg("task", kTask), fmt::arg("sum", kernel_sum));
  const testing::PythonResult r = testing::run_python(dir.path(), script, RECBLOCKS_TEST_PYTHON);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::string& output = r.output;
  EXPECT_THAT(output, HasSubstr(fmt::format("ok {}", model.parameters().size())));
}

TEST(ModelSaveLoad, BadDirectoriesAreNamed) {
  const Dataset data = planted_dataset(100, 3);
  Model model = small_seed_model(data);
  TempDir dir;
  EXPECT_THAT([&] { Model::load(dir / "nothing"); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("no such model")));
  model.save(dir / "m");

  // An unknown format version.
  const std::string json_text = testing::read_bytes(dir / "m" / "model.json");
  auto j = nlohmann::json::parse(json_text);
  j["format_version"] = 7;
  testing::write_bytes(dir / "m" / "model.json", j.dump());
  EXPECT_THAT([&] { Model::load(dir / "m"); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("format_version 7 is not supported")));
  testing::write_bytes(dir / "m" / "model.json", json_text);

  // A missing tensor, then a mis-shaped one, then an extra one.
  auto weights = model.state();
  const std::string kernel = std::string(kTask) + "/output/dense_0/kernel";
  auto without = weights;
  without.erase(kernel);
  io::write_safetensors(dir / "m" / "weights.safetensors", without);
  EXPECT_THAT(
      [&] { Model::load(dir / "m"); },
      ::testing::ThrowsMessage<ValueError>(::testing::AllOf(
          HasSubstr("weights.safetensors"), HasSubstr("'" + kernel + "' [8, 1] is missing"))));
  auto misshaped = weights;
  misshaped[kernel] = Tensor::zeros({4, 1});
  io::write_safetensors(dir / "m" / "weights.safetensors", misshaped);
  EXPECT_THAT([&] { Model::load(dir / "m"); },
              ::testing::ThrowsMessage<ValueError>(
                  HasSubstr("'" + kernel + "' is float32 [4, 1], expected float32 [8, 1]")));
  auto extra = weights;
  extra["stray"] = Tensor::zeros({2});
  io::write_safetensors(dir / "m" / "weights.safetensors", extra);
  EXPECT_THAT([&] { Model::load(dir / "m"); },
              ::testing::ThrowsMessage<ValueError>(
                  HasSubstr("'stray' [2] is not a parameter of this model")));
  testing::write_bytes(dir / "m" / "weights.safetensors", "short");
  EXPECT_THROW(Model::load(dir / "m"), Error);
}

// Forks a child that saves `model` into `target` over and over, kills it
// after `delay`, and reaps it.
void save_and_kill(const Model& model, const fs::path& target, std::chrono::microseconds delay) {
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      for (;;) model.save(target);
    } catch (...) {
      ::_exit(2);
    }
  }
  ASSERT_GT(child, 0);
  std::this_thread::sleep_for(delay);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
}

TEST(ModelSaveLoad, KilledSaveLeavesAWholeModel) {
  const Dataset data = planted_dataset(200, 4);
  // A wider model so that a save takes a while.
  Model a = small_seed_model(data, 1);
  Model b = small_seed_model(data, 2);
  TempDir dir;
  a.save(dir / "m");
  const Batch batch(data.slice_rows(0, 50));
  const Tensor pa = a.predict(batch).at(kTask);
  const Tensor pb = b.predict(batch).at(kTask);
  for (int delay_us : {200, 700, 1500, 3000, 6000, 12000}) {
    SCOPED_TRACE(delay_us);
    save_and_kill(b, dir / "m", std::chrono::microseconds(delay_us));
    const Model loaded = Model::load(dir / "m");
    const Tensor p = loaded.predict(batch).at(kTask);
    EXPECT_TRUE(bitwise_equal(p, pa) || bitwise_equal(p, pb));
  }
  // Nothing half-written is left beside it once a save completes.
  a.save(dir / "m");
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "m") << entry.path();
  }
}

// Stops fit() at a given step, as a crash would.
struct Interrupt : Callback {
  std::int64_t at;
  explicit Interrupt(std::int64_t step) : at(step) {}
  void on_batch_end(Model&, std::int64_t step, const Logs&) override {
    if (step == at) throw std::runtime_error("interrupted");
  }
};

TEST(ModelCheckpoint, ResumedFitEndsWithTheSameWeights) {
  const Dataset data = planted_dataset(700, 5);  // 7 batches of 100 per epoch
  TempDir dir;
  for (const char* optimizer : {"adam", "rowwise_adagrad"}) {
    SCOPED_TRACE(optimizer);
    const MLPOptions top{.dropout = 0.2};
    Model whole = small_seed_model(data, 3, top);
    whole.compile(optimizer);
    const History full =
        whole.fit(data, {.batch_size = 100, .epochs = 3, .seed = 11, .progress = false});

    for (std::int64_t stop_at : {9, 14}) {  // mid-epoch, and at an epoch's end
      SCOPED_TRACE(stop_at);
      const fs::path ckpt = dir / fmt::format("ckpt-{}-{}", optimizer, stop_at);
      Model first = small_seed_model(data, 3, top);
      first.compile(optimizer);
      EXPECT_THROW(
          first.fit(data,
                    {.batch_size = 100,
                     .epochs = 3,
                     .seed = 11,
                     .callbacks = {ModelCheckpoint(ckpt, {.every_n_steps = 3, .every_epoch = true}),
                                   std::make_shared<Interrupt>(stop_at)},
                     .progress = false}),
          std::runtime_error);
      ASSERT_TRUE(fs::exists(ckpt / "trainer.json"));
      Model resumed = small_seed_model(data, 3, top);
      resumed.compile(optimizer);
      const History h = resumed.fit(
          data,
          {.batch_size = 100, .epochs = 3, .seed = 11, .progress = false, .resume_from = ckpt});
      EXPECT_TRUE(testing::same_state(resumed, whole));
      ASSERT_EQ(h.epochs.size(), 3u);
      EXPECT_EQ(h.epochs[0].at("loss"), full.epochs[0].at("loss"));
      EXPECT_NEAR(h.epochs[2].at("loss"), full.epochs[2].at("loss"), 1e-12);
      EXPECT_EQ(resumed.optimizer().iterations(), 21);
    }
  }
  // A checkpoint of another optimizer is refused before anything changes.
  Model lazy = small_seed_model(data, 3, {.dropout = 0.2});
  lazy.compile("lazy_adam");
  const auto before = lazy.state().at(std::string(kTask) + "/output/dense_0/kernel").clone();
  EXPECT_THAT(
      [&] {
        lazy.fit(data, {.batch_size = 100,
                        .epochs = 3,
                        .seed = 11,
                        .progress = false,
                        .resume_from = dir / "ckpt-adam-9"});
      },
      ::testing::ThrowsMessage<ValueError>(HasSubstr("was written with the optimizer")));
  EXPECT_TRUE(
      bitwise_equal(lazy.state().at(std::string(kTask) + "/output/dense_0/kernel"), before));
  Model other = small_seed_model(data, 3, {.dropout = 0.2});
  other.compile("adam");
  const fs::path ckpt = dir / "ckpt-adam-9";
  EXPECT_THAT(
      [&] {
        other.fit(
            data,
            {.batch_size = 50, .epochs = 3, .seed = 11, .progress = false, .resume_from = ckpt});
      },
      ::testing::ThrowsMessage<ValueError>(
          HasSubstr("written with batch_size 100, seed 11, shuffle true on 700 rows; this fit has "
                    "50, 11, true on 700 rows")));
}

}  // namespace
}  // namespace recblocks
