// Parameter: a named, persistent tensor that training updates, with its
// gradient. Names are hierarchical ("top_mlp/0/kernel") and serve
// save/load, optimizers and printing.
//
// The dense gradient is owned by the parameter and allocated once.
// Embedding tables also receive sparse gradients: unique rows with their
// summed gradient, one segment per lookup in the step. They live in the
// step's arena: consume them (the optimizer step) before Tape::reset(),
// which drops them. zero_grad() is O(1): it only marks both empty, and the
// next backward overwrites instead of adding. A parameter must outlive the
// tape steps that use it.
//
//   auto w = std::make_shared<Parameter>("top_mlp/0/kernel", Tensor::zeros({74, 64}));
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "recblocks/core/tensor.h"
#include "recblocks/kernels/backend.h"

namespace recblocks {

class Parameter {
 public:
  // trainable == false: a buffer (batch-norm running statistics) that
  // training does not differentiate.
  Parameter(std::string name, Tensor value, bool trainable = true);

  const std::string& name() const { return name_; }
  // Before allocate() of a parameter made from a shape-only tensor
  // (Tensor::shape_only: a model planning its parameters), the value has
  // the shape and dtype but no data.
  const Tensor& value() const { return value_; }
  bool allocated() const { return value_.raw() != nullptr || value_.numel() == 0; }
  // Gives a shape-only parameter its storage: `value` must have its shape
  // and dtype (ShapeError otherwise, naming the parameter).
  void allocate(Tensor value);
  bool trainable() const { return trainable_; }

  // Dense gradient of value's shape; defined only after a backward wrote it.
  bool has_dense_grad() const { return dense_written_; }
  const Tensor& dense_grad() const { return grad_; }
  std::span<const kernels::SparseRows> sparse_grads() const { return sparse_; }
  bool has_grad() const { return dense_written_ || !sparse_.empty(); }

  void zero_grad();
  // The whole gradient as one dense tensor (dense part + sparse rows):
  // for tests, checkers and printing, not for the training hot path.
  Tensor grad_as_dense() const;

  // Used by the tape: the dense buffer to write into (accumulate == false
  // the first time after zero_grad()).
  kernels::GradOut dense_grad_out();
  // Passes the rows to the sparse sink when one is set, else keeps them.
  void add_sparse_grad(kernels::SparseRows rows);
  void drop_sparse_grads() { sparse_.clear(); }

  // Fused optimizer updates (Optimizer::fuse_sparse_updates): a sink takes
  // the sparse gradient rows as the backward produces them and applies the
  // update at once, instead of the rows being stored for the optimizer's
  // step(). The rows live in the step's arena: the sink must not keep them.
  using SparseSink = std::function<void(const kernels::SparseRows& rows)>;
  void set_sparse_sink(SparseSink sink) { sink_ = std::move(sink); }
  bool has_sparse_sink() const { return static_cast<bool>(sink_); }

 private:
  std::string name_;
  Tensor value_;
  Tensor grad_;
  std::vector<kernels::SparseRows> sparse_;
  SparseSink sink_;
  bool trainable_ = true;
  bool dense_written_ = false;
};

using ParameterPtr = std::shared_ptr<Parameter>;

}  // namespace recblocks
