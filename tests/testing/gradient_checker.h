// The one finite-difference gradient checker, used by every op test.
//
// The graph under test is built by a function from Vars of the inputs; every
// differentiable input is a Parameter, so the checker can perturb its value
// in place. The checker forms the scalar loss sum(output * R) with a fixed
// random R (every output element matters), runs backward once, and compares
// each input's analytic gradient (Parameter::grad_as_dense(), sparse rows
// included) with central differences of the loss, computed in double from
// the float32 output.
//
// Each evaluation runs on the same Tape after reset(), with the tape's Rng
// set back to the same state, so random ops (dropout) draw the same mask
// every time and are checkable too.
//
// An index where the analytic value misses the central difference but lies
// between the two one-sided slopes, which themselves disagree, sits on a kink
// (relu at 0): it is skipped and counted, and the check fails if more than
// max_skip_fraction of the indices are skipped.
//
//   Parameter x("x", testing::uniform({4, 3}, 1));
//   EXPECT_TRUE(check_gradients("relu", {&x},
//       [](Tape&, std::span<const Var> in) { return ops::relu(in[0]); }));
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recblocks/autograd/parameter.h"
#include "recblocks/autograd/tape.h"

namespace recblocks::testing {

struct GradCheckOptions {
  double step = 1e-2;  // perturbation of each input element
  double rtol = 1e-2;  // |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)
  double atol = 1e-3;
  double max_skip_fraction = 0.05;  // of all checked elements, for kinks
  std::uint64_t seed = 20240601;    // of the output weights R
  int max_reported = 8;             // failures listed in the message
};

// Builds the output from Vars of the inputs, in the order they were given
// (in[k] is tape.parameter(*inputs[k])).
using GraphBuilder = std::function<Var(Tape& tape, std::span<const Var> in)>;

struct GradCheckReport {
  std::int64_t checked = 0;  // elements compared
  std::int64_t skipped = 0;  // kinks
  std::int64_t failed = 0;
  std::string message;  // empty when the check passed
  bool ok() const { return message.empty(); }
};

GradCheckReport run_gradient_check(std::string_view op, std::span<Parameter* const> inputs,
                                   const GraphBuilder& build, const GradCheckOptions& options = {});

// The same as a gtest assertion: EXPECT_TRUE(check_gradients(...)).
::testing::AssertionResult check_gradients(std::string_view op, std::span<Parameter* const> inputs,
                                           const GraphBuilder& build,
                                           const GradCheckOptions& options = {});
inline ::testing::AssertionResult check_gradients(std::string_view op,
                                                  std::initializer_list<Parameter*> inputs,
                                                  const GraphBuilder& build,
                                                  const GradCheckOptions& options = {}) {
  return check_gradients(op, std::span<Parameter* const>(inputs.begin(), inputs.size()), build,
                         options);
}

}  // namespace recblocks::testing
