// The Optimizer handle: forwards to its OptimizerBase.
#include "recblocks/optim/optim.h"

#include "optim/optimizer_base.h"
#include "recblocks/core/error.h"

namespace recblocks {

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

}  // namespace recblocks
