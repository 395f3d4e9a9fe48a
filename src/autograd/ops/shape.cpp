#include "recblocks/autograd/ops/shape.h"

#include <algorithm>
#include <array>

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

using kernels::MatrixView;

// concat and stack both place input i, viewed as [outer, width_i], at
// column offset_i of the output viewed as [outer, total_width].
MatrixView block(const Tensor& t, std::int64_t outer, std::int64_t width, std::int64_t stride,
                 std::int64_t column) {
  return {t.data<float>() + column, outer, width, stride};
}

// args.i[0]: outer; the widths are recomputed from the inputs' shapes.
void join_backward(Tape& tape, std::int32_t node) {
  const auto in = tape.inputs(node);
  const std::int64_t outer = tape.args(node).i[0];
  const Tensor& dy = tape.grad(node);
  const std::int64_t total = dy.numel() / outer;
  std::int64_t column = 0;
  for (const std::int32_t i : in) {
    const std::int64_t width = tape.value(i).numel() / outer;
    const kernels::GradOut g = tape.grad_out(i);
    if (g.wanted()) {
      detail::backend().copy_matrix(block(dy, outer, width, total, column),
                                    block(g.tensor, outer, width, width, 0), g.accumulate);
    }
    column += width;
  }
}

Var join(std::span<const Var> xs, const Shape& out, std::int64_t outer, const char* name) {
  Tape& tape = xs[0].tape();
  Tensor y = tape.arena().tensor(out);
  const std::int64_t total = out.numel() / std::max<std::int64_t>(outer, 1);
  std::int64_t column = 0;
  for (const Var& x : xs) {
    const std::int64_t width = x.value().numel() / std::max<std::int64_t>(outer, 1);
    detail::backend().copy_matrix(block(x.value(), outer, width, width, 0),
                                  block(y, outer, width, total, column), false);
    column += width;
  }
  OpArgs args;
  args.i[0] = outer;
  return tape.record(name, y, xs, &join_backward, args);
}

void check_inputs(std::span<const Var> xs, const char* name) {
  RB_CHECK(!xs.empty(), ShapeError, "{}: no inputs", name);
  for (const Var& x : xs) detail::check_float(x, name, "input");
}

// args.i[0..2]: outer, the input's width, the column where the slice starts.
void slice_backward(Tape& tape, std::int32_t node) {
  const std::int32_t x = tape.inputs(node)[0];
  const OpArgs& args = tape.args(node);
  const std::int64_t outer = args.i[0], width = args.i[1], column = args.i[2];
  const Tensor& dy = tape.grad(node);
  const std::int64_t w = dy.numel() / std::max<std::int64_t>(outer, 1);
  const kernels::GradOut g = tape.grad_out(x);
  if (!g.accumulate) g.tensor.zero();  // the slice writes only its columns
  detail::backend().copy_matrix(block(dy, outer, w, w, 0), block(g.tensor, outer, w, width, column),
                                true);
}

void reshape_backward(Tape& tape, std::int32_t node) {
  const std::int32_t x = tape.inputs(node)[0];
  detail::backend().scale(tape.grad(node), 1.0f,
                          detail::grad_out_as(tape, x, tape.grad(node).shape()));
}

void transpose_backward(Tape& tape, std::int32_t node) {
  const std::int32_t x = tape.inputs(node)[0];
  const OpArgs& args = tape.args(node);
  detail::backend().transpose(tape.grad(node), static_cast<int>(args.i[0]),
                              static_cast<int>(args.i[1]), tape.grad_out(x));
}

}  // namespace

Var concat(std::span<const Var> xs, int axis) {
  check_inputs(xs, "concat");
  const Shape& first = xs[0].shape();
  const int a = first.normalize_axis(axis);
  std::int64_t total = 0;
  for (const Var& x : xs) {
    const Shape& s = x.shape();
    RB_CHECK(s.rank() == first.rank() && s.with(a, 0) == first.with(a, 0), ShapeError,
             "concat: input shapes {} and {} differ outside axis {}", first, s, a);
    total += s[a];
  }
  return join(xs, first.with(a, total), first.outer(a), "concat");
}

