// Layer-normalised LSTM backward: its own BPTT loop (lstm_layer_norm_cell.h). Compiled once per ISA.
#include "cells/lstm_layer_norm_cell.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void lstm_layer_norm_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {
  layer_norm_lstm_backward<T>(cfg, io, num_threads);
}
template <class T>
std::int64_t lstm_layer_norm_backward_workspace(const LayerConfig& cfg, int threads) {
  return layer_norm_lstm_backward_workspace<T>(cfg, threads);
}
template void lstm_layer_norm_backward<float>(const LayerConfig&, const BackwardTensors<float>&, int);
template std::int64_t lstm_layer_norm_backward_workspace<float>(const LayerConfig&, int);
template void lstm_layer_norm_backward<double>(const LayerConfig&, const BackwardTensors<double>&, int);
template std::int64_t lstm_layer_norm_backward_workspace<double>(const LayerConfig&, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
