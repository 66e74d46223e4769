// LSTM forward: the shared forward time loop with the LSTM pointwise step. Compiled once per ISA.
#include "cells/lstm_cell.h"
#include "cells/time_loop_forward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void lstm_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {
  time_loop_forward<LstmCell, T>(cfg, io, num_threads);
}
template <class T>
std::int64_t lstm_forward_workspace(const LayerConfig& cfg, bool training, int threads) {
  return forward_workspace_elements<LstmCell, T>(cfg, training, threads);
}
template void lstm_forward<float>(const LayerConfig&, const ForwardTensors<float>&, int);
template std::int64_t lstm_forward_workspace<float>(const LayerConfig&, bool, int);
template void lstm_forward<double>(const LayerConfig&, const ForwardTensors<double>&, int);
template std::int64_t lstm_forward_workspace<double>(const LayerConfig&, bool, int);

// Packing does not depend on the cell (only on cfg.gates); it lives here once.
template <class T>
std::int64_t packed_weights_elements(const LayerConfig& cfg) {
  return PackedWeights<T>(cfg, nullptr).elements;
}
template <class T>
void pack_weights(const LayerConfig& cfg, const T* w_ih, const T* w_hh, T* packed, int num_threads) {
  const PackedWeights<T> layout(cfg, packed);
  parallel_region(num_threads,
                  [&](const ThreadContext& ctx) { pack_weights_part(ctx, cfg, w_ih, w_hh, layout); });
}
template std::int64_t packed_weights_elements<float>(const LayerConfig&);
template std::int64_t packed_weights_elements<double>(const LayerConfig&);
template void pack_weights<float>(const LayerConfig&, const float*, const float*, float*, int);
template void pack_weights<double>(const LayerConfig&, const double*, const double*, double*, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
