// Recommending from a trained retrieval model: the catalogue's item
// embeddings computed once, queries embedded per request, exact top-k by
// retrieval::top_k (Merlin's TopKEncoder / to_top_k_recommender).
//
//   rb::retrieval::TopKRecommender top(model, train);      // catalogue: train's items
//   rb::retrieval::SeenItems seen(train, "userId", "movieId");
//   rb::retrieval::TopK best = top.recommend(queries, 10, &seen);   // ids are item ids
//   rb::Logs scores = top.evaluate(valid, {.ks = {10, 20}, .seen = &seen});
//   // scores["recall_at_10"], "ndcg_at_10", "mrr_at_10", "map_at_10", "precision_at_10", ...
//
// The model: one ItemRetrievalTask over a body with "query" and
// "candidate" towers (TwoTowerModel, MatrixFactorizationModel). An item's
// score for a query is what the task scores in training: the dot product
// of the towers' outputs, of their L2-normalised outputs with
// l2_normalization, divided by the temperature. Or one
// NextItemPredictionTask (YoutubeDNNRetrievalModel): the query is the
// body's output, the items the task's output table and bias, the score
// the task's full-catalogue logit.
//
// The catalogue: every distinct item id of the given dataset (its task
// target column), each with the item features of its first row, sorted by
// id. evaluate() treats each row of `data` as one query whose single
// relevant item is the row's item id, over the whole catalogue (Merlin's
// formulas, as metrics::RecallAt & co. compute them): an item outside the
// catalogue, or one of the excluded seen items, counts as a miss. k larger
// than the catalogue is capped to its size (top_k).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "recblocks/data/dataset.h"
#include "recblocks/model/model.h"
#include "recblocks/retrieval/index.h"
#include "recblocks/retrieval/topk.h"

namespace recblocks::retrieval {

// The items each user has interacted with, from a dataset's user id and
// item id columns (scalar integer columns).
class SeenItems {
 public:
  SeenItems() = default;
  SeenItems(const Dataset& data, const std::string& user_column, const std::string& item_column);

  const std::string& user_column() const { return user_column_; }
  // The user's items, ascending and distinct; empty for an unknown user.
  std::span<const std::int64_t> of(std::int64_t user) const;

 private:
  std::string user_column_;
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs_;  // (user, item), sorted, distinct
  std::vector<std::int64_t> items_;                           // pairs_' items, in the same order
};

struct TopKEvaluateOptions {
  std::vector<int> ks = {10};
  // Items to leave out of each query's answer (its user's history), or none.
  const SeenItems* seen = nullptr;
  std::int64_t batch_size = 1024;
};

// The shared part: a catalogue of item vectors and exact top-k over it.
class Recommender {
 public:
  virtual ~Recommender() = default;

  std::int64_t num_items() const { return item_ids_.numel(); }
  const Tensor& item_ids() const { return item_ids_; }          // int64 [N], ascending
  const Tensor& item_vectors() const { return item_vectors_; }  // float32 [N, d]
  const std::string& item_column() const { return item_column_; }

  // Query vectors [Q, d] for the rows of `queries`.
  virtual Tensor query_vectors(const Dataset& queries) const = 0;
  // The k best catalogue items for each row of `queries`, best first, as
  // item ids (ids -1 and scores -inf past the items left). With `seen`,
  // each row's user (seen->user_column() of `queries`) has its items left
  // out. By the approximate index when one is set, else exact.
  TopK recommend(const Dataset& queries, std::int64_t k, const SeenItems* seen = nullptr) const;
  // Always by the exact scan.
  TopK recommend_exact(const Dataset& queries, std::int64_t k,
                       const SeenItems* seen = nullptr) const;
  // Serves recommend() from `index` (null: back to the exact scan), which
  // must hold item_vectors() in their order (rows = catalogue positions):
  // e.g. a retrieval::AnnIndex (ann.h, FAISS) built over them. evaluate()
  // stays exact. ValueError when its size or dim differ from the catalogue's.
  void use_index(std::shared_ptr<const ItemIndex> index);
  bool has_index() const { return index_ != nullptr; }
  // recall_against(index answer, exact answer) on these queries.
  double index_recall(const Dataset& queries, std::int64_t k,
                      const SeenItems* seen = nullptr) const;
  // "<metric>_at_<k>" for recall, precision, map, mrr and ndcg, each k.
  Logs evaluate(const Dataset& data, const TopKEvaluateOptions& options = {}) const;

 protected:
  Recommender() = default;
  // Item ids (int64 [N], ascending) and their vectors.
  void set_catalogue(std::string item_column, Tensor item_ids, Tensor item_vectors);

 private:
  // Query vectors and their exclusion lists (catalogue positions).
  TopK search(const Dataset& queries, std::int64_t k, const SeenItems* seen, bool exact) const;

  std::string item_column_;
  Tensor item_ids_;
  Tensor item_vectors_;
  std::shared_ptr<const ItemIndex> index_;
};

struct TopKRecommenderOptions {
  std::int64_t batch_size = 4096;  // rows per tower run
};

class TopKRecommender final : public Recommender {
 public:
  // `model` must be built (trained or loaded); `items` holds the item
  // tower's columns. Errors name what is missing.
  TopKRecommender(const Model& model, const Dataset& items, TopKRecommenderOptions options = {});

  Tensor query_vectors(const Dataset& queries) const override;

 private:
  void init_next_item(const Model& model, const NextItemPredictionTask& task, const Dataset& items);

  Block query_tower_;
  bool next_item_ = false;
  bool l2_normalization_ = false;
  float inv_temperature_ = 1.0f;
  std::int64_t batch_size_ = 4096;
};

// The popularity baseline: every query gets the catalogue's items by their
// count in `train` (descending, ties to the lower id), seen ones left out.
class PopularityRecommender final : public Recommender {
 public:
  // The catalogue: the distinct ids of `items`' item_column (default: train).
  PopularityRecommender(const Dataset& train, const std::string& item_column);
  PopularityRecommender(const Dataset& train, const Dataset& items, const std::string& item_column);

  Tensor query_vectors(const Dataset& queries) const override;
};

// The distinct ids of an integer column with the first row holding each
// ({ids ascending, their first rows}).
std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> distinct_ids(
    const Dataset& data, const std::string& column);

}  // namespace recblocks::retrieval
