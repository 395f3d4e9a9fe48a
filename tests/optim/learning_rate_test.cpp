// Learning-rate schedules at chosen steps against values worked out by hand
// (Keras' ExponentialDecay and CosineDecay formulas), and their JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "recblocks/core/error.h"
#include "recblocks/optim/optim.h"

namespace recblocks {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(LearningRateTest, ConstantIsTheSameAtEveryStep) {
  const LearningRate lr = 0.1f;  // a plain float converts
  EXPECT_EQ(lr.at(0), 0.1f);
  EXPECT_EQ(lr.at(12345), 0.1f);
  EXPECT_EQ(LearningRate::constant(0.5f).at(7), 0.5f);
  EXPECT_EQ(LearningRate().at(0), 1e-3f);
}

TEST(LearningRateTest, WarmupRampsLinearlyThenHolds) {
  const LearningRate lr = LearningRate::constant(0.1f).with_warmup(4);
  EXPECT_FLOAT_EQ(lr.at(0), 0.025f);
  EXPECT_FLOAT_EQ(lr.at(1), 0.05f);
  EXPECT_FLOAT_EQ(lr.at(2), 0.075f);
  EXPECT_FLOAT_EQ(lr.at(3), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(4), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(100), 0.1f);
}

TEST(LearningRateTest, ExponentialDecay) {
  const LearningRate lr = LearningRate::exponential_decay(0.1f, 10, 0.5f);
  EXPECT_FLOAT_EQ(lr.at(0), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(5), 0.0707106781f);  // 0.1 * 0.5^0.5
  EXPECT_FLOAT_EQ(lr.at(10), 0.05f);
  EXPECT_FLOAT_EQ(lr.at(25), 0.0176776695f);  // 0.1 * 0.5^2.5
}

TEST(LearningRateTest, ExponentialDecayStaircaseDropsEveryDecaySteps) {
  const LearningRate lr = LearningRate::exponential_decay(0.1f, 10, 0.5f, /*staircase=*/true);
  EXPECT_FLOAT_EQ(lr.at(0), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(9), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(10), 0.05f);
  EXPECT_FLOAT_EQ(lr.at(19), 0.05f);
  EXPECT_FLOAT_EQ(lr.at(25), 0.025f);
}

TEST(LearningRateTest, ExponentialDecayStartsAfterWarmup) {
  const LearningRate lr = LearningRate::exponential_decay(0.1f, 10, 0.5f, true).with_warmup(3);
  EXPECT_FLOAT_EQ(lr.at(0), 0.1f / 3);
  EXPECT_FLOAT_EQ(lr.at(2), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(3), 0.1f);    // decay step 0
  EXPECT_FLOAT_EQ(lr.at(12), 0.1f);   // decay step 9
  EXPECT_FLOAT_EQ(lr.at(13), 0.05f);  // decay step 10
}

TEST(LearningRateTest, CosineDecay) {
  const LearningRate lr = LearningRate::cosine_decay(0.1f, 10);
  EXPECT_FLOAT_EQ(lr.at(0), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(3), 0.0793892626f);  // 0.05 * (1 + cos(0.3 pi))
  EXPECT_FLOAT_EQ(lr.at(5), 0.05f);
  EXPECT_NEAR(lr.at(10), 0.0f, 1e-9);
  EXPECT_NEAR(lr.at(50), 0.0f, 1e-9);  // stays at the end
}

TEST(LearningRateTest, CosineDecayEndsAtAlphaTimesTheRate) {
  const LearningRate lr = LearningRate::cosine_decay(0.1f, 10, 0.2f);
  EXPECT_FLOAT_EQ(lr.at(0), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(5), 0.06f);  // 0.1 * (0.2 + 0.8 * 0.5)
  EXPECT_FLOAT_EQ(lr.at(10), 0.02f);
  EXPECT_FLOAT_EQ(lr.at(1000), 0.02f);
}

TEST(LearningRateTest, CosineDecayWithWarmup) {
  const LearningRate lr = LearningRate::cosine_decay(0.1f, 10).with_warmup(2);
  EXPECT_FLOAT_EQ(lr.at(0), 0.05f);
  EXPECT_FLOAT_EQ(lr.at(1), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(2), 0.1f);
  EXPECT_FLOAT_EQ(lr.at(7), 0.05f);
  EXPECT_NEAR(lr.at(12), 0.0f, 1e-9);
}

TEST(LearningRateTest, InvalidSchedulesThrow) {
  EXPECT_THAT([] { (void)LearningRate::exponential_decay(0.1f, 0, 0.5f); },
              ThrowsMessage<ValueError>(HasSubstr("decay_steps > 0")));
  EXPECT_THAT([] { (void)LearningRate::exponential_decay(0.1f, 10, -0.5f); },
              ThrowsMessage<ValueError>(HasSubstr("rate -0.5")));
  EXPECT_THAT([] { (void)LearningRate::cosine_decay(0.1f, 10, 1.5f); },
              ThrowsMessage<ValueError>(HasSubstr("alpha 1.5")));
  EXPECT_THAT([] { (void)LearningRate::constant(-1.0f); },
              ThrowsMessage<ValueError>(HasSubstr("initial rate -1")));
  EXPECT_THAT([] { (void)LearningRate::constant(0.1f).with_warmup(-2); },
              ThrowsMessage<ValueError>(HasSubstr("warmup_steps is -2")));
  EXPECT_THAT([] { (void)LearningRate(0.1f).at(-1); },
              ThrowsMessage<ValueError>(HasSubstr("step -1")));
  // A hand-filled struct is checked when used.
  LearningRate bad;
  bad.decay = LearningRate::Decay::kCosine;
  EXPECT_THAT([&] { (void)bad.at(0); }, ThrowsMessage<ValueError>(HasSubstr("cosine decay")));
}

void expect_same_schedule(const LearningRate& a, const LearningRate& b) {
  EXPECT_EQ(a.initial, b.initial);
  EXPECT_EQ(a.decay, b.decay);
  EXPECT_EQ(a.warmup_steps, b.warmup_steps);
  for (std::int64_t step : {0, 1, 3, 7, 10, 15, 40}) EXPECT_EQ(a.at(step), b.at(step)) << step;
}

TEST(LearningRateTest, JsonRoundTrip) {
  for (const LearningRate& lr :
       {LearningRate::constant(0.003f), LearningRate::constant(0.01f).with_warmup(5),
        LearningRate::exponential_decay(0.1f, 10, 0.5f, true).with_warmup(3),
        LearningRate::exponential_decay(0.1f, 7, 0.9f),
        LearningRate::cosine_decay(0.2f, 11, 0.1f)}) {
    const nlohmann::json j = lr.to_json();
    const LearningRate back = LearningRate::from_json(j);
    expect_same_schedule(back, lr);
    EXPECT_EQ(back.to_json(), j) << j.dump();
  }
  const nlohmann::json cosine = LearningRate::cosine_decay(0.2f, 11, 0.1f).to_json();
  EXPECT_EQ(cosine["decay"], "cosine");
  EXPECT_EQ(cosine["decay_steps"], 11);
  EXPECT_FALSE(cosine.contains("rate"));
  EXPECT_FALSE(cosine.contains("warmup_steps"));
}

TEST(LearningRateTest, FromJsonTakesANumberAndDefaults) {
  expect_same_schedule(LearningRate::from_json(0.05), LearningRate::constant(0.05f));
  const LearningRate lr = LearningRate::from_json({{"decay", "exponential"}, {"decay_steps", 4}});
  EXPECT_EQ(lr.initial, 1e-3f);
  EXPECT_EQ(lr.rate, 0.96f);
  EXPECT_FALSE(lr.staircase);
}

TEST(LearningRateTest, FromJsonErrorsNameTheKey) {
  EXPECT_THAT(
      [] {
        (void)LearningRate::from_json({{"initial", 0.1}, {"decay_step", 3}});
      },
      ThrowsMessage<ValueError>(HasSubstr("unknown key 'decay_step'")));
  // A key of another decay would be silently ignored: an error too.
  EXPECT_THAT(
      [] {
        (void)LearningRate::from_json({{"decay", "cosine"}, {"decay_steps", 3}, {"rate", 0.5}});
      },
      ThrowsMessage<ValueError>(HasSubstr("unknown key 'rate' for cosine decay")));
  EXPECT_THAT(
      [] {
        (void)LearningRate::from_json({{"decay", "linear"}});
      },
      ThrowsMessage<ValueError>(HasSubstr("unknown decay 'linear'")));
  EXPECT_THAT(
      [] {
        (void)LearningRate::from_json({{"decay", "exponential"}, {"decay_steps", 2.5}});
      },
      ThrowsMessage<ValueError>(HasSubstr("'decay_steps' must be an integer")));
  EXPECT_THAT(
      [] {
        (void)LearningRate::from_json({{"initial", "fast"}});
      },
      ThrowsMessage<ValueError>(HasSubstr("'initial' must be a number")));
  EXPECT_THAT(
      [] {
        (void)LearningRate::from_json({{"decay", "exponential"}});
      },
      ThrowsMessage<ValueError>(HasSubstr("decay_steps > 0")));
  EXPECT_THAT([] { (void)LearningRate::from_json("0.1"); },
              ThrowsMessage<ValueError>(HasSubstr("expected a number or an object")));
}

}  // namespace
}  // namespace recblocks
