#include "recblocks/optim/optim.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <span>

#include "kernels/cpu/simd.h"
#include "recblocks/core/error.h"
#include "recblocks/core/threads.h"

namespace recblocks {
namespace {

using nlohmann::json;

// Runs body(begin, end) over [0, n) items of `cost` floats each, in static
// OpenMP chunks above kParallelGrain. Every update here is element- or
// row-wise with distinct outputs, so the result does not depend on the
// split.
template <class Body>
void parallel_ranges(std::int64_t n, std::int64_t cost, Body&& body) {
  if (n <= 0) return;
  cost = std::max<std::int64_t>(cost, 1);
  const int threads = num_threads();
  if (threads <= 1 || n * cost < kParallelGrain) {
    body(std::int64_t{0}, n);
    return;
  }
  const std::int64_t chunk = std::max<std::int64_t>(1, (std::int64_t{1} << 12) / cost);
  const std::int64_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t c = 0; c < chunks; ++c) body(c * chunk, std::min(n, (c + 1) * chunk));
}

// body(i, rows[i]) for i in [0, n), in parallel when the rows are many.
template <class Body>
void for_rows(const std::int64_t* rows, std::int64_t n, std::int64_t dim, Body&& body) {
  parallel_ranges(n, dim, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) body(i, rows[i]);
  });
}

// True when x[0, n) is all finite: x - x is 0 for a finite x and NaN
// otherwise, summed in four vector accumulators.
bool all_finite(const float* x, std::int64_t n) {
  using kernels::cpu::f8;
  using kernels::cpu::load8;
  f8 a0{}, a1{}, a2{}, a3{};
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const f8 v0 = load8(x + i), v1 = load8(x + i + 8), v2 = load8(x + i + 16),
             v3 = load8(x + i + 24);
    a0 += v0 - v0;
    a1 += v1 - v1;
    a2 += v2 - v2;
    a3 += v3 - v3;
  }
  const f8 a = (a0 + a1) + (a2 + a3);
  bool finite = true;
  for (int l = 0; l < 8; ++l) finite = finite && a[l] == 0.0f;
  for (; i < n; ++i) finite = finite && std::isfinite(x[i]);
  return finite;
}

// Index of the first non-finite value of x[0, n), or n: a vector pass over
// both threads' halves, then a scalar search only when it fails.
std::int64_t first_non_finite(const float* x, std::int64_t n) {
  bool finite = true;
  parallel_ranges(n, 1, [&](std::int64_t begin, std::int64_t end) {
    if (!all_finite(x + begin, end - begin)) {
#pragma omp atomic write
      finite = false;
    }
  });
  if (finite) return n;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return i;
  }
  return n;
}

std::string index_str(const Shape& shape, std::int64_t flat) {
  std::vector<std::int64_t> index(static_cast<std::size_t>(shape.rank()));
  for (int a = shape.rank() - 1; a >= 0; --a) {
    index[static_cast<std::size_t>(a)] = flat % shape[a];
    flat /= shape[a];
  }
  return fmt::format("[{}]", fmt::join(index, ", "));
}

// The per-element updates. Dense and sparse updates both run these (on the
// whole tensor, or on one touched row at a time), so a touched row moves
// exactly as it would under the dense update. g already holds the gradient
// without weight decay; `l2` is the coupled weight decay.

void sgd_update(float* w, const float* g, std::int64_t n, float lr, float l2) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + l2 * w[i];
    w[i] -= lr * gi;
  }
}

// Keras' convention: the velocity holds the step, lr included.
void momentum_update(float* w, const float* g, float* velocity, std::int64_t n, float lr, float l2,
                     float momentum, bool nesterov) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + l2 * w[i];
    velocity[i] = momentum * velocity[i] - lr * gi;
    w[i] += nesterov ? momentum * velocity[i] - lr * gi : velocity[i];
  }
}

struct AdamScalars {
  float beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, epsilon;
  float l2;     // coupled weight decay
  float decay;  // decoupled: lr * weight_decay
  float step;   // lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
};

void adam_update(float* w, const float* g, float* m, float* v, std::int64_t n,
                 const AdamScalars& k) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + k.l2 * w[i];
    m[i] = k.beta_1 * m[i] + k.one_minus_beta_1 * gi;
    v[i] = k.beta_2 * v[i] + k.one_minus_beta_2 * gi * gi;
    w[i] -= w[i] * k.decay;
    w[i] -= k.step * m[i] / (std::sqrt(v[i]) + k.epsilon);
  }
}

void adagrad_update(float* w, const float* g, float* acc, std::int64_t n, float lr, float l2,
                    float epsilon) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + l2 * w[i];
    acc[i] += gi * gi;
    w[i] -= lr * gi / (std::sqrt(acc[i]) + epsilon);
  }
}

