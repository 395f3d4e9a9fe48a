// Parameter initialisers, with Keras' names and defaults so that a model
// defined like its Merlin original starts from the same distributions:
//
//   zeros, ones, constant(value)
//   uniform(minval = -0.05, maxval = 0.05)
//   normal(mean = 0, stddev = 0.05)
//   truncated_normal(mean = 0, stddev = 0.05): redrawn beyond 2 stddev
//   glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))  (Dense kernels)
//   glorot_normal:  truncated normal, stddev sqrt(2 / (fan_in + fan_out)) / 0.8796
//   he_uniform:     U(-l, l), l = sqrt(6 / fan_in)
//   he_normal:      truncated normal, stddev sqrt(2 / fan_in) / 0.8796
//
// Draws are counter-based (core/rng.h): value i of a tensor depends only on
// the stream and i, so initialisation is the same at any thread count.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "recblocks/core/tensor.h"

namespace recblocks {

struct Initializer {
  std::string kind = "glorot_uniform";
  // constant: a = value; uniform: [a, b]; normal / truncated_normal: mean a,
  // stddev b. Ignored by the others.
  double a = 0;
  double b = 0;

  static Initializer zeros() { return {"zeros", 0, 0}; }
  static Initializer ones() { return {"ones", 0, 0}; }
  static Initializer constant(double value) { return {"constant", value, 0}; }
  static Initializer uniform(double minval = -0.05, double maxval = 0.05) {
    return {"uniform", minval, maxval};
  }
  static Initializer normal(double mean = 0, double stddev = 0.05) {
    return {"normal", mean, stddev};
  }
  static Initializer truncated_normal(double mean = 0, double stddev = 0.05) {
    return {"truncated_normal", mean, stddev};
  }
  static Initializer glorot_uniform() { return {"glorot_uniform", 0, 0}; }
  static Initializer glorot_normal() { return {"glorot_normal", 0, 0}; }
  static Initializer he_uniform() { return {"he_uniform", 0, 0}; }
  static Initializer he_normal() { return {"he_normal", 0, 0}; }

  // A float32 tensor of `shape`. fan_in / fan_out as Keras computes them:
  // [in, out] kernels give (in, out); [rows, dim] tables the same.
  Tensor make(const Shape& shape, std::uint64_t stream) const;

  // {"kind": ..., "a": ..., "b": ...}; from_json accepts a bare kind name too
  // and throws ValueError listing the kinds for an unknown one.
  nlohmann::json to_json() const;
  static Initializer from_json(const nlohmann::json& json);

  friend bool operator==(const Initializer&, const Initializer&) = default;
};

}  // namespace recblocks
