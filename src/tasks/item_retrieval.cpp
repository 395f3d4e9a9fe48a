#include "recblocks/tasks/item_retrieval.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/retrieval.h"
#include "recblocks/core/error.h"
#include "recblocks/data/dataset.h"
#include "tasks/item_sampler.h"

namespace recblocks {

using json = nlohmann::json;

class ItemRetrievalTask::Impl final : public TaskBase,
                                      public ItemCountsUser,
                                      public NegativeDrawer {
 public:
  Impl(std::string target, ItemRetrievalOptions options)
      : TaskBase(kKind, std::move(target), 1,
                 {.metrics = std::move(options.metrics), .task_name = std::move(options.task_name)},
                 {metrics::RecallAt(10), metrics::MRRAt(10), metrics::NDCGAt(10),
                  metrics::AvgPrecisionAt(10), metrics::PrecisionAt(10)}),
        options_(std::move(options)) {
    options_.metrics.clear();
    options_.task_name.clear();
    set_head(
        task_head({{"scorer", ItemRetrievalScorer({.l2_normalization = options_.l2_normalization,
                                                   .temperature = options_.temperature})}}));
    loss_kind_ = ops::retrieval_loss_from_name(options_.loss);
    RB_CHECK(options_.num_sampled >= 0 && options_.num_sampled <= (std::int64_t{1} << 24),
             ValueError,
             "task '{}': num_sampled is {}, expected 0 (in-batch negatives only) to 2^24", name(),
             options_.num_sampled);
    RB_CHECK(std::isfinite(options_.margin), ValueError,
             "task '{}': margin is {}, expected a finite number", name(), options_.margin);
  }

  std::string_view kind_name() const override { return kKind; }
  const ItemRetrievalOptions& options() const { return options_; }

  // ---- the loss and the metrics ----------------------------------------------

  Var loss(const Var& logits, const Tensor& targets) const override;
  std::pair<Tensor, Tensor> metric_inputs(const Tensor& logits,
                                          const Tensor& prepared) const override;
  // The scores themselves ([B, B] out of training).
  Tensor predictions(const Tensor& logits) const override { return logits.clone(); }
  // Item ids: in the logQ counts' range once known (any id >= 0 before).
  Tensor prepare_targets(const Tensor& column) const override {
    return item_id_targets(column, log_q_.defined() ? log_q_.numel() : -1);
  }
  Shape prediction_shape(std::int64_t rows) const override { return Shape{rows, rows}; }
  bool scores_within_batch() const override { return true; }
  bool recommends_items() const override { return true; }

  // ---- the training counts and the drawn negatives -------------------------------

  bool needs_item_counts() const { return options_.logq_correction || options_.num_sampled > 0; }
  ItemCountsUser* item_counts_user() override { return needs_item_counts() ? this : nullptr; }
  NegativeDrawer* negative_drawer() override { return options_.num_sampled > 0 ? this : nullptr; }
  void set_item_counts(Tensor counts) override;
  void set_item_catalogue(const Dataset& train) override;
  Batch sampled_candidates(Tape& tape, std::uint64_t seed, bool training) override;

 protected:
  void add_json(json& out) const override {
    json counts = nullptr;
    if (item_counts_.defined()) {
      const auto* c = item_counts_.data<std::int64_t>();
      counts = std::vector<std::int64_t>(c, c + item_counts_.numel());
    }
    // The loss by its canonical name ("ce" is saved as categorical_crossentropy).
    ItemRetrievalOptions in_use = options_;
    in_use.loss = ops::retrieval_loss_name(loss_kind_);
    json section = options::to_json(in_use);
    section["item_counts"] = std::move(counts);
    out["retrieval"] = std::move(section);
  }

 private:
  ItemRetrievalOptions options_;
  ops::RetrievalLoss loss_kind_ = ops::RetrievalLoss::kCategoricalCrossEntropy;
  Tensor item_counts_;  // int64 [items], once known
  Tensor log_q_;        // float32 [items]: -log(frequency), with logq_correction
  // With num_sampled: the sampler by the counts, each training item's first
  // row, the row of each id in it (-1: none), and the current training
  // step's drawn ids (int64 [num_sampled]; undefined out of training).
  std::shared_ptr<detail::ItemSampler> sampler_;
  Batch catalogue_;
  std::vector<std::int64_t> catalogue_row_;
  Tensor step_sampled_;
};

Var ItemRetrievalTask::Impl::loss(const Var& logits, const Tensor& targets) const {
  RB_CHECK(targets.dtype() == DType::kInt64 && targets.rank() == 1, ShapeError,
           "task '{}': targets are {} {}, expected the int64 item ids of prepare_targets", name(),
           dtype_name(targets.dtype()), targets.shape());
  const std::int64_t rows = targets.numel();
  RB_CHECK(logits.shape().rank() == 2 && logits.shape()[0] == rows, ShapeError,
           "task '{}': the scores have shape {}, expected [{}, {}] (in-batch), or [{}, "
           "distinct items] in "
           "training, each plus the drawn negatives' columns with num_sampled",
           name(), logits.shape(), rows, rows, rows);
  RB_CHECK(!options_.logq_correction || log_q_.defined(), ValueError,
           "task '{}': logq_correction needs the items' training frequencies: fit the model (or "
           "set_item_counts) first",
           name());
  // Tensors from the step's arena (the distinct-item mapping below
  // allocates a few vectors of the batch's size).
  Arena& arena = logits.tape().arena();
  Tensor positives = arena.tensor({rows}, DType::kInt64);
  Tensor column_ids = targets;
  ops::RetrievalLossOptions options{.kind = loss_kind_, .margin = options_.margin};
  // The step's drawn negatives come after the in-batch columns.
  const std::int64_t sampled = step_sampled_.defined() ? step_sampled_.numel() : 0;
  const std::int64_t in_batch = logits.shape()[1] - sampled;
  if (in_batch == rows) {
    // One column per row: row i's positive is column i.
    for (std::int64_t i = 0; i < rows; ++i) positives.data<std::int64_t>()[i] = i;
  } else {
    // One column per distinct item (UniqueRows ran the candidate tower
    // once per item, in order of first appearance): each row's positive
    // is its item's column, which stands for every row holding it.
    const UniqueIds u = unique_in_order(targets);
    const auto distinct = static_cast<std::int64_t>(u.ids.size());
    RB_CHECK(in_batch == distinct, ShapeError,
             "task '{}': the scores have shape {}, expected [{}, {}] (in-batch) or [{}, {}] (one "
             "column per "
             "distinct item of the batch){}",
             name(), logits.shape(), rows, rows + sampled, rows, distinct + sampled,
             sampled > 0 ? fmt::format(", each with {} drawn negatives", sampled) : std::string());
    std::copy(u.inverse.begin(), u.inverse.end(), positives.data<std::int64_t>());
    column_ids = arena.tensor({distinct}, DType::kInt64);
    std::copy(u.ids.begin(), u.ids.end(), column_ids.data<std::int64_t>());
    options.column_counts = arena.tensor({distinct + sampled}, DType::kInt64);
    std::copy(u.counts.begin(), u.counts.end(), options.column_counts.data<std::int64_t>());
    std::fill_n(options.column_counts.data<std::int64_t>() + distinct, sampled, std::int64_t{1});
  }
  if (sampled > 0) {
    // Every column's item: the batch's, then the drawn ones.
    Tensor all = arena.tensor({in_batch + sampled}, DType::kInt64);
    std::copy_n(column_ids.data<std::int64_t>(), in_batch, all.data<std::int64_t>());
    std::copy_n(step_sampled_.data<std::int64_t>(), sampled, all.data<std::int64_t>() + in_batch);
    column_ids = all;
  }
  if (options_.remove_accidental_hits) options.column_ids = column_ids;
  if (options_.logq_correction) {
    const std::int64_t cols = column_ids.numel();
    Tensor bias = arena.tensor({cols});
    const auto* id = column_ids.data<std::int64_t>();
    const std::int64_t items = log_q_.numel();
    for (std::int64_t j = 0; j < cols; ++j) {
      RB_CHECK(id[j] >= 0 && id[j] < items, ValueError,
               "task '{}': item id {} at column {} is outside [0, {})", name(), id[j], j, items);
      bias.data<float>()[j] = log_q_.data<float>()[id[j]];
    }
    options.column_bias = std::move(bias);
  }
  return ops::retrieval_loss(logits, positives, options);
}

std::pair<Tensor, Tensor> ItemRetrievalTask::Impl::metric_inputs(const Tensor& logits,
                                                                 const Tensor& prepared) const {
  const std::int64_t rows = prepared.numel();
  Tensor scores = predictions(logits);
  const std::int64_t sampled = step_sampled_.defined() ? step_sampled_.numel() : 0;
  if (sampled > 0 && scores.rank() == 2 && scores.size(1) > sampled) {
    // The in-batch metrics: without the step's drawn negatives.
    const std::int64_t cols = scores.size(1), kept = cols - sampled;
    Tensor in_batch = Tensor::empty({scores.size(0), kept});
    for (std::int64_t i = 0; i < scores.size(0); ++i) {
      std::copy_n(scores.data<float>() + i * cols, kept, in_batch.data<float>() + i * kept);
    }
    scores = std::move(in_batch);
  }
  if (scores.rank() == 2 && scores.size(0) == rows && scores.size(1) != rows) {
    // One column per distinct item (UniqueRows): back to one per row, so
    // the metrics rank each row's item among the batch's rows as before.
    const UniqueIds u = unique_in_order(prepared);
    const std::int64_t cols = scores.size(1);
    RB_CHECK(static_cast<std::int64_t>(u.ids.size()) == cols, ShapeError,
             "task '{}': the scores have shape {}, expected [{}, {}] or [{}, {}]", name(),
             scores.shape(), rows, rows, rows, u.ids.size());
    Tensor full = Tensor::empty({rows, rows});
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < rows; ++j) {
        full.data<float>()[i * rows + j] =
            scores.data<float>()[i * cols + u.inverse[static_cast<std::size_t>(j)]];
      }
    }
    scores = std::move(full);
  }
  Tensor diagonal = Tensor::empty({rows}, DType::kInt64);
  const auto* id = prepared.data<std::int64_t>();
  for (std::int64_t i = 0; i < rows; ++i) diagonal.data<std::int64_t>()[i] = i;
  if (options_.remove_accidental_hits && scores.rank() == 2 && scores.size(1) == rows) {
    // The row's own item elsewhere in the batch is no candidate: as in the
    // loss, it does not compete with the positive.
    float* s = scores.data<float>();
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < rows; ++j) {
        if (j != i && id[j] == id[i]) s[i * rows + j] = -std::numeric_limits<float>::infinity();
      }
    }
  }
  return {std::move(scores), std::move(diagonal)};
}