// One row, one accumulator: acc += mean(g^2) over the row.
void rowwise_adagrad_update(float* w, const float* g, float* acc, std::int64_t dim, float lr,
                            float l2, float epsilon) {
  double sum = 0;
  for (std::int64_t d = 0; d < dim; ++d) {
    const float gd = g[d] + l2 * w[d];
    sum += static_cast<double>(gd) * gd;
  }
  *acc += static_cast<float>(sum / static_cast<double>(std::max<std::int64_t>(dim, 1)));
  const float denom = std::sqrt(*acc) + epsilon;
  for (std::int64_t d = 0; d < dim; ++d) {
    const float gd = g[d] + l2 * w[d];
    w[d] -= lr * gd / denom;
  }
}

// FTRL-Proximal (McMahan et al. 2013) with learning_rate_power -0.5, as
// TensorFlow's ApplyFtrlV2 computes it (Keras' beta folded into the l2 term):
//   n' = n + g^2;  z += g - (sqrt(n') - sqrt(n)) / lr * w;  n = n'
//   w = |z| > l1 ? (sign(z) l1 - z) / ((beta + sqrt(n)) / lr + 2 l2) : 0
struct FtrlScalars {
  float lr, l1, l2, beta;
};

void ftrl_update(float* w, const float* g, float* n, float* z, std::int64_t count,
                 const FtrlScalars& k) {
  for (std::int64_t i = 0; i < count; ++i) {
    const float root = std::sqrt(n[i]);
    const float next = n[i] + g[i] * g[i];
    const float next_root = std::sqrt(next);
    z[i] += g[i] - (next_root - root) / k.lr * w[i];
    n[i] = next;
    const float quadratic = (k.beta + next_root) / k.lr + 2 * k.l2;
    w[i] = std::abs(z[i]) > k.l1 ? (std::copysign(k.l1, z[i]) - z[i]) / quadratic : 0.0f;
  }
}

void check_weight_decay(std::string_view type, float weight_decay) {
  RB_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, ValueError,
           "{}: weight_decay {} must be finite and >= 0", type, weight_decay);
}

}  // namespace

// What the Optimizer handle calls: one update rule (RuleOptimizer) or a
// rule per group of parameters (MultiImpl).
class OptimizerBase {
 public:
  OptimizerBase() = default;
  virtual ~OptimizerBase() = default;
  OptimizerBase(const OptimizerBase&) = delete;
  OptimizerBase& operator=(const OptimizerBase&) = delete;

  virtual std::string_view type() const = 0;
  virtual json to_json() const = 0;
  virtual void init(const std::vector<std::pair<std::string, ParameterPtr>>& parameters) = 0;
  // step() is check_step() then apply_step(): a MultiOptimizer checks every
  // group's gradients before any group changes a weight.
  void step() {
    check_step();
    apply_step();
  }
  virtual void check_step() = 0;
  virtual void apply_step() = 0;
  virtual std::int64_t iterations() const = 0;
  virtual float current_learning_rate() const = 0;
  virtual void fuse_sparse_updates(bool enable) = 0;
  virtual std::map<std::string, Tensor> state() const = 0;
  // Checks everything before changing anything.
  virtual void load_state(const std::map<std::string, Tensor>& state) = 0;
};

// The state and the step shared by every update rule; subclasses give the
// slots and the element updates.
class RuleOptimizer : public OptimizerBase {
 public:
  explicit RuleOptimizer(LearningRate learning_rate) : learning_rate_(learning_rate) {
    (void)learning_rate_.at(0);  // validates the schedule now
  }
  ~RuleOptimizer() override { remove_sinks(); }

  json to_json() const override {
    json j = options_json();
    j["type"] = std::string(type());
    j["learning_rate"] = learning_rate_.to_json();
    return j;
  }

  void init(const std::vector<std::pair<std::string, ParameterPtr>>& parameters) override;
  void check_step() override;
  void apply_step() override;
  std::int64_t iterations() const override { return iterations_; }
  float current_learning_rate() const override { return learning_rate_.at(iterations_); }
  void fuse_sparse_updates(bool enable) override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

 protected:
  struct Slot {
    std::string name;
    Tensor value;
  };
  struct Entry {
    std::string name;
    ParameterPtr param;
    std::vector<Slot> slots;
    // The value seen as [rows, dim], the layout of sparse gradients.
    std::int64_t rows = 1;
    std::int64_t dim = 1;
    int fused_segments = 0;           // applied by the sink during this step
    bool last_single_sparse = false;  // last step: one sparse segment, no dense
    bool sink = false;
  };
  struct StepScalars {
    float lr = 0;
    float adam_step = 0;  // Adam's bias-corrected step size
  };

  virtual json options_json() const = 0;
  virtual std::vector<Slot> make_slots(const Parameter& p) const = 0;
  virtual bool slot_shape_ok(const Entry& /*entry*/, const Slot& slot, const Shape& shape) const {
    return shape == slot.value.shape();
  }
  virtual StepScalars scalars(std::int64_t iteration) const {
    return {learning_rate_.at(iteration), 0.0f};
  }
  // Lazy: sparse gradients update only their rows, so the update can also
  // run fused in the backward. The others apply the dense update to every
  // row, with a zero gradient on the untouched ones.
  virtual bool lazy() const = 0;
  // The update of the value's elements [begin, end), g their gradient. When
  // whole_rows(e), begin and end are multiples of e.dim (row-wise state).
  virtual void update_range(Entry& e, const float* g, std::int64_t begin, std::int64_t end,
                            const StepScalars& s) = 0;
  virtual bool whole_rows(const Entry& /*e*/) const { return false; }
  // Before a dense update (g covers every element); with_sparse: part of g
  // came from sparse rows.
  virtual void before_dense_update(Entry& /*e*/, bool /*with_sparse*/) {}

