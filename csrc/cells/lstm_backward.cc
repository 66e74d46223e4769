// LSTM backward: the shared BPTT time loop with the LSTM pointwise derivative. Compiled once per ISA.
#include "cells/lstm_cell.h"
#include "cells/time_loop_backward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void lstm_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {
  time_loop_backward<LstmCell, T>(cfg, io, num_threads);
}
template <class T>
std::int64_t lstm_backward_workspace(const LayerConfig& cfg, int threads) {
  return backward_workspace_elements<LstmCell, T>(cfg, threads);
}
template void lstm_backward<float>(const LayerConfig&, const BackwardTensors<float>&, int);
template std::int64_t lstm_backward_workspace<float>(const LayerConfig&, int);
template void lstm_backward<double>(const LayerConfig&, const BackwardTensors<double>&, int);
template std::int64_t lstm_backward_workspace<double>(const LayerConfig&, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
