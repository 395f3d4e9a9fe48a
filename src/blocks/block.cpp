#include "recblocks/blocks/block.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <ostream>
#include <set>
#include <sstream>

#include "recblocks/autograd/ops.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

std::string kind_name(FlowSpec::Kind kind) {
  switch (kind) {
    case FlowSpec::Kind::kInputs: return "the raw inputs";
    case FlowSpec::Kind::kTensor: return "a tensor";
    case FlowSpec::Kind::kDict: return "a dict";
  }
  return "?";
}

template <class Entries>
std::vector<std::string> keys_of(const Entries& entries) {
  std::vector<std::string> keys;
  keys.reserve(entries.size());
  for (const auto& [k, v] : entries) keys.push_back(k);
  return keys;
}

// Dict entries in name order: Merlin's ConcatFeatures and StackFeatures
// sort by key, so recblocks does too (weights line up with Merlin's).
template <class Entry>
std::vector<const Entry*> sorted_entries(const std::vector<Entry>& entries) {
  std::vector<const Entry*> out;
  out.reserve(entries.size());
  for (const Entry& e : entries) out.push_back(&e);
  std::sort(out.begin(), out.end(),
            [](const Entry* a, const Entry* b) { return a->first < b->first; });
  return out;
}

}  // namespace

// ---- FlowSpec ---------------------------------------------------------------

FlowSpec FlowSpec::inputs(Schema schema) {
  FlowSpec s;
  s.kind_ = Kind::kInputs;
  s.schema_ = std::move(schema);
  return s;
}

FlowSpec FlowSpec::tensor(TensorSpec spec) {
  FlowSpec s;
  s.kind_ = Kind::kTensor;
  s.tensor_ = spec;
  return s;
}

FlowSpec FlowSpec::dict(Dict entries) {
  FlowSpec s;
  s.kind_ = Kind::kDict;
  s.dict_ = std::move(entries);
  return s;
}

const Schema& FlowSpec::schema() const {
  RB_CHECK(kind_ == Kind::kInputs, ValueError, "expected the raw inputs, got {}", str());
  return schema_;
}

const TensorSpec& FlowSpec::tensor() const {
  RB_CHECK(kind_ == Kind::kTensor, ValueError, "expected a tensor, got {}", str());
  return tensor_;
}

const FlowSpec::Dict& FlowSpec::dict() const {
  RB_CHECK(kind_ == Kind::kDict, ValueError, "expected a dict, got {}", str());
  return dict_;
}

TensorSpec FlowSpec::as_tensor(std::string_view who) const {
  if (kind_ == Kind::kTensor) return tensor_;
  RB_CHECK(kind_ == Kind::kDict && !dict_.empty(), ValueError,
           "{}: expected a tensor or a dict of tensors, got {}", who, str());
  const auto entries = sorted_entries(dict_);
  const TensorSpec& first = entries.front()->second;
  std::int64_t last = 0;
  for (const auto* e : entries) {
    const TensorSpec& t = e->second;
    RB_CHECK(t.dtype == DType::kFloat32 && t.shape.rank() == first.shape.rank() &&
                 t.shape.rank() >= 1 && t.shape.without(-1) == first.shape.without(-1),
             ValueError,
             "{}: cannot concatenate the dict on the last axis: '{}' is {} {} but '{}' is {} {}",
             who, e->first, t.shape, dtype_name(t.dtype), entries.front()->first, first.shape,
             dtype_name(first.dtype));
    last += t.shape[t.shape.rank() - 1];
  }
  return {first.shape.with(first.shape.rank() - 1, last), DType::kFloat32};
}

std::string FlowSpec::str() const {
  switch (kind_) {
    case Kind::kInputs: return fmt::format("inputs{{{}}}", fmt::join(schema_.column_names(), ", "));
    case Kind::kTensor: return fmt::format("{}", tensor_.shape);
    case Kind::kDict: {
      std::vector<std::string> parts;
      for (const auto& [k, t] : dict_) parts.push_back(fmt::format("{}: {}", k, t.shape));
      return fmt::format("{{{}}}", fmt::join(parts, ", "));
    }
  }
  return "?";
}

// ---- Flow -------------------------------------------------------------------

Flow Flow::inputs(const Batch& batch) {
  Flow f;
  f.kind_ = FlowSpec::Kind::kInputs;
  f.batch_ = std::make_shared<const Batch>(batch);
  return f;
}

Flow Flow::tensor(Var value) {
  Flow f;
  f.kind_ = FlowSpec::Kind::kTensor;
  f.tensor_ = value;
  return f;
}

