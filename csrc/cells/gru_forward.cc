// GRU forward: the shared forward time loop with the GRU pointwise step. Compiled once per ISA.
#include "cells/gru_cell.h"
#include "cells/time_loop_forward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void gru_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {
  time_loop_forward<GruCell, T>(cfg, io, num_threads);
}
template <class T>
std::int64_t gru_forward_workspace(const LayerConfig& cfg, bool training, int threads) {
  return forward_workspace_elements<GruCell, T>(cfg, training, threads);
}
template void gru_forward<float>(const LayerConfig&, const ForwardTensors<float>&, int);
template std::int64_t gru_forward_workspace<float>(const LayerConfig&, bool, int);
template void gru_forward<double>(const LayerConfig&, const ForwardTensors<double>&, int);
template std::int64_t gru_forward_workspace<double>(const LayerConfig&, bool, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
