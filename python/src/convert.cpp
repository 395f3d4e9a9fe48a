#include "convert.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <memory>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/metrics/metrics.h"

using namespace nanobind::literals;

namespace recblocks::python {
namespace {

nb::dlpack::dtype dlpack_dtype(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return nb::dtype<float>();
    case DType::kInt32: return nb::dtype<std::int32_t>();
    case DType::kInt64: return nb::dtype<std::int64_t>();
    case DType::kBFloat16: break;
  }
  throw ValueError("a bfloat16 tensor has no numpy dtype; convert it to float32 first");
}

// The numpy dtype an array is converted to (float32, int32 or int64), or null
// for a non-numeric one.
const char* target_dtype(const nb::handle& array) {
  const std::string kind = nb::cast<std::string>(array.attr("dtype").attr("kind"));
  if (kind == "f" || kind == "b") return "float32";
  if (kind == "i" || kind == "u") {
    const auto size = nb::cast<int>(array.attr("dtype").attr("itemsize"));
    return size <= 4 && kind == "i" ? "int32" : "int64";
  }
  return nullptr;
}

}  // namespace

nb::object to_numpy(const Tensor& tensor) {
  auto* owner = new Tensor(tensor);
  nb::capsule keep(owner, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  std::vector<std::size_t> shape;
  for (std::int64_t d : tensor.shape().dims()) shape.push_back(static_cast<std::size_t>(d));
  nb::ndarray<nb::numpy> array(tensor.raw(), shape.size(), shape.data(), keep, nullptr,
                               dlpack_dtype(tensor.dtype()));
  return nb::cast(array, nb::rv_policy::reference);
}

Tensor from_numpy(nb::handle value, const std::string& what) {
  nb::module_ np = nb::module_::import_("numpy");
  nb::object array = np.attr("asarray")(value);
  const char* dtype = target_dtype(array);
  if (dtype == nullptr) {
    // Through a handle: nb::str(array.attr(...)) would take the dtype object
    // itself as a str (a conversion, not Python's str()), and the cast to
    // std::string would then fail with std::bad_cast.
    const nb::object numpy_dtype = array.attr("dtype");
    throw ValueError(
        fmt::format("{}: numpy dtype {} is not numeric; expected float32, int32 or int64 values",
                    what, nb::cast<std::string>(nb::str(numpy_dtype))));
  }
  array = np.attr("ascontiguousarray")(array, "dtype"_a = dtype);
  using Array = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;
  Array view;
  if (!nb::try_cast(array, view)) {
    throw ValueError(fmt::format("{}: not readable as a contiguous array", what));
  }
  std::vector<std::int64_t> dims;
  for (std::size_t i = 0; i < view.ndim(); ++i)
    dims.push_back(static_cast<std::int64_t>(view.shape(i)));
  DType d = DType::kFloat32;
  if (view.dtype() == nb::dtype<std::int32_t>()) d = DType::kInt32;
  if (view.dtype() == nb::dtype<std::int64_t>()) d = DType::kInt64;
  // The tensor holds a reference to the array; it may be released on a
  // thread without the GIL (a loader's worker).
  auto* ref = new nb::object(array);
  std::shared_ptr<const void> keep(ref, [](const void* p) {
    nb::gil_scoped_acquire gil;
    delete static_cast<const nb::object*>(p);
  });
  return Tensor::borrow(const_cast<void*>(view.data()), Shape(std::span<const std::int64_t>(dims)),
                        d, std::move(keep));
}

std::map<std::string, Tensor> tensors_from_numpy(nb::dict arrays, const std::string& what) {
  std::map<std::string, Tensor> out;
  for (auto [k, v] : arrays) {
    const std::string name = nb::cast<std::string>(k);
    out.emplace(name, from_numpy(v, fmt::format("{} '{}'", what, name)));
  }
  return out;
}

std::vector<Metric> metrics_of(nb::handle value) {
  std::vector<Metric> out;
  if (value.is_none()) return out;
  for (nb::handle m : value) {
    if (nb::isinstance<nb::str>(m)) {
      out.push_back(metrics::by_name(nb::cast<std::string>(m)));
    } else {
      out.push_back(nb::cast<Metric>(m));
    }
  }
  return out;
}

nb::dict to_numpy_dict(const std::map<std::string, Tensor>& tensors) {
  nb::dict out;
  for (const auto& [name, t] : tensors) out[name.c_str()] = to_numpy(t);
  return out;
}

Tag tag_of(nb::handle value) {
  if (nb::isinstance<nb::str>(value)) return Tag::parse(nb::cast<std::string>(value));
  return nb::cast<Tag>(value);
}

std::vector<Tag> tags_of(nb::handle value) {
  if (nb::isinstance<nb::list>(value) || nb::isinstance<nb::tuple>(value)) {
    std::vector<Tag> out;
    for (nb::handle v : value) out.push_back(tag_of(v));
    return out;
  }
  return {tag_of(value)};
}

nlohmann::json to_json(nb::handle value) {
  if (value.is_none()) return nullptr;
  if (nb::isinstance<nb::bool_>(value)) return nb::cast<bool>(value);
  if (nb::isinstance<nb::int_>(value)) return nb::cast<std::int64_t>(value);
  if (nb::isinstance<nb::float_>(value)) return nb::cast<double>(value);
  if (nb::isinstance<nb::str>(value)) return nb::cast<std::string>(value);
  if (nb::isinstance<nb::dict>(value)) {
    nlohmann::json out = nlohmann::json::object();
    for (auto [k, v] : nb::borrow<nb::dict>(value))
      out[nb::cast<std::string>(nb::str(k))] = to_json(v);
    return out;
  }
  if (nb::isinstance<nb::list>(value) || nb::isinstance<nb::tuple>(value)) {
    nlohmann::json out = nlohmann::json::array();
    for (nb::handle v : value) out.push_back(to_json(v));
    return out;
  }
  if (nb::hasattr(value, "item") && nb::hasattr(value, "dtype")) {  // a numpy scalar
    return to_json(value.attr("item")());
  }
  if (nb::hasattr(value, "tolist")) return to_json(value.attr("tolist")());
  throw ValueError(
      fmt::format("cannot pass a {} as a recblocks option (expected None, bool, int, "
                  "float, str, list or dict)",
                  nb::cast<std::string>(nb::str(value.type().attr("__name__")))));
}

nb::object from_json(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return nb::none();
    case nlohmann::json::value_t::boolean: return nb::bool_(value.get<bool>());
    case nlohmann::json::value_t::number_integer: return nb::int_(value.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: return nb::int_(value.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float: return nb::float_(value.get<double>());
    case nlohmann::json::value_t::string: return nb::str(value.get<std::string>().c_str());
    case nlohmann::json::value_t::array: {
      nb::list out;
      for (const auto& v : value) out.append(from_json(v));
      return out;
    }
    case nlohmann::json::value_t::object: {
      nb::dict out;
      for (const auto& [k, v] : value.items()) out[k.c_str()] = from_json(v);
      return out;
    }
    default: return nb::none();
  }
}

void register_errors(nb::module_& m) {
  // recblocks.Error is a RuntimeError; recblocks.ValueError is both a
  // recblocks.Error and a builtins.ValueError, so `except ValueError` works.
  // Created once and never released: the translator below outlives the module.
  static PyObject* error = PyErr_NewExceptionWithDoc(
      "recblocks.Error",
      "Any error of the recblocks library (a RuntimeError); the message names the thing and "
      "gives the actual and expected values.",
      PyExc_RuntimeError, nullptr);
  static PyObject* value_error = PyErr_NewExceptionWithDoc(
      "recblocks.ValueError",
      "A bad argument, option, file or data value (both a recblocks.Error and a builtins "
      "ValueError).",
      nb::make_tuple(nb::handle(PyExc_ValueError), nb::handle(error)).ptr(), nullptr);
  static PyObject* shape_error = PyErr_NewExceptionWithDoc(
      "recblocks.ShapeError",
      "Tensors of mismatching shapes, ranks or dtypes (a recblocks.ValueError).", value_error,
      nullptr);
  static PyObject* non_finite = PyErr_NewExceptionWithDoc(
      "recblocks.NonFiniteError",
      "A NaN or an infinity in a loss, a gradient or an update: training stopped, naming the "
      "step, the epoch and the first value that went bad (a recblocks.ValueError).",
      value_error, nullptr);
  m.attr("Error") = nb::borrow(error);
  m.attr("ValueError") = nb::borrow(value_error);
  m.attr("ShapeError") = nb::borrow(shape_error);
  m.attr("NonFiniteError") = nb::borrow(non_finite);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const NonFiniteError& e) {
      PyErr_SetString(non_finite, e.what());
    } catch (const ShapeError& e) {
      PyErr_SetString(shape_error, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(value_error, e.what());
    } catch (const Error& e) {
      PyErr_SetString(error, e.what());
    }
  });
}

}  // namespace recblocks::python
