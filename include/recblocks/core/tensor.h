// Tensor: a typed, contiguous, row-major n-d array (float32, int32, int64).
//
// A Tensor is a cheap handle: copying it shares the storage (like a
// numpy view). Storage is either owned (reference counted, 64-byte aligned,
// from Tensor::empty/zeros/...), borrowed from an Arena (valid until the
// arena is reset: the per-step activations), or borrowed from memory that
// something else keeps alive (a memory-mapped file).
//
//   Tensor t = Tensor::zeros({4, 64});        // float32 [4, 64]
//   float* p = t.data<float>();
//   Tensor rows = t.slice_rows(0, 2);          // view [2, 64]
//   Tensor flat = t.view({256});                // view [256]
//   std::cout << t;                             // numpy-like printout
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "recblocks/core/dtype.h"
#include "recblocks/core/error.h"
#include "recblocks/core/shape.h"

namespace recblocks {

// Where the data lives. Only the CPU exists today; kernels dispatch on this.
enum class Device : std::uint8_t { kCpu };

class Tensor {
 public:
  Tensor() = default;  // undefined: !defined()

  // Owned storage, uninitialised / zero / filled.
  static Tensor empty(const Shape& shape, DType dtype = DType::kFloat32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::kFloat32);
  static Tensor full(const Shape& shape, float value);
  // Owned copy of values; values.size() must equal shape.numel().
  template <class T>
  static Tensor from(const Shape& shape, std::span<const T> values);
  static Tensor from(const Shape& shape, std::initializer_list<float> values) {
    return from<float>(shape, std::span<const float>(values.begin(), values.size()));
  }
  // No storage at all: the shape and dtype of a tensor not allocated yet (a
  // model's parameters are planned, checked against the memory limit and
  // the weights file, then allocated). defined() is false unless it is
  // empty, and data() is null.
  static Tensor shape_only(const Shape& shape, DType dtype = DType::kFloat32);
  // Borrowed storage: `keep_alive` (may be null) is held as long as the view.
  static Tensor borrow(void* data, const Shape& shape, DType dtype,
                       std::shared_ptr<const void> keep_alive = nullptr);

  bool defined() const { return data_ != nullptr || shape_.numel() == 0; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Device device() const { return Device::kCpu; }
  int rank() const { return shape_.rank(); }
  std::int64_t size(int axis) const { return shape_[axis]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }

  // Typed access; throws ShapeError if T does not match dtype().
  template <class T>
  T* data() const {
    check_dtype(dtype_of<T>());
    return static_cast<T*>(data_);
  }
  void* raw() const { return data_; }

  // Views sharing storage.
  Tensor view(const Shape& shape) const;                          // same numel
  Tensor slice_rows(std::int64_t begin, std::int64_t end) const;  // along axis 0

  // Deep copy into owned storage.
  Tensor clone() const;
  // Copies values from `src` (same shape and dtype) into this tensor.
  void copy_from(const Tensor& src) const;
  void fill(float value) const;
  void zero() const;

  // Element at a flat index, converted to double (tests and printing).
  double item(std::int64_t flat_index = 0) const;
  std::vector<float> to_vector() const;  // float32 only

  // numpy-like text: "tensor(shape=[2, 3], dtype=float32)\n[[...], ...]",
  // long dimensions abbreviated with "..." (edge items per side).
  std::string str(int edge_items = 3) const;

  // Throws ShapeError naming `what` unless dtype() == expected.
  void check_dtype(DType expected, const char* what = "tensor") const;

 private:
  Tensor(std::shared_ptr<const void> owner, void* data, const Shape& shape, DType dtype)
      : owner_(std::move(owner)), data_(data), shape_(shape), dtype_(dtype) {}

  std::shared_ptr<const void> owner_;
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::kFloat32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// True when both tensors have the same shape, dtype and values (bitwise for
// integers, |a-b| <= atol + rtol*|b| for floats).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);

}  // namespace recblocks
