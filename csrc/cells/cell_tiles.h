// What the time loops hand a cell's pointwise step: one tile of one time step, i.e. batch rows
// [n0, n0+rows) x hidden units [j0, j0+units). The GEMM part of the step has just produced the tile
// (still in L1); the cell applies its gate math to it and writes its outputs. This is the whole interface
// between a cell (LSTM, GRU, RNN) and the shared machinery (time loop, GEMM, threads).
//
// A cell type provides:
//   static constexpr int kGates;            // G
//   static constexpr bool kHasCellState;     // LSTM's c
//   static void forward(const ForwardTile<T>&);
//   static void backward(const BackwardTile<T>&);
#pragma once

#include <cstdint>

namespace fusedrnn {

template <class T>
struct TileExtent {
  std::int64_t n0 = 0, rows = 0;   // batch rows of the tile
  std::int64_t j0 = 0, units = 0;  // hidden units of the tile
  std::int64_t hidden = 0;         // H
};

template <class T>
struct ForwardTile : TileExtent<T> {
  // gh: [rows][gh_ld]; (W_hh h_{t-1})[n0+i, g*H + j0+u] is gh[i*gh_ld + g*gate_stride + u]; no bias.
  const T* gh = nullptr;
  std::int64_t gh_ld = 0;
  std::int64_t gate_stride = 0;
  const T* gx = nullptr;      // gx: [N, G*H] at step t, W_ih x_t + b_ih
  const T* b_hh = nullptr;    // b_hh: [G*H] or null
  const T* h_prev = nullptr;  // h_prev: [N, h_prev_ld] h_{t-1}
  std::int64_t h_prev_ld = 0;
  T* c = nullptr;             // c: [N,H] running cell state, c_{t-1} in, c_t out
  T* c_out = nullptr;         // c_out: [N,H] copy of c_t for backward (training), or null
  T* h = nullptr;             // h: [N, h_ld] h_t out
  std::int64_t h_ld = 0;
  T* gates = nullptr;         // gates: [N, G*H] activated gates out (training), or null; may alias gx
};

template <class T>
struct BackwardTile : TileExtent<T> {
  const T* dh = nullptr;      // dh: [rows][dh_ld] dL/dh_t (upstream + recurrent), tile-local
  std::int64_t dh_ld = 0;
  const T* gates = nullptr;   // gates: [N, G*H] forward's activated gates at t
  const T* c_t = nullptr;     // c_t: [N,H] forward's cell state at t
  const T* c_prev = nullptr;  // c_prev: [N,H] c_{t-1}
  T* dc = nullptr;            // dc: [N,H] running dL/dc, dc_t in, dc_{t-1} out
  T* dgates = nullptr;        // dgates: [N, G*H] dL/d(gate pre-activations) at t out
};

}  // namespace fusedrnn
