// The private extension module fusedrnn._core.
#include <pybind11/pybind11.h>

#include "bindings/register.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "fusedrnn private C++ kernels; use fusedrnn / fusedrnn.functional instead.";
  fusedrnn::register_runtime(m);
  fusedrnn::register_plans(m);
  fusedrnn::register_reduced(m);
}