Flow Flow::dict(Dict entries) {
  Flow f;
  f.kind_ = FlowSpec::Kind::kDict;
  f.dict_ = std::move(entries);
  return f;
}

const Batch& Flow::batch() const {
  RB_CHECK(kind_ == FlowSpec::Kind::kInputs, ValueError, "expected the raw inputs, got {}",
           kind_name(kind_));
  return *batch_;
}

const Var& Flow::tensor() const {
  RB_CHECK(kind_ == FlowSpec::Kind::kTensor, ValueError, "expected a tensor, got {}",
           kind_name(kind_));
  return tensor_;
}

const Flow::Dict& Flow::dict() const {
  RB_CHECK(kind_ == FlowSpec::Kind::kDict, ValueError, "expected a dict, got {}", kind_name(kind_));
  return dict_;
}

const Var& Flow::at(std::string_view name) const {
  for (const auto& [k, v] : dict()) {
    if (k == name) return v;
  }
  throw ValueError(
      fmt::format("no entry '{}' in the dict; it has: {}", name, fmt::join(keys_of(dict_), ", ")));
}

Var Flow::as_tensor(std::string_view who) const {
  if (kind_ == FlowSpec::Kind::kTensor) return tensor_;
  RB_CHECK(kind_ == FlowSpec::Kind::kDict && !dict_.empty(), ValueError,
           "{}: expected a tensor or a dict of tensors, got {}", who, kind_name(kind_));
  if (dict_.size() == 1) return dict_.front().second;
  std::vector<Var> parts;
  parts.reserve(dict_.size());
  for (const auto* e : sorted_entries(dict_)) parts.push_back(e->second);
  return ops::concat(parts, -1);
}

// ---- contexts -----------------------------------------------------------------

ParameterPtr BlockContext::shared_table(const std::string& domain,
                                        const std::function<ParameterPtr()>& make) {
  auto it = tables_.find(domain);
  if (it != tables_.end()) return it->second;
  ParameterPtr table = make();
  tables_.emplace(domain, table);
  return table;
}

ParameterPtr BlockContext::parameter(std::string name, const Shape& shape, const Initializer& init,
                                     bool trainable) {
  Pending pending{nullptr, init, next_stream(), 0.0f};
  if (!defer_) {
    return std::make_shared<Parameter>(std::move(name), init.make(shape, pending.stream),
                                       trainable);
  }
  pending.parameter =
      std::make_shared<Parameter>(std::move(name), Tensor::shape_only(shape), trainable);
  pending_.push_back(pending);
  return pending.parameter;
}

ParameterPtr BlockContext::constant_parameter(std::string name, const Shape& shape, float value,
                                              bool trainable) {
  if (!defer_) {
    return std::make_shared<Parameter>(std::move(name), Tensor::full(shape, value), trainable);
  }
  pending_.push_back(
      {std::make_shared<Parameter>(std::move(name), Tensor::shape_only(shape), trainable),
       std::nullopt, 0, value});
  return pending_.back().parameter;
}

std::vector<ParameterPtr> BlockContext::deferred_parameters() const {
  std::vector<ParameterPtr> out;
  out.reserve(pending_.size());
  for (const Pending& p : pending_) out.push_back(p.parameter);
  return out;
}

void BlockContext::fill(const Pending& pending) const {
  const Shape& shape = pending.parameter->value().shape();
  pending.parameter->allocate(pending.init ? pending.init->make(shape, pending.stream)
                                           : Tensor::full(shape, pending.value));
}

void BlockContext::allocate_parameters() {
  for (const Pending& p : pending_) fill(p);
  pending_.clear();
}

Var RunContext::param(const ParameterPtr& p) {
  auto it = params_.find(p.get());
  if (it != params_.end()) return it->second;
  Var v = tape_.parameter(*p);
  params_.emplace(p.get(), v);
  return v;
}

// ---- Output -------------------------------------------------------------------

const Tensor& Output::tensor() const {
  RB_CHECK(is_tensor(), ValueError, "the output is a dict with keys {}, not a tensor",
           fmt::join(keys(), ", "));
  return std::get<Tensor>(value_);
}

const std::vector<std::pair<std::string, Tensor>>& Output::dict() const {
  RB_CHECK(!is_tensor(), ValueError, "the output is a tensor of shape {}, not a dict",
           std::get<Tensor>(value_).shape());
  return std::get<1>(value_);
}

const Tensor& Output::operator[](std::string_view key) const {
  for (const auto& [k, t] : dict()) {
    if (k == key) return t;
  }
  throw ValueError(
      fmt::format("no key '{}' in the output; it has: {}", key, fmt::join(keys(), ", ")));
}

