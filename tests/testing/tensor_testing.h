// Helpers for tests: random tensors from a fixed seed, and comparisons that
// report the first mismatching index with both values.
//
//   Tensor x = testing::uniform({4, 3}, /*seed=*/1);
//   EXPECT_TRUE(testing::tensors_close(actual, expected, 1e-5, 1e-6));
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/core/tensor.h"
#include "recblocks/kernels/backend.h"

namespace recblocks::testing {

// A small deterministic generator (same numbers on every platform).
class TestRng {
 public:
  explicit TestRng(std::uint64_t seed) : engine_(seed) {}
  // Uniform in [lo, hi).
  float uniform(float lo = 0.0f, float hi = 1.0f);
  // Uniform integer in [0, n).
  std::int64_t below(std::int64_t n);

 private:
  std::mt19937_64 engine_;
};

// float32 tensor, elements uniform in [lo, hi).
Tensor uniform(const Shape& shape, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f);
// float32 tensor, |elements| uniform in [lo, hi) with random signs: keeps
// values away from 0 (kinks of relu, poles of div).
Tensor away_from_zero(const Shape& shape, std::uint64_t seed, float lo = 0.2f, float hi = 1.0f);
// Integer tensor (int32 or int64), elements uniform in [0, cardinality).
Tensor random_ids(const Shape& shape, std::int64_t cardinality, std::uint64_t seed,
                  DType dtype = DType::kInt64);
Tensor ids32(std::initializer_list<std::int32_t> values);
Tensor ids64(std::initializer_list<std::int64_t> values);
// float32 tensor filled with quiet NaN: an output buffer that a kernel must
// overwrite completely.
Tensor nans(const Shape& shape);

// A copy of t with c added to every element.
Tensor plus(const Tensor& t, float c);

// "None", "Relu", "Sigmoid", "Tanh": test-name suffixes.
std::string activation_name(kernels::Activation a);

// Same shape, and |a - e| <= atol + rtol * |e| for every element (NaN fails).
::testing::AssertionResult tensors_close(const Tensor& actual, const Tensor& expected,
                                         double rtol = 1e-5, double atol = 1e-6);
// Same shape and dtype and identical bytes.
::testing::AssertionResult tensors_bitwise_equal(const Tensor& a, const Tensor& b);

std::vector<double> to_doubles(const Tensor& t);

// The message of the recblocks::Error that `fn` throws, or "(no error)":
//   EXPECT_THAT(error_of([&] { ... }), HasSubstr("expected ..."));
template <class F>
std::string error_of(const F& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace recblocks::testing
