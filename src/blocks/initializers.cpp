#include "recblocks/blocks/initializers.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "recblocks/core/error.h"
#include "recblocks/core/rng.h"

namespace recblocks {
namespace {

constexpr const char* kKinds =
    "zeros, ones, constant, uniform, normal, truncated_normal, glorot_uniform, glorot_normal, "
    "he_uniform, he_normal";

// Keras scales the truncated normal's stddev by this (the stddev of a unit
// normal truncated at 2) so the variance matches the requested one.
constexpr double kTruncatedStd = 0.87962566103423978;

// A standard normal draw for element i: Box-Muller on two uniforms of the
// stream, redrawn (next counter pair) beyond `limit` when limit > 0.
double normal_draw(std::uint64_t stream, std::uint64_t i, double limit) {
  for (std::uint64_t attempt = 0;; ++attempt) {
    const std::uint64_t k = (i * 64 + attempt) * 2;
    const double u1 = (static_cast<double>(mix64(stream + k) >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(mix64(stream + k + 1) >> 11) * 0x1.0p-53;
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    if (limit <= 0 || std::abs(z) <= limit || attempt == 63) return z;
  }
}

double uniform_draw(std::uint64_t stream, std::uint64_t i) {
  return static_cast<double>(mix64(stream + i) >> 11) * 0x1.0p-53;
}

}  // namespace

Tensor Initializer::make(const Shape& shape, std::uint64_t stream) const {
  Tensor t = Tensor::empty(shape);
  float* out = t.data<float>();
  const std::int64_t n = t.numel();
  // Keras' fans: the last axis is fan_out, the rest fan_in ([in, out]).
  const double fan_out = shape.rank() >= 1 ? static_cast<double>(shape[shape.rank() - 1]) : 1.0;
  const double fan_in = shape.rank() >= 2 ? static_cast<double>(n) / fan_out : fan_out;
  const std::uint64_t base = mix64(stream);
  auto fill_uniform = [&](double lo, double hi) {
    for (std::int64_t i = 0; i < n; ++i)
      out[i] = static_cast<float>(lo + (hi - lo) * uniform_draw(base, i));
  };
  auto fill_normal = [&](double mean, double stddev, bool truncated) {
    for (std::int64_t i = 0; i < n; ++i) {
      out[i] = static_cast<float>(mean + stddev * normal_draw(base, i, truncated ? 2.0 : 0.0));
    }
  };
  if (kind == "zeros") {
    t.fill(0);
  } else if (kind == "ones") {
    t.fill(1);
  } else if (kind == "constant") {
    t.fill(static_cast<float>(a));
  } else if (kind == "uniform") {
    fill_uniform(a, b);
  } else if (kind == "normal") {
    fill_normal(a, b, false);
  } else if (kind == "truncated_normal") {
    fill_normal(a, b, true);
  } else if (kind == "glorot_uniform") {
    const double limit = std::sqrt(6.0 / (fan_in + fan_out));
    fill_uniform(-limit, limit);
  } else if (kind == "glorot_normal") {
    fill_normal(0, std::sqrt(2.0 / (fan_in + fan_out)) / kTruncatedStd, true);
  } else if (kind == "he_uniform") {
    const double limit = std::sqrt(6.0 / fan_in);
    fill_uniform(-limit, limit);
  } else if (kind == "he_normal") {
    fill_normal(0, std::sqrt(2.0 / fan_in) / kTruncatedStd, true);
  } else {
    throw ValueError(fmt::format("unknown initializer '{}'; expected one of: {}", kind, kKinds));
  }
  return t;
}

nlohmann::json Initializer::to_json() const { return options::to_json(*this); }

Initializer Initializer::from_json(const nlohmann::json& j) {
  Initializer init;
  if (j.is_string()) {
    init.kind = j.get<std::string>();
    if (init.kind == "uniform") return uniform();
    if (init.kind == "normal") return normal();
    if (init.kind == "truncated_normal") return truncated_normal();
  } else {
    RB_CHECK(j.is_object(), ValueError, "initializer: expected a name or an object, got {}",
             j.dump());
    init = options::from_json<Initializer>(j, "initializer");
  }
  // Validates the kind now rather than at build time.
  (void)init.make(Shape{0}, 0);
  return init;
}

}  // namespace recblocks
