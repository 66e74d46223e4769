// LSTM backward: the shared BPTT time loop with the LSTM pointwise derivative.
#include "cells/lstm_cell.h"
#include "cells/time_loop_backward.h"

namespace fusedrnn {

template void time_loop_backward<LstmCell, float>(const LayerConfig&, const BackwardTensors<float>&, int);
template void time_loop_backward<LstmCell, double>(const LayerConfig&, const BackwardTensors<double>&, int);
}  // namespace fusedrnn
