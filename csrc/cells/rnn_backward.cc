// Vanilla RNN backward (any activation, see rnn_cell.h): the shared backward time loop with the RNN
// pointwise derivative. Compiled once per ISA.
#include "cells/rnn_cell.h"
#include "cells/time_loop_backward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void rnn_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {
  time_loop_backward<RnnCell, T>(cfg, io, num_threads);
}
template <class T>
std::int64_t rnn_backward_workspace(const LayerConfig& cfg, int threads) {
  return backward_workspace_elements<RnnCell, T>(cfg, threads);
}
template void rnn_backward<float>(const LayerConfig&, const BackwardTensors<float>&, int);
template std::int64_t rnn_backward_workspace<float>(const LayerConfig&, int);
template void rnn_backward<double>(const LayerConfig&, const BackwardTensors<double>&, int);
template std::int64_t rnn_backward_workspace<double>(const LayerConfig&, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
