#include "recblocks/autograd/ops/matmul.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

// The gradients of c = op(a) @ op(b), written with `product`
// (trans_a, trans_b, a, b, beta, c): the backend's gemm for 2-D operands,
// its batched_gemm for per-item ones.
template <class Product>
void product_grads(bool ta, bool tb, const Tensor& a, const Tensor& b, const Tensor& dc,
                   const kernels::GradOut& da, const kernels::GradOut& db, Product&& product) {
  if (da.wanted()) {
    const float beta = da.accumulate ? 1.0f : 0.0f;
    if (!ta) {
      product(false, !tb, dc, b, beta, da.tensor);
    } else {
      product(tb, true, b, dc, beta, da.tensor);
    }
  }
  if (db.wanted()) {
    const float beta = db.accumulate ? 1.0f : 0.0f;
    if (!tb) {
      product(!ta, false, a, dc, beta, db.tensor);
    } else {
      product(true, ta, dc, a, beta, db.tensor);
    }
  }
}

void matmul_grads(bool ta, bool tb, const Tensor& a, const Tensor& b, const Tensor& dc,
                  const kernels::GradOut& da, const kernels::GradOut& db) {
  product_grads(ta, tb, a, b, dc, da, db,
                [](bool t1, bool t2, const Tensor& x, const Tensor& y, float beta,
                   const Tensor& out) { detail::backend().gemm(t1, t2, 1.0f, x, y, beta, out); });
}

void matmul_backward(Tape& tape, std::int32_t node) {
  const auto in = tape.inputs(node);
  const OpArgs& args = tape.args(node);
  const kernels::GradOut da = tape.grad_out(in[0]);  // before db: see elementwise.cpp
  const kernels::GradOut db = tape.grad_out(in[1]);
  matmul_grads(args.i[0] != 0, args.i[1] != 0, tape.value(in[0]), tape.value(in[1]),
               tape.grad(node), da, db);
}

Tensor batch_item(const Tensor& t, std::int64_t i) {
  const Shape& s = t.shape();
  return t.slice_rows(i, i + 1).view({s[1], s[2]});
}

void bmm_backward(Tape& tape, std::int32_t node) {
  const auto in = tape.inputs(node);
  const OpArgs& args = tape.args(node);
  const bool ta = args.i[0] != 0, tb = args.i[1] != 0;
  const Tensor& a = tape.value(in[0]);
  const Tensor& b = tape.value(in[1]);
  const Tensor& dc = tape.grad(node);
  const kernels::GradOut da = tape.grad_out(in[0]);
  const kernels::GradOut db = tape.grad_out(in[1]);
  const bool shared_b = b.rank() == 2;
  if (!shared_b) {
    // Every item has its own b: both gradients are batched products (split
    // over the threads, tiny ones without a BLAS call).
    product_grads(
        ta, tb, a, b, dc, da, db,
        [](bool t1, bool t2, const Tensor& x, const Tensor& y, float beta, const Tensor& out) {
          detail::backend().batched_gemm(t1, t2, 1.0f, x, y, beta, out);
        });
    return;
  }
  for (std::int64_t i = 0; i < a.size(0); ++i) {
    const kernels::GradOut dai = da.wanted()
                                     ? kernels::GradOut{batch_item(da.tensor, i), da.accumulate}
                                     : kernels::GradOut{};
    kernels::GradOut dbi{};
    if (db.wanted()) {
      // A shared b sums its gradient over the batch.
      dbi = shared_b ? kernels::GradOut{db.tensor, db.accumulate || i > 0}
                     : kernels::GradOut{batch_item(db.tensor, i), db.accumulate};
    }
    matmul_grads(ta, tb, batch_item(a, i), shared_b ? b : batch_item(b, i), batch_item(dc, i), dai,
                 dbi);
  }
}

}  // namespace

Var matmul(const Var& a, const Var& b, bool trans_a, bool trans_b) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  detail::check_float(a, "matmul", "a");
  detail::check_float(b, "matmul", "b");
  RB_CHECK(as.rank() == 2 && bs.rank() == 2, ShapeError,
           "matmul: shapes {} and {}, expected two 2-D tensors", as, bs);
  const std::int64_t m = trans_a ? as[1] : as[0], k = trans_a ? as[0] : as[1];
  const std::int64_t kb = trans_b ? bs[1] : bs[0], n = trans_b ? bs[0] : bs[1];
  RB_CHECK(k == kb, ShapeError, "matmul: inner dimensions differ: a {}{} and b {}{} ({} vs {})", as,
           trans_a ? "^T" : "", bs, trans_b ? "^T" : "", k, kb);
  Tape& tape = a.tape();
  Tensor c = tape.arena().tensor({m, n});
  detail::backend().gemm(trans_a, trans_b, 1.0f, a.value(), b.value(), 0.0f, c);
  OpArgs args;
  args.i[0] = trans_a;
  args.i[1] = trans_b;
  return tape.record("matmul", c, {a, b}, &matmul_backward, args);
}

Var bmm(const Var& a, const Var& b, bool trans_a, bool trans_b) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  detail::check_float(a, "bmm", "a");
  detail::check_float(b, "bmm", "b");
  RB_CHECK(as.rank() == 3 && (bs.rank() == 3 || bs.rank() == 2), ShapeError,
           "bmm: shapes {} and {}, expected [B, M, K] and [B, K, N] (or [K, N])", as, bs);
  RB_CHECK(bs.rank() == 2 || bs[0] == as[0], ShapeError, "bmm: batch sizes differ: {} and {}", as,
           bs);
  const int r = bs.rank() - 2;
  const std::int64_t m = trans_a ? as[2] : as[1], k = trans_a ? as[1] : as[2];
  const std::int64_t kb = trans_b ? bs[r + 1] : bs[r], n = trans_b ? bs[r] : bs[r + 1];
  RB_CHECK(k == kb, ShapeError, "bmm: inner dimensions differ: a {}{} and b {}{} ({} vs {})", as,
           trans_a ? "^T" : "", bs, trans_b ? "^T" : "", k, kb);
  Tape& tape = a.tape();
  Tensor c = tape.arena().tensor({as[0], m, n});
  detail::backend().batched_gemm(trans_a, trans_b, 1.0f, a.value(), b.value(), 0.0f, c);
  OpArgs args;
  args.i[0] = trans_a;
  args.i[1] = trans_b;
  return tape.record("bmm", c, {a, b}, &bmm_backward, args);
}

}  // namespace recblocks::ops
