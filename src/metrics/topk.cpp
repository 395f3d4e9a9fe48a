// The top-k ranking metrics of metrics.h: one class, five per-row formulas.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>

#include "recblocks/core/error.h"
#include "recblocks/metrics/metrics.h"

namespace recblocks {
namespace {

enum class TopK : std::uint8_t { kRecall, kPrecision, kMap, kMrr, kNdcg };

const char* prefix(TopK kind) {
  switch (kind) {
    case TopK::kRecall: return "recall";
    case TopK::kPrecision: return "precision";
    case TopK::kMap: return "map";
    case TopK::kMrr: return "mrr";
    case TopK::kNdcg: return "ndcg";
  }
  return "";
}

class TopKImpl final : public MetricBase {
 public:
  TopKImpl(TopK kind, int k) : kind_(kind), k_(k) {
    RB_CHECK(k >= 1, ValueError, "{}_at_k: k is {}, expected >= 1", prefix(kind), k);
  }

  std::string name() const override { return fmt::format("{}_at_{}", prefix(kind_), k_); }
  void reset() override {
    sum_ = 0;
    rows_ = 0;
  }

  void update(const Tensor& predictions, const Tensor& targets) override {
    const std::string metric = name();
    RB_CHECK(predictions.dtype() == DType::kFloat32 && predictions.rank() == 2, ShapeError,
             "{}: predictions must be float32 [batch, items], got {} {}", metric,
             dtype_name(predictions.dtype()), predictions.shape());
    const std::int64_t batch = predictions.size(0), items = predictions.size(1);
    RB_CHECK(items >= 1, ValueError, "{}: no items scored (predictions {})", metric,
             predictions.shape());
    // Fewer items than k (the in-batch scores of a short last batch): all
    // of them are the top.
    const std::int64_t k_eff = std::min<std::int64_t>(k_, items);
    RB_CHECK(targets.rank() >= 1 && targets.size(0) == batch, ValueError,
             "{}: predictions have {} rows ({}) but targets have shape {}", metric, batch,
             predictions.shape(), targets.shape());
    const bool ids = is_integer(targets.dtype());
    if (ids) {
      RB_CHECK(targets.numel() == batch, ShapeError,
               "{}: item-id targets must be [batch] or [batch, 1], got {}", metric,
               targets.shape());
    } else {
      RB_CHECK(targets.dtype() == DType::kFloat32 && targets.shape() == predictions.shape(),
               ShapeError,
               "{}: targets must be int32/int64 item ids [{}] or float32 relevance {}, got {} {}",
               metric, batch, predictions.shape(), dtype_name(targets.dtype()), targets.shape());
    }
    const float* scores = predictions.data<float>();
    std::vector<std::int64_t> order(static_cast<std::size_t>(items));
    std::vector<char> hits(static_cast<std::size_t>(k_));
    double sum = 0;
    for (std::int64_t r = 0; r < batch; ++r) {
      const float* row = scores + r * items;
      for (std::int64_t i = 0; i < items; ++i) {
        RB_CHECK(!std::isnan(row[i]), ValueError,
                 "{}: prediction is NaN at row {} of the batch (row {} since reset), item {}",
                 metric, r, rows_ + r, i);
      }
      std::int64_t target = -1;
      const float* relevance = nullptr;
      std::int64_t relevant = 1;
      if (ids) {
        target = targets.dtype() == DType::kInt32 ? targets.data<std::int32_t>()[r]
                                                  : targets.data<std::int64_t>()[r];
        RB_CHECK(target >= 0 && target < items, ValueError,
                 "{}: target item {} at row {} of the batch (row {} since reset) is outside [0, "
                 "{})",
                 metric, target, r, rows_ + r, items);
      } else {
        relevance = targets.data<float>() + r * items;
        relevant = 0;
        for (std::int64_t i = 0; i < items; ++i) {
          RB_CHECK(relevance[i] >= 0.0f && relevance[i] <= 1.0f, ValueError,
                   "{}: relevance {} at row {} of the batch (row {} since reset), item {} is "
                   "outside [0, 1]",
                   metric, relevance[i], r, rows_ + r, i);
          relevant += relevance[i] > 0.5f;
        }
      }
      // The top k: highest score first, the lower id on ties (a strict
      // total order, so the selection is exact and deterministic).
      if (ids) {
        // One relevant item: its rank is the number of items before it in
        // that order, counted in one pass (no selection needed).
        const float t = row[target];
        std::int64_t rank = 0;
        for (std::int64_t i = 0; i < items; ++i)
          rank += (row[i] > t) | ((row[i] == t) & (i < target));
        std::fill(hits.begin(), hits.end(), 0);
        if (rank < k_) hits[static_cast<std::size_t>(rank)] = 1;
        sum += row_value(hits, relevant);
        continue;
      }
      std::iota(order.begin(), order.end(), std::int64_t{0});
      const auto before = [row](std::int64_t a, std::int64_t b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      };
      const auto kth = order.begin() + k_eff;
      std::nth_element(order.begin(), kth - 1, order.end(), before);
      std::sort(order.begin(), kth, before);
      std::fill(hits.begin(), hits.end(), 0);
      for (std::int64_t i = 0; i < k_eff; ++i) {
        const std::int64_t item = order[static_cast<std::size_t>(i)];
        hits[static_cast<std::size_t>(i)] = ids ? item == target : relevance[item] > 0.5f;
      }
      sum += row_value(hits, relevant);
    }
    sum_ += sum;
    rows_ += batch;
  }

