// The kernel entry points every per-ISA object library defines (one layer, one direction; shape legend
// in cells/layer_config.h). kernel_table_isa.cc collects them into that ISA's KernelTable.
#pragma once

#include "cells/layer_config.h"
#include "dispatch/isa_namespace.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

#define FUSEDRNN_DECLARE_CELL(cell)                                                          \
  template <class T>                                                                         \
  void cell##_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads); \
  template <class T>                                                                         \
  void cell##_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads);
FUSEDRNN_DECLARE_CELL(lstm)
FUSEDRNN_DECLARE_CELL(gru)
FUSEDRNN_DECLARE_CELL(rnn_tanh)
FUSEDRNN_DECLARE_CELL(rnn_relu)
#undef FUSEDRNN_DECLARE_CELL

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
