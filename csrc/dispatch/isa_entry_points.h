// The kernel entry points every per-ISA object library defines (one layer, one direction; shape legend
// in cells/layer_config.h). kernel_table_isa.cc collects them into that ISA's KernelTable.
#pragma once

#include <cstdint>

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
#undef FUSEDRNN_DECLARE_CELL

// The packed forward weights of a layer-direction (any cell: the layout depends on cfg.gates only).
template <class T>
std::int64_t packed_weights_elements(const LayerConfig& cfg);
template <class T>
void pack_weights(const LayerConfig& cfg, const T* w_ih, const T* w_hh, T* packed, int num_threads);

// float32 GF/s of `iterations` rounds of independent FMAs on every thread (gemm/fma_peak.cc).
double fma_peak_gflops(int num_threads, std::int64_t iterations);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