  LearningRate learning_rate_;

 private:
  // g: the whole gradient.
  void update_dense(Entry& e, const float* g, const StepScalars& s, bool with_sparse);
  // Touched rows only: rows [n] increasing, values [n, dim].
  void update_rows(Entry& e, const std::int64_t* rows, const float* values, std::int64_t n,
                   const StepScalars& s);
  // Every row, the rows absent from rows [n] with a zero gradient, without
  // building the table's dense gradient.
  void update_all_rows(Entry& e, const std::int64_t* rows, const float* values, std::int64_t n,
                       const StepScalars& s);
  void check_dense(const Entry& e) const;
  // fused: called by the sink (earlier tables of this backward may have
  // been updated already).
  void check_segment(const Entry& e, const kernels::SparseRows& g, std::size_t segment,
                     bool fused = false) const;
  void apply(Entry& e, const StepScalars& s);
  void fused_update(std::size_t index, const kernels::SparseRows& g);
  void set_sink(std::size_t index, bool on);
  void remove_sinks();

  std::vector<Entry> entries_;
  std::int64_t iterations_ = 0;
  bool initialised_ = false;
  bool fuse_ = false;
  // Reused buffers: merged sparse segments, zero rows for update_all_rows,
  // and the dense + sparse gradient of a table (freed after use).
  std::vector<std::int64_t> merged_rows_;
  std::vector<float> merged_values_;
  std::vector<float> zeros_;
  std::vector<float> scratch_;
};

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
  const float* x = g.data<float>();
  const std::int64_t bad = first_non_finite(x, g.numel());
  RB_CHECK(bad == g.numel(), ValueError,
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
  const float* x = g.values.data<float>();
  const std::int64_t bad = first_non_finite(x, g.values.numel());
  RB_CHECK(bad == g.values.numel(), ValueError,
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
  const StepScalars s = scalars(iterations_);
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

void RuleOptimizer::apply(Entry& e, const StepScalars& s) {
  const Parameter& p = *e.param;
  if (p.value().numel() == 0) return;
  const auto segments = p.sparse_grads();
  if (segments.empty()) {
    update_dense(e, p.dense_grad().data<float>(), s, false);
    return;
  }
  const std::int64_t* rows = segments[0].rows.data<std::int64_t>();
  const float* values = segments[0].values.data<float>();
  std::int64_t n = segments[0].rows.numel();
  if (segments.size() > 1) {
    // A nonlinear update needs each row's total gradient: merge the
    // segments, summing them in segment order.
    merged_rows_.clear();
    for (const kernels::SparseRows& g : segments) {
      const std::int64_t* r = g.rows.data<std::int64_t>();
      merged_rows_.insert(merged_rows_.end(), r, r + g.rows.numel());
    }
    std::sort(merged_rows_.begin(), merged_rows_.end());
    merged_rows_.erase(std::unique(merged_rows_.begin(), merged_rows_.end()), merged_rows_.end());
    merged_values_.assign(merged_rows_.size() * static_cast<std::size_t>(e.dim), 0.0f);
    for (const kernels::SparseRows& g : segments) {
      const std::int64_t* r = g.rows.data<std::int64_t>();
      const float* v = g.values.data<float>();
      std::size_t j = 0;
      for (std::int64_t i = 0; i < g.rows.numel(); ++i) {
        while (merged_rows_[j] < r[i]) ++j;
        float* out = merged_values_.data() + j * static_cast<std::size_t>(e.dim);
        for (std::int64_t d = 0; d < e.dim; ++d) out[d] += v[i * e.dim + d];
      }
    }
    rows = merged_rows_.data();
    values = merged_values_.data();
    n = static_cast<std::int64_t>(merged_rows_.size());
  }
  if (p.has_dense_grad()) {
    // Rare (a table also used densely, e.g. tied output weights): the
    // whole gradient, built once.
    const std::int64_t numel = p.value().numel();
    scratch_.resize(static_cast<std::size_t>(numel));
    float* g = scratch_.data();
    std::copy_n(p.dense_grad().data<float>(), numel, g);
    for_rows(rows, n, e.dim, [&](std::int64_t i, std::int64_t row) {
      for (std::int64_t d = 0; d < e.dim; ++d) g[row * e.dim + d] += values[i * e.dim + d];
    });
    update_dense(e, g, s, true);
    scratch_ = {};  // not kept: it is as large as the table
    return;
  }
  if (lazy()) {
    update_rows(e, rows, values, n, s);
  } else {
    update_all_rows(e, rows, values, n, s);
  }
}

void RuleOptimizer::update_dense(Entry& e, const float* g, const StepScalars& s, bool with_sparse) {
  before_dense_update(e, with_sparse);
  if (whole_rows(e)) {
    parallel_ranges(e.rows, e.dim, [&](std::int64_t begin, std::int64_t end) {
      update_range(e, g + begin * e.dim, begin * e.dim, end * e.dim, s);
    });
  } else {
    parallel_ranges(e.param->value().numel(), 1, [&](std::int64_t begin, std::int64_t end) {
      update_range(e, g + begin, begin, end, s);
    });
  }
}

void RuleOptimizer::update_rows(Entry& e, const std::int64_t* rows, const float* values,
                                std::int64_t n, const StepScalars& s) {
  for_rows(rows, n, e.dim, [&](std::int64_t i, std::int64_t row) {
    update_range(e, values + i * e.dim, row * e.dim, (row + 1) * e.dim, s);
  });
}

void RuleOptimizer::update_all_rows(Entry& e, const std::int64_t* rows, const float* values,
                                    std::int64_t n, const StepScalars& s) {
  // Untouched rows read their zero gradient from this buffer, up to
  // kZeroRows rows at a time.
  constexpr std::int64_t kZeroRows = 64;
  zeros_.assign(static_cast<std::size_t>(kZeroRows * e.dim), 0.0f);
  const float* zeros = zeros_.data();
  parallel_ranges(e.rows, e.dim, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t j = std::lower_bound(rows, rows + n, begin) - rows;
    std::int64_t r = begin;
    while (r < end) {
      if (j < n && rows[j] == r) {
        update_range(e, values + j * e.dim, r * e.dim, (r + 1) * e.dim, s);
        ++j;
        ++r;
        continue;
      }
      const std::int64_t next = std::min({j < n ? rows[j] : end, end, r + kZeroRows});
      update_range(e, zeros, r * e.dim, next * e.dim, s);
      r = next;
    }
  });
}

// Runs inside the backward pass. iterations_ is still the number of steps
// before this one, so the learning rate and Adam's t are the ones step()
// would use, and update_rows is the very code step() runs on one segment:
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
  update_rows(e, g.rows.data<std::int64_t>(), g.values.data<float>(), g.rows.numel(),
              scalars(iterations_));
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

namespace {

class SgdImpl final : public RuleOptimizer {
 public:
  explicit SgdImpl(optim::SGDOptions o) : RuleOptimizer(o.learning_rate), o_(o) {
    RB_CHECK(std::isfinite(o_.momentum) && o_.momentum >= 0 && o_.momentum <= 1, ValueError,
             "sgd: momentum {} is outside [0, 1]", o_.momentum);
    RB_CHECK(!o_.nesterov || o_.momentum > 0, ValueError, "sgd: nesterov needs momentum > 0");
    check_weight_decay("sgd", o_.weight_decay);
  }
  std::string_view type() const override { return "sgd"; }

 protected:
  json options_json() const override {
    return {
        {"momentum", o_.momentum}, {"nesterov", o_.nesterov}, {"weight_decay", o_.weight_decay}};
  }
  std::vector<Slot> make_slots(const Parameter& p) const override {
    if (o_.momentum == 0) return {};
    return {{"momentum", Tensor::zeros(p.value().shape())}};
  }
  bool lazy() const override { return o_.momentum == 0; }

  void update_range(Entry& e, const float* g, std::int64_t begin, std::int64_t end,
                    const StepScalars& s) override {
    float* w = e.param->value().data<float>() + begin;
    if (o_.momentum == 0) {
      sgd_update(w, g, end - begin, s.lr, o_.weight_decay);
    } else {
      momentum_update(w, g, e.slots[0].value.data<float>() + begin, end - begin, s.lr,
                      o_.weight_decay, o_.momentum, o_.nesterov);
    }
  }

 private:
  optim::SGDOptions o_;
};

class AdamImpl final : public RuleOptimizer {
 public:
  AdamImpl(optim::AdamOptions o, bool lazy) : RuleOptimizer(o.learning_rate), o_(o), lazy_(lazy) {
    const std::string_view name = type();
    RB_CHECK(o_.beta_1 >= 0 && o_.beta_1 < 1, ValueError, "{}: beta_1 {} is outside [0, 1)", name,
             o_.beta_1);
    RB_CHECK(o_.beta_2 >= 0 && o_.beta_2 < 1, ValueError, "{}: beta_2 {} is outside [0, 1)", name,
             o_.beta_2);
    RB_CHECK(std::isfinite(o_.epsilon) && o_.epsilon >= 0, ValueError,
             "{}: epsilon {} must be finite and >= 0", name, o_.epsilon);
    check_weight_decay(name, o_.weight_decay);
  }
  std::string_view type() const override { return lazy_ ? "lazy_adam" : "adam"; }

 protected:
  json options_json() const override {
    return {{"beta_1", o_.beta_1},
            {"beta_2", o_.beta_2},
            {"epsilon", o_.epsilon},
            {"weight_decay", o_.weight_decay},
            {"decoupled_weight_decay", o_.decoupled_weight_decay}};
  }
  std::vector<Slot> make_slots(const Parameter& p) const override {
    return {{"m", Tensor::zeros(p.value().shape())}, {"v", Tensor::zeros(p.value().shape())}};
  }
  StepScalars scalars(std::int64_t iteration) const override {
    const float lr = learning_rate_.at(iteration);
    const double t = static_cast<double>(iteration + 1);
    const double step = static_cast<double>(lr) *
                        std::sqrt(1 - std::pow(static_cast<double>(o_.beta_2), t)) /
                        (1 - std::pow(static_cast<double>(o_.beta_1), t));
    return {lr, static_cast<float>(step)};
  }
  bool lazy() const override { return lazy_; }

  AdamScalars kernel_scalars(const StepScalars& s) const {
    const bool decoupled = o_.decoupled_weight_decay;
    return {o_.beta_1,
            1 - o_.beta_1,
            o_.beta_2,
            1 - o_.beta_2,
            o_.epsilon,
            decoupled ? 0.0f : o_.weight_decay,
            decoupled ? s.lr * o_.weight_decay : 0.0f,
            s.adam_step};
  }
  void update_range(Entry& e, const float* g, std::int64_t begin, std::int64_t end,
                    const StepScalars& s) override {
    adam_update(e.param->value().data<float>() + begin, g, e.slots[0].value.data<float>() + begin,
                e.slots[1].value.data<float>() + begin, end - begin, kernel_scalars(s));
  }

 private:
  optim::AdamOptions o_;
  bool lazy_;
};

class AdagradImpl final : public RuleOptimizer {
 public:
  AdagradImpl(optim::AdagradOptions o, bool rowwise)
      : RuleOptimizer(o.learning_rate), o_(o), rowwise_(rowwise) {
    const std::string_view name = type();
    RB_CHECK(std::isfinite(o_.initial_accumulator_value) && o_.initial_accumulator_value >= 0,
             ValueError, "{}: initial_accumulator_value {} must be finite and >= 0", name,
             o_.initial_accumulator_value);
    RB_CHECK(std::isfinite(o_.epsilon) && o_.epsilon >= 0, ValueError,
             "{}: epsilon {} must be finite and >= 0", name, o_.epsilon);
    RB_CHECK(o_.initial_accumulator_value > 0 || o_.epsilon > 0, ValueError,
             "{}: initial_accumulator_value and epsilon are both 0 (a zero gradient would "
             "divide 0 by 0)",
             name);
    check_weight_decay(name, o_.weight_decay);
  }
  std::string_view type() const override { return rowwise_ ? "rowwise_adagrad" : "adagrad"; }

 protected:
  json options_json() const override {
    return {{"initial_accumulator_value", o_.initial_accumulator_value},
            {"epsilon", o_.epsilon},
            {"weight_decay", o_.weight_decay}};
  }
  // Row-wise: every 2-D parameter starts with one accumulator per row,
  // since init cannot know which parameters will get sparse gradients.
  std::vector<Slot> make_slots(const Parameter& p) const override {
    const Shape& shape = p.value().shape();
    if (rowwise_ && shape.rank() == 2) {
      return {{"accumulator", Tensor::full({shape[0]}, o_.initial_accumulator_value)}};
    }
    return {{"accumulator", Tensor::full(shape, o_.initial_accumulator_value)}};
  }
  bool slot_shape_ok(const Entry& e, const Slot& slot, const Shape& shape) const override {
    const Shape& value = e.param->value().shape();
    if (rowwise_ && value.rank() == 2) return shape == value || shape == Shape{value[0]};
    return shape == slot.value.shape();
  }
  bool lazy() const override { return true; }

  bool whole_rows(const Entry& e) const override {
    return rowwise_ && e.param->value().rank() == 2 && e.slots[0].value.rank() == 1;
  }
  void before_dense_update(Entry& e, bool with_sparse) override {
    if (!whole_rows(e) || with_sparse) return;
    // A dense parameter (only a dense gradient) whose per-row accumulator
    // never moved gets element-wise Adagrad for good. The test reads only
    // the state, so a resumed run decides the same way.
    const Tensor& acc = e.slots[0].value;
    const float* a = acc.data<float>();
    if (std::all_of(a, a + acc.numel(),
                    [&](float x) { return x == o_.initial_accumulator_value; })) {
      e.slots[0].value = Tensor::full(e.param->value().shape(), o_.initial_accumulator_value);
    }
  }
  void update_range(Entry& e, const float* g, std::int64_t begin, std::int64_t end,
                    const StepScalars& s) override {
    float* w = e.param->value().data<float>();
    float* acc = e.slots[0].value.data<float>();
    if (!whole_rows(e)) {
      adagrad_update(w + begin, g, acc + begin, end - begin, s.lr, o_.weight_decay, o_.epsilon);
      return;
    }
    for (std::int64_t r = begin / e.dim; r < end / e.dim; ++r) {
      rowwise_adagrad_update(w + r * e.dim, g + (r * e.dim - begin), acc + r, e.dim, s.lr,
                             o_.weight_decay, o_.epsilon);
    }
  }

 private:
  optim::AdagradOptions o_;
  bool rowwise_;
};

class FtrlImpl final : public RuleOptimizer {
 public:
  explicit FtrlImpl(optim::FtrlOptions o) : RuleOptimizer(o.learning_rate), o_(o) {
    // FTRL divides by the rate: it must stay > 0 (a cosine decay to 0 would
    // not).
    RB_CHECK(learning_rate_.initial > 0, ValueError, "ftrl: learning_rate {} must be > 0",
             learning_rate_.initial);
    RB_CHECK(learning_rate_.decay != LearningRate::Decay::kCosine || learning_rate_.alpha > 0,
             ValueError, "ftrl: a cosine decay needs alpha > 0 (FTRL divides by the rate)");
    RB_CHECK(std::isfinite(o_.initial_accumulator_value) && o_.initial_accumulator_value >= 0,
             ValueError, "ftrl: initial_accumulator_value {} must be finite and >= 0",
             o_.initial_accumulator_value);
    for (const auto& [name, value] :
         {std::pair{"l1", o_.l1}, std::pair{"l2", o_.l2}, std::pair{"beta", o_.beta}}) {
      RB_CHECK(std::isfinite(value) && value >= 0, ValueError,
               "ftrl: {} {} must be finite and >= 0", name, value);
    }
    RB_CHECK(o_.initial_accumulator_value > 0 || o_.beta > 0 || o_.l2 > 0, ValueError,
             "ftrl: initial_accumulator_value, beta and l2 are all 0 (a zero gradient would "
             "divide by 0)");
  }
  std::string_view type() const override { return "ftrl"; }

 protected:
  json options_json() const override {
    return {{"initial_accumulator_value", o_.initial_accumulator_value},
            {"l1", o_.l1},
            {"l2", o_.l2},
            {"beta", o_.beta}};
  }
  std::vector<Slot> make_slots(const Parameter& p) const override {
    const Shape& shape = p.value().shape();
    return {{"accumulator", Tensor::full(shape, o_.initial_accumulator_value)},
            {"linear", Tensor::zeros(shape)}};
  }
  // TensorFlow's sparse FTRL updates the gathered rows only.
  bool lazy() const override { return true; }
  void update_range(Entry& e, const float* g, std::int64_t begin, std::int64_t end,
                    const StepScalars& s) override {
    ftrl_update(e.param->value().data<float>() + begin, g, e.slots[0].value.data<float>() + begin,
                e.slots[1].value.data<float>() + begin, end - begin, {s.lr, o_.l1, o_.l2, o_.beta});
  }

 private:
  optim::FtrlOptions o_;
};

// Reads an optimizer's options from JSON, remembering the keys it knows so
// the rest can be reported by name.
class OptionReader {
 public:
  OptionReader(const json& j, std::string_view type) : j_(j), type_(type) {}

  void read(const char* key, float& out) {
    known_.push_back(key);
    if (!j_.contains(key)) return;
    RB_CHECK(j_[key].is_number(), ValueError, "{}: '{}' must be a number, got {}", type_, key,
             j_[key].dump());
    out = j_[key].get<float>();
  }
  void read(const char* key, bool& out) {
    known_.push_back(key);
    if (!j_.contains(key)) return;
    RB_CHECK(j_[key].is_boolean(), ValueError, "{}: '{}' must be true or false, got {}", type_, key,
             j_[key].dump());
    out = j_[key].get<bool>();
  }
  void read(const char* key, LearningRate& out) {
    known_.push_back(key);
    if (j_.contains(key)) out = LearningRate::from_json(j_[key]);
  }
  void finish() const {
    for (const auto& [key, value] : j_.items()) {
      RB_CHECK(key == "type" || std::find(known_.begin(), known_.end(), key) != known_.end(),
               ValueError, "{}: unknown option '{}' (known: {})", type_, key,
               fmt::join(known_, ", "));
    }
  }

 private:
  const json& j_;
  std::string_view type_;
  std::vector<std::string> known_;
};

constexpr std::string_view kKnownNames =
    "sgd, adam, lazy_adam (or lazyadam), adagrad, rowwise_adagrad, ftrl";

// The canonical type for a name, or "" if unknown.
std::string canonical_type(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "lazyadam") return "lazy_adam";
  for (const char* type : {"sgd", "adam", "lazy_adam", "adagrad", "rowwise_adagrad", "ftrl"}) {
    if (lower == type) return type;
  }
  return "";
}

// One update rule per group of parameters, chosen by name prefix.
class MultiImpl final : public OptimizerBase {
 public:
  MultiImpl(Optimizer default_optimizer, std::vector<optim::OptimizerGroup> groups)
      : groups_(std::move(groups)) {
    groups_.push_back({"", std::move(default_optimizer)});
    std::set<const OptimizerBase*> seen;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const optim::OptimizerGroup& group = groups_[g];
      const bool is_default = g + 1 == groups_.size();
      RB_CHECK(group.optimizer.defined(), ValueError, "MultiOptimizer: the {} has no optimizer",
               is_default ? std::string("default") : fmt::format("group '{}'", group.prefix));
      RB_CHECK(group.optimizer.type() != "multi", ValueError,
               "MultiOptimizer: a group's optimizer cannot itself be a MultiOptimizer");
      RB_CHECK(is_default || !group.prefix.empty(), ValueError,
               "MultiOptimizer: group {} has an empty prefix (it would take every parameter; "
               "make it the default optimizer instead)",
               g);
      RB_CHECK(seen.insert(&group.optimizer.impl()).second, ValueError,
               "MultiOptimizer: one optimizer object is given to two groups (each group needs "
               "its own: its state is per parameter)");
      for (std::size_t h = 0; h < g; ++h) {
        RB_CHECK(is_default || groups_[h].prefix != group.prefix, ValueError,
                 "MultiOptimizer: two groups have the prefix '{}'", group.prefix);
      }
    }
  }

  std::string_view type() const override { return "multi"; }
  json to_json() const override {
    json groups = json::array();
    for (std::size_t g = 0; g + 1 < groups_.size(); ++g) {
      groups.push_back(
          {{"prefix", groups_[g].prefix}, {"optimizer", groups_[g].optimizer.to_json()}});
    }
    return {{"type", "multi"}, {"default", groups_.back().optimizer.to_json()}, {"groups", groups}};
  }

  // Each parameter goes to the first group whose prefix its name starts
  // with, else to the default optimizer.
  void init(const std::vector<std::pair<std::string, ParameterPtr>>& parameters) override {
    std::vector<std::vector<std::pair<std::string, ParameterPtr>>> parts(groups_.size());
    std::map<std::string, std::size_t> route;
    for (const auto& [name, p] : parameters) {
      std::size_t g = 0;
      while (g + 1 < groups_.size() && !name.starts_with(groups_[g].prefix)) ++g;
      parts[g].emplace_back(name, p);
      route[name] = g;
    }
    for (std::size_t g = 0; g + 1 < groups_.size(); ++g) {
      if (!parts[g].empty()) continue;
      std::vector<std::string> names;
      for (const auto& [name, p] : parameters) {
        if (names.size() == 8) {
          names.push_back("...");
          break;
        }
        names.push_back(name);
      }
      throw ValueError(
          fmt::format("MultiOptimizer.init: no parameter's name starts with the group prefix '{}' "
                      "(parameters: {})",
                      groups_[g].prefix, fmt::join(names, ", ")));
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].optimizer.init(parts[g]);
    route_ = std::move(route);
  }

  void check_step() override {
    for (auto& group : groups_) group.optimizer.impl().check_step();
  }
  void apply_step() override {
    for (auto& group : groups_) group.optimizer.impl().apply_step();
  }
  std::int64_t iterations() const override { return groups_.back().optimizer.iterations(); }
  float current_learning_rate() const override {
    return groups_.back().optimizer.current_learning_rate();
  }
  void fuse_sparse_updates(bool enable) override {
    for (auto& group : groups_) group.optimizer.fuse_sparse_updates(enable);
  }

  // The groups' slots ("<parameter>/<slot>", distinct since each parameter
  // is in one group) and one "iterations" (every group steps together).
  std::map<std::string, Tensor> state() const override {
    std::map<std::string, Tensor> out;
    for (const auto& group : groups_) out.merge(group.optimizer.state());
    return out;
  }

  void load_state(const std::map<std::string, Tensor>& state) override {
    std::vector<std::map<std::string, Tensor>> parts(groups_.size());
    std::vector<std::string> unknown;
    for (const auto& [key, value] : state) {
      if (key == "iterations") {
        for (auto& part : parts) part.emplace(key, value);
        continue;
      }
      const std::size_t slash = key.rfind('/');
      const auto it = slash == std::string::npos ? route_.end() : route_.find(key.substr(0, slash));
      if (it == route_.end()) {
        unknown.push_back(key);
      } else {
        parts[it->second].emplace(key, value);
      }
    }
    RB_CHECK(unknown.empty(), ValueError,
             "MultiOptimizer.load_state: unknown key(s) '{}': not a slot of this optimizer's "
             "parameters",
             fmt::join(unknown, "', '"));
    // A group that fails leaves the earlier ones as they were.
    std::vector<std::map<std::string, Tensor>> before;
    for (const auto& group : groups_) before.push_back(group.optimizer.state());
    std::size_t g = 0;
    try {
      for (; g < groups_.size(); ++g) groups_[g].optimizer.load_state(parts[g]);
    } catch (...) {
      for (std::size_t h = 0; h < g; ++h) groups_[h].optimizer.load_state(before[h]);
      throw;
    }
  }

 private:
  std::vector<optim::OptimizerGroup> groups_;  // the default last, prefix ""
  std::map<std::string, std::size_t> route_;   // parameter name -> group
};

}  // namespace

