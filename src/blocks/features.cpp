#include "recblocks/blocks/features.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>

#include "blocks/padding.h"
#include "blocks/registry.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/config.h"
#include "recblocks/core/checked.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

using nlohmann::json;

// ---- shared helpers -----------------------------------------------------------

// The feature columns of `schema` having `tags`: targets are never features.
Schema select_features(const Schema& schema, Tag tags, std::string_view who) {
  Schema selected = schema.select_by_tag(tags).remove_by_tag(Tags::TARGET);
  RB_CHECK(!selected.empty(), ValueError,
           "{}.from_schema: no feature column has the tag '{}' (columns: {})", who, tags.name(),
           fmt::join(schema.column_names(), ", "));
  return selected;
}

// The column `name` of the raw inputs `input`; errors name the block.
const ColumnSchema& input_column(const FlowSpec& input, const std::string& name,
                                 std::string_view who) {
  RB_CHECK(input.kind() == FlowSpec::Kind::kInputs, ValueError,
           "{}: expected the raw inputs of a batch, got {}", who, input.str());
  RB_CHECK(input.schema().contains(name), ValueError,
           "{}: the inputs have no column '{}'; they have: {}", who, name,
           fmt::join(input.schema().column_names(), ", "));
  return input.schema().column(name);
}

bool is_integer_dtype(DType d) { return d == DType::kInt32 || d == DType::kInt64; }

// ---- ContinuousFeatures -------------------------------------------------------

struct ContinuousConfig {
  std::vector<std::string> features;
  std::optional<Schema> schema;

  static auto option_fields() {
    using O = ContinuousConfig;
    return options::table<O>(
        "ContinuousFeatures",
        options::field("features", &O::features, "the columns, in output order").required(),
        options::field("schema", &O::schema,
                       "the columns' schema (from_schema); unset: read from the input"));
  }
};

class ContinuousImpl final : public BlockBase {
 public:
  ContinuousImpl(std::vector<std::string> features, std::optional<Schema> schema)
      : features_(std::move(features)), schema_(std::move(schema)) {
    RB_CHECK(!features_.empty(), ValueError, "ContinuousFeatures needs at least one feature name");
  }