void ItemRetrievalTask::Impl::set_item_counts(Tensor counts) {
  RB_CHECK(counts.dtype() == DType::kInt64 && counts.rank() == 1 && counts.numel() > 0, ShapeError,
           "task '{}': item counts are {} {}, expected int64 [items]", name(),
           dtype_name(counts.dtype()), counts.shape());
  const auto* c = counts.data<std::int64_t>();
  double total = 0;
  for (std::int64_t i = 0; i < counts.numel(); ++i) {
    RB_CHECK(c[i] >= 0, ValueError, "task '{}': item {} has count {}, expected >= 0", name(), i,
             c[i]);
    total += static_cast<double>(c[i]);
  }
  RB_CHECK(total > 0, ValueError, "task '{}': every item count is 0", name());
  // An item never seen in training counts as seen once: its correction
  // stays finite. Only with logq_correction (the loss's range check of the
  // targets comes with it).
  Tensor log_q;
  if (options_.logq_correction) {
    log_q = Tensor::empty({counts.numel()});
    for (std::int64_t i = 0; i < counts.numel(); ++i) {
      log_q.data<float>()[i] = static_cast<float>(
          -std::log(static_cast<double>(std::max<std::int64_t>(c[i], 1)) / total));
    }
  }
  // num_sampled draws by these counts.
  std::shared_ptr<detail::ItemSampler> sampler;
  if (options_.num_sampled > 0) {
    sampler = std::make_shared<detail::ItemSampler>(true, counts.numel(), 0);
    sampler->set_counts(counts);
  }
  item_counts_ = std::move(counts);
  log_q_ = std::move(log_q);
  sampler_ = std::move(sampler);
}

