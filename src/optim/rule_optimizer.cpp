#include "optim/rule_optimizer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "recblocks/core/error.h"

namespace recblocks {
namespace {

kernels::Backend& backend() { return kernels::backend(Device::kCpu); }

std::string index_str(const Shape& shape, std::int64_t flat) {
  std::vector<std::int64_t> index(static_cast<std::size_t>(shape.rank()));
  for (int a = shape.rank() - 1; a >= 0; --a) {
    index[static_cast<std::size_t>(a)] = flat % shape[a];
    flat /= shape[a];
  }
  return fmt::format("[{}]", fmt::join(index, ", "));
}

}  // namespace

nlohmann::json RuleOptimizer::to_json() const {
  nlohmann::json j = options_json();
  j["type"] = std::string(type());
  return j;
}

RuleOptimizer::State RuleOptimizer::state_of(const Entry& e) {
  State state;
  for (const Slot& slot : e.slots) state.tensors.at(state.size++) = slot.value;
  return state;
}

void RuleOptimizer::init(const std::vector<std::pair<std::string, ParameterPtr>>& parameters) {
  remove_sinks();
  entries_.clear();
  iterations_ = 0;
  initialised_ = false;
  std::set<std::string> names;
  std::set<const Parameter*> seen;
  std::vector<Entry> entries;
  for (const auto& [name, p] : parameters) {
    RB_CHECK(p != nullptr, ValueError, "Optimizer.init: parameter '{}' is null", name);
    RB_CHECK(names.insert(name).second, ValueError, "Optimizer.init: two parameters are named '{}'",
             name);
    RB_CHECK(seen.insert(p.get()).second, ValueError,
             "Optimizer.init: parameter '{}' ('{}') is listed twice", name, p->name());
    if (!p->trainable()) continue;
    Entry e;
    e.name = name;
    e.param = p;
    e.slots = make_slots(*p);
    const Tensor& w = p->value();
    e.rows = w.rank() >= 1 ? w.size(0) : 1;
    e.dim = e.rows > 0 ? w.numel() / e.rows : 0;
    entries.push_back(std::move(e));
  }
  entries_ = std::move(entries);
  initialised_ = true;
}

void RuleOptimizer::check_dense(const Entry& e) const {
  const Tensor& g = e.param->dense_grad();
  RB_CHECK(g.shape() == e.param->value().shape(), ShapeError,
           "Optimizer: gradient of '{}' has shape {}, expected {}", e.name, g.shape(),
           e.param->value().shape());
  const std::int64_t bad = backend().find_non_finite(g);
  const float* x = g.data<float>();
  RB_CHECK(bad < 0, NonFiniteError,
           "Optimizer: gradient of '{}' is not finite: {} at {}; no parameter was updated", e.name,
           x[bad], index_str(g.shape(), bad));
}

void RuleOptimizer::check_segment(const Entry& e, const kernels::SparseRows& g, std::size_t segment,
                                  bool fused) const {
  const std::int64_t n = g.rows.numel();
  RB_CHECK(g.rows.rank() == 1 && g.values.rank() == 2 && g.values.size(0) == n &&
               g.values.size(1) == e.dim,
           ShapeError,
           "Optimizer: sparse gradient of '{}' (segment {}) has rows {} and values {}, expected "
           "[n] and [n, {}]",
           e.name, segment, g.rows.shape(), g.values.shape(), e.dim);
  const std::int64_t* rows = g.rows.data<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    RB_CHECK(rows[i] >= 0 && rows[i] < e.rows && (i == 0 || rows[i] > rows[i - 1]), ValueError,
             "Optimizer: sparse gradient of '{}' (segment {}): row {} at position {} is out of "
             "[0, {}) or not increasing",
             e.name, segment, rows[i], i, e.rows);
  }
  const std::int64_t bad = backend().find_non_finite(g.values);
  const float* x = g.values.data<float>();
  RB_CHECK(bad < 0, NonFiniteError,
           "Optimizer: sparse gradient of '{}' is not finite: {} at row {}, column {} (segment "
           "{}); {}",
           e.name, x[bad], rows[bad / e.dim], bad % e.dim, segment,
           fused ? "the table was not updated" : "no parameter was updated");
}

