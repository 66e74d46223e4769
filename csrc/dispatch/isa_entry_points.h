// The kernel entry points every per-ISA object library defines (one layer, one direction; shape legend
// in cells/layer_config.h). kernel_table_isa.cc collects them into that ISA's KernelTable.
#pragma once

#include <cstdint>
#include <type_traits>

#include "cells/layer_config.h"
#include "dispatch/isa_namespace.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

// <cell>_forward_workspace / <cell>_backward_workspace: the elements io.workspace must have.
#define FUSEDRNN_DECLARE_CELL(cell)                                                            \
  template <class T>                                                                           \
  void cell##_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads);   \
  template <class T>                                                                           \
  std::int64_t cell##_forward_workspace(const LayerConfig& cfg, bool training, int threads);   \
  template <class T>                                                                           \
  void cell##_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads); \
  template <class T>                                                                           \
  std::int64_t cell##_backward_workspace(const LayerConfig& cfg, int threads);
FUSEDRNN_DECLARE_CELL(lstm)
FUSEDRNN_DECLARE_CELL(gru)
FUSEDRNN_DECLARE_CELL(rnn)
FUSEDRNN_DECLARE_CELL(gru_reset_before)
FUSEDRNN_DECLARE_CELL(lstm_layer_norm)
#undef FUSEDRNN_DECLARE_CELL

// Defines and instantiates (float, double) the forward / backward entry points of `cell` as the shared
// time loops over the pointwise type CellType. Used by the cells' .cc files (time_loop_forward.h /
// time_loop_backward.h must be included; the forward also needs reduced/time_loop_forward_reduced.h:
// float32 layers with a reduced weight format take that loop).
#define FUSEDRNN_DEFINE_FORWARD(cell, CellType)                                                 \
  template <class T>                                                                            \
  void cell##_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {   \
    if constexpr (std::is_same_v<T, float>) {                                                   \
      if (cfg.weight_format != WeightFormat::fp32)                                              \
        return time_loop_forward_reduced<CellType>(cfg, io, num_threads);                       \
    }                                                                                           \
    time_loop_forward<CellType, T>(cfg, io, num_threads);                                       \
  }                                                                                             \
  template <class T>                                                                            \
  std::int64_t cell##_forward_workspace(const LayerConfig& cfg, bool training, int threads) {   \
    if constexpr (std::is_same_v<T, float>) {                                                   \
      if (cfg.weight_format != WeightFormat::fp32)                                              \
        return reduced_forward_workspace_elements<CellType>(cfg, threads);                      \
    }                                                                                           \
    return forward_workspace_elements<CellType, T>(cfg, training, threads);                     \
  }                                                                                             \
  template void cell##_forward<float>(const LayerConfig&, const ForwardTensors<float>&, int);   \
  template std::int64_t cell##_forward_workspace<float>(const LayerConfig&, bool, int);         \
  template void cell##_forward<double>(const LayerConfig&, const ForwardTensors<double>&, int); \
  template std::int64_t cell##_forward_workspace<double>(const LayerConfig&, bool, int);
#define FUSEDRNN_DEFINE_BACKWARD(cell, CellType)                                                  \
  template <class T>                                                                              \
  void cell##_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {   \
    time_loop_backward<CellType, T>(cfg, io, num_threads);                                        \
  }                                                                                               \
  template <class T>                                                                              \
  std::int64_t cell##_backward_workspace(const LayerConfig& cfg, int threads) {                   \
    return backward_workspace_elements<CellType, T>(cfg, threads);                                \
  }                                                                                               \
  template void cell##_backward<float>(const LayerConfig&, const BackwardTensors<float>&, int);   \
  template std::int64_t cell##_backward_workspace<float>(const LayerConfig&, int);                \
  template void cell##_backward<double>(const LayerConfig&, const BackwardTensors<double>&, int); \
  template std::int64_t cell##_backward_workspace<double>(const LayerConfig&, int);

// The packed forward weights of a layer-direction (any cell: the layout depends on cfg.gates only).
template <class T>
std::int64_t packed_weights_elements(const LayerConfig& cfg);
template <class T>
void pack_weights(const LayerConfig& cfg, const T* w_ih, const T* w_hh, const T* w_hr, T* packed,
                  int num_threads);

// float32 GF/s of `iterations` rounds of independent FMAs on every thread (gemm/fma_peak.cc).
double fma_peak_gflops(int num_threads, std::int64_t iterations);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
