#include "recblocks/blocks/crosses.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>

#include "blocks/registry.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/config.h"
#include "recblocks/core/error.h"
#include "recblocks/data/loader.h"

namespace recblocks {
namespace {

using nlohmann::json;

constexpr std::uint64_t kCrossSeed = 0x9E3779B97F4A7C15ull;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// n1 * ... * nk, saturated at int64's max.
std::int64_t cardinality_product(const std::vector<std::int64_t>& cardinalities) {
  std::int64_t product = 1;
  for (std::int64_t n : cardinalities) {
    if (n > 0 && product > std::numeric_limits<std::int64_t>::max() / n)
      return std::numeric_limits<std::int64_t>::max();
    product *= n;
  }
  return product;
}

// The bin rule of crosses.h as a fold over a row's ids, in the cross's
// column order: acc = start(), acc = add(acc, x, n) per column, bin(acc).
struct BinRule {
  bool exact = false;  // bins is the product of the cardinalities
  std::uint64_t bins = 0;

  explicit BinRule(const std::vector<std::int64_t>& cardinalities = {}, std::int64_t num_bins = 1)
      : bins(static_cast<std::uint64_t>(hashed_cross_bins(cardinalities, num_bins))) {
    exact = static_cast<std::int64_t>(bins) == cardinality_product(cardinalities);
  }
  std::uint64_t start() const { return exact ? 0 : kCrossSeed; }
  std::uint64_t add(std::uint64_t acc, std::int64_t x, std::int64_t n) const {
    const auto ux = static_cast<std::uint64_t>(x);
    return exact ? acc * static_cast<std::uint64_t>(n) + ux : splitmix64(acc ^ ux);
  }
  std::int64_t bin(std::uint64_t acc) const {
    return static_cast<std::int64_t>(exact ? acc : acc % bins);
  }
};

// A HashedCrossFeatures' JSON config.
struct HashedCrossConfig {
  Schema schema;
  HashedCrossOptions options;

  static auto option_fields() {
    using O = HashedCrossConfig;
    return options::table<O>(
        "HashedCrossFeatures",
        options::field("schema", &O::schema, "the scalar categorical columns crossed").required(),
        options::field("options", &O::options, "the crosses and their tables"));
  }
};

struct Cross {
  std::string name;  // "<c1>_x_<c2>..."
  std::vector<std::string> columns;
  std::vector<std::int64_t> cardinalities;
  BinRule rule;
  ParameterPtr table;  // set by build
};

// Every combination of 2..max_level of `names`, in order.
std::vector<std::vector<std::string>> all_crosses(const std::vector<std::string>& names,
                                                  int max_level) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::size_t> pick;
  // Depth-first over increasing indices: combinations of each size in
  // lexicographic order, sizes ascending.
  for (int level = 2; level <= max_level; ++level) {
    const auto k = static_cast<std::size_t>(level);
    if (k > names.size()) break;
    pick.resize(k);
    for (std::size_t i = 0; i < k; ++i) pick[i] = i;
    while (true) {
      std::vector<std::string> cross;
      cross.reserve(k);
      for (std::size_t i : pick) cross.push_back(names[i]);
      out.push_back(std::move(cross));
      std::size_t i = k;
      while (i > 0 && pick[i - 1] == names.size() - k + (i - 1)) --i;
      if (i == 0) break;
      ++pick[i - 1];
      for (std::size_t j = i; j < k; ++j) pick[j] = pick[j - 1] + 1;
    }
  }
  return out;
}

class HashedCrossImpl final : public BlockBase {
 public:
  HashedCrossImpl(Schema schema, HashedCrossOptions options)
      : schema_(std::move(schema)), options_(std::move(options)) {
    RB_CHECK(options_.num_bins > 0, ValueError, "HashedCrossFeatures: num_bins is {}, expected > 0",
             options_.num_bins);
    RB_CHECK(options_.dim > 0, ValueError, "HashedCrossFeatures: dim is {}, expected > 0",
             options_.dim);
    RB_CHECK(options_.max_level >= 2, ValueError,
             "HashedCrossFeatures: max_level is {}, expected >= 2", options_.max_level);
    for (const ColumnSchema& c : schema_) {
      RB_CHECK(!c.is_list(), ValueError,
               "HashedCrossFeatures: column '{}' is a list column; only scalar columns can be "
               "crossed",
               c.name());
      RB_CHECK(c.domain().has_value(), ValueError,
               "HashedCrossFeatures: column '{}' has no integer domain in the schema, so its "
               "cardinality is unknown",
               c.name());
    }
    const auto specs = options_.crosses.empty()
                           ? all_crosses(schema_.column_names(), options_.max_level)
                           : options_.crosses;
    RB_CHECK(
        !specs.empty(), ValueError,
        "HashedCrossFeatures: nothing to cross: the scalar columns are [{}] (need two or more)",
        fmt::join(schema_.column_names(), ", "));
    for (const auto& columns : specs) add_cross(columns);
  }