void RuleOptimizer::check_step() {
  RB_CHECK(initialised_, Error, "Optimizer.step: call init(parameters) first");
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    const Parameter& p = *e.param;
    if (fuse_ && e.fused_segments > 0 && p.has_dense_grad()) {
      // Fusing stops for this table; a step() after the error applies the
      // dense gradient alone.
      e.fused_segments = 0;
      e.last_single_sparse = false;
      set_sink(i, false);
      throw Error(fmt::format(
          "Optimizer.step: '{}' got a dense gradient in a step where its sparse gradient was "
          "applied fused; fused updates need one lookup and no other use of a table per step "
          "(fuse_sparse_updates(false) for this model)",
          e.name));
    }
    if (p.has_dense_grad()) check_dense(e);
    const auto segments = p.sparse_grads();
    for (std::size_t k = 0; k < segments.size(); ++k) check_segment(e, segments[k], k);
  }
}

void RuleOptimizer::apply_step() {
  const kernels::UpdateScalars s = scalars(iterations_);
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    Parameter& p = *e.param;
    const bool dense = p.has_dense_grad();
    const std::size_t segments =
        p.sparse_grads().size() + static_cast<std::size_t>(e.fused_segments);
    if (dense || !p.sparse_grads().empty()) apply(e, s);
    p.zero_grad();
    e.fused_segments = 0;
    e.last_single_sparse = segments == 1 && !dense;
    set_sink(i, fuse_ && lazy() && e.last_single_sparse);
  }
  ++iterations_;
}

void RuleOptimizer::apply(Entry& e, const kernels::UpdateScalars& s) {
  const Parameter& p = *e.param;
  if (p.value().numel() == 0) return;
  const auto segments = p.sparse_grads();
  if (segments.empty()) {
    update_dense(e, p.dense_grad(), s, false);
    return;
  }
  kernels::SparseRows g = segments[0];
  if (segments.size() > 1) {
    // A nonlinear update needs each row's total gradient: merge the
    // segments, summing them in segment order.
    if (arena_ == nullptr) arena_ = std::make_unique<Arena>();
    arena_->reset();
    g = backend().merge_sparse_rows(segments, *arena_);
  }
  if (p.has_dense_grad()) {
    // Rare (a table also used densely, e.g. tied output weights): the
    // whole gradient, built once (not kept: it is as large as the table).
    const Tensor whole = Tensor::empty({e.rows, e.dim});
    backend().copy_matrix({p.dense_grad().data<float>(), e.rows, e.dim, e.dim},
                          {whole.data<float>(), e.rows, e.dim, e.dim}, false);
    backend().scatter_add_rows(g, whole);
    update_dense(e, whole, s, true);
    return;
  }
  const State state = state_of(e);
  if (lazy()) {
    backend().optimizer_update_rows(rule(e), s, p.value(), g, state.span());
  } else {
    backend().optimizer_update_all_rows(rule(e), s, p.value(), g, state.span());
  }
}

void RuleOptimizer::update_dense(Entry& e, const Tensor& g, const kernels::UpdateScalars& s,
                                 bool with_sparse) {
  before_dense_update(e, with_sparse);
  const State state = state_of(e);
  backend().optimizer_update(rule(e), s, e.param->value(), g, state.span());
}

// Runs inside the backward pass. iterations_ is still the number of steps
// before this one, so the learning rate and Adam's t are the ones step()
// would use, and the backend runs the very update step() runs on one segment:
// the result is bit-identical to the unfused update.
void RuleOptimizer::fused_update(std::size_t index, const kernels::SparseRows& g) {
  Entry& e = entries_[index];
  if (e.fused_segments > 0) {
    ++e.fused_segments;  // step() then turns this table's fusing off
    throw Error(fmt::format(
        "Optimizer: '{}' received a second sparse gradient in one step while its updates are "
        "fused (the first was already applied); fused updates need one lookup per table per "
        "step (fuse_sparse_updates(false) for this model)",
        e.name));
  }
  RB_CHECK(!e.param->has_dense_grad(), Error,
           "Optimizer: '{}' received a sparse gradient after a dense one in a step while its "
           "updates are fused; fused updates need one lookup and no other use of a table per "
           "step (fuse_sparse_updates(false) for this model)",
           e.name);
  check_segment(e, g, 0, /*fused=*/true);
  const State state = state_of(e);
  backend().optimizer_update_rows(rule(e), scalars(iterations_), e.param->value(), g, state.span());
  ++e.fused_segments;
}