  std::string_view type() const override { return "ContinuousFeatures"; }
  bool row_independent() const override { return true; }
  json config() const override { return options::to_json(ContinuousConfig{features_, schema_}); }

  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    FlowSpec::Dict out;
    widths_.clear();
    for (const std::string& name : features_) {
      const ColumnSchema& c = input_column(input, name, "ContinuousFeatures");
      RB_CHECK(c.dtype() == DType::kFloat32 || is_integer_dtype(c.dtype()), ValueError,
               "ContinuousFeatures: column '{}' is {}, expected float32, int32 or int64", name,
               dtype_name(c.dtype()));
      RB_CHECK(
          !c.is_ragged(), ValueError,
          "ContinuousFeatures: column '{}' is a ragged list; make it dense first (AsDenseFeatures)",
          name);
      const std::int64_t width = c.is_list() && c.value_count() ? c.value_count()->max : 1;
      widths_.push_back(width);
      out.emplace_back(name, TensorSpec{Shape{width}, DType::kFloat32});
    }
    return FlowSpec::dict(std::move(out));
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    const Batch& batch = input.batch();
    Flow::Dict out;
    out.reserve(features_.size());
    for (std::size_t i = 0; i < features_.size(); ++i) {
      out.emplace_back(features_[i],
                       run.tape().constant(as_float_rows(batch, features_[i], widths_[i], run)));
    }
    return Flow::dict(std::move(out));
  }

 private:
  // The column as float32 [rows, width]: a view for float columns, a
  // converted copy in the step's arena for integer ones.
  static Tensor as_float_rows(const Batch& batch, const std::string& name, std::int64_t width,
                              RunContext& run) {
    const Tensor& t = batch.tensor(name);
    const std::int64_t rows = batch.rows();
    RB_CHECK(t.numel() == rows * width && t.shape()[0] == rows, ShapeError,
             "ContinuousFeatures: column '{}' has shape {}, expected [{}] or [{}, {}]", name,
             t.shape(), rows, rows, width);
    if (t.dtype() == DType::kFloat32) return t.view({rows, width});
    Tensor f = run.tape().arena().tensor({rows, width});
    float* out = f.data<float>();
    if (t.dtype() == DType::kInt32) {
      const std::int32_t* in = t.data<std::int32_t>();
      for (std::int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<float>(in[i]);
    } else {
      const std::int64_t* in = t.data<std::int64_t>();
      for (std::int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<float>(in[i]);
    }
    return f;
  }

  std::vector<std::string> features_;
  std::optional<Schema> schema_;
  std::vector<std::int64_t> widths_;
};

// ---- EmbeddingFeatures / SequenceEmbeddingFeatures ------------------------------

// The JSON configs of the two embedding blocks.
struct EmbeddingConfig {
  Schema schema;
  EmbeddingOptions options;

  static auto option_fields() {
    using O = EmbeddingConfig;
    return options::table<O>(
        "EmbeddingFeatures",
        options::field("schema", &O::schema, "the columns looked up").required(),
        options::field("options", &O::options, "the tables' options"));
  }
};

struct SequenceEmbeddingConfig {
  Schema schema;
  EmbeddingOptions options;
  std::int64_t max_sequence_length = 0;
  bool mask_zero = true;

  static auto option_fields() {
    using O = SequenceEmbeddingConfig;
    return options::table<O>(
        "SequenceEmbeddingFeatures",
        options::field("schema", &O::schema, "the list columns looked up").required(),
        options::field("options", &O::options, "the tables' options"),
        options::field("max_sequence_length", &O::max_sequence_length,
                       "length L of the sequences; 0: each column's schema value_count.max"),
        options::field("mask_zero", &O::mask_zero, "also output \"<name>__mask\" [B, L]"));
  }
};

std::int64_t resolve_dim(const ColumnSchema& c, const EmbeddingOptions& o) {
  if (auto it = o.dims.find(c.name()); it != o.dims.end()) return it->second;
  if (o.use_schema_dims && c.embedding_dim()) return *c.embedding_dim();
  if (o.infer_dims) return infer_embedding_dim(c, o.infer_multiplier, o.ensure_multiple_of_8);
  return o.dim;
}

struct TableSpec {
  std::string domain;
  std::int64_t cardinality = 0;
  std::int64_t dim = 0;
  Initializer initializer;
  std::string first_column;  // the column that defined it (for errors)
  ParameterPtr parameter;    // set by build
};

struct FeatureSpec {
  std::string column;
  std::size_t table = 0;
  std::int64_t length = 0;  // sequences only: L
};

// Both embedding blocks: tables by domain, one lookup per column. The plain
// block pools list columns into [B, dim]; the sequence block keeps [B, L, dim].
class EmbeddingImpl final : public BlockBase {
 public:
  EmbeddingImpl(Schema schema, EmbeddingOptions options, bool sequence,
                std::int64_t max_sequence_length, bool mask_zero)
      : schema_(std::move(schema)),
        options_(std::move(options)),
        sequence_(sequence),
        max_sequence_length_(max_sequence_length),
        mask_zero_(mask_zero) {
    RB_CHECK(!schema_.empty(), ValueError, "{} needs at least one column", type());
    RB_CHECK(options_.combiner == "mean" || options_.combiner == "sum", ValueError,
             "{}: combiner '{}' is not supported (use \"mean\" or \"sum\")", type(),
             options_.combiner);
    RB_CHECK(options_.l2_reg >= 0.0f, ValueError, "{}: l2_reg is {}, expected >= 0", type(),
             options_.l2_reg);
    RB_CHECK(max_sequence_length_ >= 0, ValueError, "{}: max_sequence_length is {}, expected >= 0",
             type(), max_sequence_length_);
    for (const ColumnSchema& c : schema_) add_feature(c);
  }

  std::string_view type() const override {
    return sequence_ ? "SequenceEmbeddingFeatures" : "EmbeddingFeatures";
  }
  bool row_independent() const override { return true; }
  json config() const override {
    if (sequence_) {
      return options::to_json(
          SequenceEmbeddingConfig{schema_, options_, max_sequence_length_, mask_zero_});
    }
    return options::to_json(EmbeddingConfig{schema_, options_});
  }

  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    for (const FeatureSpec& f : features_) {
      const ColumnSchema& c = input_column(input, f.column, type());
      RB_CHECK(is_integer_dtype(c.dtype()), ValueError,
               "{}: column '{}' is {}, expected int32 or int64 ids", type(), f.column,
               dtype_name(c.dtype()));
    }
    for (TableSpec& t : tables_) t.parameter = shared_table(t, context);
    FlowSpec::Dict out;
    for (const FeatureSpec& f : features_) {
      const std::int64_t dim = tables_[f.table].dim;
      if (!sequence_) {
        out.emplace_back(f.column, TensorSpec{Shape{dim}, DType::kFloat32});
        continue;
      }
      out.emplace_back(f.column, TensorSpec{Shape{f.length, dim}, DType::kFloat32});
      if (mask_zero_)
        out.emplace_back(f.column + std::string(kMaskSuffix),
                         TensorSpec{Shape{f.length}, DType::kFloat32});
    }
    return FlowSpec::dict(std::move(out));
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    const Batch& batch = input.batch();
    Flow::Dict out;
    for (const FeatureSpec& f : features_) {
      const TableSpec& t = tables_[f.table];
      const Var table = run.param(t.parameter);
      try {
        if (!sequence_) {
          out.emplace_back(f.column, lookup_pooled(table, batch, f.column));
        } else {
          const Tensor ids = padded_ids(batch, f, run.tape().arena());
          out.emplace_back(f.column, ops::embedding(table, ids));
          if (mask_zero_)
            out.emplace_back(f.column + std::string(kMaskSuffix),
                             run.tape().constant(mask_of(ids, run)));
        }
      } catch (const ValueError& e) {
        throw ValueError(fmt::format("{}: column '{}' (cardinality {}): {}", type(), f.column,
                                     t.cardinality, e.what()));
      } catch (const ShapeError& e) {
        throw ShapeError(fmt::format("{}: column '{}': {}", type(), f.column, e.what()));
      }
    }
    return Flow::dict(std::move(out));
  }

  std::vector<std::pair<std::string, ParameterPtr>> own_parameters() const override {
    std::vector<std::pair<std::string, ParameterPtr>> out;
    for (const TableSpec& t : tables_) {
      if (t.parameter) out.emplace_back(t.domain, t.parameter);
    }
    return out;
  }

  std::vector<std::pair<ParameterPtr, float>> regularizers() const override {
    std::vector<std::pair<ParameterPtr, float>> out;
    if (options_.l2_reg <= 0.0f) return out;
    for (const TableSpec& t : tables_) {
      if (t.parameter) out.emplace_back(t.parameter, options_.l2_reg);
    }
    return out;
  }

  std::map<std::string, std::int64_t> dims() const {
    std::map<std::string, std::int64_t> out;
    for (const FeatureSpec& f : features_) out[f.column] = tables_[f.table].dim;
    return out;
  }

  ParameterPtr table(std::string_view column) const {
    for (const FeatureSpec& f : features_) {
      if (f.column != column) continue;
      const TableSpec& t = tables_[f.table];
      RB_CHECK(t.parameter != nullptr, ValueError, "{} is not built yet: its tables do not exist",
               type());
      return t.parameter;
    }
    std::vector<std::string> names;
    for (const FeatureSpec& f : features_) names.push_back(f.column);
    throw ValueError(
        fmt::format("{}: no column '{}'; it embeds: {}", type(), column, fmt::join(names, ", ")));
  }

 private:
  // Registers column `c` and its table (shared with earlier columns of the
  // same domain, which must agree on the table's shape).
  void add_feature(const ColumnSchema& c) {
    RB_CHECK(c.domain().has_value(), ValueError,
             "{}: column '{}' has no integer domain in the schema, so its cardinality is unknown",
             type(), c.name());
    RB_CHECK(is_integer_dtype(c.dtype()), ValueError,
             "{}: column '{}' is {}, expected int32 or int64 ids", type(), c.name(),
             dtype_name(c.dtype()));
    FeatureSpec f{c.name(), 0, 0};
    if (sequence_) f.length = sequence_length(c);
    const std::string domain =
        options_.table_prefix + (c.domain()->name.empty() ? c.name() : c.domain()->name);
    const std::int64_t cardinality = c.cardinality();
    const std::int64_t dim = resolve_dim(c, options_);
    RB_CHECK(dim > 0, ValueError, "{}: column '{}' has embedding dim {}, expected > 0", type(),
             c.name(), dim);
    // The table's size from the schema's domain and the dim, which may come
    // from a file or a flag: refused here, naming them, if it cannot exist.
    const std::optional<std::int64_t> values = checked_numel(std::array{cardinality, dim});
    RB_CHECK(values.has_value() && *values <= Shape::kMaxElements, ValueError,
             "{}: column '{}' needs an embedding table of [{}, {}] (domain max {} + 1 rows, dim "
             "{}): too large, more values than a tensor may hold (2^60)",
             type(), c.name(), cardinality, dim, c.domain()->max, dim);
    auto it = std::find_if(tables_.begin(), tables_.end(),
                           [&](const TableSpec& t) { return t.domain == domain; });
    if (it == tables_.end()) {
      auto init = options_.initializers.find(c.name());
      tables_.push_back({domain, cardinality, dim,
                         init == options_.initializers.end() ? options_.initializer : init->second,
                         c.name(), nullptr});
      f.table = tables_.size() - 1;
    } else {
      RB_CHECK(it->cardinality == cardinality && it->dim == dim, ValueError,
               "{}: columns '{}' and '{}' share the domain '{}' but need different tables: [{}, "
               "{}] and [{}, {}]",
               type(), it->first_column, c.name(), domain, it->cardinality, it->dim, cardinality,
               dim);
      f.table = static_cast<std::size_t>(it - tables_.begin());
    }
    features_.push_back(std::move(f));
  }

  std::int64_t sequence_length(const ColumnSchema& c) const {
    RB_CHECK(c.is_list(), ValueError, "SequenceEmbeddingFeatures: column '{}' is not a list column",
             c.name());
    if (max_sequence_length_ > 0) return max_sequence_length_;
    const std::int64_t max = c.value_count() ? c.value_count()->max : 0;
    RB_CHECK(max > 0, ValueError,
             "SequenceEmbeddingFeatures: column '{}' has no maximum length in the schema "
             "(value_count.max); "
             "give max_sequence_length",
             c.name());
    return max;
  }

  // The model's table for `t`: made here (seeded by the context) unless an
  // earlier block of the model made the table of this domain already.
  ParameterPtr shared_table(const TableSpec& t, BlockContext& context) const {
    ParameterPtr p = context.shared_table(t.domain, [&] {
      return context.parameter(t.domain, Shape{t.cardinality, t.dim}, t.initializer);
    });
    RB_CHECK(
        p->value().shape() == (Shape{t.cardinality, t.dim}), ShapeError,
        "{}: the model already has a table for domain '{}' of shape {}, column '{}' needs [{}, {}]",
        type(), t.domain, p->value().shape(), t.first_column, t.cardinality, t.dim);
    return p;
  }

  // [B, dim]: a scalar column's rows, or a list column's rows pooled.
  Var lookup_pooled(const Var& table, const Batch& batch, const std::string& column) const {
    const kernels::Pooling pooling =
        options_.combiner == "sum" ? kernels::Pooling::kSum : kernels::Pooling::kMean;
    if (batch.is_list(column)) return ops::embedding_bag(table, batch.ragged(column), pooling);
    const Tensor& ids = batch.tensor(column);
    RB_CHECK(ids.rank() == 1 || ids.rank() == 2, ShapeError,
             "ids have shape {}, expected [{}] or [{}, n]", ids.shape(), batch.rows(),
             batch.rows());
    if (ids.rank() == 1) return ops::embedding(table, ids);
    const Var rows = ops::embedding(table, ids);  // [B, n, dim]
    return pooling == kernels::Pooling::kSum ? ops::sum(rows, 1) : ops::mean(rows, 1);
  }

  // Ids [B, L]: each row padded with the padding id 0 or truncated.
  static Tensor padded_ids(const Batch& batch, const FeatureSpec& f, Arena& arena) {
    if (batch.is_list(f.column)) {
      const RaggedTensor& r = batch.ragged(f.column);
      RB_CHECK(r.values().rank() == 1 && is_integer_dtype(r.values().dtype()), ShapeError,
               "ids have shape {} {}, expected int32 or int64 [nnz]", r.values().shape(),
               dtype_name(r.values().dtype()));
      return detail::pad_to_dense(r.values(), r.offsets(), batch.rows(), f.length, arena);
    }
    const Tensor& values = batch.tensor(f.column);
    RB_CHECK(values.rank() == 2 && is_integer_dtype(values.dtype()), ShapeError,
             "ids have shape {} {}, expected a list column (ragged, or int [{}, n])",
             values.shape(), dtype_name(values.dtype()), batch.rows());
    if (values.shape()[1] == f.length) return values;
    return detail::pad_to_dense(values, Tensor(), batch.rows(), f.length, arena);
  }

  // float32 [B, L]: 1 where the id is not the padding id 0.
  static Tensor mask_of(const Tensor& ids, RunContext& run) {
    Tensor mask = run.tape().arena().tensor(ids.shape());
    float* out = mask.data<float>();
    if (ids.dtype() == DType::kInt32) {
      const std::int32_t* in = ids.data<std::int32_t>();
      for (std::int64_t i = 0; i < ids.numel(); ++i) out[i] = in[i] != 0 ? 1.0f : 0.0f;
    } else {
      const std::int64_t* in = ids.data<std::int64_t>();
      for (std::int64_t i = 0; i < ids.numel(); ++i) out[i] = in[i] != 0 ? 1.0f : 0.0f;
    }
    return mask;
  }

  Schema schema_;
  EmbeddingOptions options_;
  bool sequence_ = false;
  std::int64_t max_sequence_length_ = 0;
  bool mask_zero_ = true;
  std::vector<TableSpec> tables_;
  std::vector<FeatureSpec> features_;
};

