#include "recblocks/autograd/ops/embedding.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

// args.saved: ids, offsets (undefined for single ids); args.i[0]: pooling.
void embedding_backward(Tape& tape, std::int32_t node) {
  const std::int32_t table = tape.inputs(node)[0];
  const OpArgs& args = tape.args(node);
  const Tensor& dy = tape.grad(node);
  const std::int64_t d = tape.value(table).size(1);
  kernels::Backend& k = detail::backend();
  const kernels::SparseRows rows =
      k.embedding_bag_backward(args.saved[0], args.saved[1], static_cast<Pooling>(args.i[0]),
                               dy.view({dy.numel() / d, d}), tape.arena());
  if (Parameter* p = tape.parameter_of(table)) {
    p->add_sparse_grad(rows);  // only the touched rows
    return;
  }
  const kernels::GradOut g = tape.grad_out(table);
  if (!g.accumulate) g.tensor.zero();
  k.scatter_add_rows(rows, g.tensor);
}

std::string table_name(const Var& table) {
  const std::string name = detail::describe(table);
  return name.empty() ? std::string(" table") : name;
}

void check_table(const Var& table, const char* op) {
  detail::check_float(table, op, "table");
  RB_CHECK(table.shape().rank() == 2, ShapeError, "{}{}: table has shape {}, expected [rows, dim]",
           op, detail::describe(table), table.shape());
}

void check_ids(const Var& table, const Tensor& ids, const char* op) {
  detail::check_int(ids, op, "ids");
  const std::int64_t rows = table.shape()[0];
  const std::int64_t bad = detail::backend().find_out_of_range(ids, rows);
  RB_CHECK(bad < 0, ValueError,
           "{}{}: id {} at position {} is out of range [0, {}) (table shape {})", op,
           table_name(table), bad < 0 ? 0 : static_cast<std::int64_t>(ids.item(bad)), bad, rows,
           table.shape());
}

}  // namespace

Var embedding(const Var& table, const Tensor& ids) {
  check_table(table, "embedding");
  RB_CHECK(ids.rank() >= 1 && ids.rank() <= 3, ShapeError,
           "embedding: ids have shape {}, expected [batch] or [batch, seq]", ids.shape());
  check_ids(table, ids, "embedding");
  Tape& tape = table.tape();
  const std::int64_t d = table.shape()[1];
  Tensor y = tape.arena().tensor({ids.numel(), d});
  detail::backend().embedding_bag_forward(table.value(), ids, Tensor(), Pooling::kSum, y);
  OpArgs args;
  args.i[0] = static_cast<std::int64_t>(Pooling::kSum);
  args.saved[0] = ids;
  return tape.record("embedding", y.view(ids.shape().inserted(ids.rank(), d)), {table},
                     &embedding_backward, args);
}

Var embedding_bag(const Var& table, const Tensor& values, const Tensor& offsets, Pooling pooling) {
  check_table(table, "embedding_bag");
  RB_CHECK(values.rank() == 1, ShapeError, "embedding_bag: values have shape {}, expected [nnz]",
           values.shape());
  detail::check_int(offsets, "embedding_bag", "offsets");
  RB_CHECK(offsets.rank() == 1 && offsets.numel() >= 1, ShapeError,
           "embedding_bag: offsets have shape {}, expected [batch + 1]", offsets.shape());
  // Validates the offsets with a clear message (first 0, non-decreasing, last == nnz).
  const RaggedTensor checked(values, offsets);
  check_ids(table, values, "embedding_bag");
  Tape& tape = table.tape();
  const std::int64_t batch = offsets.numel() - 1, d = table.shape()[1];
  Tensor y = tape.arena().tensor({batch, d});
  detail::backend().embedding_bag_forward(table.value(), values, offsets, pooling, y);
  OpArgs args;
  args.i[0] = static_cast<std::int64_t>(pooling);
  args.saved[0] = values;
  args.saved[1] = offsets;
  return tape.record("embedding_bag", y, {table}, &embedding_backward, args);
}

Var embedding_bag(const Var& table, const RaggedTensor& ids, Pooling pooling) {
  return embedding_bag(table, ids.values(), ids.offsets(), pooling);
}

}  // namespace recblocks::ops