void RuleOptimizer::set_sink(std::size_t index, bool on) {
  Entry& e = entries_[index];
  if (e.sink == on) return;
  if (on) {
    e.param->set_sparse_sink(
        [this, index](const kernels::SparseRows& g) { fused_update(index, g); });
  } else {
    e.param->set_sparse_sink(nullptr);
  }
  e.sink = on;
}

void RuleOptimizer::remove_sinks() {
  for (std::size_t i = 0; i < entries_.size(); ++i) set_sink(i, false);
}

void RuleOptimizer::fuse_sparse_updates(bool enable) {
  fuse_ = enable;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    set_sink(i, enable && lazy() && entries_[i].last_single_sparse);
  }
}

std::map<std::string, Tensor> RuleOptimizer::state() const {
  std::map<std::string, Tensor> out;
  for (const Entry& e : entries_) {
    for (const Slot& slot : e.slots) out.emplace(e.name + "/" + slot.name, slot.value.clone());
  }
  out.emplace("iterations", Tensor::from<std::int64_t>(Shape{}, {&iterations_, 1}));
  return out;
}

void RuleOptimizer::load_state(const std::map<std::string, Tensor>& state) {
  RB_CHECK(initialised_, Error, "Optimizer.load_state: call init(parameters) first");
  // Everything is checked before anything changes.
  const auto it = state.find("iterations");
  RB_CHECK(it != state.end(), ValueError, "Optimizer.load_state: 'iterations' is missing");
  const Tensor& iterations = it->second;
  RB_CHECK(iterations.dtype() == DType::kInt64 && iterations.numel() == 1, ValueError,
           "Optimizer.load_state: 'iterations' must be one int64, got {} of shape {}",
           dtype_name(iterations.dtype()), iterations.shape());
  const std::int64_t loaded_iterations = iterations.data<std::int64_t>()[0];
  RB_CHECK(loaded_iterations >= 0, ValueError, "Optimizer.load_state: 'iterations' is {}",
           loaded_iterations);
  std::size_t expected = 1;
  for (const Entry& e : entries_) {
    for (const Slot& slot : e.slots) {
      const std::string key = e.name + "/" + slot.name;
      const auto found = state.find(key);
      RB_CHECK(found != state.end(), ValueError, "Optimizer.load_state: slot '{}' is missing", key);
      const Tensor& t = found->second;
      RB_CHECK(t.dtype() == DType::kFloat32 && slot_shape_ok(e, slot, t.shape()), ValueError,
               "Optimizer.load_state: slot '{}' is {} {}, expected float32 {}", key,
               dtype_name(t.dtype()), t.shape(), slot.value.shape());
      ++expected;
    }
  }
  if (state.size() != expected) {
    std::set<std::string> known = {"iterations"};
    for (const Entry& e : entries_) {
      for (const Slot& slot : e.slots) known.insert(e.name + "/" + slot.name);
    }
    std::vector<std::string> unknown;
    for (const auto& [key, value] : state) {
      if (!known.contains(key)) unknown.push_back(key);
    }
    throw ValueError(fmt::format(
        "Optimizer.load_state: unknown key(s) '{}': not a slot of this {} optimizer's parameters",
        fmt::join(unknown, "', '"), type()));
  }
  for (Entry& e : entries_) {
    for (Slot& slot : e.slots) slot.value = state.at(e.name + "/" + slot.name).clone();
  }
  iterations_ = loaded_iterations;
}

}  // namespace recblocks
