// Shape ops: concatenation, stacking, splitting, slicing, reshaping and
// transposition. reshape is a view (no copy); the others copy.
//
//   concat({a [4, 64], b [4, 10]}, 1) -> [4, 74]
//   stack({a [4, 64], b [4, 64]}, 1)  -> [4, 2, 64]
//   split(x [4, 74], {64, 10}, 1)     -> {[4, 64], [4, 10]}
//   slice(x [4, 74], 1, 64, 74)       -> [4, 10]
//   reshape(x [4, 2, 64], {8, 64});  transpose(x [4, 2, 64], 1, 2) -> [4, 64, 2]
#pragma once

#include <span>
#include <vector>

#include "recblocks/autograd/tape.h"

namespace recblocks::ops {

Var concat(std::span<const Var> xs, int axis);
Var stack(std::span<const Var> xs, int axis);
std::vector<Var> split(const Var& x, std::span<const std::int64_t> sizes, int axis);
Var slice(const Var& x, int axis, std::int64_t begin, std::int64_t end);
// One dimension may be -1 (inferred).
Var reshape(const Var& x, std::span<const std::int64_t> dims);
Var reshape(const Var& x, std::initializer_list<std::int64_t> dims);
Var transpose(const Var& x, int axis0, int axis1);

}  // namespace recblocks::ops
