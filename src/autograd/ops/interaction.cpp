#include "recblocks/autograd/ops/interaction.h"

#include "autograd/ops/common.h"

namespace recblocks::ops {
namespace {

using kernels::MatrixView;

// Views of the F feature matrices [B, D]: the inputs themselves (list
// form, args.i[1] == 0) or the F slices of one [B, F, D] input.
MatrixView* feature_views(Tape& tape, std::int32_t node, bool grads, bool* accumulate) {
  const auto in = tape.inputs(node);
  const bool stacked = tape.args(node).i[1] != 0;
  const std::int64_t f = tape.args(node).i[2];
  auto* views = tape.arena().array<MatrixView>(static_cast<std::size_t>(f));
  if (stacked) {
    const Tensor& x = tape.value(in[0]);
    const std::int64_t b = x.size(0), d = x.size(2);
    Tensor base = x;
    bool acc = false;
    if (grads) {
      const kernels::GradOut g = tape.grad_out(in[0]);
      base = g.tensor;
      acc = g.accumulate;
    }
    for (std::int64_t i = 0; i < f; ++i) {
      views[i] = {base.data<float>() + i * d, b, d, f * d};
      if (accumulate != nullptr) accumulate[i] = acc;
    }
    return views;
  }
  for (std::int64_t i = 0; i < f; ++i) {
    const Tensor& x = tape.value(in[i]);
    const std::int64_t b = x.size(0), d = x.size(1);
    if (!grads) {
      views[i] = {x.data<float>(), b, d, d};
      continue;
    }
    const kernels::GradOut g = tape.grad_out(in[i]);  // in order: duplicates accumulate
    views[i] = {g.wanted() ? g.tensor.data<float>() : nullptr, b, d, d};
    accumulate[i] = g.accumulate;
  }
  return views;
}

void interaction_backward(Tape& tape, std::int32_t node) {
  const OpArgs& args = tape.args(node);
  const auto f = static_cast<std::size_t>(args.i[2]);
  MatrixView* x = feature_views(tape, node, false, nullptr);
  bool* accumulate = tape.arena().array<bool>(f);
  MatrixView* dx = feature_views(tape, node, true, accumulate);
  detail::backend().dot_interaction_backward({x, f}, args.i[0] != 0, tape.grad(node), {dx, f},
                                             {accumulate, f});
}

}  // namespace

Var dot_interaction(std::span<const Var> features, bool self_interaction) {
  RB_CHECK(!features.empty(), ShapeError, "dot_interaction: no features");
  const Shape& first = features[0].shape();
  for (const Var& v : features) {
    detail::check_float(v, "dot_interaction", "feature");
    RB_CHECK(v.shape().rank() == 2 && v.shape() == first, ShapeError,
             "dot_interaction: feature shapes {} and {}, expected the same [batch, dim]", first,
             v.shape());
  }
  const auto f = static_cast<std::int64_t>(features.size());
  Tape& tape = features[0].tape();
  auto* views = tape.arena().array<MatrixView>(static_cast<std::size_t>(f));
  for (std::int64_t i = 0; i < f; ++i)
    views[i] = {features[i].value().data<float>(), first[0], first[1], first[1]};
  Tensor y = tape.arena().tensor({first[0], dot_interaction_size(f, self_interaction)});
  detail::backend().dot_interaction_forward({views, static_cast<std::size_t>(f)}, self_interaction,
                                            y);
  OpArgs args;
  args.i[0] = self_interaction;
  args.i[1] = 0;
  args.i[2] = f;
  return tape.record("dot_interaction", y, features, &interaction_backward, args);
}

Var dot_interaction(const Var& stacked, bool self_interaction) {
  detail::check_float(stacked, "dot_interaction", "input");
  const Shape& s = stacked.shape();
  RB_CHECK(s.rank() == 3, ShapeError,
           "dot_interaction: input has shape {}, expected [batch, F, dim]", s);
  Tape& tape = stacked.tape();
  const std::int64_t b = s[0], f = s[1], d = s[2];
  auto* views = tape.arena().array<MatrixView>(static_cast<std::size_t>(f));
  for (std::int64_t i = 0; i < f; ++i)
    views[i] = {stacked.value().data<float>() + i * d, b, d, f * d};
  Tensor y = tape.arena().tensor({b, dot_interaction_size(f, self_interaction)});
  detail::backend().dot_interaction_forward({views, static_cast<std::size_t>(f)}, self_interaction,
                                            y);
  OpArgs args;
  args.i[0] = self_interaction;
  args.i[1] = 1;
  args.i[2] = f;
  return tape.record("dot_interaction", y, {stacked}, &interaction_backward, args);
}

}  // namespace recblocks::ops