  std::string_view type() const override { return "HashedCrossFeatures"; }
  bool row_independent() const override { return true; }
  json config() const override { return options::to_json(HashedCrossConfig{schema_, options_}); }

  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    RB_CHECK(input.kind() == FlowSpec::Kind::kInputs, ValueError,
             "HashedCrossFeatures: expected the raw inputs of a batch, got {}", input.str());
    FlowSpec::Dict out;
    for (Cross& cross : crosses_) {
      for (const std::string& name : cross.columns) {
        RB_CHECK(input.schema().contains(name), ValueError,
                 "HashedCrossFeatures: the inputs have no column '{}'; they have: {}", name,
                 fmt::join(input.schema().column_names(), ", "));
        const DType d = input.schema().column(name).dtype();
        RB_CHECK(d == DType::kInt32 || d == DType::kInt64, ValueError,
                 "HashedCrossFeatures: column '{}' is {}, expected int32 or int64 ids", name,
                 dtype_name(d));
      }
      const std::string domain = options_.table_prefix + cross.name;
      const Shape shape{static_cast<std::int64_t>(cross.rule.bins), options_.dim};
      cross.table = context.shared_table(
          domain, [&] { return context.parameter(domain, shape, options_.initializer); });
      RB_CHECK(cross.table->value().shape() == shape, ShapeError,
               "HashedCrossFeatures: the model already has a table '{}' of shape {}, the cross "
               "needs {}",
               domain, cross.table->value().shape(), shape);
      out.emplace_back(cross.name, TensorSpec{Shape{options_.dim}, DType::kFloat32});
    }
    return FlowSpec::dict(std::move(out));
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    const Batch& batch = input.batch();
    const std::int64_t rows = batch.rows();
    Flow::Dict out;
    out.reserve(crosses_.size());
    for (const Cross& cross : crosses_) {
      Tensor bins = run.tape().arena().tensor({rows}, DType::kInt64);
      compute_bins(cross, batch, bins.data<std::int64_t>());
      out.emplace_back(cross.name, ops::embedding(run.param(cross.table), bins));
    }
    return Flow::dict(std::move(out));
  }

  std::vector<std::pair<std::string, ParameterPtr>> own_parameters() const override {
    std::vector<std::pair<std::string, ParameterPtr>> out;
    for (const Cross& cross : crosses_) {
      if (cross.table) out.emplace_back(options_.table_prefix + cross.name, cross.table);
    }
    return out;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Cross& cross : crosses_) out.push_back(cross.name);
    return out;
  }
  std::int64_t bins(std::string_view name) const {
    for (const Cross& cross : crosses_) {
      if (cross.name == name) return static_cast<std::int64_t>(cross.rule.bins);
    }
    throw ValueError(fmt::format("HashedCrossFeatures: no cross '{}'; it has: {}", name,
                                 fmt::join(names(), ", ")));
  }

 private:
  void add_cross(const std::vector<std::string>& columns) {
    RB_CHECK(columns.size() >= 2, ValueError,
             "HashedCrossFeatures: a cross needs two or more columns, got [{}]",
             fmt::join(columns, ", "));
    Cross cross;
    for (const std::string& name : columns) {
      RB_CHECK(schema_.contains(name), ValueError,
               "HashedCrossFeatures: the cross [{}] names '{}', which is not one of the scalar "
               "categorical columns [{}]",
               fmt::join(columns, ", "), name, fmt::join(schema_.column_names(), ", "));
      RB_CHECK(std::count(columns.begin(), columns.end(), name) == 1, ValueError,
               "HashedCrossFeatures: the cross [{}] names '{}' twice", fmt::join(columns, ", "),
               name);
      cross.columns.push_back(name);
      cross.cardinalities.push_back(schema_.column(name).cardinality());
    }
    cross.name = fmt::format("{}", fmt::join(columns, "_x_"));
    for (const Cross& other : crosses_) {
      RB_CHECK(other.name != cross.name, ValueError,
               "HashedCrossFeatures: the cross '{}' is "
               "listed twice",
               cross.name);
    }
    cross.rule = BinRule(cross.cardinalities, options_.num_bins);
    crosses_.push_back(std::move(cross));
  }

  // bins[rows]: each row's bin of `cross` (the fold runs in place, a
  // column at a time).
  static void compute_bins(const Cross& cross, const Batch& batch, std::int64_t* bins) {
    const std::int64_t rows = batch.rows();
    const BinRule& rule = cross.rule;
    std::fill(bins, bins + rows, static_cast<std::int64_t>(rule.start()));
    for (std::size_t k = 0; k < cross.columns.size(); ++k) {
      const std::string& name = cross.columns[k];
      const std::int64_t n = cross.cardinalities[k];
      const Tensor& ids = batch.tensor(name);
      RB_CHECK(ids.numel() == rows, ShapeError,
               "HashedCrossFeatures: column '{}' has shape {}, expected [{}] (one id per row)",
               name, ids.shape(), rows);
      const auto fold = [&](const auto* x) {
        for (std::int64_t r = 0; r < rows; ++r) {
          RB_CHECK(x[r] >= 0 && x[r] < n, ValueError,
                   "HashedCrossFeatures: column '{}' (cardinality {}): id {} at row {} is "
                   "outside [0, {})",
                   name, n, x[r], r, n);
          bins[r] = static_cast<std::int64_t>(
              rule.add(static_cast<std::uint64_t>(bins[r]), static_cast<std::int64_t>(x[r]), n));
        }
      };
      if (ids.dtype() == DType::kInt32) {
        fold(ids.data<std::int32_t>());
      } else {
        fold(ids.data<std::int64_t>());
      }
    }
    for (std::int64_t r = 0; r < rows; ++r) bins[r] = rule.bin(static_cast<std::uint64_t>(bins[r]));
  }

 private:
  Schema schema_;
  HashedCrossOptions options_;
  std::vector<Cross> crosses_;
};

