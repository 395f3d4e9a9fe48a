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

#include "recblocks/core/options.h"
#include "recblocks/core/tensor.h"

namespace recblocks {

struct Initializer {
  std::string kind = "glorot_uniform";
  double a = 0;
  double b = 0;

  // The object form of the JSON (from_json also takes a bare kind name).
  static auto option_fields() {
    using options::field;
    return options::table<Initializer>(
        "initializer",
        field("kind", &Initializer::kind,
              "zeros, ones, constant, uniform, normal, truncated_normal, glorot_uniform, "
              "glorot_normal, he_uniform or he_normal")
            .required(),
        field("a", &Initializer::a,
              "constant: the value; uniform: the min; normal, truncated_normal: the mean"),
        field("b", &Initializer::b, "uniform: the max; normal, truncated_normal: the stddev"));
  }

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

namespace options {

// An initializer in an options struct: Initializer::to_json / from_json,
// errors prefixed with where it was read.
template <>
struct Codec<Initializer> {
  std::string type_name() const { return "initializer"; }
  nlohmann::json write(const Initializer& v) const { return v.to_json(); }
  Initializer read(const nlohmann::json& j, const Path& path) const {
    try {
      return Initializer::from_json(j);
    } catch (const ValueError& e) {
      throw ValueError(fmt::format("{}: '{}': {}", path.context, path.key, e.what()));
    } catch (const nlohmann::json::exception& e) {
      throw ValueError(fmt::format("{}: '{}': {}", path.context, path.key, e.what()));
    }
  }
};

}  // namespace options

}  // namespace recblocks
