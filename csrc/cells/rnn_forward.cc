// Vanilla RNN forward (tanh and relu): the shared forward time loop with the RNN pointwise step.
#include "cells/rnn_cell.h"
#include "cells/time_loop_forward.h"

namespace fusedrnn {

template void time_loop_forward<RnnCell<TanhActivation>, float>(const LayerConfig&, const ForwardTensors<float>&, int);
template void time_loop_forward<RnnCell<ReluActivation>, float>(const LayerConfig&, const ForwardTensors<float>&, int);
template void time_loop_forward<RnnCell<TanhActivation>, double>(const LayerConfig&, const ForwardTensors<double>&, int);
template void time_loop_forward<RnnCell<ReluActivation>, double>(const LayerConfig&, const ForwardTensors<double>&, int);
}  // namespace fusedrnn
