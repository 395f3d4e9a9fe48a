#include "recblocks/blocks/retrieval.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "blocks/registry.h"
#include "recblocks/autograd/ops.h"
#include "recblocks/blocks/config.h"
#include "recblocks/core/error.h"

namespace recblocks {

UniqueIds unique_in_order(const Tensor& ids) {
  RB_CHECK((ids.dtype() == DType::kInt64 || ids.dtype() == DType::kInt32) && ids.rank() == 1,
           ShapeError, "unique ids: expected int32 or int64 [rows], got {} {}",
           dtype_name(ids.dtype()), ids.shape());
  const std::int64_t rows = ids.numel();
  std::vector<std::int64_t> id(static_cast<std::size_t>(rows));
  std::int64_t lo = 0, hi = -1;
  for (std::int64_t i = 0; i < rows; ++i) {
    id[i] =
        ids.dtype() == DType::kInt64 ? ids.data<std::int64_t>()[i] : ids.data<std::int32_t>()[i];
    lo = i == 0 ? id[i] : std::min(lo, id[i]);
    hi = i == 0 ? id[i] : std::max(hi, id[i]);
  }
  UniqueIds out;
  out.inverse.resize(static_cast<std::size_t>(rows));
  // Row i joins the column of its id, opening it on the id's first row.
  auto assign = [&](std::int64_t i, std::int64_t& column) {
    if (column < 0) {
      column = static_cast<std::int64_t>(out.ids.size());
      out.ids.push_back(id[i]);
      out.first.push_back(i);
      out.counts.push_back(0);
    }
    out.inverse[i] = column;
    ++out.counts[column];
  };
  if (rows > 0 && hi - lo <= 16 * rows + 4096) {
    // Categorified ids span little more than a batch (as the embedding
    // backward's counting sort assumes): one pass over a table of them.
    std::vector<std::int64_t> column(static_cast<std::size_t>(hi - lo + 1), -1);
    for (std::int64_t i = 0; i < rows; ++i) assign(i, column[id[i] - lo]);
    return out;
  }
  // Else sorted (id, row) pairs: each id's run starts at its first row.
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::int64_t a, std::int64_t b) { return id[a] != id[b] ? id[a] < id[b] : a < b; });
  std::vector<std::int64_t> run_first(static_cast<std::size_t>(rows));
  for (std::int64_t k = 0; k < rows; ++k) {
    run_first[order[k]] =
        k > 0 && id[order[k]] == id[order[k - 1]] ? run_first[order[k - 1]] : order[k];
  }
  std::vector<std::int64_t> column(static_cast<std::size_t>(rows), -1);
  for (std::int64_t i = 0; i < rows; ++i) assign(i, column[run_first[i]]);
  return out;
}

namespace {

using nlohmann::json;

class ItemRetrievalScorerImpl final : public BlockBase {
 public:
  explicit ItemRetrievalScorerImpl(ItemRetrievalScorerOptions options)
      : options_(std::move(options)) {
    RB_CHECK(std::isfinite(options_.temperature) && options_.temperature > 0, ValueError,
             "ItemRetrievalScorer: temperature is {}, expected a number > 0", options_.temperature);
    RB_CHECK(
        !options_.query.empty() && !options_.candidate.empty() &&
            options_.query != options_.candidate,
        ValueError,
        "ItemRetrievalScorer: the query and candidate keys must be two different names, got '{}' "
        "and '{}'",
        options_.query, options_.candidate);
  }
  std::string_view type() const override { return "ItemRetrievalScorer"; }
  json config() const override { return options_.to_json(); }

  FlowSpec build(const FlowSpec& input, BlockContext&) override {
    RB_CHECK(input.kind() == FlowSpec::Kind::kDict, ValueError,
             "ItemRetrievalScorer: expected the dict {{'{}': [d], '{}': [d]}} of a two-tower body, "
             "got {}",
             options_.query, options_.candidate, input.str());
    const TensorSpec* q = nullptr;
    const TensorSpec* c = nullptr;
    for (const auto& [key, spec] : input.dict()) {
      if (key == options_.query) q = &spec;
      if (key == options_.candidate) c = &spec;
    }
    RB_CHECK(q != nullptr && c != nullptr, ValueError,
             "ItemRetrievalScorer: the input {} lacks '{}' or '{}'", input.str(), options_.query,
             options_.candidate);
    RB_CHECK(q->dtype == DType::kFloat32 && c->dtype == DType::kFloat32 && q->shape.rank() == 1 &&
                 q->shape == c->shape,
             ShapeError,
             "ItemRetrievalScorer: query {} and candidate {} must be float32 vectors of one width",
             q->shape, c->shape);
    return FlowSpec::tensor({Shape{0}});
  }

  Flow forward(const Flow& input, RunContext&) const override {
    Var q = input.at(options_.query);
    Var c = input.at(options_.candidate);
    if (options_.l2_normalization) {
      q = ops::l2_normalize(q);
      c = ops::l2_normalize(c);
    }
    Var scores = ops::matmul(q, c, false, true);
    if (options_.temperature != 1.0)
      scores = ops::scale(scores, static_cast<float>(1.0 / options_.temperature));
    return Flow::tensor(scores);
  }

 private:
  ItemRetrievalScorerOptions options_;
};

}  // namespace

