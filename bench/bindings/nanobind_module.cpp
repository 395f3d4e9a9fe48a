#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include "api.h"

namespace nb = nanobind;
namespace bc = binding_choice;

NB_MODULE(binding_nanobind, m) {
  m.def("noop", &bc::noop);
  m.def("add", &bc::add);
  m.def("sum", [](nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> a) {
    return bc::sum(a.data(), a.shape(0));
  });
  m.def("iota", [](std::size_t n) {
    float* data = bc::iota(n).release();
    nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<float*>(p); });
    return nb::ndarray<nb::numpy, float, nb::ndim<1>>(data, {n}, owner);
  });
  m.def("options", &bc::options, nb::kw_only(), nb::arg("batch_size") = 1024, nb::arg("epochs") = 1,
        nb::arg("learning_rate") = 0.001, nb::arg("shuffle") = true);
  nb::class_<bc::Counter>(m, "Counter")
      .def(nb::init<std::string>())
      .def("add", &bc::Counter::add)
      .def_prop_ro("value", &bc::Counter::value)
      .def_prop_ro("name", &bc::Counter::name);
}
