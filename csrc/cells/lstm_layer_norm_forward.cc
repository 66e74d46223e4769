// Layer-normalised LSTM forward: its own time loop (lstm_layer_norm_cell.h). Compiled once per ISA.
#include "cells/lstm_layer_norm_cell.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void lstm_layer_norm_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {
  layer_norm_lstm_forward<T>(cfg, io, num_threads);
}
template <class T>
std::int64_t lstm_layer_norm_forward_workspace(const LayerConfig& cfg, bool training, int threads) {
  return layer_norm_lstm_forward_workspace<T>(cfg, training, threads);
}
template void lstm_layer_norm_forward<float>(const LayerConfig&, const ForwardTensors<float>&, int);
template std::int64_t lstm_layer_norm_forward_workspace<float>(const LayerConfig&, bool, int);
template void lstm_layer_norm_forward<double>(const LayerConfig&, const ForwardTensors<double>&, int);
template std::int64_t lstm_layer_norm_forward_workspace<double>(const LayerConfig&, bool, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
