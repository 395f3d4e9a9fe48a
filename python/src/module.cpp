// The _recblocks extension module: recblocks' C++ API for the Python
// package in python/recblocks (which adds Merlin's names and keyword
// defaults on top).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "convert.h"
#include "recblocks/core/threads.h"
#include "recblocks/version.h"

namespace nb = nanobind;

NB_MODULE(_recblocks, m) {
  using namespace recblocks;
  m.doc() = "recblocks' C++ library (the recblocks package wraps it)";
  python::register_errors(m);
  m.def("set_num_threads", &set_num_threads, nb::arg("threads"),
        "Threads of the kernels and the loader (OpenMP).");
  m.def("num_threads", &num_threads);
  python::bind_schema(m);
  python::bind_data(m);
  python::bind_blocks(m);
  python::bind_model(m);
  python::bind_retrieval(m);
}
