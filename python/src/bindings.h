// The parts of the _recblocks extension module, one function per area.
#pragma once

#include <nanobind/nanobind.h>

namespace recblocks::python {

void bind_schema(nanobind::module_& m);
void bind_data(nanobind::module_& m);
void bind_blocks(nanobind::module_& m);
void bind_model(nanobind::module_& m);
void bind_retrieval(nanobind::module_& m);

}  // namespace recblocks::python