void ItemRetrievalTask::Impl::set_item_catalogue(const Dataset& train) {
  RB_CHECK(options_.num_sampled > 0, ValueError,
           "task '{}': only an item retrieval task with num_sampled draws items", name());
  RB_CHECK(train.num_rows() > 0, ValueError, "task '{}': the training data has no rows", name());
  const UniqueIds u = unique_in_order(train.column(target()).values);
  std::int64_t items = 0;
  for (std::int64_t id : u.ids) {
    RB_CHECK(id >= 0, ValueError, "task '{}': column '{}' holds id {}, expected ids >= 0", name(),
             target(), id);
    items = std::max(items, id + 1);
  }
  catalogue_ = Batch(train.take(u.first));
  catalogue_row_.assign(static_cast<std::size_t>(items), -1);
  for (std::size_t r = 0; r < u.ids.size(); ++r)
    catalogue_row_[static_cast<std::size_t>(u.ids[r])] = r;
}

Batch ItemRetrievalTask::Impl::sampled_candidates(Tape& tape, std::uint64_t seed, bool training) {
  step_sampled_ = Tensor();
  if (!training || options_.num_sampled <= 0) return {};
  const std::int64_t s = options_.num_sampled;
  RB_CHECK(sampler_ != nullptr && sampler_->has_counts() && catalogue_.rows() > 0, ValueError,
           "task '{}': num_sampled draws from the training items: fit the model (or "
           "set_item_counts and "
           "set_item_catalogue) first",
           name());
  Tensor ids = Tensor::empty({s}, DType::kInt64);
  const std::uint64_t base = tape.rng().next_stream(static_cast<std::uint64_t>(s));
  sampler_->draw(s, ids.data<std::int64_t>(), mix64(mix64(seed) ^ base));
  std::vector<std::int64_t> rows(static_cast<std::size_t>(s));
  for (std::int64_t j = 0; j < s; ++j) {
    const std::int64_t id = ids.data<std::int64_t>()[j];
    // The sampler draws items seen in training, which the catalogue holds.
    RB_CHECK(id >= 0 && id < static_cast<std::int64_t>(catalogue_row_.size()) &&
                 catalogue_row_[static_cast<std::size_t>(id)] >= 0,
             ValueError, "task '{}': drew item {}, which is not in the training data's catalogue",
             name(), id);
    rows[static_cast<std::size_t>(j)] = catalogue_row_[static_cast<std::size_t>(id)];
  }
  step_sampled_ = std::move(ids);
  return catalogue_.take(rows);
}

