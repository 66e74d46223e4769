// What the time loops hand a cell's pointwise step: one tile of one time step, i.e. batch rows
// [n0, n0+rows) x hidden units [j0, j0+units). The GEMM part of the step has just produced the tile
// (still in L1); the cell applies its gate math to it and writes its outputs. This is the whole interface
// between a cell (LSTM, GRU, RNN) and the shared machinery (time loop, GEMM, threads).
//
// A cell type derives from its traits (cell_traits.h) and provides
//   static void forward(const ForwardTile<T>&);
//   static void backward(const BackwardTile<T>&);
// and, with kTwoPhaseStep, forward_reset / backward_update for the first phase of each step.
// Compiled per ISA (dispatch/isa_namespace.h).
#pragma once

#include <cstdint>

#include "cells/activation.h"
#include "dispatch/isa_namespace.h"
#include "gemm/microkernel.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

// Tile scratch on the stack is sized for the largest microkernel tile (gemm/microkernel.h).
constexpr int kMaxTileUnits = kMaxNR;
constexpr int kMaxTileRows = kMaxMR;

struct TileExtent {
  std::int64_t n0 = 0, rows = 0;             // batch rows of the tile
  std::int64_t j0 = 0, units = 0;            // hidden units of the tile
  std::int64_t hidden = 0;                   // H
  Activation activation = Activation::tanh;  // LayerConfig::activation, recurrent_activation
  Activation recurrent_activation = Activation::sigmoid;
};

template <class T>
struct ForwardTile : TileExtent {
  // gh: (W_hh h_{t-1})[n0+r, g*H + j0+u] is gh[r*gh_ld + g*gate_stride + u]; no bias.
  const T* gh = nullptr;
  std::int64_t gh_ld = 0;
  std::int64_t gate_stride = 0;
  const T* gx = nullptr;      // gx: [N, G*H] at step t, W_ih x_t (no bias), or null when gh includes it
                              // (LayerConfig::fuse_input, cells with kInputFusable)
  const T* b_ih = nullptr;    // b_ih: [G*H] (zeros when the layer has no bias)
  const T* b_hh = nullptr;    // b_hh: [G*H] (zeros when the layer has no bias)
  const T* h_prev = nullptr;  // h_prev: [N, h_prev_ld] h_{t-1}
  std::int64_t h_prev_ld = 0;
  T* cell_state = nullptr;  // cell_state: [N,H] running c, c_{t-1} in, c_t out (kHasCellState)
  T* saved = nullptr;       // saved: [N,H] per-unit training workspace at t (kSavesPerUnit), or null
  T* h = nullptr;           // h: [N, h_ld] h_t out
  std::int64_t h_ld = 0;
  T* gates = nullptr;  // gates: [N, G*H] activated gates out (training, kSavesGates) or null; may alias gx
  const T* recurrent_mask = nullptr;  // [N,H] recurrent-dropout factors on h_{t-1}, or null
};

template <class T>
struct BackwardTile : TileExtent {
  const T* dh = nullptr;  // dh: [rows][dh_ld] dL/dh_t (upstream + recurrent), tile-local
  std::int64_t dh_ld = 0;
  const T* gates = nullptr;      // gates: [N, G*H] forward's activated gates at t (kSavesGates)
  const T* saved = nullptr;      // saved: [N,H] forward's per-unit workspace at t (kSavesPerUnit)
  const T* cell_prev = nullptr;  // cell_prev: [N,H] c_{t-1} (kHasCellState)
  const T* h = nullptr;          // h: [N, h_ld] h_t
  std::int64_t h_ld = 0;
  const T* h_prev = nullptr;  // h_prev: [N, h_prev_ld] h_{t-1}
  std::int64_t h_prev_ld = 0;
  T* dcell = nullptr;      // dcell: [N,H] running dL/dc, dc_t in, dc_{t-1} out (kHasCellState)
  T* dgates_x = nullptr;   // dgates_x: [N, G*H] dL/d(W_ih x_t + b_ih) at t out; the same memory as gates
                           // in cells that save them: a tile's gates are read before its dG is written
  T* dgates_h = nullptr;   // dgates_h: [N, G*H] dL/d(W_hh h_{t-1} + b_hh) at t out; may alias dgates_x
  T* dh_direct = nullptr;  // dh_direct: [N,H] pointwise part of dL/dh_{t-1} out (kDirectStateGrad)
  T* dh_stash = nullptr;   // dh_stash: [N,H] dL/dh_t kept between the two phases (kTwoPhaseStep)
  const T* recurrent_mask = nullptr;  // [N,H] the forward's recurrent-dropout factors, or null
};

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
