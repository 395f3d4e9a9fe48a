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

const char* decay_name(Decay decay) {
  switch (decay) {
    case Decay::kConstant: return "constant";
    case Decay::kExponential: return "exponential";
    case Decay::kCosine: return "cosine";
  }
  return "?";
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

template <class T>
T read(const json& j, const char* key) {
  const json& v = j.at(key);
  if constexpr (std::is_same_v<T, bool>) {
    RB_CHECK(v.is_boolean(), ValueError, "learning_rate: '{}' must be a boolean, got {}", key,
             v.dump());
  } else if constexpr (std::is_integral_v<T>) {
    RB_CHECK(v.is_number_integer(), ValueError, "learning_rate: '{}' must be an integer, got {}",
             key, v.dump());
  } else {
    RB_CHECK(v.is_number(), ValueError, "learning_rate: '{}' must be a number, got {}", key,
             v.dump());
  }
  return v.get<T>();
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

json LearningRate::to_json() const {
  json j = {{"decay", decay_name(decay)}, {"initial", initial}};
  if (decay == Decay::kExponential) {
    j["decay_steps"] = decay_steps;
    j["rate"] = rate;
    j["staircase"] = staircase;
  } else if (decay == Decay::kCosine) {
    j["decay_steps"] = decay_steps;
    j["alpha"] = alpha;
  }
  if (warmup_steps > 0) j["warmup_steps"] = warmup_steps;
  return j;
}

LearningRate LearningRate::from_json(const json& j) {
  if (j.is_number()) return constant(j.get<float>());
  RB_CHECK(j.is_object(), ValueError, "learning_rate: expected a number or an object, got {}",
           j.dump());
  LearningRate out;
  if (j.contains("decay")) {
    RB_CHECK(j["decay"].is_string(), ValueError, "learning_rate: 'decay' must be a string, got {}",
             j["decay"].dump());
    const std::string name = j["decay"].get<std::string>();
    if (name == "constant") {
      out.decay = Decay::kConstant;
    } else if (name == "exponential") {
      out.decay = Decay::kExponential;
    } else if (name == "cosine") {
      out.decay = Decay::kCosine;
    } else {
      throw ValueError(fmt::format(
          "learning_rate: unknown decay '{}'; expected constant, exponential or cosine", name));
    }
  }
  // The keys that mean something for this decay; any other is a typo or a
  // setting that would be silently ignored.
  std::vector<std::string> known = {"decay", "initial", "warmup_steps"};
  if (out.decay == Decay::kExponential)
    known.insert(known.end(), {"decay_steps", "rate", "staircase"});
  if (out.decay == Decay::kCosine) known.insert(known.end(), {"decay_steps", "alpha"});
  for (const auto& [key, value] : j.items()) {
    RB_CHECK(std::find(known.begin(), known.end(), key) != known.end(), ValueError,
             "learning_rate: unknown key '{}' for {} decay (known: {})", key, decay_name(out.decay),
             fmt::join(known, ", "));
  }
  if (j.contains("initial")) out.initial = read<float>(j, "initial");
  if (j.contains("warmup_steps")) out.warmup_steps = read<std::int64_t>(j, "warmup_steps");
  if (j.contains("decay_steps")) out.decay_steps = read<std::int64_t>(j, "decay_steps");
  if (j.contains("rate")) out.rate = read<float>(j, "rate");
  if (j.contains("staircase")) out.staircase = read<bool>(j, "staircase");
  if (j.contains("alpha")) out.alpha = read<float>(j, "alpha");
  check(out);
  return out;
}

}  // namespace recblocks
