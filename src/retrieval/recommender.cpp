#include "recblocks/retrieval/recommender.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "recblocks/autograd/ops.h"
#include "recblocks/core/error.h"
#include "recblocks/data/loader.h"

namespace recblocks::retrieval {
namespace {

// A scalar integer column's values.
struct IdColumn {
  const Tensor* values = nullptr;
  std::int64_t at(std::int64_t i) const {
    return values->dtype() == DType::kInt64 ? values->data<std::int64_t>()[i]
                                            : values->data<std::int32_t>()[i];
  }
};

IdColumn id_column(const Dataset& data, const std::string& name, const char* who) {
  const auto it = data.columns().find(name);
  RB_CHECK(it != data.columns().end(), ValueError, "{}: the data has no column '{}' (columns: {})",
           who, name, fmt::join(data.schema().column_names(), ", "));
  RB_CHECK(is_integer(it->second.values.dtype()) && !it->second.is_list(), ValueError,
           "{}: column '{}' must be a scalar int32 or int64 id column, it is {}{}", who, name,
           it->second.is_list() ? "a list of " : "", dtype_name(it->second.values.dtype()));
  return IdColumn{&it->second.values};
}

// Runs a tower over every row of `data` in batches: float32 [rows, d].
Tensor run_tower(const Block& tower, const Dataset& data, std::int64_t batch_size) {
  NoGradGuard no_grad;
  Tape tape;
  Tensor out;
  std::int64_t row = 0;
  for (const Batch& batch : Loader(data, {.batch_size = batch_size, .shuffle = false})) {
    tape.reset();
    RunContext run(tape, batch, false);
    const Var v = tower.forward(Flow::inputs(batch), run).as_tensor("tower");
    RB_CHECK(v.value().rank() == 2 && v.value().size(0) == batch.rows(), ShapeError,
             "a tower's output is {}, expected [{}, d]", v.value().shape(), batch.rows());
    if (!out.defined()) out = Tensor::empty({data.num_rows(), v.value().size(1)});
    out.slice_rows(row, row + batch.rows()).copy_from(v.value());
    row += batch.rows();
  }
  return out;
}

void l2_normalize_rows(Tensor& t) {
  const std::int64_t rows = t.size(0);
  const std::int64_t d = t.size(1);
  float* x = t.data<float>();
  for (std::int64_t i = 0; i < rows; ++i) {
    double s = 0;
    for (std::int64_t j = 0; j < d; ++j) s += static_cast<double>(x[i * d + j]) * x[i * d + j];
    // tf.math.l2_normalize's epsilon, as ops::l2_normalize.
    const auto inv = static_cast<float>(1.0 / std::sqrt(std::max(s, 1e-12)));
    for (std::int64_t j = 0; j < d; ++j) x[i * d + j] *= inv;
  }
}

}  // namespace

std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> distinct_ids(
    const Dataset& data, const std::string& column) {
  const IdColumn ids = id_column(data, column, "catalogue");
  std::vector<std::pair<std::int64_t, std::int64_t>> first;  // (id, row)
  first.reserve(static_cast<std::size_t>(data.num_rows()));
  for (std::int64_t r = 0; r < data.num_rows(); ++r) {
    RB_CHECK(ids.at(r) >= 0, ValueError,
             "catalogue: column '{}' row {} is {}, expected an item id >= 0", column, r, ids.at(r));
    first.emplace_back(ids.at(r), r);
  }
  // Stable by row within an id: the first row wins.
  std::sort(first.begin(), first.end());
  std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> out;
  for (std::size_t i = 0; i < first.size(); ++i) {
    if (i > 0 && first[i].first == first[i - 1].first) continue;
    out.first.push_back(first[i].first);
    out.second.push_back(first[i].second);
  }
  return out;
}

// ---- SeenItems ----------------------------------------------------------------

SeenItems::SeenItems(const Dataset& data, const std::string& user_column,
                     const std::string& item_column)
    : user_column_(user_column) {
  const IdColumn users = id_column(data, user_column, "SeenItems");
  const IdColumn items = id_column(data, item_column, "SeenItems");
  pairs_.reserve(static_cast<std::size_t>(data.num_rows()));
  for (std::int64_t r = 0; r < data.num_rows(); ++r) {
    RB_CHECK(users.at(r) >= 0 && items.at(r) >= 0, ValueError,
             "SeenItems: row {} has user {} and item {}, expected ids >= 0", r, users.at(r),
             items.at(r));
    pairs_.emplace_back(users.at(r), items.at(r));
  }
  std::sort(pairs_.begin(), pairs_.end());
  pairs_.erase(std::unique(pairs_.begin(), pairs_.end()), pairs_.end());
  items_.reserve(pairs_.size());
  for (const auto& [u, i] : pairs_) items_.push_back(i);
}

std::span<const std::int64_t> SeenItems::of(std::int64_t user) const {
  // The user's run of (user, item) pairs, found by binary search: any id
  // range, memory proportional to the rows.
  const auto begin = std::lower_bound(pairs_.begin(), pairs_.end(),
                                      std::pair<std::int64_t, std::int64_t>{user, -1});
  auto end = begin;
  while (end != pairs_.end() && end->first == user) ++end;
  return std::span<const std::int64_t>(items_).subspan(
      static_cast<std::size_t>(begin - pairs_.begin()), static_cast<std::size_t>(end - begin));
}

// ---- Recommender --------------------------------------------------------------

void Recommender::set_catalogue(std::string item_column, Tensor item_ids, Tensor item_vectors) {
  RB_CHECK(item_ids.numel() > 0, ValueError, "recommender: the catalogue has no items");
  item_column_ = std::move(item_column);
  item_ids_ = std::move(item_ids);
  item_vectors_ = std::move(item_vectors);
}

TopK Recommender::search(const Dataset& queries, std::int64_t k, const SeenItems* seen,
                         bool exact) const {
  RB_CHECK(k >= 1, ValueError, "recommend: k is {}, expected >= 1", k);
  const Tensor q = query_vectors(queries);
  RaggedTensor exclude;
  if (seen != nullptr) {
    const IdColumn users = id_column(queries, seen->user_column(), "recommend (seen items)");
    const auto* ids = item_ids_.data<std::int64_t>();
    const std::int64_t n = item_ids_.numel();
    std::vector<std::int64_t> offsets{0};
    std::vector<std::int64_t> values;
    for (std::int64_t r = 0; r < queries.num_rows(); ++r) {
      for (std::int64_t item : seen->of(users.at(r))) {
        const auto* pos = std::lower_bound(ids, ids + n, item);
        if (pos != ids + n && *pos == item) values.push_back(pos - ids);
      }
      offsets.push_back(static_cast<std::int64_t>(values.size()));
    }
    exclude = RaggedTensor(
        Tensor::from<std::int64_t>({static_cast<std::int64_t>(values.size())}, values),
        Tensor::from<std::int64_t>({static_cast<std::int64_t>(offsets.size())}, offsets));
  }
  const RaggedTensor* excluded = seen != nullptr ? &exclude : nullptr;
  TopK top =
      exact || !index_ ? top_k(q, item_vectors_, k, excluded) : index_->search(q, k, excluded);
  // Catalogue positions -> item ids.
  auto* out = top.ids.data<std::int64_t>();
  for (std::int64_t i = 0; i < top.ids.numel(); ++i) {
    if (out[i] >= 0) out[i] = item_ids_.data<std::int64_t>()[out[i]];
  }
  return top;
}

TopK Recommender::recommend(const Dataset& queries, std::int64_t k, const SeenItems* seen) const {
  return search(queries, k, seen, false);
}

TopK Recommender::recommend_exact(const Dataset& queries, std::int64_t k,
                                  const SeenItems* seen) const {
  return search(queries, k, seen, true);
}

void Recommender::use_index(std::shared_ptr<const ItemIndex> index) {
  RB_CHECK(index == nullptr ||
               (index->size() == item_vectors_.size(0) && index->dim() == item_vectors_.size(1)),
           ValueError,
           "use_index: an index of {} items of dim {}, expected the catalogue's {} of dim {}",
           index ? index->size() : 0, index ? index->dim() : 0, item_vectors_.size(0),
           item_vectors_.size(1));
  index_ = std::move(index);
}

double Recommender::index_recall(const Dataset& queries, std::int64_t k,
                                 const SeenItems* seen) const {
  RB_CHECK(index_ != nullptr, ValueError,
           "index_recall: no approximate index (call use_index first)");
  return recall_against(search(queries, k, seen, false), search(queries, k, seen, true));
}

Logs Recommender::evaluate(const Dataset& data, const TopKEvaluateOptions& options) const {
  RB_CHECK(!options.ks.empty(), ValueError, "evaluate: no k given");
  for (int k : options.ks) RB_CHECK(k >= 1, ValueError, "evaluate: k is {}, expected >= 1", k);
  RB_CHECK(options.batch_size > 0, ValueError, "evaluate: batch_size is {}, expected > 0",
           options.batch_size);
  RB_CHECK(data.num_rows() > 0, ValueError, "evaluate: the data has no rows");
  const std::int64_t k_max = *std::max_element(options.ks.begin(), options.ks.end());
  const IdColumn targets = id_column(data, item_column_, "evaluate");
  std::vector<double> recall(options.ks.size()), ndcg(options.ks.size()), mrr(options.ks.size());
  for (std::int64_t begin = 0; begin < data.num_rows(); begin += options.batch_size) {
    const std::int64_t end = std::min(data.num_rows(), begin + options.batch_size);
    const TopK top = recommend_exact(data.slice_rows(begin, end), k_max, options.seen);
    const std::int64_t width = top.ids.size(1);
    for (std::int64_t r = begin; r < end; ++r) {
      const std::int64_t* row = top.ids.data<std::int64_t>() + (r - begin) * width;
      RB_CHECK(targets.at(r) >= 0, ValueError,
               "evaluate: column '{}' row {} is {}, expected an item id >= 0", item_column_, r,
               targets.at(r));
      const std::int64_t rank = std::find(row, row + width, targets.at(r)) - row;
      for (std::size_t i = 0; i < options.ks.size(); ++i) {
        if (rank >= options.ks[i] || rank >= width) continue;
        recall[i] += 1;
        mrr[i] += 1.0 / static_cast<double>(rank + 1);
        ndcg[i] += 1.0 / std::log2(static_cast<double>(rank) + 2.0);
      }
    }
  }
  const auto rows = static_cast<double>(data.num_rows());
  Logs logs;
  for (std::size_t i = 0; i < options.ks.size(); ++i) {
    const int k = options.ks[i];
    // One relevant item per query: precision divides the hits by k, and
    // average precision is the reciprocal rank (Merlin's AvgPrecisionAt
    // divides by min(k, relevant items) = 1).
    logs[fmt::format("recall_at_{}", k)] = recall[i] / rows;
    logs[fmt::format("precision_at_{}", k)] = recall[i] / rows / k;
    logs[fmt::format("mrr_at_{}", k)] = mrr[i] / rows;
    logs[fmt::format("map_at_{}", k)] = mrr[i] / rows;
    logs[fmt::format("ndcg_at_{}", k)] = ndcg[i] / rows;
  }
  return logs;
}

// ---- TopKRecommender ----------------------------------------------------------

TopKRecommender::TopKRecommender(const Model& model, const Dataset& items,
                                 TopKRecommenderOptions options)
    : batch_size_(options.batch_size) {
  RB_CHECK(options.batch_size > 0, ValueError, "TopKRecommender: batch_size is {}, expected > 0",
           options.batch_size);
  RB_CHECK(model.defined() && model.built(), ValueError,
           "TopKRecommender: the model is not built: train or load it first");
  const PredictionTask* task = nullptr;
  for (const PredictionTask& t : model.tasks()) {
    if (t.impl().recommends_items()) task = &t;
  }
  RB_CHECK(task != nullptr && model.tasks().size() == 1, ValueError,
           "TopKRecommender: expected a model with one ItemRetrievalTask (TwoTowerModel, "
           "MatrixFactorizationModel) or NextItemPredictionTask (YoutubeDNNRetrievalModel)");
  if (const auto next_item = task->as_next_item()) {
    init_next_item(model, *next_item, items);
    return;
  }
  const auto retrieval = task->as_item_retrieval();
  RB_CHECK(retrieval.has_value(), ValueError,
           "TopKRecommender: task '{}' ranks items, but is neither an ItemRetrievalTask nor a "
           "NextItemPredictionTask",
           task->name());
  Block candidate_tower;
  for (const auto& [key, child] : model.body().impl().children()) {
    if (key == "query") query_tower_ = child;
    if (key == "candidate") candidate_tower = child;
  }
  RB_CHECK(model.body().impl().parallel_branches() && query_tower_.defined() &&
               candidate_tower.defined(),
           ValueError,
           "TopKRecommender: the model's body must be a ParallelBlock with 'query' and 'candidate' "
           "towers "
           "(TwoTowerBlock), got {}",
           model.body().type());
  const ItemRetrievalOptions& r = retrieval->options();
  l2_normalization_ = r.l2_normalization;
  inv_temperature_ = static_cast<float>(1.0 / r.temperature);

  auto [ids, rows] = distinct_ids(items, task->target());
  RB_CHECK(!ids.empty(), ValueError,
           "TopKRecommender: the items dataset has no rows: the catalogue is empty");
  const Dataset catalogue = items.take(rows);
  Tensor vectors = run_tower(candidate_tower, catalogue, batch_size_);
  if (l2_normalization_) l2_normalize_rows(vectors);
  set_catalogue(task->target(),
                Tensor::from<std::int64_t>({static_cast<std::int64_t>(ids.size())}, ids),
                std::move(vectors));
}

// A next-item model scores (x . w + b) / T, x the body's output, w and b
// the output's item row and bias (x and w L2-normalised with
// l2_normalization): as a dot product, the query [x / T, 1] against the
// item [w, b / T].
void TopKRecommender::init_next_item(const Model& model, const NextItemPredictionTask& task,
                                     const Dataset& items) {
  const NextItemOptions& o = task.options();
  RB_CHECK(!o.task_block.defined(), ValueError,
           "TopKRecommender: a next-item task with a task_block is not supported; put the block in "
           "the body");
  query_tower_ = model.body();
  next_item_ = true;
  l2_normalization_ = o.l2_normalization;
  inv_temperature_ = static_cast<float>(1.0 / o.temperature);
  const auto [table, bias] = task.item_weights();
  auto [ids, rows] = distinct_ids(items, task.target());
  RB_CHECK(!ids.empty(), ValueError,
           "TopKRecommender: the items dataset has no rows: the catalogue is empty");
  const std::int64_t n = static_cast<std::int64_t>(ids.size());
  const std::int64_t d = table->value().size(1);
  RB_CHECK(ids.back() < table->value().size(0), ValueError,
           "TopKRecommender: item id {} is outside the model's catalogue [0, {})", ids.back(),
           table->value().size(0));
  Tensor vectors = Tensor::empty({n, d + 1});
  float* v = vectors.data<float>();
  const float* w = table->value().data<float>();
  for (std::int64_t i = 0; i < n; ++i)
    std::copy(w + ids[i] * d, w + (ids[i] + 1) * d, v + i * (d + 1));
  if (l2_normalization_) {
    // Each row's first d values; the bias column is written after.
    for (std::int64_t i = 0; i < n; ++i) {
      double norm = 0;
      for (std::int64_t j = 0; j < d; ++j)
        norm += static_cast<double>(v[i * (d + 1) + j]) * v[i * (d + 1) + j];
      const auto inv = static_cast<float>(1.0 / std::max(std::sqrt(norm), 1e-6));
      for (std::int64_t j = 0; j < d; ++j) v[i * (d + 1) + j] *= inv;
    }
  }
  for (std::int64_t i = 0; i < n; ++i)
    v[i * (d + 1) + d] = bias->value().data<float>()[ids[i]] * inv_temperature_;
  set_catalogue(task.target(), Tensor::from<std::int64_t>({n}, ids), std::move(vectors));
}

Tensor TopKRecommender::query_vectors(const Dataset& queries) const {
  RB_CHECK(queries.num_rows() > 0, ValueError, "recommend: no query rows");
  Tensor q = run_tower(query_tower_, queries, batch_size_);
  if (next_item_) {
    const std::int64_t rows = q.size(0), d = q.size(1);
    RB_CHECK(d + 1 == item_vectors().size(1), ShapeError,
             "recommend: query vectors are {} wide, item vectors {}", d,
             item_vectors().size(1) - 1);
    if (l2_normalization_) l2_normalize_rows(q);
    Tensor out = Tensor::empty({rows, d + 1});
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < d; ++j)
        out.data<float>()[i * (d + 1) + j] = q.data<float>()[i * d + j] * inv_temperature_;
      out.data<float>()[i * (d + 1) + d] = 1.0f;
    }
    return out;
  }
  RB_CHECK(q.size(1) == item_vectors().size(1), ShapeError,
           "recommend: query vectors are {} wide, item vectors {}", q.size(1),
           item_vectors().size(1));
  if (l2_normalization_) l2_normalize_rows(q);
  if (inv_temperature_ != 1.0f) {
    float* x = q.data<float>();
    for (std::int64_t i = 0; i < q.numel(); ++i) x[i] *= inv_temperature_;
  }
  return q;
}

