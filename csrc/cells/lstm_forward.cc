// LSTM forward = the shared forward time loop + the LSTM pointwise step.
#include "cells/lstm.h"
#include "cells/lstm_cell.h"
#include "cells/time_loop_forward.h"

namespace fusedrnn {

template <class T>
void lstm_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {
  time_loop_forward<LstmCell, T>(cfg, io, num_threads);
}

template void lstm_forward<float>(const LayerConfig&, const ForwardTensors<float>&, int);
template void lstm_forward<double>(const LayerConfig&, const ForwardTensors<double>&, int);

}  // namespace fusedrnn
