// TargetEncoding (etl.h): out-of-fold smoothed means of a target per id.
#include <algorithm>
#include <cmath>
#include <limits>

#include "recblocks/core/error.h"
#include "recblocks/core/rng.h"
#include "recblocks/data/etl.h"

namespace recblocks::etl {

// ---------------------------------------------------------------------------
// TargetEncoding

std::vector<std::uint8_t> assign_folds(std::int64_t rows, int kfold, std::uint64_t seed) {
  RB_CHECK(kfold >= 1 && kfold <= 255, ValueError, "assign_folds: kfold {} must be in [1, 255]",
           kfold);
  std::vector<std::uint8_t> folds(static_cast<std::size_t>(rows));
  const std::uint64_t base = mix64(seed);
  for (std::int64_t i = 0; i < rows; ++i) {
    folds[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(
        mix64(base + static_cast<std::uint64_t>(i)) % static_cast<std::uint64_t>(kfold));
  }
  return folds;
}

TargetEncoding::TargetEncoding(std::string column, std::string target,
                               TargetEncodingOptions options)
    : column_(std::move(column)), target_(std::move(target)), options_(options) {
  RB_CHECK(options_.kfold >= 1 && options_.kfold <= 255, ValueError,
           "TargetEncoding '{}': kfold {} must be in [1, 255]", column_, options_.kfold);
  RB_CHECK(options_.p_smooth >= 0, ValueError, "TargetEncoding '{}': p_smooth {} must be >= 0",
           column_, options_.p_smooth);
}

double TargetEncoding::smoothed(double sum, double count) const {
  const double denominator = count + options_.p_smooth;
  if (denominator <= 0) return global_mean_;  // p_smooth = 0 and an unseen category
  return (sum + options_.p_smooth * global_mean_) / denominator;
}

double TargetEncoding::normalized(double x) const {
  if (!options_.normalize) return x;
  return norm_std_ > 0 ? (x - norm_mean_) / norm_std_ : x - norm_mean_;
}

std::vector<double> TargetEncoding::fit_transform(std::span<const std::int32_t> ids,
                                                  std::int64_t cardinality,
                                                  std::span<const double> target) {
  RB_CHECK(ids.size() == target.size(), ShapeError,
           "TargetEncoding '{}': {} ids but {} target values", column_, ids.size(), target.size());
  RB_CHECK(!ids.empty(), ValueError, "TargetEncoding '{}': no train rows to fit on", column_);
  RB_CHECK(cardinality > 0, ValueError, "TargetEncoding '{}': cardinality {} must be > 0", column_,
           cardinality);
  const std::size_t n = ids.size();
  const auto card = static_cast<std::size_t>(cardinality);
  sums_.assign(card, 0.0);
  counts_.assign(card, 0);
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t id = ids[i];
    RB_CHECK(id >= 0 && id < cardinality, ValueError,
             "TargetEncoding '{}': id {} (row {}) outside [0, {})", column_, id, i, cardinality);
    RB_CHECK(!std::isnan(target[i]), ValueError, "TargetEncoding '{}': target '{}' is NaN (row {})",
             column_, target_, i);
    sums_[static_cast<std::size_t>(id)] += target[i];
    counts_[static_cast<std::size_t>(id)] += 1;
    total += target[i];
  }
  global_mean_ = total / static_cast<double>(n);

  std::vector<double> out(n);
  if (options_.kfold >= 2) {
    const auto folds =
        assign_folds(static_cast<std::int64_t>(n), options_.kfold, options_.fold_seed);
    std::vector<double> fold_sums(card * static_cast<std::size_t>(options_.kfold), 0.0);
    std::vector<std::int64_t> fold_counts(fold_sums.size(), 0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t k = folds[i] * card + static_cast<std::size_t>(ids[i]);
      fold_sums[k] += target[i];
      fold_counts[k] += 1;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const auto id = static_cast<std::size_t>(ids[i]);
      const std::size_t k = folds[i] * card + id;
      out[i] =
          smoothed(sums_[id] - fold_sums[k], static_cast<double>(counts_[id] - fold_counts[k]));
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const auto id = static_cast<std::size_t>(ids[i]);
      out[i] = smoothed(sums_[id], static_cast<double>(counts_[id]));
    }
  }

  norm_mean_ = 0;
  norm_std_ = 1;
  if (options_.normalize) {
    double mean = 0;
    for (double x : out) mean += x;
    mean /= static_cast<double>(n);
    double squares = 0;
    for (double x : out) squares += (x - mean) * (x - mean);
    norm_mean_ = mean;
    norm_std_ = n > 1 ? std::sqrt(squares / static_cast<double>(n - 1)) : 0.0;
    for (double& x : out) x = normalized(x);
  }
  fitted_ = true;
  return out;
}

std::vector<double> TargetEncoding::transform(std::span<const std::int32_t> ids) const {
  RB_CHECK(fitted_, ValueError, "TargetEncoding '{}': transform() before fit", column_);
  std::vector<double> table(sums_.size());
  for (std::size_t c = 0; c < table.size(); ++c) {
    table[c] = normalized(smoothed(sums_[c], static_cast<double>(counts_[c])));
  }
  const double unseen = normalized(global_mean_);
  std::vector<double> out(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto id = static_cast<std::size_t>(ids[i]);
    out[i] = ids[i] >= 0 && id < table.size() ? table[id] : unseen;
  }
  return out;
}

nlohmann::json TargetEncoding::to_json() const {
  RB_CHECK(fitted_, ValueError, "TargetEncoding '{}': to_json() before fit", column_);
  return {{"column", column_},
          {"target", target_},
          {"output", output_name()},
          {"options",
           {{"kfold", options_.kfold},
            {"p_smooth", options_.p_smooth},
            {"fold_seed", options_.fold_seed},
            {"normalize", options_.normalize}}},
          {"global_mean", global_mean_},
          {"normalize_mean", norm_mean_},
          {"normalize_std", norm_std_},
          {"sums", sums_},
          {"counts", counts_}};
}

static TargetEncodingOptions te_options_from_json(const nlohmann::json& o) {
  TargetEncodingOptions options;
  options.kfold = o.at("kfold").get<int>();
  options.p_smooth = o.at("p_smooth").get<double>();
  options.fold_seed = o.at("fold_seed").get<std::uint64_t>();
  options.normalize = o.at("normalize").get<bool>();
  return options;
}

TargetEncoding TargetEncoding::from_json(const nlohmann::json& j, std::string_view source) {
  try {
    TargetEncoding te(j.at("column").get<std::string>(), j.at("target").get<std::string>(),
                      te_options_from_json(j.at("options")));
    te.global_mean_ = j.at("global_mean").get<double>();
    te.norm_mean_ = j.at("normalize_mean").get<double>();
    te.norm_std_ = j.at("normalize_std").get<double>();
    te.sums_ = j.at("sums").get<std::vector<double>>();
    te.counts_ = j.at("counts").get<std::vector<std::int64_t>>();
    RB_CHECK(te.sums_.size() == te.counts_.size(), ValueError,
             "'sums' ({} values) and 'counts' ({} values) differ in length", te.sums_.size(),
             te.counts_.size());
    te.fitted_ = true;
    return te;
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(fmt::format("{}: TargetEncoding state: {}", source, e.what()));
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: TargetEncoding state: {}", source, e.what()));
  }
}

}  // namespace recblocks::etl
