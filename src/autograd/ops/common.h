// Helpers shared by the op implementations (not installed).
#pragma once

#include "recblocks/autograd/tape.h"
#include "recblocks/core/error.h"
#include "recblocks/kernels/backend.h"

namespace recblocks::ops::detail {

inline kernels::Backend& backend() { return kernels::backend(Device::kCpu); }

// GradOut of `node` viewed with another shape (same numel).
inline kernels::GradOut grad_out_as(Tape& tape, std::int32_t node, const Shape& shape) {
  kernels::GradOut g = tape.grad_out(node);
  if (g.wanted()) g.tensor = g.tensor.view(shape);
  return g;
}

inline void check_float(const Var& v, const char* op, const char* what) {
  RB_CHECK(v.value().dtype() == DType::kFloat32, ShapeError,
           "{}: {} has dtype {}, expected float32", op, what, dtype_name(v.value().dtype()));
}

inline void check_int(const Tensor& t, const char* op, const char* what) {
  RB_CHECK(is_integer(t.dtype()), ShapeError, "{}: {} has dtype {}, expected int32 or int64", op,
           what, dtype_name(t.dtype()));
}

// A name for error messages: "'top_mlp/0/kernel'" for parameters, else "".
inline std::string describe(const Var& v) {
  if (Parameter* p = v.tape().parameter_of(v.id())) return fmt::format(" '{}'", p->name());
  return {};
}

}  // namespace recblocks::ops::detail
