// The activation functions a cell may use (Keras names): LSTM's candidate / cell-output activation and
// gate (recurrent) activation, GRU's candidate and gate activations, the RNN's nonlinearity. A runtime
// choice carried by LayerConfig: the pointwise passes switch once per array pass, not per element
// (simd/activation_passes.h), so the choice costs nothing inside the vector loops.
#pragma once

namespace fusedrnn {

enum class Activation : int { tanh = 0, sigmoid = 1, relu = 2, hard_sigmoid = 3, linear = 4 };
constexpr int kActivations = 5;
// Indexed by Activation.
constexpr const char* kActivationNames[kActivations] = {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"};

}  // namespace fusedrnn
