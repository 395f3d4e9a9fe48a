// Values between Python and recblocks: numpy arrays and tensors (without a
// copy where the dtype allows), Python objects and JSON, C++ exceptions and
// Python's.
#pragma once

#include <nanobind/nanobind.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "recblocks/core/tensor.h"
#include "recblocks/metrics/metrics.h"
#include "recblocks/schema/tags.h"

namespace recblocks::python {

namespace nb = nanobind;

// A numpy array viewing the tensor's storage (kept alive by the array).
nb::object to_numpy(const Tensor& tensor);
// A tensor viewing a C-contiguous float32, int32 or int64 numpy array
// (other arrays are converted by numpy first: one copy); the array is kept
// alive by the tensor. `what` names the value in errors ("column 'userId'").
Tensor from_numpy(nb::handle array, const std::string& what);
// Tensors by name from a dict of numpy arrays (see from_numpy); `what`
// names the values in errors ("weight" -> "weight 'dense/kernel'").
std::map<std::string, Tensor> tensors_from_numpy(nb::dict arrays, const std::string& what);
// Metrics from a list of names ("auc", "recall_at_10") and recblocks.Metric
// objects; None: none (the task's defaults).
std::vector<Metric> metrics_of(nb::handle value);
// A dict of numpy arrays, in the map's order.
nb::dict to_numpy_dict(const std::map<std::string, Tensor>& tensors);

// A tag from a recblocks.Tag or its name ("categorical", "USER_ID").
Tag tag_of(nb::handle value);
// Tags from one tag, a name, or a list of them.
std::vector<Tag> tags_of(nb::handle value);

nlohmann::json to_json(nb::handle value);
nb::object from_json(const nlohmann::json& value);

// Python exception classes of the module (recblocks.Error, ...), and the
// translator from recblocks' C++ exceptions to them.
void register_errors(nb::module_& m);

}  // namespace recblocks::python
