// LSTM pointwise step (PyTorch gate order i, f, g, o), with act / rec the layer's activation and
// recurrent activation (default tanh / sigmoid, PyTorch's cell; Keras's `activation`,
// `recurrent_activation`):
//   i, f, o = rec(.), g = act(.), c_t = f*c_{t-1} + i*g, h_t = o*act(c_t)
// and its derivative, for one tile (see cell_tiles.h). Everything else (GEMMs, time loop, threads)
// is shared with the other cells. Each row of the tile is done in short array passes over its units
// (pre-activations, then sigmoid / tanh over whole arrays, then the state update) so every pass
// vectorises; the arrays live on the stack, in L1.
#pragma once

#include "cells/cell_tiles.h"
#include "cells/cell_traits.h"
#include "simd/activation_passes.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

struct LstmCell : LstmTraits {
  template <class T>
  static void forward(const ForwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 4 * H, gs = s.gate_stride, U = s.units, RU = s.rows * U;
    // Whole-tile passes: gate g of row r, unit u at [g][r*U + u]. One activation loop per gate over the
    // tile rather than per row (8 rows of 32 units: fewer, longer vector loops; measured on mnist-row).
    T pre[4][kMaxTileRows * kMaxTileUnits];
    T c_t[kMaxTileRows * kMaxTileUnits];
    T act_c[kMaxTileRows * kMaxTileUnits];
    const T* bx = s.b_ih + s.j0;
    const T* bh = s.b_hh + s.j0;
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const T* gh = s.gh + r * s.gh_ld;
      if (s.gx) {
        const T* gx = s.gx + (s.n0 + r) * GH + s.j0;
        for (int g = 0; g < 4; ++g) {
          for (std::int64_t u = 0; u < U; ++u)
            pre[g][r * U + u] = gx[g * H + u] + bx[g * H + u] + gh[g * gs + u] + bh[g * H + u];
        }
      } else {  // input fused into gh
        for (int g = 0; g < 4; ++g) {
          for (std::int64_t u = 0; u < U; ++u)
            pre[g][r * U + u] = gh[g * gs + u] + (bx[g * H + u] + bh[g * H + u]);
        }
      }
    }
    activate_inplace(s.recurrent_activation, pre[0], RU);
    activate_inplace(s.recurrent_activation, pre[1], RU);
    activate_inplace(s.activation, pre[2], RU);
    activate_inplace(s.recurrent_activation, pre[3], RU);
    for (std::int64_t r = 0; r < s.rows; ++r) {
      T* c = s.cell_state + (s.n0 + r) * H + s.j0;
      for (std::int64_t u = 0; u < U; ++u) {
        const std::int64_t e = r * U + u;
        c[u] = pre[1][e] * c[u] + pre[0][e] * pre[2][e];
        c_t[e] = c[u];
      }
    }
    // c_t's first RU elements were all written just above; GCC cannot see it through the switch of
    // activate_copy and warns (a false -Wmaybe-uninitialized).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
    activate_copy(s.activation, c_t, act_c, RU);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      T* h = s.h + n * s.h_ld + s.j0;
      for (std::int64_t u = 0; u < U; ++u) h[u] = pre[3][r * U + u] * act_c[r * U + u];
      if (s.saved) {
        T* saved = s.saved + n * H + s.j0;
        for (std::int64_t u = 0; u < U; ++u) saved[u] = c_t[r * U + u];
      }
      if (s.gates) {  // may alias gx: every read of the tile's gx is done
        T* gates = s.gates + n * GH + s.j0;
        for (int g = 0; g < 4; ++g) {
          for (std::int64_t u = 0; u < U; ++u) gates[g * H + u] = pre[g][r * U + u];
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
  // kStandard: tanh / sigmoid, whose derivatives backward_row computes inline from the outputs; other
  // activations get theirs from derivative_from_output passes first. dG is written over the gates
  // (s.dgates_x is s.gates, time_loop_backward.h): each row's gates are read through dgates_x, every read
  // of a unit's gates before its dG is written.
  template <bool kStandard, class T>
  static void backward_rows(const BackwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 4 * H, U = s.units;
    T act_c[kMaxTileUnits];
    T d[5][kMaxTileUnits];  // the derivatives for i, f, g, o and act(c) (not kStandard)
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      T* gates = s.dgates_x + n * GH + s.j0;  // i, f, g, o in; dL/d of their pre-activations out
      activate_copy(s.activation, s.saved + n * H + s.j0, act_c, U);
      if constexpr (!kStandard) {
        for (int g = 0; g < 4; ++g) {
          derivative_from_output(g == 2 ? s.activation : s.recurrent_activation, gates + g * H, d[g], U);
        }
        derivative_from_output(s.activation, act_c, d[4], U);
      }
      backward_row<kStandard>(U, s.dh + r * s.dh_ld, act_c, s.cell_prev + n * H + s.j0, d[0], d[1], d[2],
                              d[3], d[4], s.dcell + n * H + s.j0, gates, gates + H, gates + 2 * H,
                              gates + 3 * H);
    }
  }

  // One row of the derivative. Separate __restrict parameters (no two of them overlap) are what lets
  // the compiler vectorise it; with the pointers derived inside one function it kept the loop scalar.
  // Every pointer is [U]: one batch row's values for the tile's units (gates, states, their gradients);
  // di .. dc_act are the activations' derivatives (read only when not kStandard). i, f, g, o hold the
  // gates in and their pre-activations' gradients out (each unit's four read before any is written).
  template <bool kStandard, class T>
  static void backward_row(std::int64_t U, const T* __restrict dh, const T* __restrict act_c,
                           const T* __restrict c_prev, const T* __restrict di, const T* __restrict df,
                           const T* __restrict dgd, const T* __restrict dod, const T* __restrict dc_act,
                           T* __restrict dc, T* __restrict i, T* __restrict f, T* __restrict g,
                           T* __restrict o) {
    for (std::int64_t u = 0; u < U; ++u) {
      const T iu = i[u], fu = f[u], gu = g[u], ou = o[u];
      const T act_c_grad = kStandard ? T(1) - act_c[u] * act_c[u] : dc_act[u];
      const T i_grad = kStandard ? iu * (T(1) - iu) : di[u];
      const T f_grad = kStandard ? fu * (T(1) - fu) : df[u];
      const T g_grad = kStandard ? T(1) - gu * gu : dgd[u];
      const T o_grad = kStandard ? ou * (T(1) - ou) : dod[u];
      const T dct = dc[u] + dh[u] * ou * act_c_grad;
      i[u] = dct * gu * i_grad;
      f[u] = dct * c_prev[u] * f_grad;
      g[u] = dct * iu * g_grad;
      o[u] = dh[u] * act_c[u] * o_grad;
      dc[u] = dct * fu;  // dL/dc_{t-1}
    }
  }
};

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