const EmbeddingImpl& embedding_impl(const Block& block) {
  return static_cast<const EmbeddingImpl&>(block.impl());
}

std::vector<std::string> list_columns_only(const Schema& schema) {
  std::vector<std::string> names;
  for (const ColumnSchema& c : schema) {
    if (c.is_list()) names.push_back(c.name());
  }
  return names;
}

}  // namespace

// ---- EmbeddingOptions -----------------------------------------------------------

nlohmann::json EmbeddingOptions::to_json() const { return options::to_json(*this); }

EmbeddingOptions EmbeddingOptions::from_json(const nlohmann::json& j) {
  return options::from_json<EmbeddingOptions>(j, "EmbeddingOptions");
}

std::int64_t infer_embedding_dim(const ColumnSchema& column, double multiplier,
                                 bool ensure_multiple_of_8) {
  const double cardinality = static_cast<double>(column.cardinality());
  auto dim = static_cast<std::int64_t>(std::ceil(std::pow(cardinality, 0.25) * multiplier));
  if (ensure_multiple_of_8) dim = (dim + 7) / 8 * 8;
  return dim;
}

// ---- handles --------------------------------------------------------------------

ContinuousFeatures::ContinuousFeatures(std::vector<std::string> features)
    : Block(std::make_shared<ContinuousImpl>(std::move(features), std::nullopt)) {}

