#include "recblocks/autograd/parameter.h"

namespace recblocks {

Parameter::Parameter(std::string name, Tensor value, bool trainable)
    : name_(std::move(name)), value_(std::move(value)), trainable_(trainable) {
  value_.check_dtype(DType::kFloat32, name_.c_str());
  sparse_.reserve(4);
}

void Parameter::allocate(Tensor value) {
  RB_CHECK(value.shape() == value_.shape() && value.dtype() == value_.dtype(), ShapeError,
           "parameter '{}': allocated as {} {}, declared as {} {}", name_,
           dtype_name(value.dtype()), value.shape(), dtype_name(value_.dtype()), value_.shape());
  value_ = std::move(value);
}

void Parameter::zero_grad() {
  dense_written_ = false;
  sparse_.clear();
}

kernels::GradOut Parameter::dense_grad_out() {
  if (!grad_.defined() || !(grad_.shape() == value_.shape())) grad_ = Tensor::empty(value_.shape());
  const bool accumulate = dense_written_;
  dense_written_ = true;
  return {grad_, accumulate};
}

void Parameter::add_sparse_grad(kernels::SparseRows rows) {
  if (sink_) {
    sink_(rows);
    return;
  }
  sparse_.push_back(std::move(rows));
}

Tensor Parameter::grad_as_dense() const {
  Tensor g = dense_written_ ? grad_.clone() : Tensor::zeros(value_.shape());
  for (const kernels::SparseRows& s : sparse_) kernels::backend().scatter_add_rows(s, g);
  return g;
}

}  // namespace recblocks
