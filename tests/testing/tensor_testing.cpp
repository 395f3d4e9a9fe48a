#include "testing/tensor_testing.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace recblocks::testing {

float TestRng::uniform(float lo, float hi) {
  // 24 random bits -> [0, 1): independent of the standard library's
  // distribution implementations.
  const float u = static_cast<float>(engine_() >> 40) * 0x1.0p-24f;
  return lo + (hi - lo) * u;
}

std::int64_t TestRng::below(std::int64_t n) {
  return static_cast<std::int64_t>(engine_() % static_cast<std::uint64_t>(n));
}

Tensor uniform(const Shape& shape, std::uint64_t seed, float lo, float hi) {
  TestRng rng(seed);
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(lo, hi);
  return t;
}

Tensor away_from_zero(const Shape& shape, std::uint64_t seed, float lo, float hi) {
  TestRng rng(seed);
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const float v = rng.uniform(lo, hi);
    p[i] = rng.uniform() < 0.5f ? -v : v;
  }
  return t;
}

Tensor random_ids(const Shape& shape, std::int64_t cardinality, std::uint64_t seed, DType dtype) {
  TestRng rng(seed);
  Tensor t = Tensor::empty(shape, dtype);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const std::int64_t v = rng.below(cardinality);
    if (dtype == DType::kInt32) {
      t.data<std::int32_t>()[i] = static_cast<std::int32_t>(v);
    } else {
      t.data<std::int64_t>()[i] = v;
    }
  }
  return t;
}

Tensor ids32(std::initializer_list<std::int32_t> values) {
  return Tensor::from<std::int32_t>({static_cast<std::int64_t>(values.size())},
                                    std::span<const std::int32_t>(values.begin(), values.size()));
}

Tensor ids64(std::initializer_list<std::int64_t> values) {
  return Tensor::from<std::int64_t>({static_cast<std::int64_t>(values.size())},
                                    std::span<const std::int64_t>(values.begin(), values.size()));
}

Tensor nans(const Shape& shape) {
  return Tensor::full(shape, std::numeric_limits<float>::quiet_NaN());
}

::testing::AssertionResult tensors_close(const Tensor& actual, const Tensor& expected, double rtol,
                                         double atol) {
  if (!(actual.shape() == expected.shape())) {
    return ::testing::AssertionFailure()
           << "shape " << actual.shape() << ", expected " << expected.shape();
  }
  std::int64_t bad = 0;
  std::int64_t first = -1;
  double worst = 0;
  for (std::int64_t i = 0; i < actual.numel(); ++i) {
    const double a = actual.item(i), e = expected.item(i);
    const double err = std::fabs(a - e);
    if (!(err <= atol + rtol * std::fabs(e))) {
      if (first < 0) first = i;
      ++bad;
      if (!(err <= worst)) worst = err;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << actual.numel() << " elements differ (shape " << actual.shape()
         << ", rtol " << rtol << ", atol " << atol << "); first at flat index " << first
         << ": actual " << actual.item(first) << ", expected " << expected.item(first)
         << "; largest error " << worst;
}

::testing::AssertionResult tensors_bitwise_equal(const Tensor& a, const Tensor& b) {
  if (!(a.shape() == b.shape()) || a.dtype() != b.dtype()) {
    return ::testing::AssertionFailure()
           << "shape/dtype " << a.shape() << " " << dtype_name(a.dtype()) << " vs " << b.shape()
           << " " << dtype_name(b.dtype());
  }
  if (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0) {
    return ::testing::AssertionSuccess();
  }
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    if (std::memcmp(static_cast<const char*>(a.raw()) + i * dtype_size(a.dtype()),
                    static_cast<const char*>(b.raw()) + i * dtype_size(b.dtype()),
                    dtype_size(a.dtype())) != 0) {
      return ::testing::AssertionFailure()
             << "first difference at flat index " << i << ": " << a.item(i) << " vs " << b.item(i);
    }
  }
  return ::testing::AssertionFailure() << "bytes differ";
}

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<std::size_t>(t.numel()));
  for (std::int64_t i = 0; i < t.numel(); ++i) v[static_cast<std::size_t>(i)] = t.item(i);
  return v;
}

Tensor plus(const Tensor& t, float c) {
  Tensor r = t.clone();
  for (std::int64_t i = 0; i < r.numel(); ++i) r.data<float>()[i] += c;
  return r;
}

std::string activation_name(kernels::Activation a) {
  switch (a) {
    case kernels::Activation::kNone: return "None";
    case kernels::Activation::kRelu: return "Relu";
    case kernels::Activation::kSigmoid: return "Sigmoid";
    case kernels::Activation::kTanh: return "Tanh";
  }
  return "?";
}

}  // namespace recblocks::testing
