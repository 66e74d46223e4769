// _core.{lstm,gru,rnn_tanh,rnn_relu}_{forward,backward}.
#include "bindings/cell_binding.h"
#include "bindings/register.h"
#include "cells/cell_traits.h"

namespace fusedrnn {

void register_cells(py::module_& m) {
  CellBinding<LstmTraits>::define(m, "lstm");
  CellBinding<GruTraits>::define(m, "gru");
  CellBinding<RnnTanhTraits>::define(m, "rnn_tanh");
  CellBinding<RnnReluTraits>::define(m, "rnn_relu");
}

}  // namespace fusedrnn
