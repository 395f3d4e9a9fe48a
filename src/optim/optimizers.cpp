// The update rules: each optimizer's options, slots, rule and scalars.
#include <cmath>
#include <memory>

#include "optim/rule_optimizer.h"
#include "recblocks/core/error.h"

namespace recblocks {
namespace {

void check_weight_decay(std::string_view type, float weight_decay) {
  RB_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, ValueError,
           "{}: weight_decay {} must be finite and >= 0", type, weight_decay);
}

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
  nlohmann::json options_json() const override { return options::to_json(o_); }
  std::vector<Slot> make_slots(const Parameter& p) const override {
    if (o_.momentum == 0) return {};
    return {{"momentum", Tensor::zeros(p.value().shape())}};
  }
  bool lazy() const override { return o_.momentum == 0; }

  kernels::UpdateScalars scalars(std::int64_t iteration) const override {
    kernels::UpdateScalars s;
    s.lr = learning_rate_.at(iteration);
    s.weight_decay = o_.weight_decay;
    s.momentum = o_.momentum;
    s.nesterov = o_.nesterov;
    return s;
  }
  kernels::UpdateRule rule(const Entry& /*e*/) const override {
    return o_.momentum == 0 ? kernels::UpdateRule::kSgd : kernels::UpdateRule::kMomentum;
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
  nlohmann::json options_json() const override { return options::to_json(o_); }
  std::vector<Slot> make_slots(const Parameter& p) const override {
    return {{"m", Tensor::zeros(p.value().shape())}, {"v", Tensor::zeros(p.value().shape())}};
  }
  kernels::UpdateScalars scalars(std::int64_t iteration) const override {
    const float lr = learning_rate_.at(iteration);
    const double t = static_cast<double>(iteration + 1);
    const double step = static_cast<double>(lr) *
                        std::sqrt(1 - std::pow(static_cast<double>(o_.beta_2), t)) /
                        (1 - std::pow(static_cast<double>(o_.beta_1), t));
    const bool decoupled = o_.decoupled_weight_decay;
    kernels::UpdateScalars s;
    s.lr = lr;
    s.beta_1 = o_.beta_1;
    s.one_minus_beta_1 = 1 - o_.beta_1;
    s.beta_2 = o_.beta_2;
    s.one_minus_beta_2 = 1 - o_.beta_2;
    s.epsilon = o_.epsilon;
    s.weight_decay = decoupled ? 0.0f : o_.weight_decay;
    s.decoupled = decoupled ? lr * o_.weight_decay : 0.0f;
    s.adam_step = static_cast<float>(step);
    return s;
  }
  kernels::UpdateRule rule(const Entry& /*e*/) const override { return kernels::UpdateRule::kAdam; }
  bool lazy() const override { return lazy_; }

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
  nlohmann::json options_json() const override { return options::to_json(o_); }
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

  // Row-wise while a 2-D parameter's accumulator is per row.
  bool whole_rows(const Entry& e) const {
    return rowwise_ && e.param->value().rank() == 2 && e.slots[0].value.rank() == 1;
  }
  kernels::UpdateScalars scalars(std::int64_t iteration) const override {
    kernels::UpdateScalars s;
    s.lr = learning_rate_.at(iteration);
    s.weight_decay = o_.weight_decay;
    s.epsilon = o_.epsilon;
    return s;
  }
  kernels::UpdateRule rule(const Entry& e) const override {
    return whole_rows(e) ? kernels::UpdateRule::kRowwiseAdagrad : kernels::UpdateRule::kAdagrad;
  }
  void before_dense_update(Entry& e, bool with_sparse) override {
    if (!whole_rows(e) || with_sparse) return;
    // A dense parameter (only a dense gradient) whose per-row accumulator
    // never moved gets element-wise Adagrad for good. The test reads only
    // the state, so a resumed run decides the same way.
    if (kernels::backend().all_equal(e.slots[0].value, o_.initial_accumulator_value)) {
      e.slots[0].value = Tensor::full(e.param->value().shape(), o_.initial_accumulator_value);
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
  nlohmann::json options_json() const override { return options::to_json(o_); }
  std::vector<Slot> make_slots(const Parameter& p) const override {
    const Shape& shape = p.value().shape();
    return {{"accumulator", Tensor::full(shape, o_.initial_accumulator_value)},
            {"linear", Tensor::zeros(shape)}};
  }
  // TensorFlow's sparse FTRL updates the gathered rows only.
  bool lazy() const override { return true; }
  kernels::UpdateScalars scalars(std::int64_t iteration) const override {
    kernels::UpdateScalars s;
    s.lr = learning_rate_.at(iteration);
    s.l1 = o_.l1;
    s.l2 = o_.l2;
    s.beta = o_.beta;
    return s;
  }
  kernels::UpdateRule rule(const Entry& /*e*/) const override { return kernels::UpdateRule::kFtrl; }

 private:
  optim::FtrlOptions o_;
};

}  // namespace

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

}  // namespace optim
}  // namespace recblocks