// ---- PopularityRecommender ----------------------------------------------------

PopularityRecommender::PopularityRecommender(const Dataset& train, const std::string& item_column)
    : PopularityRecommender(train, train, item_column) {}

PopularityRecommender::PopularityRecommender(const Dataset& train, const Dataset& items,
                                             const std::string& item_column) {
  const IdColumn counted = id_column(train, item_column, "PopularityRecommender");
  auto [ids, rows] = distinct_ids(items, item_column);
  // Scores are counts (exact in float32 below 2^24 rows); top_k breaks
  // ties to the lower catalogue position, that is the lower id.
  Tensor vectors = Tensor::zeros({static_cast<std::int64_t>(ids.size()), 1});
  for (std::int64_t r = 0; r < train.num_rows(); ++r) {
    const auto pos = std::lower_bound(ids.begin(), ids.end(), counted.at(r));
    if (pos != ids.end() && *pos == counted.at(r)) vectors.data<float>()[pos - ids.begin()] += 1.0f;
  }
  set_catalogue(item_column,
                Tensor::from<std::int64_t>({static_cast<std::int64_t>(ids.size())}, ids),
                std::move(vectors));
}

Tensor PopularityRecommender::query_vectors(const Dataset& queries) const {
  return Tensor::full({queries.num_rows(), 1}, 1.0f);
}

}  // namespace recblocks::retrieval