  double result() const override {
    RB_CHECK(rows_ > 0, ValueError, "{}: no rows seen; call update() first", name());
    return sum_ / static_cast<double>(rows_);
  }
  std::unique_ptr<MetricBase> clone() const override {
    return std::make_unique<TopKImpl>(kind_, k_);
  }

 private:
  double row_value(const std::vector<char>& hits, std::int64_t relevant) const {
    const double c = static_cast<double>(std::clamp<std::int64_t>(relevant, 1, k_));
    double found = 0, map = 0, dcg = 0, mrr = 0;
    for (int i = 0; i < k_; ++i) {
      if (!hits[static_cast<std::size_t>(i)]) continue;
      found += 1;
      map += found / (i + 1);
      dcg += 1.0 / std::log2(i + 2.0);
      if (mrr == 0) mrr = 1.0 / (i + 1);
    }
    switch (kind_) {
      case TopK::kRecall: return found / c;
      case TopK::kPrecision: return found / k_;
      case TopK::kMap: return map / c;
      case TopK::kMrr: return mrr;
      case TopK::kNdcg: {
        if (relevant == 0) return 0.0;
        double ideal = 0;
        for (std::int64_t i = 0; i < std::min<std::int64_t>(relevant, k_); ++i)
          ideal += 1.0 / std::log2(static_cast<double>(i) + 2.0);
        return dcg / ideal;
      }
    }
    return 0.0;
  }

  TopK kind_;
  int k_;
  double sum_ = 0;
  std::int64_t rows_ = 0;
};

}  // namespace

namespace metrics {

Metric RecallAt(int k) { return Metric(std::make_shared<TopKImpl>(TopK::kRecall, k)); }
Metric PrecisionAt(int k) { return Metric(std::make_shared<TopKImpl>(TopK::kPrecision, k)); }
Metric AvgPrecisionAt(int k) { return Metric(std::make_shared<TopKImpl>(TopK::kMap, k)); }
Metric MRRAt(int k) { return Metric(std::make_shared<TopKImpl>(TopK::kMrr, k)); }
Metric NDCGAt(int k) { return Metric(std::make_shared<TopKImpl>(TopK::kNdcg, k)); }

std::vector<Metric> ranking_metrics(const std::vector<int>& ks) {
  std::vector<Metric> out;
  for (int k : ks) {
    for (Metric m : {RecallAt(k), PrecisionAt(k), AvgPrecisionAt(k), MRRAt(k), NDCGAt(k)})
      out.push_back(std::move(m));
  }
  return out;
}

// "<recall|precision|map|mrr|ndcg>_at_<k>" -> the metric; nullopt when the
// name has another form (by_name then reports it).
std::optional<Metric> topk_by_name(std::string_view name) {
  for (TopK kind : {TopK::kRecall, TopK::kPrecision, TopK::kMap, TopK::kMrr, TopK::kNdcg}) {
    const std::string head = std::string(prefix(kind)) + "_at_";
    if (!name.starts_with(head)) continue;
    const std::string_view digits = name.substr(head.size());
    int k = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
    RB_CHECK(error == std::errc() && end == digits.data() + digits.size() && !digits.empty(),
             ValueError, "metric '{}': expected {}<k> with k a whole number", name, head);
    return Metric(std::make_shared<TopKImpl>(kind, k));
  }
  return std::nullopt;
}

}  // namespace metrics
}  // namespace recblocks
