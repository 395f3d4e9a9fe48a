#include "recblocks/tasks/next_item.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/initializers.h"
#include "recblocks/core/error.h"
#include "tasks/item_sampler.h"

namespace recblocks {

using json = nlohmann::json;

// ---- the output block -------------------------------------------------------------

namespace {

class NextItemOutputImpl final : public BlockBase {
 public:
  NextItemOutputImpl(std::string column, std::string domain, std::int64_t num_items,
                     NextItemOptions options, std::shared_ptr<detail::ItemSampler> sampler)
      : column_(std::move(column)),
        domain_(std::move(domain)),
        num_items_(num_items),
        options_(std::move(options)),
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
      table_ = context.parameter("item_embeddings", shape, Initializer::glorot_uniform());
    }
    bias_ = context.constant_parameter("item_bias", Shape{num_items_}, 0.0f);
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
  std::shared_ptr<detail::ItemSampler> sampler_;
  ParameterPtr table_;
  ParameterPtr bias_;
  std::uint64_t stream_seed_ = 0;
};

}  // namespace

// ---- the task -------------------------------------------------------------------

class NextItemPredictionTask::Impl final : public TaskBase, public ItemCountsUser {
 public:
  Impl(std::string target, std::string domain, std::int64_t num_items, NextItemOptions options)
      : TaskBase(kKind, std::move(target), num_items,
                 {.metrics = options.metrics,
                  .task_block = options.task_block,
                  .task_name = options.task_name},
                 {metrics::RecallAt(10), metrics::MRRAt(10), metrics::NDCGAt(10),
                  metrics::AvgPrecisionAt(10), metrics::PrecisionAt(10)}),
        domain_(std::move(domain)),
        sampler_(std::make_shared<detail::ItemSampler>(options.sampler == "popularity", num_items,
                                                       options.min_sampled_id)) {
    options.metrics.clear();
    options_ = std::move(options);
    output_ = Block(std::make_shared<NextItemOutputImpl>(this->target(), domain_, num_items,
                                                         options_, sampler_));
    std::vector<std::pair<std::string, Block>> parts;
    if (task_block().defined()) parts.emplace_back("task_block", task_block());
    parts.emplace_back("output", output_);
    set_head(task_head(std::move(parts)));
  }

  std::string_view kind_name() const override { return kKind; }
  const NextItemOptions& options() const { return options_; }
  const std::string& domain() const { return domain_; }

  Var loss(const Var& logits, const Tensor& targets) const override {
    RB_CHECK(targets.dtype() == DType::kInt64 && targets.rank() == 1, ShapeError,
             "task '{}': targets are {} {}, expected the int64 item ids of prepare_targets", name(),
             dtype_name(targets.dtype()), targets.shape());
    const std::int64_t rows = targets.numel();
    if (logits.shape() == Shape({rows, num_classes()})) {
      // The whole catalogue: the positive of row i is column targets[i].
      return ops::retrieval_loss(logits, targets);
    }
    const std::int64_t sampled = options_.num_sampled;
    RB_CHECK(
        options_.sampled_softmax && logits.shape() == Shape({rows, 1 + sampled}), ShapeError,
        "task '{}': the logits have shape {}, expected [{}, {}] (the catalogue){}", name(),
        logits.shape(), rows, num_classes(),
        options_.sampled_softmax ? fmt::format(" or [{}, {}] (sampled)", rows, 1 + sampled) : "");
    // The sampled softmax's positive is column 0; the output has applied
    // logQ and masked the accidental hits.
    return ops::retrieval_loss(logits, logits.tape().arena().zeros({rows}, DType::kInt64));
  }

  // The catalogue's logits [B, num_items].
  Tensor predictions(const Tensor& logits) const override { return logits.clone(); }
  Shape prediction_shape(std::int64_t rows) const override { return Shape{rows, num_classes()}; }

  std::pair<Tensor, Tensor> metric_inputs(const Tensor& logits,
                                          const Tensor& prepared) const override {
    if (logits.rank() == 2 && logits.size(1) != num_classes()) {
      // Sampled softmax in training: the positive is column 0.
      return {logits.clone(), Tensor::zeros({prepared.numel()}, DType::kInt64)};
    }
    return {predictions(logits), prepared};
  }

  // Item ids index the catalogue.
  Tensor prepare_targets(const Tensor& column) const override {
    return item_id_targets(column, num_classes());
  }

  bool scores_catalogue() const override { return true; }
  bool recommends_items() const override { return true; }

  // The uniform sampler's log q is one constant: no counts needed.
  bool needs_item_counts() const {
    return options_.sampled_softmax && options_.sampler == "popularity";
  }
  ItemCountsUser* item_counts_user() override { return needs_item_counts() ? this : nullptr; }
  void set_item_counts(Tensor counts) override {
    try {
      sampler_->set_counts(counts);
    } catch (const Error& e) {
      throw ValueError(fmt::format("task '{}': {}", name(), e.what()));
    }
    item_counts_ = std::move(counts);
  }

  std::pair<ParameterPtr, ParameterPtr> item_weights() const {
    const auto* impl = dynamic_cast<const NextItemOutputImpl*>(&output_.impl());
    RB_CHECK(impl != nullptr && output_.built(), ValueError,
             "task '{}': the output is not built: train or load the model first", name());
    return {impl->table(), impl->bias()};
  }

 protected:
  void add_json(json& out) const override {
    json counts = nullptr;
    if (item_counts_.defined()) {
      const auto* c = item_counts_.data<std::int64_t>();
      counts = std::vector<std::int64_t>(c, c + item_counts_.numel());
    }
    json section = options::to_json(options_);
    section["domain"] = domain_;
    section["item_counts"] = std::move(counts);
    out["next_item"] = std::move(section);
  }