std::vector<std::string> Output::keys() const {
  if (is_tensor()) return {};
  return keys_of(std::get<1>(value_));
}

std::string Output::str(int edge_items) const {
  if (is_tensor()) return tensor().str(edge_items);
  std::string out = "{\n";
  for (const auto& [k, t] : dict()) out += fmt::format("'{}': {},\n", k, t.str(edge_items));
  return out + "}";
}

std::ostream& operator<<(std::ostream& os, const Output& output) { return os << output.str(); }

// ---- Block --------------------------------------------------------------------

BlockBase& Block::impl() const {
  RB_CHECK(impl_ != nullptr, ValueError, "use of an empty Block (default-constructed)");
  return *impl_;
}

FlowSpec Block::build(const FlowSpec& input, BlockContext& context) const {
  BlockBase& b = impl();
  if (b.built_) {
    // Raw inputs may carry more columns than the block was built with;
    // the block reads only its own.
    const bool same = b.input_spec_ == input || (input.kind() == FlowSpec::Kind::kInputs &&
                                                 b.input_spec_.kind() == FlowSpec::Kind::kInputs);
    RB_CHECK(same, ShapeError, "{} was built for input {} and cannot be reused for input {}",
             b.type(), b.input_spec_.str(), input.str());
    return b.output_spec_;
  }
  FlowSpec output = b.build(input, context);
  b.input_spec_ = input;
  b.output_spec_ = output;
  b.built_ = true;
  return output;
}

FlowSpec Block::build(const Schema& schema, std::optional<std::uint64_t> seed) const {
  static std::atomic<std::uint64_t> next_seed{0};
  BlockContext context(seed ? *seed : next_seed.fetch_add(1));
  return build(FlowSpec::inputs(schema.remove_by_tag(Tags::TARGET)), context);
}

const FlowSpec& Block::output_spec() const {
  RB_CHECK(built(), ValueError, "{} is not built yet: call it on a batch or build it from a schema",
           type());
  return impl_->output_spec_;
}

std::vector<std::pair<std::string, Block>> BlockBase::children() const { return {}; }

Flow BlockBase::forward_scaled(const Flow& input, RunContext& run, float scale) const {
  if (input.kind() == FlowSpec::Kind::kDict) {
    Flow::Dict entries = input.dict();
    for (auto& [key, value] : entries) value = ops::scale(value, scale);
    return forward(Flow::dict(std::move(entries)), run);
  }
  return forward(Flow::tensor(ops::scale(input.as_tensor(type()), scale)), run);
}

bool BlockBase::children_row_independent() const {
  for (const auto& [key, child] : children()) {
    if (!child.impl().row_independent()) return false;
  }
  return true;
}

Flow Block::forward(const Flow& input, RunContext& run) const {
  RB_CHECK(built(), ValueError, "{} is not built yet: call it on a batch or build it from a schema",
           type());
  return impl_->forward(input, run);
}

Output Block::operator()(const Batch& batch) const { return call(batch, /*training=*/false); }

Output Block::call(const Batch& batch, bool training) const {
  if (!built()) build(batch.schema());
  NoGradGuard no_grad;
  Tape tape;
  RunContext run(tape, batch, training);
  const Flow out = forward(Flow::inputs(batch), run);
  // Values may live in the tape's arena: copy them out before it goes.
  switch (out.kind()) {
    case FlowSpec::Kind::kTensor: return Output(out.tensor().value().clone());
    case FlowSpec::Kind::kDict: {
      std::vector<std::pair<std::string, Tensor>> dict;
      for (const auto& [k, v] : out.dict()) dict.emplace_back(k, v.value().clone());
      return Output(std::move(dict));
    }
    case FlowSpec::Kind::kInputs: {
      std::vector<std::pair<std::string, Tensor>> dict;
      const Batch& b = out.batch();
      for (const std::string& name : b.names()) {
        if (!b.is_list(name)) dict.emplace_back(name, b.tensor(name).clone());
      }
      return Output(std::move(dict));
    }
  }
  return {};
}

namespace {

void collect_parameters(const Block& block, const std::string& path,
                        std::vector<std::pair<std::string, ParameterPtr>>& out,
                        std::set<const Parameter*>& seen) {
  const std::string prefix = path.empty() ? "" : path + "/";
  for (const auto& [name, p] : block.impl().own_parameters()) {
    if (seen.insert(p.get()).second) out.emplace_back(prefix + name, p);
  }
  for (const auto& [key, child] : block.impl().children()) {
    collect_parameters(child, prefix + key, out, seen);
  }
}

void collect_regularizers(const Block& block, std::vector<std::pair<ParameterPtr, float>>& out,
                          std::set<const Parameter*>& seen) {
  for (const auto& r : block.impl().regularizers()) {
    if (seen.insert(r.first.get()).second) out.push_back(r);
  }
  for (const auto& [key, child] : block.impl().children()) collect_regularizers(child, out, seen);
}

}  // namespace

