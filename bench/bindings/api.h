// What both modules bind: calls of the kinds the recblocks package makes
// (a no-op, scalars, a float array read in place, a new array handed over,
// a small object with a method and a property, keyword arguments).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace binding_choice {

inline void noop() {}
inline std::int64_t add(std::int64_t a, std::int64_t b) { return a + b; }
inline double sum(const float* values, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += values[i];
  return s;
}
inline std::unique_ptr<float[]> iota(std::size_t n) {
  auto out = std::make_unique<float[]>(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(i);
  return out;
}

class Counter {
 public:
  explicit Counter(std::string name) : name_(std::move(name)) {}
  void add(std::int64_t x) { value_ += x; }
  std::int64_t value() const { return value_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::int64_t value_ = 0;
};

inline std::int64_t options(std::int64_t batch_size, std::int64_t epochs, double learning_rate,
                            bool shuffle) {
  return batch_size + epochs + static_cast<std::int64_t>(learning_rate) + (shuffle ? 1 : 0);
}

}  // namespace binding_choice
