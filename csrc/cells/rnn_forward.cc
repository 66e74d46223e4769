// Vanilla RNN forward (any activation, see rnn_cell.h): the shared forward time loop with the RNN pointwise
// step. Compiled once per ISA.
#include "cells/rnn_cell.h"
#include "cells/time_loop_forward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void rnn_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {
  time_loop_forward<RnnCell, T>(cfg, io, num_threads);
}
template <class T>
std::int64_t rnn_forward_workspace(const LayerConfig& cfg, bool training, int threads) {
  return forward_workspace_elements<RnnCell, T>(cfg, training, threads);
}
template void rnn_forward<float>(const LayerConfig&, const ForwardTensors<float>&, int);
template std::int64_t rnn_forward_workspace<float>(const LayerConfig&, bool, int);
template void rnn_forward<double>(const LayerConfig&, const ForwardTensors<double>&, int);
template std::int64_t rnn_forward_workspace<double>(const LayerConfig&, bool, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
