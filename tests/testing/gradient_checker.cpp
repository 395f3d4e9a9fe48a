#include "testing/gradient_checker.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>

#include "testing/tensor_testing.h"

namespace recblocks::testing {
namespace {

// loss = sum(x * R), R in saved[0]; the backward writes dloss * R. Written
// here rather than with ops::mul / ops::sum_all so that the checker does not
// depend on the ops it checks.
void weighted_sum_backward(Tape& tape, std::int32_t node) {
  const std::int32_t input = tape.inputs(node)[0];
  kernels::GradOut g = tape.grad_out(input);
  if (!g.wanted()) return;
  const float d = tape.grad(node).data<float>()[0];
  const float* r = tape.args(node).saved[0].data<float>();
  float* out = g.tensor.data<float>();
  for (std::int64_t i = 0; i < g.tensor.numel(); ++i) {
    out[i] = g.accumulate ? out[i] + d * r[i] : d * r[i];
  }
}

double weighted_sum(const Tensor& y, const Tensor& r) {
  const float* p = y.data<float>();
  const float* w = r.data<float>();
  double s = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) s += static_cast<double>(p[i]) * w[i];
  return s;
}

}  // namespace

GradCheckReport run_gradient_check(std::string_view op, std::span<Parameter* const> inputs,
                                   const GraphBuilder& build, const GradCheckOptions& options) {
  GradCheckReport report;
  std::vector<std::string> failures;
  auto fail = [&](std::string text) {
    ++report.failed;
    if (static_cast<int>(failures.size()) < options.max_reported)
      failures.push_back(std::move(text));
  };

  Tape tape;
  const std::uint64_t rng_state = tape.rng().state();
  std::vector<Var> vars;
  vars.reserve(inputs.size());
  auto forward = [&]() -> Var {
    tape.reset();
    tape.rng().set_state(rng_state);
    vars.clear();
    for (Parameter* p : inputs) vars.push_back(tape.parameter(*p));
    return build(tape, vars);
  };

  Tensor r;
  double f0 = 0;
  std::vector<Tensor> analytic;
  try {
    // Analytic gradients.
    for (Parameter* p : inputs) p->zero_grad();
    const Var out = forward();
    if (out.value().dtype() != DType::kFloat32) {
      report.message = fmt::format("gradient check of '{}': output dtype is {}, expected float32",
                                   op, dtype_name(out.value().dtype()));
      return report;
    }
    r = uniform(out.shape(), options.seed, -1.0f, 1.0f);
    f0 = weighted_sum(out.value(), r);
    if (!out.requires_grad()) {
      report.message =
          fmt::format("gradient check of '{}': the output does not require a gradient", op);
      return report;
    }
    OpArgs args;
    args.saved[0] = r;
    Tensor loss_value = tape.arena().tensor(Shape{});
    loss_value.data<float>()[0] = static_cast<float>(f0);
    const Var loss = tape.record("gradient_checker_weighted_sum", loss_value, {out},
                                 &weighted_sum_backward, args);
    tape.backward(loss);
    for (Parameter* p : inputs) analytic.push_back(p->grad_as_dense());
    // Sparse gradient rows live in the tape's arena, which the next forward
    // resets: leave no dangling rows behind.
    for (Parameter* p : inputs) p->zero_grad();

    // The forward pass must be reproducible, or differences are noise.
    const double again = weighted_sum(forward().value(), r);
    if (again != f0) {
      report.message = fmt::format(
          "gradient check of '{}': two evaluations at the same point differ ({} vs {}): "
          "the forward pass is not deterministic",
          op, f0, again);
      return report;
    }
  } catch (const std::exception& e) {
    report.message = fmt::format("gradient check of '{}': exception: {}", op, e.what());
    return report;
  }

  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Parameter& p = *inputs[k];
    float* x = p.value().data<float>();
    const Tensor& a = analytic[k];
    if (!(a.shape() == p.value().shape())) {
      fail(fmt::format("input '{}': gradient has shape {}, expected {}", p.name(), a.shape(),
                       p.value().shape()));
      continue;
    }
    for (std::int64_t i = 0; i < p.value().numel(); ++i) {
      const float original = x[i];
      double fp = 0, fm = 0, xp = 0, xm = 0;
      try {
        x[i] = static_cast<float>(original + options.step);
        xp = x[i];
        fp = weighted_sum(forward().value(), r);
        x[i] = static_cast<float>(original - options.step);
        xm = x[i];
        fm = weighted_sum(forward().value(), r);
      } catch (const std::exception& e) {
        x[i] = original;
        report.message = fmt::format("gradient check of '{}': input '{}' index {}: exception: {}",
                                     op, p.name(), i, e.what());
        return report;
      }
      x[i] = original;
      ++report.checked;
      // The actual float steps, not the nominal one.
      const double numeric = (fp - fm) / (xp - xm);
      const double value = a.item(i);
      const double tol =
          options.atol + options.rtol * std::max(std::fabs(value), std::fabs(numeric));
      const double diff = std::fabs(value - numeric);
      if (diff <= tol) continue;
      const double right = (fp - f0) / (xp - original);
      const double left = (f0 - fm) / (original - xm);
      const double lo = std::min(left, right), hi = std::max(left, right);
      const bool kink =
          std::isfinite(value) && hi - lo > tol && value >= lo - tol && value <= hi + tol;
      if (kink) {
        ++report.skipped;
        continue;
      }
      fail(
          fmt::format("input '{}' flat index {}: analytic {:.7g}, numeric {:.7g} (|diff| {:.3g} > "
                      "tol {:.3g}; one-sided slopes {:.7g}, {:.7g})",
                      p.name(), i, value, numeric, diff, tol, left, right));
    }
  }
  tape.reset();

  if (report.failed > 0) {
    report.message = fmt::format("gradient check of '{}': {} of {} elements wrong", op,
                                 report.failed, report.checked);
    for (const std::string& f : failures) report.message += "\n  " + f;
    if (report.failed > static_cast<std::int64_t>(failures.size())) report.message += "\n  ...";
  } else if (report.skipped > options.max_skip_fraction * static_cast<double>(report.checked)) {
    report.message = fmt::format(
        "gradient check of '{}': {} of {} elements skipped as kinks (at most {:.0f}% allowed)", op,
        report.skipped, report.checked, 100 * options.max_skip_fraction);
  } else if (report.checked == 0) {
    report.message = fmt::format("gradient check of '{}': no input elements to check", op);
  }
  return report;
}

::testing::AssertionResult check_gradients(std::string_view op, std::span<Parameter* const> inputs,
                                           const GraphBuilder& build,
                                           const GradCheckOptions& options) {
  const GradCheckReport report = run_gradient_check(op, inputs, build, options);
  if (report.ok()) {
    return ::testing::AssertionSuccess() << "gradient check of '" << op << "': " << report.checked
                                         << " elements, " << report.skipped << " kinks skipped";
  }
  return ::testing::AssertionFailure() << report.message;
}

}  // namespace recblocks::testing