OptimizerBase& Optimizer::impl() const {
  RB_CHECK(impl_ != nullptr, Error,
           "Optimizer is undefined (default-constructed); create one with optim::Adam(), "
           "optim::SGD(), ...");
  return *impl_;
}

std::string_view Optimizer::type() const { return impl().type(); }
nlohmann::json Optimizer::to_json() const { return impl().to_json(); }
void Optimizer::init(const std::vector<std::pair<std::string, ParameterPtr>>& parameters) const {
  impl().init(parameters);
}
void Optimizer::step() const { impl().step(); }
std::int64_t Optimizer::iterations() const { return impl().iterations(); }
float Optimizer::current_learning_rate() const { return impl().current_learning_rate(); }
void Optimizer::fuse_sparse_updates(bool enable) const { impl().fuse_sparse_updates(enable); }
std::map<std::string, Tensor> Optimizer::state() const { return impl().state(); }
void Optimizer::load_state(const std::map<std::string, Tensor>& state) const {
  impl().load_state(state);
}

Optimizer Optimizer::from_json(const nlohmann::json& j) {
  RB_CHECK(j.is_object(), ValueError, "optimizer: expected an object, got {}", j.dump());
  RB_CHECK(j.contains("type") && j["type"].is_string(), ValueError,
           "optimizer: 'type' must be a string (one of {})", kKnownNames);
  const std::string name = j["type"].get<std::string>();
  if (name == "multi") {
    for (const auto& [key, value] : j.items()) {
      RB_CHECK(key == "type" || key == "default" || key == "groups", ValueError,
               "multi: unknown option '{}' (known: default, groups)", key);
    }
    RB_CHECK(j.contains("default"), ValueError,
             "multi: 'default' (the default optimizer) is missing");
    RB_CHECK(j.value("groups", json::array()).is_array(), ValueError,
             "multi: 'groups' must be an array of {{\"prefix\": ..., \"optimizer\": ...}}");
    std::vector<optim::OptimizerGroup> groups;
    for (const json& g : j.value("groups", json::array())) {
      RB_CHECK(g.is_object() && g.size() == 2 && g.contains("prefix") && g["prefix"].is_string() &&
                   g.contains("optimizer"),
               ValueError,
               "multi: a group must be {{\"prefix\": string, \"optimizer\": {{...}}}}, got {}",
               g.dump());
      groups.push_back({g["prefix"].get<std::string>(), from_json(g["optimizer"])});
    }
    return optim::MultiOptimizer(from_json(j["default"]), std::move(groups));
  }
  const std::string type = canonical_type(name);
  RB_CHECK(!type.empty(), ValueError, "optimizer: unknown type '{}'; known: {}", name, kKnownNames);
  OptionReader reader(j, type);
  if (type == "sgd") {
    optim::SGDOptions o;
    reader.read("learning_rate", o.learning_rate);
    reader.read("momentum", o.momentum);
    reader.read("nesterov", o.nesterov);
    reader.read("weight_decay", o.weight_decay);
    reader.finish();
    return optim::SGD(o);
  }
  if (type == "adam" || type == "lazy_adam") {
    optim::AdamOptions o;
    reader.read("learning_rate", o.learning_rate);
    reader.read("beta_1", o.beta_1);
    reader.read("beta_2", o.beta_2);
    reader.read("epsilon", o.epsilon);
    reader.read("weight_decay", o.weight_decay);
    reader.read("decoupled_weight_decay", o.decoupled_weight_decay);
    reader.finish();
    return type == "adam" ? optim::Adam(o) : optim::LazyAdam(o);
  }
  if (type == "ftrl") {
    optim::FtrlOptions o;
    reader.read("learning_rate", o.learning_rate);
    reader.read("initial_accumulator_value", o.initial_accumulator_value);
    reader.read("l1", o.l1);
    reader.read("l2", o.l2);
    reader.read("beta", o.beta);
    reader.finish();
    return optim::Ftrl(o);
  }
  optim::AdagradOptions o;
  reader.read("learning_rate", o.learning_rate);
  reader.read("initial_accumulator_value", o.initial_accumulator_value);
  reader.read("epsilon", o.epsilon);
  reader.read("weight_decay", o.weight_decay);
  reader.finish();
  return type == "adagrad" ? optim::Adagrad(o) : optim::RowWiseAdagrad(o);
}

