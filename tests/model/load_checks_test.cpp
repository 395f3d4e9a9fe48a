// What Model::build, Model::load, evaluate and predict check before they
// allocate or compute: the memory limit, the weights file against the
// architecture, non-finite weights and features.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include "io/test_files.h"
#include "model/model_testing.h"
#include "recblocks/core/memory.h"
#include "recblocks/io/json.h"

namespace recblocks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::planted_dataset;
using testing::small_seed_model;
using testing::TempDir;

const char* kTask = "rating_binary/binary_classification_task";

// The memory limit `spare` bytes above what is in use now, restored to the
// default at the end of the test.
class SpareMemory {
 public:
  explicit SpareMemory(std::size_t spare) { set_memory_limit(memory_in_use() + spare); }
  ~SpareMemory() { set_memory_limit(0); }
};

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// Applies `edit` to the config of every block of type `type` in
// model.json's architecture.
void edit_blocks(const fs::path& model_json, const std::string& type,
                 const std::function<void(json&)>& edit) {
  json j = io::read_json_file(model_json);
  int found = 0;
  const std::function<void(json&)> visit = [&](json& b) {
    if (!b.is_object()) return;
    if (b.value("type", "") == type) {
      edit(b["config"]);
      ++found;
    }
    if (b.contains("children"))
      for (json& c : b["children"]) visit(c["block"]);
  };
  visit(j["architecture"]);
  ASSERT_GT(found, 0) << "no " << type << " in " << model_json;
  std::ofstream(model_json) << j.dump(2);
}

TEST(ModelBuild, AModelOverTheMemoryLimitIsRefusedBeforeAnyAllocation) {
  const Dataset data = planted_dataset(100, 1);
  SpareMemory spare(std::size_t{64} << 20);
  const std::size_t before = memory_in_use();
  Model model = testing::small_dlrm_body(data.schema(), 8).connect(testing::seed_task());
  Model huge = ContinuousFeatures::from_schema(data.schema().select_by_name({"TE_a", "TE_b"}))
                   .connect(MLPBlock({64, 1000000000}))
                   .connect(testing::seed_task());
  const std::string what = error_of([&] { huge.build(data.schema()); });
  EXPECT_THAT(what, AllOf(HasSubstr("parameter tensors"), HasSubstr("[64, 1000000000]"),
                          HasSubstr("memory limit"), HasSubstr("RECBLOCKS_MAX_MEMORY")));
  EXPECT_EQ(memory_in_use(), before);
  // Such a model cannot run afterwards: its parameters have no storage.
  EXPECT_THAT(error_of([&] { huge.build(data.schema()); }), HasSubstr("an earlier build failed"));
  EXPECT_THAT(error_of([&] { (void)huge.evaluate(data, {.progress = false}); }),
              HasSubstr("an earlier build failed"));
  // A model that fits builds, with the weights it always had.
  model.build(data.schema(), 3);
  const Model again = small_seed_model(data, 3);
  EXPECT_TRUE(testing::same_state(model, again));
}

TEST(ModelBuild, DeferredAllocationGivesTheSameWeightsAsAnEagerBuild) {
  const Dataset data = planted_dataset(50, 2);
  // Eager: the block builds on its own (its parameters allocated at once).
  const Block body = testing::small_dlrm_body(data.schema(), 4, {.normalization = "batch_norm"});
  body.build(data.schema(), 7);
  // Deferred: the model plans, checks, then allocates.
  Model model = testing::small_dlrm_body(data.schema(), 4, {.normalization = "batch_norm"})
                    .connect(testing::seed_task());
  model.build(data.schema(), 7);
  const auto eager = body.state();
  const auto planned = model.state();  // state() returns a map by value: keep it alive
  for (const auto& [name, t] : eager) {
    const Tensor& deferred = planned.at(name);
    ASSERT_EQ(deferred.shape(), t.shape()) << name;
    EXPECT_EQ(std::memcmp(deferred.raw(), t.raw(), t.nbytes()), 0) << name;
  }
}

class ModelLoadChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = small_seed_model(data_, 1);
    model_.save(dir_ / "m");
  }
  fs::path model_dir() const { return dir_ / "m"; }

  Dataset data_ = planted_dataset(200, 3);
  Model model_;
  TempDir dir_;
};

TEST_F(ModelLoadChecks, AHugeLayerIsReportedFromTheHeaderBeforeAllocating) {
  edit_blocks(model_dir() / "model.json", "MLPBlock", [](json& config) {
    if (config["dimensions"] == json{16, 8}) config["dimensions"] = {16, 1000000000};
  });
  // Allocating the layer (8 GB) would hit this limit: the header check
  // must come first.
  SpareMemory spare(std::size_t{256} << 20);
  const std::string what = error_of([&] { (void)Model::load(model_dir()); });
  EXPECT_THAT(what, AllOf(HasSubstr("weights.safetensors"), HasSubstr("[16, 8]"),
                          HasSubstr("[16, 1000000000]"), HasSubstr("model.json"),
                          Not(HasSubstr("memory limit"))));
}

