// Shared by the MovieLens sources (movielens_raw.cpp, movielens.cpp).
#pragma once

#include <string_view>

namespace recblocks::datasets::detail {

// Throws ValueError listing movielens_variants() unless `variant` is one.
void check_variant(std::string_view variant);

}  // namespace recblocks::datasets::detail