 private:
  NextItemOptions options_;
  std::string domain_;
  std::shared_ptr<detail::ItemSampler> sampler_;
  Block output_;        // the head's NextItemOutput
  Tensor item_counts_;  // int64 [items], once known
};

// ---- the handle ----------------------------------------------------------------

namespace {

// The options' checks, before the task is made (the sampler checks
// min_sampled_id again).
NextItemOptions checked(const std::string& target, std::int64_t num_items,
                        NextItemOptions options) {
  RB_CHECK(!target.empty(), ValueError, "NextItemPredictionTask: the item id column name is empty");
  RB_CHECK(num_items >= 2, ValueError,
           "NextItemPredictionTask '{}': num_items is {}, expected at least 2", target, num_items);
  RB_CHECK(std::isfinite(options.temperature) && options.temperature > 0, ValueError,
           "NextItemPredictionTask '{}': temperature is {}, expected a number > 0", target,
           options.temperature);
  RB_CHECK(options.sampler == "popularity" || options.sampler == "uniform", ValueError,
           "NextItemPredictionTask '{}': sampler '{}' is unknown (expected popularity or uniform)",
           target, options.sampler);
  if (options.sampled_softmax) {
    RB_CHECK(options.num_sampled >= 1 && options.num_sampled < num_items - 1, ValueError,
             "NextItemPredictionTask '{}': num_sampled is {}, expected [1, {}) for a catalogue of "
             "{} items (or "
             "sampled_softmax = false)",
             target, options.num_sampled, num_items - 1, num_items);
  }
  RB_CHECK(options.min_sampled_id >= 0 && options.min_sampled_id < num_items - 1, ValueError,
           "NextItemPredictionTask '{}': min_sampled_id is {}, expected [0, {})", target,
           options.min_sampled_id, num_items - 1);
  RB_CHECK(options.min_sampled_id == 0 || options.sampler == "uniform", ValueError,
           "NextItemPredictionTask '{}': min_sampled_id is {}; it bounds the uniform sampler, the "
           "popularity sampler "
           "never draws an item absent from the training data",
           target, options.min_sampled_id);
  return options;
}

}  // namespace

NextItemPredictionTask::NextItemPredictionTask(std::string item_id_column, std::string domain,
                                               std::int64_t num_items, NextItemOptions options)
    : PredictionTask([&] {
        options = checked(item_id_column, num_items, std::move(options));
        if (domain.empty()) domain = item_id_column;
        return std::make_shared<Impl>(std::move(item_id_column), std::move(domain), num_items,
                                      std::move(options));
      }()) {}

NextItemPredictionTask::NextItemPredictionTask(std::shared_ptr<Impl> impl)
    : PredictionTask(std::move(impl)) {}

NextItemPredictionTask::Impl& NextItemPredictionTask::state() const {
  return static_cast<Impl&>(impl());
}

NextItemPredictionTask NextItemPredictionTask::from_schema(const Schema& schema,
                                                           NextItemOptions options) {
  const Schema ids = schema.select_by_tag(Tags::ITEM_ID).remove_by_tag(Tags::TARGET);
  RB_CHECK(ids.size() == 1, ValueError,
           "NextItemPredictionTask: expected one ITEM_ID column in the schema, got [{}]",
           fmt::join(ids.column_names(), ", "));
  const ColumnSchema& column = *ids.begin();
  RB_CHECK(
      column.domain().has_value(), ValueError,
      "NextItemPredictionTask: item id column '{}' has no integer domain (categorify it first)",
      column.name());
  return NextItemPredictionTask(
      column.name(), column.domain()->name.empty() ? column.name() : column.domain()->name,
      column.cardinality(), std::move(options));
}

const NextItemOptions& NextItemPredictionTask::options() const { return state().options(); }
const std::string& NextItemPredictionTask::domain() const { return state().domain(); }
bool NextItemPredictionTask::needs_item_counts() const { return state().needs_item_counts(); }
void NextItemPredictionTask::set_item_counts(Tensor counts) const {
  state().set_item_counts(std::move(counts));
}
std::pair<ParameterPtr, ParameterPtr> NextItemPredictionTask::item_weights() const {
  return state().item_weights();
}

std::optional<NextItemPredictionTask> PredictionTask::as_next_item() const {
  auto impl = std::dynamic_pointer_cast<NextItemPredictionTask::Impl>(impl_);
  if (impl == nullptr) return std::nullopt;
  return NextItemPredictionTask(std::move(impl));
}

PredictionTask NextItemPredictionTask::from_task_json(std::string target, TaskOptions options,
                                                      const json& j) {
  const json r = j.value("next_item", json::object());
  RB_CHECK(!options.pre.defined(), ValueError, "task '{}': a next-item task has no pre", target);
  RB_CHECK(j.contains("num_classes") && j["num_classes"].is_number_integer(), ValueError,
           "task '{}': num_classes (the catalogue size) is missing", target);
  const std::string context = fmt::format("task '{}': next_item", target);
  NextItemOptions o =
      options::from_json<NextItemOptions>(r, context, {.also_allowed = {"domain", "item_counts"}});
  o.metrics = std::move(options.metrics);
  o.task_name = std::move(options.task_name);
  o.task_block = options.task_block;
  NextItemPredictionTask task(target, r.value("domain", target),
                              j["num_classes"].get<std::int64_t>(), std::move(o));
  if (r.contains("item_counts") && !r["item_counts"].is_null())
    task.set_item_counts(detail::item_counts_from_json(r["item_counts"]));
  return task;
}

}  // namespace recblocks
