// The item sampler of the tasks that draw negatives: NextItemPredictionTask's
// sampled softmax and ItemRetrievalTask's num_sampled.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "recblocks/core/rng.h"
#include "recblocks/core/tensor.h"

namespace recblocks::detail {

// Draws item ids for a sampled softmax: by popularity (each item with its
// frequency in the training data) or uniformly over [min_id, num_items).
class ItemSampler {
 public:
  ItemSampler(bool popularity, std::int64_t num_items, std::int64_t min_id);

  bool popularity() const { return popularity_; }
  // int64 [<= num_items]: the training counts (the popularity sampler's
  // distribution and log q).
  void set_counts(const Tensor& counts);
  bool has_counts() const { return !cumulative_.empty(); }
  // n draws, with replacement, from the counter-based stream at `base`
  // (Rng::next_stream of the run's tape: the draws follow the tape's random
  // state, which checkpoints save, so a resumed fit draws the same).
  void draw(std::int64_t n, std::int64_t* out, std::uint64_t base) const;
  // log of the probability of drawing `id` (an item never seen in training
  // counts as seen once: finite for a positive).
  float log_q(std::int64_t id) const;

 private:
  bool popularity_;
  std::int64_t num_items_;
  std::int64_t min_id_;
  std::vector<double> cumulative_;  // popularity: running sum of the counts
  std::vector<float> log_q_;        // popularity: log q of each item
  double total_ = 0;
  float uniform_log_q_ = 0;  // uniform: log(1 / (num_items - min_id))
};

// A task JSON's "item_counts" array as int64 [items].
Tensor item_counts_from_json(const nlohmann::json& counts);

}  // namespace recblocks::detail