namespace optim {

Optimizer SGD(SGDOptions options) { return Optimizer(std::make_shared<SgdImpl>(options)); }
Optimizer Adam(AdamOptions options) {
  return Optimizer(std::make_shared<AdamImpl>(options, false));
}
Optimizer LazyAdam(AdamOptions options) {
  return Optimizer(std::make_shared<AdamImpl>(options, true));
}
Optimizer Adagrad(AdagradOptions options) {
  return Optimizer(std::make_shared<AdagradImpl>(options, false));
}
Optimizer RowWiseAdagrad(AdagradOptions options) {
  return Optimizer(std::make_shared<AdagradImpl>(options, true));
}

Optimizer Ftrl(FtrlOptions options) { return Optimizer(std::make_shared<FtrlImpl>(options)); }

Optimizer MultiOptimizer(Optimizer default_optimizer, std::vector<OptimizerGroup> groups) {
  return Optimizer(std::make_shared<MultiImpl>(std::move(default_optimizer), std::move(groups)));
}

Optimizer by_name(std::string_view name) {
  const std::string type = canonical_type(name);
  RB_CHECK(!type.empty(), ValueError, "optimizer: unknown name '{}'; known: {}", name, kKnownNames);
  return Optimizer::from_json({{"type", type}});
}

}  // namespace optim
}  // namespace recblocks
