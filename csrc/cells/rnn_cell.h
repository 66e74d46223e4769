// Vanilla RNN pointwise step: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu,
// and its derivative, for one tile (see cell_tiles.h). The derivative needs only h_t (the output), so
// training keeps no workspace beyond y.
#pragma once

#include "cells/activations.h"
#include "cells/cell_tiles.h"

namespace fusedrnn {

template <class Activation>
struct RnnCell {
  static constexpr int kGates = 1;
  static constexpr bool kHasCellState = false;
  static constexpr bool kSavesGates = false;
  static constexpr bool kSavesPerUnit = false;
  static constexpr bool kSeparateRecurrentGrad = false;
  static constexpr bool kDirectStateGrad = false;

  template <class T>
  static void forward(const ForwardTile<T>& s) {
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* gx = s.gx + n * s.hidden + s.j0;
      const T* gh = s.gh + r * s.gh_ld;
      const T* bh = s.b_hh ? s.b_hh + s.j0 : nullptr;
      T* h = s.h + n * s.h_ld + s.j0;
      for (std::int64_t u = 0; u < s.units; ++u) {
        const T pre = gx[u] + gh[u] + (bh ? bh[u] : T(0));
        h[u] = Activation::apply(pre);
      }
    }
  }

  template <class T>
  static void backward(const BackwardTile<T>& s) {
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* dh = s.dh + r * s.dh_ld;
      const T* h = s.h + n * s.h_ld + s.j0;
      T* dg = s.dgates_x + n * s.hidden + s.j0;
      for (std::int64_t u = 0; u < s.units; ++u) dg[u] = dh[u] * Activation::derivative_from_output(h[u]);
    }
  }
};

}  // namespace fusedrnn
