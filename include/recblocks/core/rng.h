// Random numbers: a counter-based generator (SplitMix64 over seed + counter),
// so that a kernel can draw the i-th number of a stream from any thread and
// the result does not depend on the thread count.
//
//   Rng rng(42);
//   std::uint64_t stream = rng.next_stream(n);   // reserves n draws
//   float u = uniform01(stream, i);               // i in [0, n)
#pragma once

#include <cstdint>

namespace recblocks {

// The SplitMix64 finaliser: a bijective mix of 64 bits.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform float in [0, 1) for draw i of the stream starting at `base`.
inline float uniform01(std::uint64_t base, std::uint64_t i) {
  return static_cast<float>(mix64(base + i) >> 40) * 0x1.0p-24f;
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : state_(mix64(seed)) {}
  // Reserves n draws; returns the base to pass to uniform01(base, i).
  std::uint64_t next_stream(std::uint64_t n) {
    const std::uint64_t base = state_;
    state_ += n;
    return base;
  }
  std::uint64_t next_u64() { return mix64(state_++); }
  float uniform() { return uniform01(next_stream(1), 0); }
  float normal();  // standard normal (Box-Muller)
  std::uint64_t state() const { return state_; }
  void set_state(std::uint64_t s) { state_ = s; }

 private:
  std::uint64_t state_;
};

}  // namespace recblocks