namespace {

// Whether every row's `column` equals that of its id's first row.
bool same_within_ids(const Batch& batch, const std::string& column, const UniqueIds& u) {
  const auto rows = static_cast<std::int64_t>(u.inverse.size());
  auto first_of = [&](std::int64_t i) { return u.first[static_cast<std::size_t>(u.inverse[i])]; };
  if (batch.is_list(column)) {
    const RaggedTensor& r = batch.ragged(column);
    const auto* off = r.offsets().data<std::int64_t>();
    const std::size_t value_bytes =
        r.values().nbytes() / static_cast<std::size_t>(std::max<std::int64_t>(r.nnz(), 1));
    const auto* v = static_cast<const unsigned char*>(r.values().raw());
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::int64_t f = first_of(i);
      if (f == i) continue;
      const std::int64_t n = off[i + 1] - off[i];
      if (n != off[f + 1] - off[f]) return false;
      if (std::memcmp(v + off[i] * value_bytes, v + off[f] * value_bytes,
                      static_cast<std::size_t>(n) * value_bytes) != 0) {
        return false;
      }
    }
    return true;
  }
  const Tensor& t = batch.tensor(column);
  const std::size_t row_bytes =
      t.nbytes() / static_cast<std::size_t>(std::max<std::int64_t>(rows, 1));
  const auto* v = static_cast<const unsigned char*>(t.raw());
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t f = first_of(i);
    if (f != i && std::memcmp(v + i * row_bytes, v + f * row_bytes, row_bytes) != 0) return false;
  }
  return true;
}

class UniqueRowsImpl final : public BlockBase {
 public:
  UniqueRowsImpl(Block block, UniqueRowsOptions options)
      : block_(std::move(block)), options_(std::move(options)) {
    RB_CHECK(block_.defined(), ValueError, "UniqueRows: the block is empty");
    RB_CHECK(!options_.key.empty(), ValueError, "UniqueRows: the key column is not set");
  }
  std::string_view type() const override { return "UniqueRows"; }
  bool merges_rows() const override { return true; }
  bool row_independent() const override { return children_row_independent(); }
  json config() const override { return options_.to_json(); }
  std::vector<std::pair<std::string, Block>> children() const override {
    return {{"block", block_}};
  }

  FlowSpec build(const FlowSpec& input, BlockContext& context) override {
    RB_CHECK(input.kind() == FlowSpec::Kind::kInputs, ValueError,
             "UniqueRows: expected the batch's columns as input, got {}", input.str());
    const Schema& schema = input.schema();
    RB_CHECK(schema.contains(options_.key), ValueError,
             "UniqueRows: the key column '{}' is not in the input ({})", options_.key,
             fmt::join(schema.column_names(), ", "));
    const ColumnSchema& key = schema.column(options_.key);
    RB_CHECK(is_integer(key.dtype()) && !key.is_list(), ValueError,
             "UniqueRows: the key column '{}' must be a scalar int32 or int64 id column",
             options_.key);
    std::vector<std::string> names = {options_.key};
    for (const std::string& c : options_.columns) {
      RB_CHECK(schema.contains(c), ValueError, "UniqueRows: column '{}' is not in the input ({})",
               c, fmt::join(schema.column_names(), ", "));
      if (c != options_.key) names.push_back(c);
    }
    selected_ = names;
    exact_ = block_.impl().row_independent();
    FlowSpec out = block_.build(FlowSpec::inputs(schema.select_by_name(names)), context);
    RB_CHECK(out.kind() == FlowSpec::Kind::kTensor, ValueError,
             "UniqueRows: the block must return one tensor per row, it returns {}", out.str());
    return out;
  }

  Flow forward(const Flow& input, RunContext& run) const override {
    const Batch batch = input.batch().select(selected_);
    if (!run.training() || !exact_) return block_.forward(Flow::inputs(batch), run);
    const UniqueIds u = unique_in_order(batch.tensor(options_.key));
    bool merge = static_cast<std::int64_t>(u.ids.size()) < batch.rows();
    for (std::size_t c = 1; merge && c < selected_.size(); ++c)
      merge = same_within_ids(batch, selected_[c], u);
    if (!merge) return block_.forward(Flow::inputs(batch), run);
    return block_.forward(Flow::inputs(batch.take(u.first)), run);
  }

 private:
  Block block_;
  UniqueRowsOptions options_;
  std::vector<std::string> selected_;
  bool exact_ = true;
};

}  // namespace

json UniqueRowsOptions::to_json() const { return options::to_json(*this); }

UniqueRowsOptions UniqueRowsOptions::from_json(const json& j) {
  return options::from_json<UniqueRowsOptions>(j, "UniqueRows config");
}

UniqueRows::UniqueRows(Block block, UniqueRowsOptions options)
    : Block(std::make_shared<UniqueRowsImpl>(std::move(block), std::move(options))) {}

json ItemRetrievalScorerOptions::to_json() const { return options::to_json(*this); }

ItemRetrievalScorerOptions ItemRetrievalScorerOptions::from_json(const json& j) {
  return options::from_json<ItemRetrievalScorerOptions>(j, "ItemRetrievalScorer config");
}

ItemRetrievalScorer::ItemRetrievalScorer(ItemRetrievalScorerOptions options)
    : Block(std::make_shared<ItemRetrievalScorerImpl>(std::move(options))) {}

void register_retrieval_blocks() {
  register_block_type<UniqueRowsOptions>(
      "UniqueRows", [](const UniqueRowsOptions& o, const BlockChildren& children) {
        RB_CHECK(children.size() == 1, ValueError, "UniqueRows: expected one child block, got {}",
                 children.size());
        return UniqueRows(children[0].second, o);
      });
  register_block_type<ItemRetrievalScorerOptions>(
      "ItemRetrievalScorer", [](ItemRetrievalScorerOptions o, const BlockChildren&) {
        return ItemRetrievalScorer(std::move(o));
      });
}

}  // namespace recblocks
