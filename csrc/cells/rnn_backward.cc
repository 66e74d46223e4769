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
std::int64_t rnn_tanh_backward_workspace(const LayerConfig& cfg, int threads) {
  return backward_workspace_elements<RnnTanhCell, T>(cfg, threads);
}
template <class T>
void rnn_relu_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {
  time_loop_backward<RnnReluCell, T>(cfg, io, num_threads);
}
template <class T>
std::int64_t rnn_relu_backward_workspace(const LayerConfig& cfg, int threads) {
  return backward_workspace_elements<RnnReluCell, T>(cfg, threads);
}
template void rnn_tanh_backward<float>(const LayerConfig&, const BackwardTensors<float>&, int);
template std::int64_t rnn_tanh_backward_workspace<float>(const LayerConfig&, int);
template void rnn_tanh_backward<double>(const LayerConfig&, const BackwardTensors<double>&, int);
template std::int64_t rnn_tanh_backward_workspace<double>(const LayerConfig&, int);
template void rnn_relu_backward<float>(const LayerConfig&, const BackwardTensors<float>&, int);
template std::int64_t rnn_relu_backward_workspace<float>(const LayerConfig&, int);
template void rnn_relu_backward<double>(const LayerConfig&, const BackwardTensors<double>&, int);
template std::int64_t rnn_relu_backward_workspace<double>(const LayerConfig&, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
