#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/initializers.h"
#include "recblocks/core/error.h"
#include "tasks/next_item_internal.h"

namespace recblocks::detail {

using json = nlohmann::json;

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

// ---- the output block -------------------------------------------------------------

namespace {

class NextItemOutputImpl final : public BlockBase {
 public:
  NextItemOutputImpl(std::string column, std::string domain, std::int64_t num_items,
                     const NextItemOptions& options, std::shared_ptr<ItemSampler> sampler)
      : column_(std::move(column)),
        domain_(std::move(domain)),
        num_items_(num_items),
        options_(options),
        sampler_(std::move(sampler)) {}

  std::string_view type() const override { return "NextItemOutput"; }
  json config() const override { return json::object(); }

  std::vector<std::pair<std::string, ParameterPtr>> own_parameters() const override {
    // A tied table is the body's when the body looks the domain up (the
    // model lists it once, under the body's name); it is this block's when
    // nothing else uses it.
    if (!table_) return {};
    return {{options_.weight_tying ? domain_ : "item_embeddings", table_}, {"item_bias", bias_}};
  }

  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    const TensorSpec x = input.as_tensor("NextItemPredictionTask");
    RB_CHECK(
        x.dtype == DType::kFloat32 && x.shape.rank() == 1 && x.shape[0] > 0, ShapeError,
        "NextItemPredictionTask '{}': expected the body to give one float32 vector per row, got {}",
        column_, input.str());
    const std::int64_t dim = x.shape[0];
    const Shape shape{num_items_, dim};
    if (options_.weight_tying) {
      // Tied to the table the body looks the item ids up in: a body without
      // one has nothing to tie to.
      RB_CHECK(context.shared_tables().count(domain_) == 1, ValueError,
               "NextItemPredictionTask '{}': weight tying needs the body to embed the '{}' domain "
               "(the item id or "
               "an item history column); the body's tables are [{}] (or set weight_tying = false)",
               column_, domain_, [&] {
                 std::string names;
                 for (const auto& [name, table] : context.shared_tables())
                   names += (names.empty() ? "" : ", ") + name;
                 return names;
               }());
      table_ = context.shared_tables().at(domain_);
      RB_CHECK(table_->value().shape() == shape, ShapeError,
               "NextItemPredictionTask '{}': weight tying to the '{}' table of shape {} needs the "
               "body's output "
               "to be {} wide and the catalogue {} items, got a [{}] output for {} items (make the "
               "last layer {} "
               "wide, or set weight_tying = false)",
               column_, domain_, table_->value().shape(), table_->value().size(1),
               table_->value().size(0), dim, num_items_, table_->value().size(1));
    } else {
      table_ = std::make_shared<Parameter>(
          "item_embeddings", Initializer::glorot_uniform().make(shape, context.next_stream()));
    }
    bias_ = std::make_shared<Parameter>("item_bias", Tensor::zeros({num_items_}));
    stream_seed_ = context.next_stream();
    return FlowSpec::tensor({Shape{num_items_}});
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    Var x = input.as_tensor("NextItemPredictionTask");
    const Var w = run.param(table_);
    const Var b = run.param(bias_);
    if (options_.l2_normalization) x = ops::l2_normalize(x);
    const auto inv_t = static_cast<float>(1.0 / options_.temperature);
    if (!(run.training() && options_.sampled_softmax)) {
      const Var items = options_.l2_normalization ? ops::l2_normalize(w) : w;
      Var logits = ops::add(ops::matmul(x, items, false, true), b);
      if (inv_t != 1.0f) logits = ops::scale(logits, inv_t);
      return Flow::tensor(logits);
    }
    // Sampled softmax: each row against its own item (column 0) and the
    // batch's draws.
    const Tensor& column = run.batch().tensor(column_);
    const std::int64_t rows = column.size(0);
    const Tensor targets = column.view({rows});  // [B] or [B, 1]
    const std::int64_t s = options_.num_sampled;
    Arena& arena = run.tape().arena();
    Tensor sampled = arena.tensor({s}, DType::kInt64);
    // The draws depend on the model's seed and on the tape's random state
    // (which checkpoints keep).
    const std::uint64_t base = run.tape().rng().next_stream(static_cast<std::uint64_t>(s));
    sampler_->draw(s, sampled.data<std::int64_t>(), mix64(stream_seed_ ^ base));
    Var positive = ops::embedding(w, targets);  // [B, d]
    Var negative = ops::embedding(w, sampled);  // [S, d]
    if (options_.l2_normalization) {
      positive = ops::l2_normalize(positive);
      negative = ops::l2_normalize(negative);
    }
    const Var b2 = ops::reshape(b, {num_items_, 1});
    const Var sp = ops::add(ops::sum(ops::mul(x, positive), 1, true), ops::embedding(b2, targets));
    const Var sn = ops::add(ops::matmul(x, negative, false, true),
                            ops::reshape(ops::embedding(b2, sampled), {s}));
    const Var parts[] = {sp, sn};
    Var scores = ops::concat(parts, 1);
    if (inv_t != 1.0f) scores = ops::scale(scores, inv_t);
    if (options_.logq_correction || options_.remove_accidental_hits) {
      // What the loss sees: -log q on every column, -inf on a drawn item
      // equal to the row's own (left out of its softmax).
      Tensor shift = arena.tensor({rows, 1 + s});
      float* c = shift.data<float>();
      const auto* sid = sampled.data<std::int64_t>();
      const bool logq = options_.logq_correction;
      // The draws' shift, once per batch; each row copies it.
      float* drawn = arena.tensor({s}).data<float>();
      for (std::int64_t j = 0; j < s; ++j) drawn[j] = logq ? -sampler_->log_q(sid[j]) : 0.0f;
      for (std::int64_t i = 0; i < rows; ++i) {
        const std::int64_t t = targets.dtype() == DType::kInt64 ? targets.data<std::int64_t>()[i]
                                                                : targets.data<std::int32_t>()[i];
        float* ci = c + i * (1 + s);
        ci[0] = logq ? -sampler_->log_q(t) : 0.0f;
        std::copy(drawn, drawn + s, ci + 1);
        if (!options_.remove_accidental_hits) continue;
        for (std::int64_t j = 0; j < s; ++j) {
          if (sid[j] == t) ci[1 + j] = -std::numeric_limits<float>::infinity();
        }
      }
      scores = ops::add(scores, run.tape().constant(shift));
    }
    return Flow::tensor(scores);
  }

  ParameterPtr table() const { return table_; }
  ParameterPtr bias() const { return bias_; }

 private:
  std::string column_;
  std::string domain_;
  std::int64_t num_items_;
  NextItemOptions options_;
  std::shared_ptr<ItemSampler> sampler_;
  ParameterPtr table_;
  ParameterPtr bias_;
  std::uint64_t stream_seed_ = 0;
};

}  // namespace

Block next_item_output(std::string column, std::string domain, std::int64_t num_items,
                       const NextItemOptions& options, std::shared_ptr<ItemSampler> sampler) {
  return Block(std::make_shared<NextItemOutputImpl>(std::move(column), std::move(domain), num_items,
                                                    options, std::move(sampler)));
}

std::pair<ParameterPtr, ParameterPtr> next_item_weights(const Block& output) {
  const auto* impl = dynamic_cast<const NextItemOutputImpl*>(&output.impl());
  RB_CHECK(impl != nullptr && output.built(), ValueError,
           "not a built NextItemPredictionTask output");
  return {impl->table(), impl->bias()};
}

}  // namespace recblocks::detail