ContinuousFeatures ContinuousFeatures::from_schema(const Schema& schema, Tag tags) {
  const Schema selected = select_features(schema, tags, "ContinuousFeatures");
  return ContinuousFeatures(std::make_shared<ContinuousImpl>(selected.column_names(), selected));
}

EmbeddingFeatures EmbeddingFeatures::from_schema(const Schema& schema, EmbeddingOptions options,
                                                 Tag tags) {
  const Schema selected = select_features(schema, tags, "EmbeddingFeatures");
  return EmbeddingFeatures(
      std::make_shared<EmbeddingImpl>(selected, std::move(options), false, 0, false));
}

std::map<std::string, std::int64_t> EmbeddingFeatures::dims() const {
  return embedding_impl(*this).dims();
}
ParameterPtr EmbeddingFeatures::table(std::string_view column) const {
  return embedding_impl(*this).table(column);
}

SequenceEmbeddingFeatures SequenceEmbeddingFeatures::from_schema(const Schema& schema,
                                                                 EmbeddingOptions options,
                                                                 std::int64_t max_sequence_length,
                                                                 Tag tags, bool mask_zero) {
  const Schema tagged = select_features(schema, tags, "SequenceEmbeddingFeatures");
  const std::vector<std::string> lists = list_columns_only(tagged);
  RB_CHECK(
      !lists.empty(), ValueError,
      "SequenceEmbeddingFeatures.from_schema: no list column has the tag '{}' (tagged columns: {})",
      tags.name(), fmt::join(tagged.column_names(), ", "));
  return SequenceEmbeddingFeatures(std::make_shared<EmbeddingImpl>(
      tagged.select_by_name(lists), std::move(options), true, max_sequence_length, mask_zero));
}

std::map<std::string, std::int64_t> SequenceEmbeddingFeatures::dims() const {
  return embedding_impl(*this).dims();
}
ParameterPtr SequenceEmbeddingFeatures::table(std::string_view column) const {
  return embedding_impl(*this).table(column);
}

// ---- registry ---------------------------------------------------------------------

void register_features() {
  register_block_type<ContinuousConfig>(
      "ContinuousFeatures", [](ContinuousConfig c, const BlockChildren&) {
        return Block(std::make_shared<ContinuousImpl>(std::move(c.features), std::move(c.schema)));
      });
  register_block_type<EmbeddingConfig>(
      "EmbeddingFeatures", [](EmbeddingConfig c, const BlockChildren&) {
        return Block(std::make_shared<EmbeddingImpl>(std::move(c.schema), std::move(c.options),
                                                     false, 0, false));
      });
  register_block_type<SequenceEmbeddingConfig>(
      "SequenceEmbeddingFeatures", [](SequenceEmbeddingConfig c, const BlockChildren&) {
        return Block(std::make_shared<EmbeddingImpl>(std::move(c.schema), std::move(c.options),
                                                     true, c.max_sequence_length, c.mask_zero));
      });
}

}  // namespace recblocks
