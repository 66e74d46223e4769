// Vanilla RNN backward (tanh and relu): the shared BPTT time loop with the RNN pointwise derivative.
#include "cells/rnn_cell.h"
#include "cells/time_loop_backward.h"

namespace fusedrnn {

template void time_loop_backward<RnnCell<TanhActivation>, float>(const LayerConfig&, const BackwardTensors<float>&, int);
template void time_loop_backward<RnnCell<ReluActivation>, float>(const LayerConfig&, const BackwardTensors<float>&, int);
template void time_loop_backward<RnnCell<TanhActivation>, double>(const LayerConfig&, const BackwardTensors<double>&, int);
template void time_loop_backward<RnnCell<ReluActivation>, double>(const LayerConfig&, const BackwardTensors<double>&, int);
}  // namespace fusedrnn
