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
        "Sets the threads of the kernels and the loader (one OpenMP pool, shared with the "
        "BLAS) to `threads`. Results are reproducible for a fixed seed and thread count.");
  m.def("num_threads", &num_threads,
        "The threads the kernels and the loader use: set_num_threads(), else "
        "$RECBLOCKS_NUM_THREADS, else $OMP_NUM_THREADS, else the number of cores.");
  python::bind_schema(m);
  python::bind_data(m);
  python::bind_blocks(m);
  python::bind_model(m);
  python::bind_retrieval(m);
}