// ---- the handle ----------------------------------------------------------------

ItemRetrievalTask::ItemRetrievalTask(std::string item_id_column, ItemRetrievalOptions options)
    : PredictionTask(std::make_shared<Impl>(std::move(item_id_column), std::move(options))) {}

ItemRetrievalTask::ItemRetrievalTask(std::shared_ptr<Impl> impl)
    : PredictionTask(std::move(impl)) {}

ItemRetrievalTask::Impl& ItemRetrievalTask::state() const { return static_cast<Impl&>(impl()); }

ItemRetrievalTask ItemRetrievalTask::from_schema(const Schema& schema,
                                                 ItemRetrievalOptions options) {
  const Schema ids = schema.select_by_tag(Tags::ITEM_ID).remove_by_tag(Tags::TARGET);
  RB_CHECK(ids.size() == 1, ValueError,
           "ItemRetrievalTask: expected one ITEM_ID column in the schema, got [{}]",
           fmt::join(ids.column_names(), ", "));
  return ItemRetrievalTask(ids.column_names().front(), std::move(options));
}

const ItemRetrievalOptions& ItemRetrievalTask::options() const { return state().options(); }
bool ItemRetrievalTask::needs_item_counts() const { return state().needs_item_counts(); }
void ItemRetrievalTask::set_item_counts(Tensor counts) const {
  state().set_item_counts(std::move(counts));
}
void ItemRetrievalTask::set_item_catalogue(const Dataset& train) const {
  state().set_item_catalogue(train);
}
Batch ItemRetrievalTask::sampled_candidates(Tape& tape, std::uint64_t seed, bool training) const {
  return state().sampled_candidates(tape, seed, training);
}

std::optional<ItemRetrievalTask> PredictionTask::as_item_retrieval() const {
  auto impl = std::dynamic_pointer_cast<ItemRetrievalTask::Impl>(impl_);
  if (impl == nullptr) return std::nullopt;
  return ItemRetrievalTask(std::move(impl));
}

PredictionTask ItemRetrievalTask::from_task_json(std::string target, TaskOptions options,
                                                 const json& j) {
  const json r = j.value("retrieval", json::object());
  RB_CHECK(!options.task_block.defined() && !options.pre.defined(), ValueError,
           "task '{}': an item retrieval task has no task_block or pre", target);
  const std::string context = fmt::format("task '{}': retrieval", target);
  ItemRetrievalOptions o =
      options::from_json<ItemRetrievalOptions>(r, context, {.also_allowed = {"item_counts"}});
  o.metrics = std::move(options.metrics);
  o.task_name = std::move(options.task_name);
  ItemRetrievalTask task(std::move(target), std::move(o));
  if (r.contains("item_counts") && !r["item_counts"].is_null())
    task.set_item_counts(detail::item_counts_from_json(r["item_counts"]));
  return task;
}

}  // namespace recblocks
