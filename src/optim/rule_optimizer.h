// The state and the step shared by every update rule (not installed):
// checks, sparse segments, fused updates, checkpoints. Subclasses
// (optimizers.cpp) give the slots, the rule and its scalars; the math runs
// in the backend (Backend::optimizer_update*).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "optim/optimizer_base.h"
#include "recblocks/core/arena.h"
#include "recblocks/kernels/backend.h"

namespace recblocks {

class RuleOptimizer : public OptimizerBase {
 public:
  explicit RuleOptimizer(LearningRate learning_rate) : learning_rate_(learning_rate) {
    (void)learning_rate_.at(0);  // validates the schedule now
  }
  ~RuleOptimizer() override { remove_sinks(); }

  nlohmann::json to_json() const override;
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

  // The options struct's JSON (options::to_json), learning_rate included;
  // to_json adds "type".
  virtual nlohmann::json options_json() const = 0;
  virtual std::vector<Slot> make_slots(const Parameter& p) const = 0;
  virtual bool slot_shape_ok(const Entry& /*entry*/, const Slot& slot, const Shape& shape) const {
    return shape == slot.value.shape();
  }
  // The scalars of the step after `iteration` steps (the learning rate,
  // Adam's bias-corrected step, ...).
  virtual kernels::UpdateScalars scalars(std::int64_t iteration) const = 0;
  // The rule that updates e, reading e.slots in order as its state.
  virtual kernels::UpdateRule rule(const Entry& e) const = 0;
  // Lazy: sparse gradients update only their rows, so the update can also
  // run fused in the backward. The others apply the dense update to every
  // row, with a zero gradient on the untouched ones.
  virtual bool lazy() const = 0;
  // Before a dense update (g covers every element); with_sparse: part of g
  // came from sparse rows.
  virtual void before_dense_update(Entry& /*e*/, bool /*with_sparse*/) {}

  LearningRate learning_rate_;

 private:
  // The slot values as the backend's state argument.
  struct State {
    std::array<Tensor, 2> tensors;
    std::size_t size = 0;
    std::span<const Tensor> span() const { return {tensors.data(), size}; }
  };
  static State state_of(const Entry& e);

  // g: the whole gradient.
  void update_dense(Entry& e, const Tensor& g, const kernels::UpdateScalars& s, bool with_sparse);
  void check_dense(const Entry& e) const;
  // fused: called by the sink (earlier tables of this backward may have
  // been updated already).
  void check_segment(const Entry& e, const kernels::SparseRows& g, std::size_t segment,
                     bool fused = false) const;
  void apply(Entry& e, const kernels::UpdateScalars& s);
  void fused_update(std::size_t index, const kernels::SparseRows& g);
  void set_sink(std::size_t index, bool on);
  void remove_sinks();

  std::vector<Entry> entries_;
  std::int64_t iterations_ = 0;
  bool initialised_ = false;
  bool fuse_ = false;
  // Merged sparse segments, reused from step to step (made on first use).
  std::unique_ptr<Arena> arena_;
};

}  // namespace recblocks
