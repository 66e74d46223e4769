// _core.{lstm,gru,rnn_tanh,rnn_relu}_{forward,backward}.
#include "bindings/cell_binding.h"
#include "bindings/register.h"
#include "cells/gru_cell.h"
#include "cells/lstm_cell.h"
#include "cells/rnn_cell.h"

namespace fusedrnn {

void register_cells(py::module_& m) {
  CellBinding<LstmCell>::define(m, "lstm");
  CellBinding<GruCell>::define(m, "gru");
  CellBinding<RnnCell<TanhActivation>>::define(m, "rnn_tanh");
  CellBinding<RnnCell<ReluActivation>>::define(m, "rnn_relu");
}

}  // namespace fusedrnn
