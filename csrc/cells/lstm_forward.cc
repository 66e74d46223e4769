// LSTM forward: the shared forward time loop with the LSTM pointwise step. Compiled once per ISA.
#include "cells/lstm_cell.h"
#include "cells/time_loop_forward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

FUSEDRNN_DEFINE_FORWARD(lstm, LstmCell)

// Packing does not depend on the cell (only on cfg.gates); it lives here once.
template <class T>
std::int64_t packed_weights_elements(const LayerConfig& cfg) {
  return PackedWeights<T>(cfg, nullptr).elements;
}
template <class T>
void pack_weights(const LayerConfig& cfg, const T* w_ih, const T* w_hh, const T* w_hr, T* packed, int num_threads) {
  const PackedWeights<T> layout(cfg, packed);
  parallel_region(num_threads,
                  [&](const ThreadContext& ctx) { pack_weights_part(ctx, cfg, w_ih, w_hh, w_hr, layout); });
}
template std::int64_t packed_weights_elements<float>(const LayerConfig&);
template std::int64_t packed_weights_elements<double>(const LayerConfig&);
template void pack_weights<float>(const LayerConfig&, const float*, const float*, const float*, float*, int);
template void pack_weights<double>(const LayerConfig&, const double*, const double*, const double*, double*, int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
