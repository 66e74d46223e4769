// GRU backward: the shared BPTT time loop with the GRU pointwise derivative. Compiled once per ISA.
#include "cells/gru_cell.h"
#include "cells/time_loop_backward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void gru_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {
  time_loop_backward<GruCell, T>(cfg, io, num_threads);
}
template <class T>
std::int64_t gru_backward_workspace(const LayerConfig& cfg, int threads) {
  return backward_workspace_elements<GruCell, T>(cfg, threads);
}
template void gru_backward<float>(const LayerConfig&, const BackwardTensors<float>&, int);
template std::int64_t gru_backward_workspace<float>(const LayerConfig&, int);
template void gru_backward<double>(const LayerConfig&, const BackwardTensors<double>&, int);
template std::int64_t gru_backward_workspace<double>(const LayerConfig&, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
