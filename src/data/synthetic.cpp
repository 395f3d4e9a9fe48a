// The synthetic generator from a schema, and the exact AUC (synthetic.h).
// The built-in shapes are in synthetic_criteo.cpp and synthetic_movielens.cpp.
#include "recblocks/data/synthetic.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

#include "data/synthetic_common.h"
#include "recblocks/data/etl.h"

namespace recblocks::datasets {
namespace {

using namespace synthetic_detail;  // NOLINT(google-build-using-namespace)
namespace fs = std::filesystem;
using nlohmann::json;

// ---- any schema ---------------------------------------------------------------

enum class Role : std::uint8_t { kNone, kUser, kItem };
enum class Kind : std::uint8_t { kCategorical, kContinuous, kBinaryTarget, kRegressionTarget };

// One column of the generic generator: how it is drawn and what it adds
// to the logit.
struct SchemaColumn {
  const ColumnSchema* schema = nullptr;
  std::uint64_t index = 0;  // the column's stream
  Kind kind = Kind::kContinuous;
  std::int64_t lo = 0, count = 0;         // ids lo .. lo + count - 1
  std::int64_t len_min = 1, len_max = 1;  // list lengths
  Role role = Role::kNone;
  std::vector<float> effect;   // per id
  std::vector<float> factors;  // per id, kFactorDim each (user / item)
  double weight = 0;           // continuous

  bool is_target() const { return kind == Kind::kBinaryTarget || kind == Kind::kRegressionTarget; }

  // Draws the column and adds its effect to logits.
  Column generate(const SyntheticOptions& o, std::vector<float>& logits) const {
    if (kind == Kind::kContinuous) return continuous(o, logits);
    return schema->is_list() ? categorical_list(o, logits) : categorical(o, logits);
  }

  Column continuous(const SyntheticOptions& o, std::vector<float>& logits) const {
    Column c;
    c.values = Tensor::empty({o.rows}, DType::kFloat32);
    float* v = c.values.data<float>();
    const Stream s(o.seed, kDense, index);
    parallel_for(o.rows, [&](std::int64_t i) {
      v[i] = static_cast<float>(s.normal(static_cast<std::uint64_t>(i)));
      logits[static_cast<std::size_t>(i)] += static_cast<float>(weight * v[i]);
    });
    return c;
  }

  Column categorical(const SyntheticOptions& o, std::vector<float>& logits) const {
    Column c;
    c.values = Tensor::empty({o.rows}, DType::kInt32);
    auto* v = c.values.data<std::int32_t>();
    const Stream s(o.seed, kId, index);
    const PowerLaw law(count, o.zipf_exponent);
    parallel_for(o.rows, [&](std::int64_t i) {
      const std::int64_t rank = law.rank(s.uniform(static_cast<std::uint64_t>(i)));
      v[i] = static_cast<std::int32_t>(lo + rank);
      if (role == Role::kNone)
        logits[static_cast<std::size_t>(i)] += effect[static_cast<std::size_t>(rank)];
    });
    return c;
  }

  // Lengths uniform in [len_min, len_max]; the effect is the elements' mean.
  Column categorical_list(const SyntheticOptions& o, std::vector<float>& logits) const {
    Column c;
    c.offsets = Tensor::empty({o.rows + 1}, DType::kInt64);
    auto* off = c.offsets.data<std::int64_t>();
    const Stream lengths(o.seed, kListLength, index), s(o.seed, kId, index);
    off[0] = 0;
    for (std::int64_t i = 0; i < o.rows; ++i) {
      const auto span = static_cast<double>(len_max - len_min + 1);
      off[i + 1] = off[i] + len_min +
                   static_cast<std::int64_t>(lengths.uniform(static_cast<std::uint64_t>(i)) * span);
    }
    c.values = Tensor::empty({off[o.rows]}, DType::kInt32);
    auto* v = c.values.data<std::int32_t>();
    const PowerLaw law(count, o.zipf_exponent);
    parallel_for(o.rows, [&](std::int64_t i) {
      double sum = 0;
      for (std::int64_t k = off[i]; k < off[i + 1]; ++k) {
        const std::int64_t rank = law.rank(s.uniform(static_cast<std::uint64_t>(k)));
        v[k] = static_cast<std::int32_t>(lo + rank);
        sum += effect[static_cast<std::size_t>(rank)];
      }
      if (off[i + 1] > off[i])
        logits[static_cast<std::size_t>(i)] +=
            static_cast<float>(sum / static_cast<double>(off[i + 1] - off[i]));
    });
    return c;
  }

