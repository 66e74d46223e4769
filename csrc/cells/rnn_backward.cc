// Vanilla RNN backward (tanh and relu): the shared BPTT time loop with the RNN pointwise derivative.
// Compiled once per ISA.
#include "cells/rnn_cell.h"
#include "cells/time_loop_backward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void rnn_tanh_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {
  time_loop_backward<RnnTanhCell, T>(cfg, io, num_threads);
}
template <class T>
void rnn_relu_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {
  time_loop_backward<RnnReluCell, T>(cfg, io, num_threads);
}
template void rnn_tanh_backward<float>(const LayerConfig&, const BackwardTensors<float>&, int);
template void rnn_tanh_backward<double>(const LayerConfig&, const BackwardTensors<double>&, int);
template void rnn_relu_backward<float>(const LayerConfig&, const BackwardTensors<float>&, int);
template void rnn_relu_backward<double>(const LayerConfig&, const BackwardTensors<double>&, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