std::vector<std::pair<std::string, ParameterPtr>> Block::parameters() const {
  std::vector<std::pair<std::string, ParameterPtr>> out;
  std::set<const Parameter*> seen;
  collect_parameters(*this, "", out, seen);
  return out;
}

std::vector<std::pair<ParameterPtr, float>> Block::regularizers() const {
  std::vector<std::pair<ParameterPtr, float>> out;
  std::set<const Parameter*> seen;
  collect_regularizers(*this, out, seen);
  return out;
}

std::map<std::string, Tensor> Block::state() const {
  std::map<std::string, Tensor> out;
  for (const auto& [name, p] : parameters()) out.emplace(name, p->value());
  return out;
}

void Block::load_state(const std::map<std::string, Tensor>& state) const {
  RB_CHECK(
      built(), ValueError,
      "load_state: {} is not built yet; build it (from a schema or a batch) before loading weights",
      type());
  const auto params = parameters();
  for (const auto& [name, p] : params) {
    auto it = state.find(name);
    RB_CHECK(it != state.end(), ValueError, "load_state: no tensor for parameter '{}' (shape {})",
             name, p->value().shape());
    const Tensor& t = it->second;
    RB_CHECK(t.shape() == p->value().shape() && t.dtype() == p->value().dtype(), ShapeError,
             "load_state: '{}' is {} {}, the parameter expects {} {}", name, t.shape(),
             dtype_name(t.dtype()), p->value().shape(), dtype_name(p->value().dtype()));
  }
  for (const auto& entry : state) {
    // A plain reference: clang 14 cannot capture a structured binding.
    const std::string& name = entry.first;
    const bool known =
        std::any_of(params.begin(), params.end(), [&](const auto& e) { return e.first == name; });
    RB_CHECK(known, ValueError, "load_state: '{}' matches no parameter of this block", name);
  }
  for (const auto& [name, p] : params) p->value().copy_from(state.at(name));
}

namespace {

nlohmann::json block_to_json(const Block& block, std::map<const BlockBase*, int>& ids) {
  auto [it, first] = ids.emplace(&block.impl(), static_cast<int>(ids.size()));
  if (!first) return {{"ref", it->second}};
  nlohmann::json j = {{"type", std::string(block.type())}, {"config", block.impl().config()}};
  const auto kids = block.impl().children();
  if (!kids.empty()) {
    nlohmann::json children = nlohmann::json::array();
    for (const auto& [key, child] : kids)
      children.push_back({{"key", key}, {"block", block_to_json(child, ids)}});
    j["children"] = children;
  }
  return j;
}

// Marks with an "id" the blocks that are referred to later.
void mark_shared(nlohmann::json& j, const std::set<int>& referenced, int& counter) {
  if (j.contains("ref")) return;
  const int id = counter++;
  if (referenced.count(id)) j["id"] = id;
  if (j.contains("children")) {
    for (auto& c : j["children"]) mark_shared(c["block"], referenced, counter);
  }
}

void collect_refs(const nlohmann::json& j, std::set<int>& refs) {
  if (j.contains("ref")) refs.insert(j["ref"].get<int>());
  if (j.contains("children")) {
    for (const auto& c : j["children"]) collect_refs(c["block"], refs);
  }
}

}  // namespace

nlohmann::json Block::to_json() const {
  std::map<const BlockBase*, int> ids;
  nlohmann::json j = block_to_json(*this, ids);
  std::set<int> refs;
  collect_refs(j, refs);
  int counter = 0;
  mark_shared(j, refs, counter);
  return j;
}

std::string Block::summary() const {
  std::string out;
  const std::function<void(const Block&, const std::string&, int)> visit =
      [&](const Block& b, const std::string& key, int depth) {
        out += fmt::format("{:{}}{}{}", "", 2 * depth, key.empty() ? "" : key + ": ", b.type());
        if (b.built()) out += fmt::format(" -> {}", b.output_spec().str());
        out += '\n';
        for (const auto& [k, child] : b.impl().children()) visit(child, k, depth + 1);
      };
  visit(*this, "", 0);
  return out;
}

}  // namespace recblocks