  Column target(const SyntheticResult& r, const std::vector<float>& logits,
                const SyntheticOptions& o) const {
    Column c;
    c.values = Tensor::empty({o.rows}, schema->dtype());
    const Stream noise(o.seed, kNoise, index);
    for (std::int64_t i = 0; i < o.rows; ++i) {
      const auto k = static_cast<std::size_t>(i);
      const double y =
          kind == Kind::kBinaryTarget ? r.labels[k] : logits[k] + 0.5 * noise.normal(k);
      if (schema->dtype() == DType::kInt32) {
        c.values.data<std::int32_t>()[i] = static_cast<std::int32_t>(y);
      } else {
        c.values.data<float>()[i] = static_cast<float>(y);
      }
    }
    return c;
  }
};

SchemaColumn plan_column(const ColumnSchema& col, std::size_t index) {
  SchemaColumn c;
  c.schema = &col;
  c.index = index;
  const std::string& name = col.name();
  if (col.has_tag(Tags::TARGET)) {
    RB_CHECK(
        !col.has_tag(Tags::MULTI_CLASS) && !col.has_tag(Tags::CATEGORICAL) && !col.is_list(),
        ValueError,
        "synthetic: target column '{}' ({}): only binary and regression targets can be generated",
        name, to_string(col.tags()));
    const bool binary = col.has_tag(Tags::BINARY) || col.has_tag(Tags::CLASSIFICATION) ||
                        (!col.has_tag(Tags::REGRESSION) && col.dtype() == DType::kInt32);
    RB_CHECK(col.dtype() == DType::kInt32 || col.dtype() == DType::kFloat32, ValueError,
             "synthetic: target column '{}' has dtype {}, expected int32 or float32", name,
             dtype_name(col.dtype()));
    RB_CHECK(binary || col.dtype() == DType::kFloat32, ValueError,
             "synthetic: regression target '{}' has dtype {}, expected float32", name,
             dtype_name(col.dtype()));
    c.kind = binary ? Kind::kBinaryTarget : Kind::kRegressionTarget;
    return c;
  }
  if (col.has_tag(Tags::CATEGORICAL)) {
    RB_CHECK(col.domain().has_value(), ValueError,
             "synthetic: categorical column '{}' has no domain; expected \"domain\": {{\"min\", "
             "\"max\"}} in the schema",
             name);
    RB_CHECK(col.dtype() == DType::kInt32, ValueError,
             "synthetic: categorical column '{}' has dtype {}, expected int32", name,
             dtype_name(col.dtype()));
    c.kind = Kind::kCategorical;
    c.lo = col.domain()->min == 0 && col.domain()->max > 3 ? etl::kFirstValueId : col.domain()->min;
    c.count = col.domain()->max - c.lo + 1;
    if (col.is_list()) {
      const auto vc = col.value_count().value_or(ValueCount{});
      c.len_min = vc.min;
      c.len_max = vc.max > 0 ? vc.max : std::max<std::int64_t>(vc.min, 4);
      if (vc.max == 0 && vc.min == 0) c.len_min = 1;
    }
    return c;
  }
  RB_CHECK(col.has_tag(Tags::CONTINUOUS), ValueError,
           "synthetic: column '{}' ({}) is neither categorical, continuous nor a target", name,
           to_string(col.tags()));
  RB_CHECK(col.dtype() == DType::kFloat32 && !col.is_list(), ValueError,
           "synthetic: continuous column '{}' is {}{}, expected a float32 scalar column", name,
           dtype_name(col.dtype()), col.is_list() ? " list" : "");
  c.kind = Kind::kContinuous;
  return c;
}

// Chooses the user and item columns and sizes every effect so the logit's
// variance is ~1 (factors) + 1.2 (categorical effects) + 0.5 (continuous).
void plant_signal(std::vector<SchemaColumn>& cols, const SyntheticOptions& o) {
  SchemaColumn* user = nullptr;
  SchemaColumn* item = nullptr;
  for (auto& c : cols) {
    if (c.kind != Kind::kCategorical || c.schema->is_list()) continue;
    if (user == nullptr && c.schema->has_tag(Tags::USER_ID)) user = &c;
    if (item == nullptr && c.schema->has_tag(Tags::ITEM_ID)) item = &c;
  }
  if (user != nullptr && item != nullptr) {
    const double scale = std::pow(1.0 / kFactorDim, 0.25);
    user->role = Role::kUser;
    item->role = Role::kItem;
    user->factors =
        normal_table(Stream(o.seed, kUserFactor, user->index), user->count * kFactorDim, scale);
    item->factors =
        normal_table(Stream(o.seed, kItemFactor, item->index), item->count * kFactorDim, scale);
  }
  int effects = 0, continuous = 0;
  for (const auto& c : cols) {
    effects += c.kind == Kind::kCategorical && c.role == Role::kNone;
    continuous += c.kind == Kind::kContinuous;
  }
  for (auto& c : cols) {
    if (c.kind == Kind::kCategorical && c.role == Role::kNone) {
      c.effect = normal_table(Stream(o.seed, kEffect, c.index), c.count, std::sqrt(1.2 / effects));
    } else if (c.kind == Kind::kContinuous) {
      const double sign = Stream(o.seed, kDenseWeight, c.index).uniform(0) < 0.5 ? -1.0 : 1.0;
      c.weight = sign * std::sqrt(0.5 / continuous);
    }
  }
}

}  // namespace

double exact_auc(std::span<const float> scores, std::span<const std::uint8_t> labels) {
  RB_CHECK(scores.size() == labels.size(), ShapeError, "exact_auc: {} scores and {} labels",
           scores.size(), labels.size());
  std::vector<std::pair<float, std::uint8_t>> v(scores.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = {scores[i], labels[i] != 0};
  std::sort(v.begin(), v.end());
  double rank_sum = 0;  // sum of the (1-based, tie-averaged) ranks of the positives
  std::int64_t positives = 0;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    std::int64_t group_positives = 0;
    while (j < v.size() && v[j].first == v[i].first) group_positives += v[j++].second;
    rank_sum += static_cast<double>(group_positives) * (static_cast<double>(i + j + 1) / 2.0);
    positives += group_positives;
    i = j;
  }
  const auto negatives = static_cast<std::int64_t>(v.size()) - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  const double p = static_cast<double>(positives);
  return (rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

SyntheticResult synthetic_from_schema(const Schema& schema, const fs::path& out,
                                      const SyntheticOptions& o) {
  RB_CHECK(o.rows >= 1, ValueError, "synthetic: rows {}, expected >= 1", o.rows);
  RB_CHECK(o.positive_rate > 0.0 && o.positive_rate < 1.0, ValueError,
           "synthetic: positive_rate {}, expected in (0, 1)", o.positive_rate);
  const std::int64_t train_rows = train_rows_of(o.rows, o.valid_fraction);
  std::vector<SchemaColumn> cols;
  for (std::size_t c = 0; c < schema.size(); ++c) cols.push_back(plan_column(schema[c], c));
  RB_CHECK(
      std::any_of(cols.begin(), cols.end(), [](const SchemaColumn& c) { return c.is_target(); }),
      ValueError,
      "synthetic: the schema has no target column (tag one 'target' with 'binary_classification' "
      "or "
      "'regression'); columns: {}",
      fmt::join(schema.column_names(), ", "));
  plant_signal(cols, o);

  const auto n = static_cast<std::size_t>(o.rows);
  std::vector<float> logits(n, 0.0f);
  std::map<std::string, Column> data;
  const SchemaColumn* user = nullptr;
  const SchemaColumn* item = nullptr;
  for (auto& c : cols) {
    if (c.is_target()) continue;
    data[c.schema->name()] = c.generate(o, logits);
    if (c.role == Role::kUser) user = &c;
    if (c.role == Role::kItem) item = &c;
  }
  if (user != nullptr && item != nullptr) {
    const auto* ui = data[user->schema->name()].values.data<std::int32_t>();
    const auto* ii = data[item->schema->name()].values.data<std::int32_t>();
    parallel_for(o.rows, [&](std::int64_t i) {
      logits[static_cast<std::size_t>(i)] +=
          dot(&user->factors[static_cast<std::size_t>((ui[i] - user->lo) * kFactorDim)],
              &item->factors[static_cast<std::size_t>((ii[i] - item->lo) * kFactorDim)]);
    });
  }

  SyntheticResult r;
  draw_targets(logits, o.positive_rate, o.seed, train_rows, r);
  Schema out_schema = schema;
  for (const auto& c : cols) {
    if (!c.is_target()) continue;
    data[c.schema->name()] = c.target(r, logits, o);
    out_schema = out_schema.with_column(c.schema->with_properties({{"synthetic", result_json(r)}}));
  }
  // Staged as a whole, as synthetic_criteo's folder.
  io::StagedDirectory staged(out);
  save_split(Dataset(out_schema, std::move(data)), train_rows, staged, r);
  const json meta = {{"generator", "recblocks synthetic"},
                     {"shape", "schema"},
                     {"seed", o.seed},
                     {"zipf_exponent", o.zipf_exponent},
                     {"train_rows", train_rows},
                     {"valid_rows", o.rows - train_rows}};
  write_metadata(staged, meta, r);
  staged.commit();
  return r;
}

}  // namespace recblocks::datasets
