#include "recblocks/core/rng.h"

#include <cmath>
#include <numbers>

namespace recblocks {

float Rng::normal() {
  // Box-Muller on two uniforms; u1 in (0, 1] keeps the log finite.
  const float u1 = 1.0f - uniform();
  const float u2 = uniform();
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(2.0f * std::numbers::pi_v<float> * u2);
}

}  // namespace recblocks
