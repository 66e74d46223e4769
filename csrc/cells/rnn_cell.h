// Vanilla RNN pointwise step: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act the layer's
// activation (PyTorch's nonlinearity tanh / relu, or any of cells/activation.h),
// and its derivative, for one tile (see cell_tiles.h). The derivative needs only h_t (the output), so
// training keeps no workspace beyond y.
#pragma once

#include "cells/cell_tiles.h"
#include "cells/cell_traits.h"
#include "simd/activation_passes.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

struct RnnCell : RnnTraits {
  template <class T>
  static void forward(const ForwardTile<T>& s) {
    const std::int64_t U = s.units;
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* gh = s.gh + r * s.gh_ld;
      const T* bx = s.b_ih + s.j0;
      const T* bh = s.b_hh + s.j0;
      T* h = s.h + n * s.h_ld + s.j0;
      if (s.gx) {
        const T* gx = s.gx + n * s.hidden + s.j0;
        for (std::int64_t u = 0; u < U; ++u) h[u] = gx[u] + bx[u] + gh[u] + bh[u];
      } else {  // input fused into gh
        for (std::int64_t u = 0; u < U; ++u) h[u] = gh[u] + (bx[u] + bh[u]);
      }
      activate_inplace(s.activation, h, U);
    }
  }

  template <class T>
  static void backward(const BackwardTile<T>& s) {
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* dh = s.dh + r * s.dh_ld;
      const T* h = s.h + n * s.h_ld + s.j0;
      T* dg = s.dgates_x + n * s.hidden + s.j0;
      derivative_from_output(s.activation, h, dg, s.units);
      for (std::int64_t u = 0; u < s.units; ++u) dg[u] *= dh[u];
    }
  }
};

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
