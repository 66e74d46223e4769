// LSTM forward: the shared forward time loop with the LSTM pointwise step. Compiled once per ISA.
#include "cells/lstm_cell.h"
#include "cells/time_loop_forward.h"
#include "dispatch/isa_entry_points.h"
#include "reduced/time_loop_forward_reduced.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

FUSEDRNN_DEFINE_FORWARD(lstm, LstmCell)

// Packing does not depend on the cell (only on cfg.gates); it lives here once. Reduced formats (float32
// only) pack with reduced/reduced_pack.h, once per weight change, on one thread.
template <class T>
std::int64_t packed_weights_elements(const LayerConfig& cfg) {
  if constexpr (std::is_same_v<T, float>) {
    if (cfg.weight_format != WeightFormat::fp32) return ReducedWeights(cfg, nullptr).elements;
  }
  return PackedWeights<T>(cfg, nullptr).elements;
}
template <class T>
void pack_weights(const LayerConfig& cfg, const T* w_ih, const T* w_hh, const T* w_hr, T* packed,
                  int num_threads) {
  if constexpr (std::is_same_v<T, float>) {
    if (cfg.weight_format != WeightFormat::fp32) return pack_reduced_weights(cfg, w_ih, w_hh, w_hr, packed);
  }
  const PackedWeights<T> layout(cfg, packed);
  parallel_region(num_threads,
                  [&](const ThreadContext& ctx) { pack_weights_part(ctx, cfg, w_ih, w_hh, w_hr, layout); });
}
template std::int64_t packed_weights_elements<float>(const LayerConfig&);
template std::int64_t packed_weights_elements<double>(const LayerConfig&);
template void pack_weights<float>(const LayerConfig&, const float*, const float*, const float*, float*, int);
template void pack_weights<double>(const LayerConfig&, const double*, const double*, const double*, double*,
                                   int);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