TEST_F(ModelLoadChecks, MissingAndExtraTensorsAreNamed) {
  auto weights = io::read_safetensors(model_dir() / "weights.safetensors").tensors;
  const std::string first = weights.begin()->first;
  weights.emplace("extra/kernel", Tensor::zeros({2, 2}));
  io::write_safetensors(model_dir() / "weights.safetensors", weights);
  EXPECT_THAT(
      error_of([&] { (void)Model::load(model_dir()); }),
      AllOf(HasSubstr("tensor 'extra/kernel' [2, 2] is not a parameter"), HasSubstr("model.json")));
  weights.erase("extra/kernel");
  weights.erase(first);
  io::write_safetensors(model_dir() / "weights.safetensors", weights);
  EXPECT_THAT(error_of([&] { (void)Model::load(model_dir()); }),
              AllOf(HasSubstr("tensor '" + first + "'"), HasSubstr("is missing"),
                    HasSubstr("weights.safetensors")));
}

TEST_F(ModelLoadChecks, NonFiniteWeightsAreRefusedNamingTheTensor) {
  auto weights = io::read_safetensors(model_dir() / "weights.safetensors").tensors;
  const std::string name = weights.begin()->first;
  Tensor changed = weights.at(name).clone();
  changed.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  weights[name] = changed;
  io::write_safetensors(model_dir() / "weights.safetensors", weights);
  EXPECT_THAT(error_of([&] { (void)Model::load(model_dir()); }),
              AllOf(HasSubstr("weights.safetensors: tensor '" + name + "'"), HasSubstr("nan"),
                    HasSubstr("flat index 1"), HasSubstr("finite")));
  changed.data<float>()[1] = std::numeric_limits<float>::infinity();
  weights[name] = changed;
  io::write_safetensors(model_dir() / "weights.safetensors", weights);
  EXPECT_THAT(error_of([&] { (void)Model::load(model_dir()); }), HasSubstr("inf"));
}

TEST_F(ModelLoadChecks, JsonErrorsInModelJsonNameTheFileAndLine) {
  std::ofstream(model_dir() / "model.json")
      << "{\n  \"format\": \"recblocks.model\",\n  \"seed\": 1e400\n}\n";
  EXPECT_THAT(error_of([&] { (void)Model::load(model_dir()); }),
              AllOf(HasSubstr("model.json: not valid JSON at line 3"), HasSubstr("1e400")));
}

// A dataset like `data` with one value of `column` replaced.
Dataset with_value(const Dataset& data, const std::string& column, std::int64_t row, float value) {
  std::map<std::string, Column> columns;
  for (const auto& [name, c] : data.columns()) {
    columns.emplace(name, name == column ? Column{c.values.clone(), {}} : c);
  }
  columns.at(column).values.data<float>()[row] = value;
  return Dataset(data.schema(), std::move(columns));
}

TEST_F(ModelLoadChecks, NonFiniteFeaturesAreRefusedAtEvaluateAndPredictUnlessAllowed) {
  const Dataset bad = with_value(data_, "TE_b", 17, std::numeric_limits<float>::quiet_NaN());
  for (const std::string& what :
       {error_of([&] { (void)model_.evaluate(bad, {.progress = false}); }),
        error_of([&] { (void)model_.predict(bad); }),
        error_of([&] { (void)model_.predict_to(bad, dir_ / "p"); })}) {
    EXPECT_THAT(what, AllOf(HasSubstr("column 'TE_b'"), HasSubstr("nan"), HasSubstr("row 17"),
                            HasSubstr("allow_non_finite")));
  }
  EXPECT_FALSE(fs::exists(dir_ / "p"));
  const Dataset inf = with_value(data_, "TE_a", 3, -std::numeric_limits<float>::infinity());
  EXPECT_THAT(error_of([&] { (void)model_.predict(inf, 64); }),
              AllOf(HasSubstr("column 'TE_a'"), HasSubstr("-inf"), HasSubstr("row 3")));
  // Allowed: the rows are scored as they are, the others as before.
  const Tensor p = model_.predict(bad, {.allow_non_finite = true}).at(kTask);
  const Tensor expected = model_.predict(data_).at(kTask);
  ASSERT_EQ(p.shape(), expected.shape());
  for (std::int64_t i = 0; i < p.numel(); ++i) {
    if (i != 17) {
      EXPECT_EQ(p.data<float>()[i], expected.data<float>()[i]) << i;
    }
  }
  EXPECT_NO_THROW((void)model_.evaluate(bad, {.progress = false, .allow_non_finite = true}));
  // The batch form too.
  for (const Batch& batch : Loader(bad, {.batch_size = 20, .shuffle = false})) {
    const std::string what = error_of([&] { (void)model_.predict(batch); });
    if (what == "no error") continue;
    EXPECT_THAT(what, AllOf(HasSubstr("column 'TE_b'"), HasSubstr("row 17 of the batch")));
    break;
  }
}

}  // namespace
}  // namespace recblocks
