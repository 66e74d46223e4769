// What the bindings and the dispatch table know of each cell: its kind and the constants that shape
// its arguments and workspace. The pointwise code itself is compiled per ISA (lstm_cell.h, ...).
#pragma once

namespace fusedrnn {

enum class CellKind : int { lstm = 0, gru = 1, rnn = 2, gru_reset_before = 3, lstm_layer_norm = 4 };
constexpr int kCellKinds = 5;

//   kGates                  G
//   kHasCellState           a second running state besides h (LSTM's c)
//   kSavesGates             training keeps the activated gates [T,N,G*H]
//   kSavesPerUnit           training keeps one more [T,N,H] (LSTM c_t, GRU W_hn h + b_hn)
//   kSeparateRecurrentGrad  dL/d(W_hh h) differs from dL/d(W_ih x) (GRU's n gate)
//   kDirectStateGrad        dh_{t-1} has a pointwise term besides dG W_hh (GRU's z*dh)
//   kInputFusable           every gate's pre-activation is W_ih x + W_hh h (+ biases), so the forward may
//                           compute both in one product [h | x] x [W_hh; W_ih] (not GRU's n gate)
//   kTwoPhaseStep           each step needs a second recurrent product after a first pointwise part
//                           (the reset-before GRU's W_hn (r * h)): two barriers per step
struct LstmTraits {
  static constexpr CellKind kKind = CellKind::lstm;
  static constexpr int kGates = 4;
  static constexpr bool kHasCellState = true;
  static constexpr bool kSavesGates = true;
  static constexpr bool kSavesPerUnit = true;
  static constexpr bool kSeparateRecurrentGrad = false;
  static constexpr bool kDirectStateGrad = false;
  static constexpr bool kInputFusable = true;
  static constexpr bool kTwoPhaseStep = false;
};

struct GruTraits {
  static constexpr CellKind kKind = CellKind::gru;
  static constexpr int kGates = 3;
  static constexpr bool kHasCellState = false;
  static constexpr bool kSavesGates = true;
  static constexpr bool kSavesPerUnit = true;
  static constexpr bool kSeparateRecurrentGrad = true;
  static constexpr bool kDirectStateGrad = true;
  static constexpr bool kInputFusable = false;
  static constexpr bool kTwoPhaseStep = false;
};

struct RnnTraits {
  static constexpr CellKind kKind = CellKind::rnn;
  static constexpr int kGates = 1;
  static constexpr bool kHasCellState = false;
  static constexpr bool kSavesGates = false;  // the derivative needs only h_t, which is y
  static constexpr bool kSavesPerUnit = false;
  static constexpr bool kSeparateRecurrentGrad = false;
  static constexpr bool kDirectStateGrad = false;
  static constexpr bool kInputFusable = true;
  static constexpr bool kTwoPhaseStep = false;
};

// The GRU with the reset gate before the recurrent product (gru_reset_before_cell.h): the per-unit
// workspace is r * h_{t-1}.
struct GruResetBeforeTraits : GruTraits {
  static constexpr CellKind kKind = CellKind::gru_reset_before;
  static constexpr bool kTwoPhaseStep = true;
};

// The layer-normalised LSTM (lstm_layer_norm_cell.h): its own time loops, not the shared ones (each
// row's statistics span all 4H gates, which the shared loops split between threads). Its training
// workspace row (kGateWorkspaceUnits * H + kGateWorkspaceExtra per batch row and step) holds the
// activated gates, the normalised products and cell state and their 1/sigma; the per-unit workspace is c_t.
struct LstmLayerNormTraits : LstmTraits {
  static constexpr CellKind kKind = CellKind::lstm_layer_norm;
  static constexpr bool kSeparateRecurrentGrad = true;  // the two products go through different norms
  static constexpr bool kInputFusable = false;          // the input product is normalised on its own
  static constexpr int kGateWorkspaceUnits = 13;        // gates 4H, x_hat_ih 4H, x_hat_hh 4H, c_hat H
  static constexpr int kGateWorkspaceExtra = 4;         // 1/sigma of ih, hh, c (and one spare)
};

}  // namespace fusedrnn
