// Vanilla RNN forward (tanh and relu): the shared forward time loop with the RNN pointwise step.
// Compiled once per ISA.
#include "cells/rnn_cell.h"
#include "cells/time_loop_forward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void rnn_tanh_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {
  time_loop_forward<RnnTanhCell, T>(cfg, io, num_threads);
}
template <class T>
void rnn_relu_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {
  time_loop_forward<RnnReluCell, T>(cfg, io, num_threads);
}
template void rnn_tanh_forward<float>(const LayerConfig&, const ForwardTensors<float>&, int);
template void rnn_tanh_forward<double>(const LayerConfig&, const ForwardTensors<double>&, int);
template void rnn_relu_forward<float>(const LayerConfig&, const ForwardTensors<float>&, int);
template void rnn_relu_forward<double>(const LayerConfig&, const ForwardTensors<double>&, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
