// GRU pointwise step, PyTorch / Keras reset_after form (gate order r, z, n):
//   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}
// and its derivative, for one tile (see cell_tiles.h).
//
// Because r multiplies W_hn h + b_hn, the gradient reaching W_hh differs from the one reaching W_ih in
// the n gate (dGh_n = r * dGx_n), and dh_{t-1} gets the pointwise term z * dh_t besides dGh W_hh.
#pragma once

#include <cmath>

#include "cells/activations.h"
#include "cells/cell_tiles.h"

namespace fusedrnn {

struct GruCell {
  static constexpr int kGates = 3;
  static constexpr bool kHasCellState = false;
  static constexpr bool kSavesGates = true;
  static constexpr bool kSavesPerUnit = true;  // W_hn h_{t-1} + b_hn, needed for dr
  static constexpr bool kSeparateRecurrentGrad = true;
  static constexpr bool kDirectStateGrad = true;

  template <class T>
  static void forward(const ForwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 3 * H, gs = s.gate_stride;
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* gx = s.gx + n * GH + s.j0;
      const T* gh = s.gh + r * s.gh_ld;
      const T* bh = s.b_hh ? s.b_hh + s.j0 : nullptr;
      const T* h_prev = s.h_prev + n * s.h_prev_ld + s.j0;
      T* h = s.h + n * s.h_ld + s.j0;
      T* saved = s.saved ? s.saved + n * H + s.j0 : nullptr;
      T* gates = s.gates ? s.gates + n * GH + s.j0 : nullptr;
      for (std::int64_t u = 0; u < s.units; ++u) {
        T pre_r = gx[u] + gh[u];
        T pre_z = gx[H + u] + gh[gs + u];
        T hn = gh[2 * gs + u];  // W_hn h_{t-1} + b_hn
        if (bh) {
          pre_r += bh[u];
          pre_z += bh[H + u];
          hn += bh[2 * H + u];
        }
        const T rg = sigmoid(pre_r), z = sigmoid(pre_z);
        const T cand = std::tanh(gx[2 * H + u] + rg * hn);
        h[u] = (T(1) - z) * cand + z * h_prev[u];
        if (saved) saved[u] = hn;
        if (gates) {  // may alias gx: written after every read of gx[.. u]
          gates[u] = rg;
          gates[H + u] = z;
          gates[2 * H + u] = cand;
        }
      }
    }
  }

  template <class T>
  static void backward(const BackwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 3 * H;
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* dh = s.dh + r * s.dh_ld;
      const T* gates = s.gates + n * GH + s.j0;
      const T* hn = s.saved + n * H + s.j0;
      const T* h_prev = s.h_prev + n * s.h_prev_ld + s.j0;
      T* dgx = s.dgates_x + n * GH + s.j0;
      T* dgh = s.dgates_h + n * GH + s.j0;
      T* direct = s.dh_direct + n * H + s.j0;
      for (std::int64_t u = 0; u < s.units; ++u) {
        const T rg = gates[u], z = gates[H + u], cand = gates[2 * H + u];
        const T d_cand_pre = dh[u] * (T(1) - z) * (T(1) - cand * cand);
        const T d_r_pre = d_cand_pre * hn[u] * rg * (T(1) - rg);
        const T d_z_pre = dh[u] * (h_prev[u] - cand) * z * (T(1) - z);
        dgx[u] = d_r_pre;
        dgx[H + u] = d_z_pre;
        dgx[2 * H + u] = d_cand_pre;
        dgh[u] = d_r_pre;
        dgh[H + u] = d_z_pre;
        dgh[2 * H + u] = d_cand_pre * rg;
        direct[u] = dh[u] * z;
      }
    }
  }
};

}  // namespace fusedrnn