const HashedCrossImpl& cross_impl(const Block& block) {
  return static_cast<const HashedCrossImpl&>(block.impl());
}

}  // namespace

nlohmann::json HashedCrossOptions::to_json() const { return options::to_json(*this); }

HashedCrossOptions HashedCrossOptions::from_json(const nlohmann::json& j) {
  return options::from_json<HashedCrossOptions>(j, "HashedCrossOptions");
}

std::int64_t hashed_cross_bins(const std::vector<std::int64_t>& cardinalities,
                               std::int64_t num_bins) {
  return std::min(cardinality_product(cardinalities), num_bins);
}

std::int64_t hashed_cross_bin(const std::vector<std::int64_t>& ids,
                              const std::vector<std::int64_t>& cardinalities,
                              std::int64_t num_bins) {
  RB_CHECK(ids.size() == cardinalities.size() && ids.size() >= 2 && num_bins > 0, ValueError,
           "hashed_cross_bin: {} ids and {} cardinalities (expected the same number, >= 2), "
           "num_bins {}",
           ids.size(), cardinalities.size(), num_bins);
  const BinRule rule(cardinalities, num_bins);
  std::uint64_t acc = rule.start();
  for (std::size_t k = 0; k < ids.size(); ++k) {
    RB_CHECK(ids[k] >= 0 && ids[k] < cardinalities[k], ValueError,
             "hashed_cross_bin: id {} is outside [0, {})", ids[k], cardinalities[k]);
    acc = rule.add(acc, ids[k], cardinalities[k]);
  }
  return rule.bin(acc);
}

HashedCrossFeatures HashedCrossFeatures::from_schema(const Schema& schema,
                                                     HashedCrossOptions options, Tag tags) {
  const Schema tagged = schema.select_by_tag(tags).remove_by_tag(Tags::TARGET);
  std::vector<std::string> scalar;
  for (const ColumnSchema& c : tagged) {
    if (!c.is_list()) scalar.push_back(c.name());
  }
  for (const auto& cross : options.crosses) {
    for (const std::string& name : cross) {
      RB_CHECK(!tagged.contains(name) || !tagged.column(name).is_list(), ValueError,
               "HashedCrossFeatures: the cross [{}] names the list column '{}'; only scalar "
               "columns can be crossed",
               fmt::join(cross, ", "), name);
    }
  }
  return HashedCrossFeatures(
      std::make_shared<HashedCrossImpl>(tagged.select_by_name(scalar), std::move(options)));
}

std::vector<std::string> HashedCrossFeatures::names() const { return cross_impl(*this).names(); }
std::int64_t HashedCrossFeatures::bins(std::string_view name) const {
  return cross_impl(*this).bins(name);
}

void register_crosses() {
  register_block_type<HashedCrossConfig>(
      "HashedCrossFeatures", [](HashedCrossConfig c, const BlockChildren&) {
        return Block(std::make_shared<HashedCrossImpl>(std::move(c.schema), std::move(c.options)));
      });
}

}  // namespace recblocks
