// The configuration of a layer stack (cell, sizes, layers, directions, bias), validated in one place,
// and everything derived from it that Python and C++ both need: the per-cell facts, the parameters'
// names and shapes in PyTorch's order, and each layer-direction's LayerConfig. Compiled with baseline
// flags (engine/ and bindings/ only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cells/cell_traits.h"
#include "cells/layer_config.h"

namespace fusedrnn {

// What callers outside the kernels need to know of a cell, read off its traits (cells/cell_traits.h).
struct CellFacts {
  const char* name;  // "lstm", "gru", "rnn", "gru_reset_before", "lstm_layer_norm"
  CellKind kind;
  int gates;            // G
  bool has_cell_state;  // a second state c besides h
  bool saves_gates;     // training keeps the activated gates [T,N,G*H]
  bool saves_per_unit;  // training keeps one more [T,N,H]
  bool input_fusable;   // the forward may fold W_ih x into the step's product
  // Elements per batch row and step of the saved-gates workspace: units * H + extra (G*H + 0 but for
  // the layer-normalised LSTM, cell_traits.h).
  int gate_workspace_units;
  int gate_workspace_extra;
  std::int64_t gate_workspace(std::int64_t H) const {
    return gate_workspace_units * H + gate_workspace_extra;
  }
  bool layer_norm() const { return kind == CellKind::lstm_layer_norm; }
};
const std::vector<CellFacts>& all_cell_facts();
const CellFacts& cell_facts(CellKind kind);
// The facts of the cell called `name`, or std::invalid_argument.
const CellFacts& cell_facts(const std::string& name);
// The activation called `name` (cells/activation.h), or std::invalid_argument naming `argument`.
Activation activation_named(const std::string& name, const char* argument);

// The size rule of StackConfig::slot_format (default below; settable so that tests reach the reduced
// kernels with small shapes).
std::int64_t reduced_min_weights();
void set_reduced_min_weights(std::int64_t n);

struct ParameterSpec {
  std::string name;                 // PyTorch's state_dict name, e.g. "weight_hh_l1_reverse"
  std::vector<std::int64_t> shape;  // e.g. {G*H, H}
};

// Bounds checked up front so that no size computation can overflow and no absurd request starts
// allocating: every size (and T*N of a call) below 2^31, at most kMaxLayers layers, at most
// kMaxParameterElements parameter elements in all.
constexpr std::int64_t kMaxSize = (std::int64_t{1} << 31) - 1;
constexpr std::int64_t kMaxLayers = 4096;
constexpr std::int64_t kMaxParameterElements = std::int64_t{1} << 36;

struct StackConfig {
  CellKind kind = CellKind::lstm;
  std::int64_t input_size = 0;  // C
  std::int64_t hidden = 0;      // H
  std::int64_t layers = 0;      // L
  std::int64_t directions = 1;  // D (2: bidirectional)
  bool bias = true;
  Activation activation = Activation::tanh;  // see LayerConfig
  Activation recurrent_activation = Activation::sigmoid;
  std::int64_t proj_size = 0;  // P (LSTM only): h_t = W_hr (o * act(c_t)), 0 = none
  // fp32, or bf16 / int8 (float32 inference only): the products of the layers large enough to gain
  // from it (slot_format) read weights packed in that format.
  WeightFormat weight_format = WeightFormat::fp32;
  // bf16 mixed precision (compute_dtype="bfloat16"): LayerConfig::bf16_products in every layer. float32
  // plans with the fp32 weight format only, and not the layer-normalised LSTM (its own loops).
  bool bf16_products = false;

  // Throws std::invalid_argument naming the offending argument.
  void validate() const;

  const CellFacts& facts() const { return cell_facts(kind); }
  int gates() const { return facts().gates; }
  // Layer-directions ("slots"), k = l*D + d.
  std::int64_t slots() const { return layers * directions; }
  // The width of h, of each direction's output columns and of h0 / h_n: P with a projection, else H.
  std::int64_t state_width() const { return proj_size > 0 ? proj_size : hidden; }
  // Input features of layer l (C, then D*S).
  std::int64_t layer_input(std::int64_t l) const { return l == 0 ? input_size : directions * state_width(); }
  // The format layer l's products use: weight_format, or fp32 for a layer whose recurrent and input
  // weights together have fewer than reduced_min_weights() elements (they stay in the caches, so
  // reduced precision buys nothing there; measured in benchmarks/RESULTS.md).
  WeightFormat slot_format(std::int64_t l) const;
  // The kernel configuration of slot (l, d) over steps x batch.
  LayerConfig layer(std::int64_t l, int d, std::int64_t steps, std::int64_t batch) const;
  // Parameter names and shapes in PyTorch's order: per layer, per direction, w_ih, w_hh (, b_ih, b_hh)
  // (, w_hr with a projection) (, the four layer-norm parameters of the layer-normalised LSTM).
  std::vector<ParameterSpec> parameters() const;
  std::int64_t parameters_per_slot() const {
    return (bias ? 4 : 2) + (proj_size > 0 ? 1 : 0) + (facts().layer_norm() ? 4 : 0);
  }
};

}  // namespace fusedrnn
