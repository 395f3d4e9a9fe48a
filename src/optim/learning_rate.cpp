#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/optim/optim.h"

namespace recblocks {
namespace {

using nlohmann::json;
using Decay = LearningRate::Decay;

std::string decay_name(Decay decay) {
  return LearningRate::decay_codec().write(decay).get<std::string>();
}

// The schedule is a plain struct that callers may fill by hand, so every
// entry point (the factories, from_json, at) checks it.
void check(const LearningRate& lr) {
  RB_CHECK(std::isfinite(lr.initial) && lr.initial >= 0, ValueError,
           "learning_rate: initial rate {} must be finite and >= 0", lr.initial);
  RB_CHECK(lr.warmup_steps >= 0, ValueError, "learning_rate: warmup_steps is {}, expected >= 0",
           lr.warmup_steps);
  if (lr.decay == Decay::kConstant) return;
  RB_CHECK(lr.decay_steps > 0, ValueError, "learning_rate: {} decay needs decay_steps > 0, got {}",
           decay_name(lr.decay), lr.decay_steps);
  if (lr.decay == Decay::kExponential) {
    RB_CHECK(std::isfinite(lr.rate) && lr.rate > 0, ValueError,
             "learning_rate: exponential decay rate {} must be finite and > 0", lr.rate);
  } else {
    RB_CHECK(lr.alpha >= 0 && lr.alpha <= 1, ValueError,
             "learning_rate: cosine decay alpha {} is outside [0, 1]", lr.alpha);
  }
}

}  // namespace

LearningRate LearningRate::constant(float lr) {
  LearningRate out(lr);
  check(out);
  return out;
}

LearningRate LearningRate::exponential_decay(float lr, std::int64_t decay_steps, float rate,
                                             bool staircase) {
  LearningRate out(lr);
  out.decay = Decay::kExponential;
  out.decay_steps = decay_steps;
  out.rate = rate;
  out.staircase = staircase;
  check(out);
  return out;
}

LearningRate LearningRate::cosine_decay(float lr, std::int64_t decay_steps, float alpha) {
  LearningRate out(lr);
  out.decay = Decay::kCosine;
  out.decay_steps = decay_steps;
  out.alpha = alpha;
  check(out);
  return out;
}

LearningRate LearningRate::with_warmup(std::int64_t steps) const {
  LearningRate out = *this;
  out.warmup_steps = steps;
  check(out);
  return out;
}

float LearningRate::at(std::int64_t step) const {
  check(*this);
  RB_CHECK(step >= 0, ValueError, "learning_rate: step {} is negative", step);
  const double lr = initial;
  if (step < warmup_steps) {
    return static_cast<float>(lr * static_cast<double>(step + 1) /
                              static_cast<double>(warmup_steps));
  }
  const double s = static_cast<double>(step - warmup_steps);
  const double steps = static_cast<double>(decay_steps);
  switch (decay) {
    case Decay::kConstant: return initial;
    case Decay::kExponential: {
      const double p = staircase ? std::floor(s / steps) : s / steps;
      return static_cast<float>(lr * std::pow(static_cast<double>(rate), p));
    }
    case Decay::kCosine: {
      const double c = 0.5 * (1 + std::cos(std::numbers::pi * std::min(s, steps) / steps));
      return static_cast<float>(lr * (alpha + (1 - static_cast<double>(alpha)) * c));
    }
  }
  return initial;
}

bool LearningRate::uses(Decay decay, std::string_view key) {
  if (key == "decay_steps") return decay != Decay::kConstant;
  if (key == "rate" || key == "staircase") return decay == Decay::kExponential;
  if (key == "alpha") return decay == Decay::kCosine;
  return true;  // decay, initial, warmup_steps
}

json LearningRate::to_json() const {
  json j = options::to_json(*this);
  for (const std::string& key : options::keys<LearningRate>()) {
    if (!uses(decay, key)) j.erase(key);
  }
  return j;
}

LearningRate LearningRate::from_json(const json& j) {
  if (j.is_number()) return constant(j.get<float>());
  RB_CHECK(j.is_object(), ValueError, "learning_rate: expected a number or an object, got {}",
           j.dump());
  // The decay first: it decides which keys mean something. Any other is a
  // typo or a setting that would be silently ignored.
  Decay decay = Decay::kConstant;
  if (j.contains("decay")) {
    RB_CHECK(j["decay"].is_string(), ValueError, "learning_rate: 'decay' must be a string, got {}",
             j["decay"].dump());
    const std::string name = j["decay"].get<std::string>();
    const auto names = decay_codec().names;
    const auto it = std::find_if(names.begin(), names.end(),
                                 [&](const auto& entry) { return entry.second == name; });
    RB_CHECK(it != names.end(), ValueError,
             "learning_rate: unknown decay '{}'; expected constant, exponential or cosine", name);
    decay = it->first;
  }
  std::vector<std::string> known;
  for (const std::string& key : options::keys<LearningRate>()) {
    if (uses(decay, key)) known.push_back(key);
  }
  for (const auto& [key, value] : j.items()) {
    RB_CHECK(std::find(known.begin(), known.end(), key) != known.end(), ValueError,
             "learning_rate: unknown key '{}' for {} decay (known: {})", key, decay_name(decay),
             fmt::join(known, ", "));
  }
  LearningRate out = options::from_json<LearningRate>(j, "learning_rate");
  check(out);
  return out;
}

}  // namespace recblocks
