// LSTM backward: the shared BPTT time loop with the LSTM pointwise derivative. Compiled once per ISA.
#include "cells/lstm_cell.h"
#include "cells/time_loop_backward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

FUSEDRNN_DEFINE_BACKWARD(lstm, LstmCell)

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
