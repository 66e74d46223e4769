// LSTM kernels for one layer and one direction (shape legend: cells/layer_config.h, G = 4).
#pragma once

#include "cells/layer_config.h"

namespace fusedrnn {

// Inference when io.gates is null (no workspace kept), training otherwise (io.gates, io.cells filled
// with what lstm_backward needs).
template <class T>
void lstm_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads);

template <class T>
void lstm_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads);

}  // namespace fusedrnn
