#include "tasks/item_sampler.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "recblocks/core/error.h"

namespace recblocks::detail {

// ---- ItemSampler ------------------------------------------------------------

ItemSampler::ItemSampler(bool popularity, std::int64_t num_items, std::int64_t min_id)
    : popularity_(popularity), num_items_(num_items), min_id_(min_id) {
  RB_CHECK(min_id >= 0 && min_id < num_items, ValueError,
           "NextItemPredictionTask: min_sampled_id is {}, expected [0, {})", min_id, num_items);
  uniform_log_q_ = static_cast<float>(-std::log(static_cast<double>(num_items - min_id)));
}

void ItemSampler::set_counts(const Tensor& counts) {
  RB_CHECK(counts.dtype() == DType::kInt64 && counts.rank() == 1 && counts.numel() > 0, ShapeError,
           "item counts are {} {}, expected int64 [items]", dtype_name(counts.dtype()),
           counts.shape());
  RB_CHECK(counts.numel() <= num_items_, ValueError,
           "item counts cover {} ids, the task's catalogue has {} (ids [0, {}))", counts.numel(),
           num_items_, num_items_);
  const auto* c = counts.data<std::int64_t>();
  std::vector<double> cumulative(static_cast<std::size_t>(num_items_));
  double total = 0;
  for (std::int64_t i = 0; i < num_items_; ++i) {
    const std::int64_t n = i < counts.numel() ? c[i] : 0;
    RB_CHECK(n >= 0, ValueError, "item {} has count {}, expected >= 0", i, n);
    total += static_cast<double>(n);
    cumulative[static_cast<std::size_t>(i)] = total;
  }
  RB_CHECK(total > 0, ValueError, "every item count is 0");
  cumulative_ = std::move(cumulative);
  total_ = total;
  log_q_.resize(static_cast<std::size_t>(num_items_));
  for (std::int64_t i = 0; i < num_items_; ++i) {
    const auto at = static_cast<std::size_t>(i);
    const double count = cumulative_[at] - (at == 0 ? 0.0 : cumulative_[at - 1]);
    log_q_[at] = static_cast<float>(std::log(std::max(count, 1.0) / total_));
  }
}

void ItemSampler::draw(std::int64_t n, std::int64_t* out, std::uint64_t base) const {
  RB_CHECK(!popularity_ || has_counts(), ValueError,
           "NextItemPredictionTask: the popularity sampler needs the items' training counts: fit "
           "the model (or "
           "set_item_counts) first");
  for (std::int64_t i = 0; i < n; ++i) {
    // 53 random bits: a draw from [0, 1) fine enough for any count total.
    const double u =
        static_cast<double>(mix64(base + static_cast<std::uint64_t>(i)) >> 11) * 0x1.0p-53;
    if (popularity_) {
      // The first id whose running count exceeds u * total: an id with a
      // count of 0 has no interval and is never drawn.
      const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u * total_);
      out[i] = std::min<std::int64_t>(it - cumulative_.begin(), num_items_ - 1);
    } else {
      const auto span = static_cast<double>(num_items_ - min_id_);
      out[i] = min_id_ + std::min<std::int64_t>(static_cast<std::int64_t>(u * span),
                                                num_items_ - min_id_ - 1);
    }
  }
}

float ItemSampler::log_q(std::int64_t id) const {
  return popularity_ ? log_q_[static_cast<std::size_t>(id)] : uniform_log_q_;
}

Tensor item_counts_from_json(const nlohmann::json& counts) {
  const auto values = counts.get<std::vector<std::int64_t>>();
  Tensor t = Tensor::empty({static_cast<std::int64_t>(values.size())}, DType::kInt64);
  std::copy(values.begin(), values.end(), t.data<std::int64_t>());
  return t;
}

}  // namespace recblocks::detail
