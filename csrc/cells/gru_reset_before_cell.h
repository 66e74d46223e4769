// GRU pointwise steps, reset-before form (the original paper's, Keras's reset_after=False), PyTorch's
// gate order r, z, n, rec / act the recurrent activation and activation:
//   r = rec(W_ir x + b_ir + W_hr h + b_hr),  z = rec(W_iz x + b_iz + W_hz h + b_hz)
//   n = act(W_in x + b_in + W_hn (r * h) + b_hn),  h_t = (1 - z) * n + z * h_{t-1}
//
// The reset gate enters the recurrent product, so each step has two products with a barrier between
// them (kTwoPhaseStep, see the time loops): phase 1 computes r and z from W_h{r,z} h_{t-1} and writes
// r * h_{t-1} (kept for the backward as the per-unit workspace); phase 2 computes W_hn (r * h) and the
// state. The backward mirrors it: phase 1 forms dL/dn_pre and dL/dz_pre from dL/dh_t; phase 2 gets
// dL/d(r*h) = dn_pre W_hn from a second product and finishes dL/dr_pre and the direct state term
// d(r*h) * r + dh * z. The recurrent gradient of the n gate is carried by the input one (dGh_n is zero
// in the step's product; the time loop adds dW_hn = dn_pre^T (r*h) and db_hn = db_in).
#pragma once

#include "cells/cell_tiles.h"
#include "cells/cell_traits.h"
#include "simd/activation_passes.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

struct GruResetBeforeCell : GruResetBeforeTraits {
  // Phase 1: gh holds W_h{r,z} h_{t-1} for gates 0, 1. Writes r, z into s.gates and r * h_{t-1} into
  // s.saved (both [N, .] at this step).
  template <class T>
  static void forward_reset(const ForwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 3 * H, gs = s.gate_stride, U = s.units;
    T rz[2][kMaxTileUnits];
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
      activate_inplace(s.recurrent_activation, rz[0], U);
      activate_inplace(s.recurrent_activation, rz[1], U);
      const T* h_prev = s.h_prev + n * s.h_prev_ld + s.j0;
      T* reset_h = s.saved + n * H + s.j0;
      T* gates = s.gates + n * GH + s.j0;  // may alias gx: this row's r, z inputs are read
      for (std::int64_t u = 0; u < U; ++u) {
        reset_h[u] = rz[0][u] * h_prev[u];
        gates[u] = rz[0][u];
        gates[H + u] = rz[1][u];
      }
      if (s.recurrent_mask) {  // the product sees h_{t-1} times the recurrent-dropout mask
        const T* m = s.recurrent_mask + n * H + s.j0;
        for (std::int64_t u = 0; u < U; ++u) reset_h[u] *= m[u];
      }
    }
  }

  // Phase 2: gh holds W_hn (r * h_{t-1}) for gate 2. Writes n into s.gates and h_t.
  template <class T>
  static void forward(const ForwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 3 * H, gs = s.gate_stride, U = s.units;
    T cand[kMaxTileUnits];
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* gx = s.gx + n * GH + s.j0;
      const T* gh = s.gh + r * s.gh_ld + 2 * gs;
      const T* bx = s.b_ih + 2 * H + s.j0;
      const T* bh = s.b_hh + 2 * H + s.j0;
      for (std::int64_t u = 0; u < U; ++u) cand[u] = gx[2 * H + u] + bx[u] + gh[u] + bh[u];
      activate_inplace(s.activation, cand, U);
      const T* h_prev = s.h_prev + n * s.h_prev_ld + s.j0;
      T* gates = s.gates + n * GH + s.j0;
      const T* z = gates + H;
      T* h = s.h + n * s.h_ld + s.j0;
      for (std::int64_t u = 0; u < U; ++u) {
        h[u] = (T(1) - z[u]) * cand[u] + z[u] * h_prev[u];
        gates[2 * H + u] = cand[u];
      }
    }
  }

  // dGx is written over the gates (s.dgates_x is s.gates, time_loop_backward.h), so each phase writes a
  // unit's gate column only once nothing reads it any more: phase 2 reads r and z.

  // Backward phase 1: s.dh is dL/dh_t. Writes dn_pre (dgates_x, gate 2, over n), dz_pre (gate 1 of
  // dgates_h; phase 2 copies it to dgates_x) and zero for gate 2 of dgates_h, and keeps dL/dh_t in
  // s.dh_stash for phase 2.
  template <class T>
  static void backward_update(const BackwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 3 * H, U = s.units;
    T d_act[kMaxTileUnits], d_rec[kMaxTileUnits];
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* dh = s.dh + r * s.dh_ld;
      const T* gates = s.gates + n * GH + s.j0;
      const T* z = gates + H;
      const T* cand = gates + 2 * H;
      const T* h_prev = s.h_prev + n * s.h_prev_ld + s.j0;
      T* dgx = s.dgates_x + n * GH + s.j0;
      T* dgh = s.dgates_h + n * GH + s.j0;
      T* stash = s.dh_stash + n * H + s.j0;
      derivative_from_output(s.activation, cand, d_act, U);
      derivative_from_output(s.recurrent_activation, z, d_rec, U);
      for (std::int64_t u = 0; u < U; ++u) {
        const T dn_pre = dh[u] * (T(1) - z[u]) * d_act[u];
        const T dz_pre = dh[u] * (h_prev[u] - cand[u]) * d_rec[u];
        dgx[2 * H + u] = dn_pre;
        dgh[H + u] = dz_pre;
        dgh[2 * H + u] = T(0);
        stash[u] = dh[u];
      }
    }
  }

  // Backward phase 2: s.dh is dL/d(r * h_{t-1}) = dn_pre W_hn. Writes dr_pre (gate 0 of both, over r),
  // dz_pre into dgates_x (over z) and the direct part of dL/dh_{t-1}.
  template <class T>
  static void backward(const BackwardTile<T>& s) {
    const std::int64_t H = s.hidden, GH = 3 * H, U = s.units;
    T d_rec[kMaxTileUnits];
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t n = s.n0 + r;
      const T* d_reset_h = s.dh + r * s.dh_ld;
      const T* gates = s.gates + n * GH + s.j0;
      const T* rg = gates;
      const T* z = gates + H;
      const T* h_prev = s.h_prev + n * s.h_prev_ld + s.j0;
      const T* dh = s.dh_stash + n * H + s.j0;
      T* dgx = s.dgates_x + n * GH + s.j0;
      T* dgh = s.dgates_h + n * GH + s.j0;
      T* direct = s.dh_direct + n * H + s.j0;
      derivative_from_output(s.recurrent_activation, rg, d_rec, U);
      if (s.recurrent_mask) {  // r * (h_{t-1} * m): both factors' gradients carry m
        const T* m = s.recurrent_mask + n * H + s.j0;
        for (std::int64_t u = 0; u < U; ++u) {
          const T dr_pre = d_reset_h[u] * h_prev[u] * m[u] * d_rec[u];
          direct[u] = d_reset_h[u] * rg[u] * m[u] + dh[u] * z[u];
          dgx[u] = dr_pre;
          dgx[H + u] = dgh[H + u];
          dgh[u] = dr_pre;
        }
        continue;
      }
      for (std::int64_t u = 0; u < U; ++u) {
        const T dr_pre = d_reset_h[u] * h_prev[u] * d_rec[u];
        direct[u] = d_reset_h[u] * rg[u] + dh[u] * z[u];
        dgx[u] = dr_pre;
        dgx[H + u] = dgh[H + u];
        dgh[u] = dr_pre;
      }
    }
  }
};

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
