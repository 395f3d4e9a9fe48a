// Private pieces shared by the synthetic generators (synthetic.cpp,
// synthetic_criteo.cpp, synthetic_movielens.cpp): counter-based random
// streams, the power law, the planted target and the outputs.
#pragma once

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <filesystem>
#include <numbers>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/core/rng.h"
#include "recblocks/core/threads.h"
#include "recblocks/data/synthetic.h"
#include "recblocks/io/atomic.h"

namespace recblocks::datasets::synthetic_detail {

namespace fs = std::filesystem;
using nlohmann::json;

inline constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;
inline constexpr int kFactorDim = 8;

// What a random stream is for: each (seed, purpose, sub) is independent.
enum Purpose : std::uint64_t {
  kEffect = 1,
  kUserFactor,
  kItemFactor,
  kId,
  kNull,
  kDense,
  kDenseMissing,
  kDenseWeight,
  kLabel,
  kRating,
  kGender,
  kAge,
  kOccupation,
  kZip,
  kZipPool,
  kYear,
  kGenreDraw,
  kActivity,
  kPick,
  kTime,
  kJoin,
  kPermutation,
  kListLength,
  kNoise,
  kHexSalt,
};

// Counter-based random numbers: draw i of a stream is a pure function of
// (seed, purpose, sub, i), whichever thread asks for it.
class Stream {
 public:
  Stream(std::uint64_t seed, std::uint64_t purpose, std::uint64_t sub = 0)
      : key_(mix64(mix64(seed) ^ mix64(purpose * kGolden + mix64(sub)))) {}
  std::uint64_t bits(std::uint64_t i) const { return mix64(key_ + i * kGolden); }
  double uniform(std::uint64_t i) const { return static_cast<double>(bits(i) >> 11) * 0x1.0p-53; }
  double normal(std::uint64_t i) const {
    const double u1 = 1.0 - uniform(2 * i), u2 = uniform(2 * i + 1);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::uint64_t key_;
};

// Power-law popularity over ranks [0, n): P(rank < k) ~ k^(1 - s), the
// continuous Zipf law, sampled by inverting its CDF (no tables).
class PowerLaw {
 public:
  PowerLaw(std::int64_t n, double s) : n_(n), s_(s) {
    RB_CHECK(n >= 1 && s >= 0.0, ValueError,
             "power law over {} values with exponent {}, expected n >= 1, s >= 0", n, s);
    a_ = std::abs(1.0 - s) < 1e-9 ? std::log(static_cast<double>(n) + 1.0)
                                  : std::pow(static_cast<double>(n) + 1.0, 1.0 - s) - 1.0;
  }
  std::int64_t rank(double u) const {
    const double x =
        std::abs(1.0 - s_) < 1e-9 ? std::exp(u * a_) : std::pow(a_ * u + 1.0, 1.0 / (1.0 - s_));
    return std::clamp<std::int64_t>(static_cast<std::int64_t>(x) - 1, 0, n_ - 1);
  }

