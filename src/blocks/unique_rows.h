// The distinct ids of a batch column, in order of first appearance: shared
// by UniqueRows (which runs a tower once per distinct candidate) and the
// retrieval task (which maps each row to its candidate's column).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "recblocks/core/tensor.h"

namespace recblocks::detail {

struct UniqueIds {
  std::vector<std::int64_t> ids;      // [U] the distinct ids
  std::vector<std::int64_t> first;    // [U] the row where each first appears
  std::vector<std::int64_t> counts;   // [U] how many rows hold it
  std::vector<std::int64_t> inverse;  // [rows] each row's index into ids
};

// `ids`: int32 or int64 [rows].
UniqueIds unique_in_order(const Tensor& ids);

// Whether a block (its to_json()) computes each row's training output from
// that row alone, deterministically: an allowlist of the block types known
// to (MLPBlock without dropout or batch normalisation); an unknown type
// counts as not. UniqueRows merges rows only for such blocks, and drawn
// negatives (ItemRetrievalOptions::num_sampled) need one.
bool rows_independent(const nlohmann::json& block);

}  // namespace recblocks::detail
