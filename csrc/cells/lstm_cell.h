// LSTM pointwise step (PyTorch gate order i, f, g, o):
//   i, f, o = sigmoid(.), g = tanh(.), c_t = f*c_{t-1} + i*g, h_t = o*tanh(c_t)
// and its derivative, for one tile (see cell_tiles.h). Everything else (GEMMs, time loop, threads)
// is shared with the other cells.
#pragma once

#include <cmath>

#include "cells/activations.h"
#include "cells/cell_tiles.h"

namespace fusedrnn {

struct LstmCell {
  static constexpr int kGates = 4;
  static constexpr bool kHasCellState = true;
  static constexpr bool kSavesGates = true;
  static constexpr bool kSavesPerUnit = true;  // c_t
  static constexpr bool kSeparateRecurrentGrad = false;
  static constexpr bool kDirectStateGrad = false;

  template <class T>
  static void forward(const ForwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 4 * H, gs = s.gate_stride;
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* gx = s.gx + n * GH + s.j0;
      const T* gh = s.gh + r * s.gh_ld;
      const T* bh = s.b_hh ? s.b_hh + s.j0 : nullptr;
      T* c = s.cell_state + n * H + s.j0;
      T* h = s.h + n * s.h_ld + s.j0;
      T* saved = s.saved ? s.saved + n * H + s.j0 : nullptr;
      T* gates = s.gates ? s.gates + n * GH + s.j0 : nullptr;
      for (std::int64_t u = 0; u < s.units; ++u) {
        T pre_i = gx[u] + gh[u];
        T pre_f = gx[H + u] + gh[gs + u];
        T pre_g = gx[2 * H + u] + gh[2 * gs + u];
        T pre_o = gx[3 * H + u] + gh[3 * gs + u];
        if (bh) {
          pre_i += bh[u];
          pre_f += bh[H + u];
          pre_g += bh[2 * H + u];
          pre_o += bh[3 * H + u];
        }
        const T i = sigmoid(pre_i), f = sigmoid(pre_f), g = std::tanh(pre_g), o = sigmoid(pre_o);
        const T c_new = f * c[u] + i * g;
        c[u] = c_new;
        h[u] = o * std::tanh(c_new);
        if (saved) saved[u] = c_new;
        if (gates) {  // may alias gx: written after every read of gx[.. u]
          gates[u] = i;
          gates[H + u] = f;
          gates[2 * H + u] = g;
          gates[3 * H + u] = o;
        }
      }
    }
  }

  template <class T>
  static void backward(const BackwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 4 * H;
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* dh = s.dh + r * s.dh_ld;
      const T* gates = s.gates + n * GH + s.j0;
      const T* c_t = s.saved + n * H + s.j0;
      const T* c_prev = s.cell_prev + n * H + s.j0;
      T* dc = s.dcell + n * H + s.j0;
      T* dg = s.dgates_x + n * GH + s.j0;
      for (std::int64_t u = 0; u < s.units; ++u) {
        const T i = gates[u], f = gates[H + u], g = gates[2 * H + u], o = gates[3 * H + u];
        const T tanh_c = std::tanh(c_t[u]);
        const T dct = dc[u] + dh[u] * o * (T(1) - tanh_c * tanh_c);
        dg[u] = dct * g * i * (T(1) - i);                 // d pre_i
        dg[H + u] = dct * c_prev[u] * f * (T(1) - f);     // d pre_f
        dg[2 * H + u] = dct * i * (T(1) - g * g);         // d pre_g
        dg[3 * H + u] = dh[u] * tanh_c * o * (T(1) - o);  // d pre_o
        dc[u] = dct * f;                                  // dL/dc_{t-1}
      }
    }
  }
};

}  // namespace fusedrnn
