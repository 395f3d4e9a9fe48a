#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "api.h"

namespace py = pybind11;
namespace bc = binding_choice;

PYBIND11_MODULE(binding_pybind11, m) {
  m.def("noop", &bc::noop);
  m.def("add", &bc::add);
  m.def("sum", [](py::array_t<float, py::array::c_style | py::array::forcecast> a) {
    return bc::sum(a.data(), static_cast<std::size_t>(a.size()));
  });
  m.def("iota", [](std::size_t n) {
    float* data = bc::iota(n).release();
    py::capsule owner(data, [](void* p) { delete[] static_cast<float*>(p); });
    return py::array_t<float>({static_cast<py::ssize_t>(n)}, data, owner);
  });
  m.def("options", &bc::options, py::kw_only(), py::arg("batch_size") = 1024, py::arg("epochs") = 1,
        py::arg("learning_rate") = 0.001, py::arg("shuffle") = true);
  py::class_<bc::Counter>(m, "Counter")
      .def(py::init<std::string>())
      .def("add", &bc::Counter::add)
      .def_property_readonly("value", &bc::Counter::value)
      .def_property_readonly("name", &bc::Counter::name);
}