Var stack(std::span<const Var> xs, int axis) {
  check_inputs(xs, "stack");
  const Shape& first = xs[0].shape();
  for (const Var& x : xs) {
    RB_CHECK(x.shape() == first, ShapeError, "stack: input shapes {} and {} differ", first,
             x.shape());
  }
  const Shape out = first.inserted(axis, static_cast<std::int64_t>(xs.size()));
  const int a = axis < 0 ? axis + first.rank() + 1 : axis;
  return join(xs, out, out.outer(a), "stack");
}

Var slice(const Var& x, int axis, std::int64_t begin, std::int64_t end) {
  detail::check_float(x, "slice", "input");
  const Shape& s = x.shape();
  const int a = s.normalize_axis(axis);
  RB_CHECK(0 <= begin && begin <= end && end <= s[a], ShapeError,
           "slice: [{}, {}) out of range for axis {} of shape {}", begin, end, a, s);
  const std::int64_t outer = s.outer(a), inner = s.inner(a);
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(s.with(a, end - begin));
  const std::int64_t width = s[a] * inner, w = (end - begin) * inner;
  detail::backend().copy_matrix(block(x.value(), outer, w, width, begin * inner),
                                block(y, outer, w, w, 0), false);
  OpArgs args;
  args.i[0] = outer;
  args.i[1] = width;
  args.i[2] = begin * inner;
  return tape.record("slice", y, {x}, &slice_backward, args);
}

std::vector<Var> split(const Var& x, std::span<const std::int64_t> sizes, int axis) {
  const Shape& s = x.shape();
  const int a = s.normalize_axis(axis);
  std::int64_t total = 0;
  for (const std::int64_t n : sizes) total += n;
  RB_CHECK(total == s[a], ShapeError, "split: sizes add up to {}, axis {} of shape {} has {}",
           total, a, s, s[a]);
  std::vector<Var> parts;
  parts.reserve(sizes.size());
  std::int64_t begin = 0;
  for (const std::int64_t n : sizes) {
    parts.push_back(slice(x, a, begin, begin + n));
    begin += n;
  }
  return parts;
}

Var reshape(const Var& x, std::span<const std::int64_t> dims) {
  RB_CHECK(dims.size() <= Shape::kMaxRank, ShapeError, "reshape: target has rank {}, at most {}",
           dims.size(), Shape::kMaxRank);
  std::int64_t known = 1;
  int inferred = -1;
  std::array<std::int64_t, Shape::kMaxRank> d{};
  std::copy(dims.begin(), dims.end(), d.begin());
  for (int i = 0; i < static_cast<int>(dims.size()); ++i) {
    if (d[i] == -1) {
      RB_CHECK(inferred < 0, ShapeError, "reshape: more than one -1 in the target shape");
      inferred = i;
    } else {
      known *= d[i];
    }
  }
  const std::int64_t n = x.value().numel();
  if (inferred >= 0) {
    RB_CHECK(known > 0 && n % known == 0, ShapeError, "reshape: cannot reshape {} into {}",
             x.shape(), Shape(std::span<const std::int64_t>(dims)));
    d[inferred] = n / known;
  }
  const Shape out{std::span<const std::int64_t>(d.data(), dims.size())};
  RB_CHECK(out.numel() == n, ShapeError, "reshape: cannot reshape {} ({} elements) into {}",
           x.shape(), n, out);
  return x.tape().record("reshape", x.value().view(out), {x}, &reshape_backward);
}

Var reshape(const Var& x, std::initializer_list<std::int64_t> dims) {
  return reshape(x, std::span<const std::int64_t>(dims.begin(), dims.size()));
}

Var transpose(const Var& x, int axis0, int axis1) {
  detail::check_float(x, "transpose", "input");
  const Shape& s = x.shape();
  const int a0 = s.normalize_axis(axis0), a1 = s.normalize_axis(axis1);
  Shape out = s;
  out[a0] = s[a1];
  out[a1] = s[a0];
  Tape& tape = x.tape();
  Tensor y = tape.arena().tensor(out);
  detail::backend().transpose(x.value(), a0, a1, {y, false});
  OpArgs args;
  args.i[0] = a0;
  args.i[1] = a1;
  return tape.record("transpose", y, {x}, &transpose_backward, args);
}

}  // namespace recblocks::ops
