// GRU pointwise step, reset-after form (PyTorch's, and Keras's reset_after=True), PyTorch's gate order
// r, z, n; rec / act are the recurrent activation and activation (default sigmoid / tanh):
//   r = rec(W_ir x + b_ir + W_hr h + b_hr),  z = rec(W_iz x + b_iz + W_hz h + b_hz)
//   n = act(W_in x + b_in + r * (W_hn h + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}
// and its derivative, for one tile (see cell_tiles.h), in vectorisable array passes per row.
//
// Because r multiplies W_hn h + b_hn, the gradient reaching W_hh differs from the one reaching W_ih in
// the n gate (dGh_n = r * dGx_n), and dh_{t-1} gets the pointwise term z * dh_t besides dGh W_hh.
#pragma once

#include "cells/cell_tiles.h"
#include "cells/cell_traits.h"
#include "simd/activation_passes.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

struct GruCell : GruTraits {
  template <class T>
  static void forward(const ForwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 3 * H, gs = s.gate_stride, U = s.units;
    T rz[2][kMaxTileUnits];
    T hn[kMaxTileUnits];
    T cand[kMaxTileUnits];
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* gx = s.gx + n * GH + s.j0;
      const T* gh = s.gh + r * s.gh_ld;
      const T* bx = s.b_ih + s.j0;
      const T* bh = s.b_hh + s.j0;
      for (int g = 0; g < 2; ++g) {
        for (std::int64_t u = 0; u < U; ++u)
          rz[g][u] = gx[g * H + u] + bx[g * H + u] + gh[g * gs + u] + bh[g * H + u];
      }
      for (std::int64_t u = 0; u < U; ++u) hn[u] = gh[2 * gs + u] + bh[2 * H + u];  // W_hn h + b_hn
      activate_inplace(s.recurrent_activation, rz[0], U);
      activate_inplace(s.recurrent_activation, rz[1], U);
      for (std::int64_t u = 0; u < U; ++u) cand[u] = gx[2 * H + u] + bx[2 * H + u] + rz[0][u] * hn[u];
      activate_inplace(s.activation, cand, U);
      const T* h_prev = s.h_prev + n * s.h_prev_ld + s.j0;
      T* h = s.h + n * s.h_ld + s.j0;
      for (std::int64_t u = 0; u < U; ++u) h[u] = (T(1) - rz[1][u]) * cand[u] + rz[1][u] * h_prev[u];
      if (s.saved) {
        T* saved = s.saved + n * H + s.j0;
        for (std::int64_t u = 0; u < U; ++u) saved[u] = hn[u];
      }
      if (s.gates) {  // may alias gx: every read of this row's gx is done
        T* gates = s.gates + n * GH + s.j0;
        for (std::int64_t u = 0; u < U; ++u) {
          gates[u] = rz[0][u];
          gates[H + u] = rz[1][u];
          gates[2 * H + u] = cand[u];
        }
      }
    }
  }

  template <class T>
  static void backward(const BackwardTile<T>& s) {
    if (s.activation == Activation::tanh && s.recurrent_activation == Activation::sigmoid) {
      backward_rows<true>(s);
    } else {
      backward_rows<false>(s);
    }
  }

 private:
  // kStandard: tanh / sigmoid, whose derivatives backward_row computes inline; otherwise they come from
  // derivative_from_output passes (measured: the passes cost 4 % of a GRU training call on mnist-row).
  // dGx is written over the gates (s.dgates_x is s.gates, time_loop_backward.h), read through dgates_x.
  template <bool kStandard, class T>
  static void backward_rows(const BackwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 3 * H, U = s.units;
    T d[3][kMaxTileUnits];  // the activations' derivatives for r, z, n, from their outputs
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      T* gates = s.dgates_x + n * GH + s.j0;  // r, z, n in; dGx out
      T* dgh = s.dgates_h + n * GH + s.j0;
      if constexpr (!kStandard) {
        derivative_from_output(s.recurrent_activation, gates, d[0], U);
        derivative_from_output(s.recurrent_activation, gates + H, d[1], U);
        derivative_from_output(s.activation, gates + 2 * H, d[2], U);
      }
      backward_row<kStandard>(U, s.dh + r * s.dh_ld, d[0], d[1], d[2], s.saved + n * H + s.j0,
                              s.h_prev + n * s.h_prev_ld + s.j0, gates, gates + H, gates + 2 * H, dgh,
                              dgh + H, dgh + 2 * H, s.dh_direct + n * H + s.j0);
    }
  }

  // One row of the derivative; separate __restrict parameters let the compiler vectorise it.
  // Every pointer is [U]: one batch row's values for the tile's units (gates, states, their gradients);
  // dr, dz, dcand are the activations' derivatives (read only when not kStandard). rg, z, cand hold the
  // gates in and dGx out (each unit's three read before any is written).
  template <bool kStandard, class T>
  static void backward_row(std::int64_t U, const T* __restrict dh, const T* __restrict dr,
                           const T* __restrict dz, const T* __restrict dcand, const T* __restrict hn,
                           const T* __restrict h_prev, T* __restrict rg, T* __restrict z, T* __restrict cand,
                           T* __restrict dh_r, T* __restrict dh_z, T* __restrict dh_n, T* __restrict direct) {
    for (std::int64_t u = 0; u < U; ++u) {
      const T ru = rg[u], zu = z[u], cu = cand[u];
      const T d_cand = kStandard ? T(1) - cu * cu : dcand[u];
      const T d_r = kStandard ? ru * (T(1) - ru) : dr[u];
      const T d_z = kStandard ? zu * (T(1) - zu) : dz[u];
      const T d_cand_pre = dh[u] * (T(1) - zu) * d_cand;
      const T d_r_pre = d_cand_pre * hn[u] * d_r;
      const T d_z_pre = dh[u] * (h_prev[u] - cu) * d_z;
      rg[u] = d_r_pre;
      z[u] = d_z_pre;
      cand[u] = d_cand_pre;
      dh_r[u] = d_r_pre;
      dh_z[u] = d_z_pre;
      dh_n[u] = d_cand_pre * ru;
      direct[u] = dh[u] * zu;  // h_t = ... + z * h_{t-1}
    }
  }
};

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