 private:
  std::int64_t n_;
  double s_;
  double a_ = 0;
};

// Index drawn with probability proportional to weights.
template <std::size_t kN>
int discrete(const std::array<double, kN>& weights, double u) {
  double total = 0;
  for (double w : weights) total += w;
  double acc = 0;
  for (std::size_t i = 0; i < kN; ++i) {
    acc += weights[i];
    if (u * total < acc) return static_cast<int>(i);
  }
  return static_cast<int>(kN - 1);
}

// MurmurHash3's finaliser: a bijection on 32 bits (distinct ranks stay distinct).
constexpr std::uint32_t fmix32(std::uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

inline std::vector<float> normal_table(const Stream& s, std::int64_t n, double scale) {
  std::vector<float> t(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (std::int64_t i = 0; i < n; ++i)
    t[static_cast<std::size_t>(i)] =
        static_cast<float>(scale * s.normal(static_cast<std::uint64_t>(i)));
  return t;
}

inline float dot(const float* a, const float* b) {
  float s = 0;
  for (int d = 0; d < kFactorDim; ++d) s += a[d] * b[d];
  return s;
}

// Runs f(i) for i in [0, n) on the pool; rethrows the first failure.
template <class F>
void parallel_for(std::int64_t n, F&& f) {
  std::exception_ptr failure;
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (std::int64_t i = 0; i < n; ++i) {
    try {
      f(i);
    } catch (...) {
#pragma omp critical(recblocks_synthetic_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

// The bias that makes the mean probability `rate`, by bisection on the
// first rows (sequential: the result does not depend on the thread count).
inline double calibrate_bias(const std::vector<float>& logits, double rate) {
  const std::size_t n = std::min<std::size_t>(logits.size(), 200'000);
  double lo = -40.0, hi = 40.0;
  for (int it = 0; it < 50; ++it) {
    const double mid = 0.5 * (lo + hi);
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) mean += sigmoid(logits[i] + mid);
    (mean / static_cast<double>(n) < rate ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// Adds the bias, draws the binary targets and fills result's
// probabilities, labels, bayes_auc and positive_rate.
inline void draw_targets(std::vector<float>& logits, double rate, std::uint64_t seed,
                         std::int64_t train_rows, SyntheticResult& r) {
  const double bias = calibrate_bias(logits, rate);
  const auto n = static_cast<std::int64_t>(logits.size());
  r.rows = n;
  r.probabilities.resize(logits.size());
  r.labels.resize(logits.size());
  const Stream label_stream(seed, kLabel);
  parallel_for(n, [&](std::int64_t i) {
    const auto k = static_cast<std::size_t>(i);
    logits[k] = static_cast<float>(logits[k] + bias);
    r.probabilities[k] = static_cast<float>(sigmoid(logits[k]));
    r.labels[k] = label_stream.uniform(static_cast<std::uint64_t>(i)) < r.probabilities[k] ? 1 : 0;
  });
  std::int64_t positives = 0;
  for (std::uint8_t y : r.labels) positives += y;
  r.positive_rate = n > 0 ? static_cast<double>(positives) / static_cast<double>(n) : 0.0;
  r.bayes_auc = exact_auc(r.probabilities, r.labels);
  if (train_rows < n) {
    const auto t = static_cast<std::size_t>(train_rows);
    r.valid_bayes_auc =
        exact_auc(std::span(r.probabilities).subspan(t), std::span(r.labels).subspan(t));
  }
}

inline std::int64_t train_rows_of(std::int64_t rows, double valid_fraction) {
  RB_CHECK(valid_fraction >= 0.0 && valid_fraction < 1.0, ValueError,
           "synthetic: valid_fraction {}, expected in [0, 1)", valid_fraction);
  const std::int64_t train = rows - std::llround(valid_fraction * static_cast<double>(rows));
  RB_CHECK(train >= 1, ValueError, "synthetic: valid_fraction {} leaves no training rows of {}",
           valid_fraction, rows);
  return train;
}

inline json result_json(const SyntheticResult& r) {
  json j = {{"rows", r.rows}, {"bayes_auc", r.bayes_auc}, {"positive_rate", r.positive_rate}};
  if (!std::isnan(r.valid_bayes_auc)) j["valid_bayes_auc"] = r.valid_bayes_auc;
  return j;
}

// Saves the dataset rows [0, train_rows) and [train_rows, rows) as out/train
// and out/valid, with the generator's figures in the target's properties.
// Writes train/ (and valid/) into the staged output folder `staged`;
// r.written names them where they will be once it is committed.
inline void save_split(const Dataset& all, std::int64_t train_rows,
                       const io::StagedDirectory& staged, SyntheticResult& r) {
  r.train = all.slice_rows(0, train_rows);
  r.train.save(staged.path() / "train");
  r.written.push_back(staged.target() / "train");
  if (train_rows < all.num_rows()) {
    r.valid = all.slice_rows(train_rows, all.num_rows());
    r.valid.save(staged.path() / "valid");
    r.written.push_back(staged.target() / "valid");
  }
}

inline void write_metadata(const fs::path& path, json meta, SyntheticResult& r) {
  meta.update(result_json(r));
  io::write_file_atomic(path, meta.dump(2) + "\n");
  r.written.push_back(path);
}

inline void write_metadata(const io::StagedDirectory& staged, json meta, SyntheticResult& r) {
  meta.update(result_json(r));
  io::write_file_atomic(staged.path() / "synthetic.json", meta.dump(2) + "\n");
  r.written.push_back(staged.target() / "synthetic.json");
}

}  // namespace recblocks::datasets::synthetic_detail
