#include "recblocks/core/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <ostream>

#include "recblocks/core/checked.h"
#include "recblocks/core/memory.h"

namespace recblocks {
namespace {

constexpr std::size_t kAlign = 64;

// Owned storage for `shape` of `dtype`, counted against the memory limit
// (core/memory.h) before it is allocated.
std::shared_ptr<const void> allocate_owned(const Shape& shape, DType dtype, void** data) {
  const std::optional<std::int64_t> exact =
      checked_mul<std::int64_t>(shape.numel(), static_cast<std::int64_t>(dtype_size(dtype)));
  const auto what = [&] {
    return fmt::format("a {} tensor of shape {}", dtype_name(dtype), shape);
  };
  RB_CHECK(exact.has_value() && *exact <= std::numeric_limits<std::int64_t>::max() -
                                              static_cast<std::int64_t>(2 * kAlign),
           MemoryLimitError, "{} is too large (its byte size overflows)", what());
  const auto bytes = static_cast<std::size_t>(*exact);
  const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  reserve_memory(rounded, what());
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) {
    release_memory(rounded);
    throw MemoryLimitError(
        fmt::format("{} needs {}: the system refused the allocation ({} in use "
                    "by recblocks, memory limit {})",
                    what(), format_bytes(rounded), format_bytes(memory_in_use()),
                    format_bytes(memory_limit())));
  }
  *data = p;
  return std::shared_ptr<const void>(p, [rounded](const void* q) {
    std::free(const_cast<void*>(q));
    release_memory(rounded);
  });
}

template <class T>
double load(const void* data, std::int64_t i) {
  return static_cast<double>(static_cast<const T*>(data)[i]);
}

double bf16_to_double(std::uint16_t v) {
  const std::uint32_t bits = static_cast<std::uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  void* data = nullptr;
  auto owner = allocate_owned(shape, dtype, &data);
  return Tensor(std::move(owner), data, shape, dtype);
}

Tensor Tensor::shape_only(const Shape& shape, DType dtype) {
  return Tensor(nullptr, nullptr, shape, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.zero();
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape, DType::kFloat32);
  t.fill(value);
  return t;
}

template <class T>
Tensor Tensor::from(const Shape& shape, std::span<const T> values) {
  RB_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(), ShapeError,
           "Tensor::from: {} values for shape {} (expected {})", values.size(), shape,
           shape.numel());
  Tensor t = empty(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(t.data_, values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from<float>(const Shape&, std::span<const float>);
template Tensor Tensor::from<std::int32_t>(const Shape&, std::span<const std::int32_t>);
template Tensor Tensor::from<std::int64_t>(const Shape&, std::span<const std::int64_t>);

Tensor Tensor::borrow(void* data, const Shape& shape, DType dtype,
                      std::shared_ptr<const void> keep_alive) {
  RB_CHECK(data != nullptr || shape.numel() == 0, ValueError,
           "Tensor::borrow: null data for shape {}", shape);
  return Tensor(std::move(keep_alive), data, shape, dtype);
}

Tensor Tensor::view(const Shape& shape) const {
  RB_CHECK(shape.numel() == numel(), ShapeError,
           "view: cannot view shape {} as {} ({} vs {} elements)", shape_, shape, numel(),
           shape.numel());
  return Tensor(owner_, data_, shape, dtype_);
}

Tensor Tensor::slice_rows(std::int64_t begin, std::int64_t end) const {
  RB_CHECK(rank() >= 1, ShapeError, "slice_rows: tensor of shape {} has no rows", shape_);
  RB_CHECK(0 <= begin && begin <= end && end <= shape_[0], ShapeError,
           "slice_rows: rows [{}, {}) out of range for shape {}", begin, end, shape_);
  const std::int64_t row = shape_.inner(0) * static_cast<std::int64_t>(dtype_size(dtype_));
  return Tensor(owner_, static_cast<std::byte*>(data_) + begin * row, shape_.with(0, end - begin),
                dtype_);
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

void Tensor::copy_from(const Tensor& src) const {
  RB_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, ShapeError,
           "copy_from: source is {} {}, destination is {} {}", dtype_name(src.dtype_), src.shape_,
           dtype_name(dtype_), shape_);
  if (nbytes()) std::memmove(data_, src.data_, nbytes());
}

void Tensor::fill(float value) const {
  check_dtype(DType::kFloat32, "fill");
  std::fill_n(static_cast<float*>(data_), numel(), value);
}

void Tensor::zero() const {
  if (nbytes()) std::memset(data_, 0, nbytes());
}

double Tensor::item(std::int64_t flat_index) const {
  RB_CHECK(0 <= flat_index && flat_index < numel(), ShapeError,
           "item: index {} out of range for shape {}", flat_index, shape_);
  switch (dtype_) {
    case DType::kFloat32: return load<float>(data_, flat_index);
    case DType::kInt32: return load<std::int32_t>(data_, flat_index);
    case DType::kInt64: return load<std::int64_t>(data_, flat_index);
    case DType::kBFloat16:
      return bf16_to_double(static_cast<const std::uint16_t*>(data_)[flat_index]);
  }
  return 0;
}

std::vector<float> Tensor::to_vector() const {
  const float* p = data<float>();
  return std::vector<float>(p, p + numel());
}

void Tensor::check_dtype(DType expected, const char* what) const {
  RB_CHECK(dtype_ == expected, ShapeError, "{}: dtype is {}, expected {}", what, dtype_name(dtype_),
           dtype_name(expected));
}

namespace {

std::string format_value(const Tensor& t, std::int64_t i) {
  const double v = t.item(i);
  if (is_integer(t.dtype())) return fmt::format("{}", static_cast<std::int64_t>(v));
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0.";
  const double a = std::fabs(v);
  if (a >= 1e5 || a < 1e-4) return fmt::format("{:.6e}", v);
  // numpy's style: up to 8 decimals, trailing zeros dropped ("2.5", "100.").
  std::string text = fmt::format("{:.8f}", v);
  text.erase(text.find_last_not_of('0') + 1);
  return text;
}

// Recursively prints dimension `axis` starting at flat offset `base`, with
// numpy's layout: rows of the last axis on one line, one blank line more
// between blocks of each outer axis.
void print_dim(const Tensor& t, int axis, std::int64_t base, int edge, std::string& out) {
  const Shape& s = t.shape();
  const std::int64_t n = s[axis];
  const bool last = axis + 1 == s.rank();
  // (Built with append: GCC 12 warns falsely on operator+ chains here.)
  std::string separator = ",";
  if (last) {
    separator.append(" ");
  } else {
    separator.append(static_cast<std::size_t>(s.rank() - axis - 1), '\n');
    separator.append(static_cast<std::size_t>(axis) + 1, ' ');
  }
  out += '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (n > 2 * static_cast<std::int64_t>(edge) && i == edge) {
      out.append("...").append(separator);
      i = n - edge - 1;
      continue;
    }
    const std::int64_t offset = base + i * s.inner(axis);
    if (last) {
      out += format_value(t, offset);
    } else {
      print_dim(t, axis + 1, offset, edge, out);
    }
    if (i + 1 < n) out += separator;
  }
  out += ']';
}

}  // namespace

std::string Tensor::str(int edge_items) const {
  std::string out = fmt::format("tensor(shape={}, dtype={})\n", shape_, dtype_name(dtype_));
  if (!defined()) return out + "<undefined>";
  if (rank() == 0) return out + format_value(*this, 0);
  print_dim(*this, 0, 0, edge_items, out);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (!(a.shape() == b.shape()) || a.dtype() != b.dtype()) return false;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.item(i), y = b.item(i);
    if (is_integer(a.dtype())) {
      if (x != y) return false;
    } else if (!(std::fabs(x - y) <= atol + rtol * std::fabs(y))) {
      return false;
    }
  }
  return true;
}

}  // namespace recblocks
