// LSTM forward: the shared forward time loop with the LSTM pointwise step.
#include "cells/lstm_cell.h"
#include "cells/time_loop_forward.h"

namespace fusedrnn {

template void time_loop_forward<LstmCell, float>(const LayerConfig&, const ForwardTensors<float>&, int);
template void time_loop_forward<LstmCell, double>(const LayerConfig&, const ForwardTensors<double>&, int);
}  // namespace fusedrnn
