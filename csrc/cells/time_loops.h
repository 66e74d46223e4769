// The two entry points every cell's kernels go through (shape legend: cells/layer_config.h).
// Defined in time_loop_forward.h / time_loop_backward.h; each <cell>_forward.cc / <cell>_backward.cc
// instantiates them for its cell type and float / double, so the bindings compile no loop code.
#pragma once

#include "cells/layer_config.h"

namespace fusedrnn {

// Inference when io.training is false (no workspace kept), training otherwise (io.gates / io.saved
// filled with what time_loop_backward needs, for cells that need them).
template <class Cell, class T>
void time_loop_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads);

template <class Cell, class T>
void time_loop_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads);

}  // namespace fusedrnn
