// The output of NextItemPredictionTask (tasks.h): the catalogue's logits,
// or a sampled softmax's in training, and the sampler of its negatives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "recblocks/blocks/block.h"
#include "recblocks/core/rng.h"
#include "recblocks/tasks/tasks.h"

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

// The head's output layer (not a registered block: the task's JSON keeps
// its settings).
Block next_item_output(std::string column, std::string domain, std::int64_t num_items,
                       const NextItemOptions& options, std::shared_ptr<ItemSampler> sampler);

// The item table and bias of a built next-item output: W [num_items, d],
// b [num_items] (for the recommender).
std::pair<ParameterPtr, ParameterPtr> next_item_weights(const Block& output);

}  // namespace recblocks::detail
