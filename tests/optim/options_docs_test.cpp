// The optimizers' and learning-rate schedules' option tables: the docs list
// every key the JSON has, and reading reports unknown keys and wrong types
// by name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/optim/optim.h"

namespace recblocks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using json = nlohmann::json;

std::set<std::string> doc_keys(const std::vector<options::FieldDoc>& docs) {
  std::set<std::string> out;
  for (const options::FieldDoc& d : docs) out.insert(d.key);
  return out;
}

std::set<std::string> json_keys(const json& j) {
  std::set<std::string> out;
  for (const auto& [key, value] : j.items()) out.insert(key);
  return out;
}

TEST(OptimizerDocs, ListEveryTypeWithTheKeysItsJsonHas) {
  std::vector<std::string> types;
  for (const optim::OptimizerTypeDoc& d : optim::optimizer_type_docs()) {
    types.push_back(d.type);
    json j;
    if (d.type == "multi") {
      j = optim::MultiOptimizer(optim::SGD(), {{"wide/", optim::Ftrl()}}).to_json();
    } else {
      j = optim::by_name(d.type).to_json();
    }
    j.erase("type");
    EXPECT_EQ(doc_keys(d.options), json_keys(j)) << d.type;
    for (const options::FieldDoc& row : d.options) {
      EXPECT_FALSE(row.type.empty()) << d.type << "." << row.key;
      EXPECT_FALSE(row.doc.empty()) << d.type << "." << row.key;
    }
  }
  EXPECT_THAT(types, ElementsAre("sgd", "adam", "lazy_adam", "adagrad", "rowwise_adagrad", "ftrl",
                                 "multi"));
}

TEST(OptimizerDocs, ShowDefaultsAsTheJsonReadsThem) {
  for (const optim::OptimizerTypeDoc& d : optim::optimizer_type_docs()) {
    if (d.type != "adam") continue;
    ASSERT_EQ(d.options.size(), 6u);
    EXPECT_EQ(d.options[0].key, "learning_rate");
    EXPECT_EQ(d.options[0].default_value, "0.001");
    EXPECT_EQ(d.options[1].key, "beta_1");
    EXPECT_EQ(d.options[1].default_value, "0.9");
    EXPECT_EQ(d.options[5].default_value, "false");
  }
  const std::string help = optim::optimizer_types_help();
  EXPECT_THAT(help, HasSubstr("ftrl\n  learning_rate"));
  EXPECT_THAT(help, HasSubstr("learning_rate (a schedule: LearningRate)\n  decay"));
}

TEST(LearningRateDocs, EveryDecayWritesOnlyDocumentedKeys) {
  const std::set<std::string> documented = doc_keys(options::document<LearningRate>());
  std::set<std::string> written;
  for (const LearningRate& lr :
       {LearningRate::constant(0.1f).with_warmup(3), LearningRate::exponential_decay(0.1f, 5, 0.5f),
        LearningRate::cosine_decay(0.1f, 5, 0.2f)}) {
    const std::set<std::string> keys = json_keys(lr.to_json());
    written.insert(keys.begin(), keys.end());
  }
  EXPECT_EQ(written, documented);
}

TEST(OptimizerOptions, WrongTypesNameTheTypeTheKeyAndTheValue) {
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "ftrl"}, {"l1", "0.1"}});
      },
      ThrowsMessage<ValueError>(HasSubstr("ftrl: 'l1' must be a number, got \"0.1\"")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json(
            {{"type", "adam"}, {"decoupled_weight_decay", 1}, {"beta_1", 0.5}});
      },
      ThrowsMessage<ValueError>(
          HasSubstr("adam: 'decoupled_weight_decay' must be true or false, got 1")));
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json(
            {{"type", "sgd"},
             {"learning_rate", {{"decay", "exponential"}, {"decay_steps", 10}, {"staircase", 1}}}});
      },
      ThrowsMessage<ValueError>(HasSubstr("learning_rate: 'staircase' must be true or false")));
}

TEST(OptimizerOptions, UnknownKeysListTheKnownOnes) {
  EXPECT_THAT(
      [] {
        (void)Optimizer::from_json({{"type", "rowwise_adagrad"}, {"beta", 0.5}});
      },
      ThrowsMessage<ValueError>(
          HasSubstr("rowwise_adagrad: unknown option 'beta' (known: learning_rate, "
                    "initial_accumulator_value, epsilon, weight_decay)")));
  EXPECT_THAT(
      [] {
        (void)LearningRate::from_json({{"decay", "constant"}, {"alpha", 0.5}});
      },
      ThrowsMessage<ValueError>(HasSubstr(
          "unknown key 'alpha' for constant decay (known: decay, initial, warmup_steps)")));
}

}  // namespace
}  // namespace recblocks
