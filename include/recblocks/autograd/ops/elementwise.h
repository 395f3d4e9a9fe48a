// Elementwise arithmetic with numpy broadcasting (shapes aligned from the
// right; a dimension of 1 or a missing one broadcasts).
//
//   add(x [4, 64], bias [64]) -> [4, 64];  scale(x, 0.5f) -> x * 0.5
#pragma once

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
Var scale(const Var& x, float alpha);

// The broadcast shape of a and b; throws ShapeError naming `op` if none.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace recblocks::ops
