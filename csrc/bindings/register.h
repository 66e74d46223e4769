// One register_<concept> function per binding file, called from module.cc.
#pragma once

#include <pybind11/pybind11.h>

namespace fusedrnn {
void register_runtime(pybind11::module_& m);
void register_plans(pybind11::module_& m);
void register_reduced(pybind11::module_& m);
}  // namespace fusedrnn
