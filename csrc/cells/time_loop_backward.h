// The backward (BPTT) time loop shared by every cell: one parallel region per layer-direction.
//
//   1. reverse-time loop, only the inherently sequential part: per step each thread takes its unit
//      blocks, forms dh_t = dy_t + dGh_{t+1} W_hh (+ the cell's direct term) for them (microkernel into
//      an L1 tile, A operand packed by the previous step), and hands it to Cell::backward, which writes
//      dG_t and updates its running state gradients. One barrier per step.
//   2. deferred large GEMMs over all steps: dx = dGx W_ih, dW_ih = dGx^T x, dW_hh = dGh^T h_prev, and
//      the bias gradients as column sums in a fixed row order.
//
// Threads split outputs only (units in the loop, tiles in the GEMMs, columns in the sums), so results
// are bitwise identical for any thread count.
#pragma once

#include <algorithm>

#include "cells/cell_tiles.h"
#include "cells/layer_config.h"
#include "cells/time_loop_forward.h"
#include "cells/workspace.h"
#include "gemm/gemm_driver.h"
#include "runtime/interrupt.h"
#include "runtime/threads.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

// Packs w [rows, units] as the B operand of a backward product (dG [N, rows] x w): panel b holds the NR
// columns (units) b*NR.. of w for every k < rows: dst[(b*rows + k)*NR + u] (zero past units). For the
// step, w_hh [G*H, S]; with a projection also W_hr [P, H] (dL/dm = dL/dh W_hr).
template <class T>
void pack_recurrent_backward(const T* w, std::int64_t units, std::int64_t rows, int nr, std::int64_t block,
                             T* dst) {
  T* panel = dst + block * rows * nr;
  for (std::int64_t k = 0; k < rows; ++k) {
    for (int u = 0; u < nr; ++u) {
      const std::int64_t j = block * nr + u;
      panel[k * nr + u] = j < units ? w[k * units + j] : T(0);
    }
  }
}

// Zeroes (or leaves, when accumulating) a parameter gradient that received no contribution.
template <class T>
void clear_unless_accumulating(T* grad, std::int64_t size, bool accumulate) {
  if (!grad || accumulate) return;
  for (std::int64_t i = 0; i < size; ++i) grad[i] = T(0);
}

// Adds a tile's rows of dG (rows n0.., this block's units of every gate) to the running bias sums:
// each column is summed by the thread that owns its unit, in the fixed order (step, then row), so the
// result does not depend on the thread count. Done while the tile is in L1: a separate pass over all of
// dG after the loop cost more (measured) than reading it here.
// dG: [N, GH] rows of this step; sums: [GH].
template <class T>
void add_bias_rows(const T* dG, std::int64_t GH, std::int64_t H, int G, std::int64_t n0, std::int64_t rows,
                   std::int64_t j0, std::int64_t units, T* __restrict sums) {
  for (std::int64_t r = 0; r < rows; ++r) {
    for (int g = 0; g < G; ++g) {
      const T* __restrict d = dG + (n0 + r) * GH + g * H + j0;
      T* __restrict s = sums + g * H + j0;
      for (std::int64_t u = 0; u < units; ++u) s[u] += d[u];
    }
  }
}

// db: [GH] (+)= sums: [GH], for this thread's units' columns of every gate.
template <class T>
void store_bias_grad(const T* sums, std::int64_t H, int G, std::int64_t u_begin, std::int64_t u_end, T* db,
                     bool accumulate) {
  if (!db) return;
  for (int g = 0; g < G; ++g) {
    for (std::int64_t j = g * H + u_begin; j < g * H + u_end; ++j)
      db[j] = accumulate ? db[j] + sums[j] : sums[j];
  }
}

// The backward's deferred products over all steps, after the reverse-time loop (dG complete), shared by
// the loops of every cell: dx = dGx W_ih, dW_ih = dGx^T x and dW_hh = dGh^T h_{t-1}, where the recurrent
// products saw h_{t-1} * mask under recurrent dropout (masked into masked_h, [(T+1)*N, S], first).
// dGx, dGh: [T,N,GH] with row stride dg_ld >= GH (dG written over a wider saved row: the layer-normalised
// LSTM's); S the width of h; h0: [N,S] (zeros when none was given).
template <class T>
void deferred_products(const ThreadContext& ctx, const Microkernel<T>& kernel, const LayerConfig& cfg,
                       const BackwardTensors<T>& io, const T* h0, const T* dgx_all, const T* dgh_all,
                       std::int64_t GH, std::int64_t dg_ld, std::int64_t S, T* masked_h, T* gemm_scratch) {
  const std::int64_t T_ = cfg.steps, N = cfg.batch, C = cfg.input_size;
  const bool acc = io.accumulate_param_grads;
  const Bf16Products bf16 = cfg.bf16();  // how every operand is packed
  const T* h_rows = io.y;                // h_t at time t, row stride h_ld
  std::int64_t h_ld = cfg.y_ld;
  const T* h_first = h0;  // h_{-1}, row stride S
  if (io.recurrent_mask) {
    const Range rows = split_range((T_ + 1) * N, ctx);
    for (std::int64_t q = rows.begin; q < rows.end; ++q) {
      const T* src = q < N ? h0 + q * S : io.y + (q - N) * cfg.y_ld;
      const T* m = io.recurrent_mask + (q % N) * S;
      T* dst = masked_h + q * S;
      for (std::int64_t j = 0; j < S; ++j) dst[j] = src[j] * m[j];
    }
    barrier(ctx);
    h_rows = masked_h + N * S;
    h_ld = S;
    h_first = masked_h;
  }
  gemm_part(ctx, kernel, {T_ * N, C, GH}, MatrixView<T>::row_major(dgx_all, dg_ld).with_bf16(bf16),
            MatrixView<T>::row_major(io.w_ih, C).with_bf16(bf16), io.dx, C, io.accumulate_dx, gemm_scratch);
  // dW_hh: step s pairs dGh at time_at(s) with h_{time_at(s-1)} for s >= 1 (contiguous in time in
  // both directions), and with h0 for s = 0.
  const std::int64_t dg_t0 = cfg.reverse ? 0 : 1, h_t0 = cfg.reverse ? 1 : 0;
  const MatrixView<T> dgh_later =
      MatrixView<T>::transposed(dgh_all + dg_t0 * N * dg_ld, dg_ld).with_bf16(bf16);
  const MatrixView<T> dgh_first =
      MatrixView<T>::transposed(dgh_all + cfg.time_at(0) * N * dg_ld, dg_ld).with_bf16(bf16);
  const MatrixView<T> h_later = MatrixView<T>::row_major(h_rows + h_t0 * N * h_ld, h_ld).with_bf16(bf16);
  const MatrixView<T> h_first_view = MatrixView<T>::row_major(h_first, S).with_bf16(bf16);
  // The first step's h_{t-1} is h0, zeros when none is given: its product runs anyway, so that h0=None
  // means exactly zeros (a NaN in dG then reaches dW_hh as it does with explicit zeros, as 0 * NaN).
  if (dgx_all == dgh_all) {
    // One dG for both weight gradients (LSTM, RNN): each block of dG^T is packed once for dW_ih and
    // dW_hh, so dW_ih is summed as dW_hh is, the steps after the first, then the first step's term.
    // Packing dG^T (a strided pass over all of dG) took 10.7 % of an LSTM mnist-row training step when
    // each product packed its own, 5.4 % once (perf, Zen 3, one thread); the step's instructions fell
    // 2.2 % (mnist-row) and 2.5 % (energy) under callgrind.
    const SharedAOutput<T> later[] = {
        {MatrixView<T>::row_major(io.x + dg_t0 * N * cfg.x_ld, cfg.x_ld).with_bf16(bf16), io.dw_ih, C, C},
        {h_later, io.dw_hh, S, S}};
    gemm_part_shared_a(ctx, kernel, GH, (T_ - 1) * N, dgh_later, later, 2, acc, gemm_scratch);
    const SharedAOutput<T> first[] = {
        {MatrixView<T>::row_major(io.x + cfg.time_at(0) * N * cfg.x_ld, cfg.x_ld).with_bf16(bf16), io.dw_ih,
         C, C},
        {h_first_view, io.dw_hh, S, S}};
    gemm_part_shared_a(ctx, kernel, GH, N, dgh_first, first, 2, true, gemm_scratch);
    return;
  }
  gemm_part(ctx, kernel, {GH, C, T_ * N}, MatrixView<T>::transposed(dgx_all, dg_ld).with_bf16(bf16),
            MatrixView<T>::row_major(io.x, cfg.x_ld).with_bf16(bf16), io.dw_ih, C, acc, gemm_scratch);
  gemm_part(ctx, kernel, {GH, S, (T_ - 1) * N}, dgh_later, h_later, io.dw_hh, S, acc, gemm_scratch);
  gemm_part(ctx, kernel, {GH, S, N}, dgh_first, h_first_view, io.dw_hh, S, true, gemm_scratch);
}

// The backward's workspace, carved from io.workspace (or measured, over nullptr).
//
// dL/d(W_ih x_t + b_ih) of all steps is written over the forward's saved gates (io.gates) in cells that
// save them (kSavesGates): a tile's cell derivative reads that tile's gates at t and nothing else of
// them (no other tile, step or thread does), before it writes the tile's dG there, and after the loop
// only dG, x and h are read. So the backward consumes the forward's workspace (engine/stack_plan.h), and
// keeps no [T,N,G*H] of its own for it. Where it stays a buffer here, and why:
//   - the vanilla RNN saves no gates (its derivative needs only h_t, which is y): nothing to write over;
//   - the GRU's dL/d(W_hh h + b_hh) (kSeparateRecurrentGrad) is a second [T,N,G*H], and the store's only
//     other piece per step is the [T,N,H] per-unit workspace.
template <class Cell, class T>
struct BackwardWorkspace {
  T* dgates_x = nullptr;        // dgates_x: [T,N,G*H] dL/d(W_ih x_t + b_ih), all steps (!kSavesGates)
  T* dgates_h = nullptr;        // dgates_h: [T,N,G*H] dL/d(W_hh h + b_hh) (cells that separate them)
  T* dh_direct = nullptr;       // dh_direct: [N,H] (kDirectStateGrad)
  T* dh_stash = nullptr;        // dh_stash: [N,H] (kTwoPhaseStep)
  T* dn_packed = nullptr;       // the second product's A operand, [row_panels][H][MR] (kTwoPhaseStep)
  T* masked_h = nullptr;        // [T+1, N, S] h0, h_0 .. h_{T-1} times the recurrent mask (recurrent dropout)
  T* dh_all = nullptr;          // projection: [T,N,P] dL/dh_t of every step (for dW_hr)
  T* dh_packed = nullptr;       // projection: the second product's A operand, [row_panels][P][MR]
  T* w_hr_packed = nullptr;     // projection: W_hr packed as its B operand, [unit_blocks][P][NR]
  T* w_packed = nullptr;        // W_hh packed as the step's B operand, [state_blocks][G*H][NR]
  T* dg_packed = nullptr;       // two A operands of the step, [row_panels][G*H][MR] each
  T* zeros = nullptr;           // zeros: [N*H] h0 / c0 when none is given
  T* bias_sums_x = nullptr;     // [G*H]
  T* bias_sums_h = nullptr;     // [G*H] (cells that separate them)
  T* thread_scratch = nullptr;  // per thread: GEMM scratch, then one MR x NR tile
  std::int64_t scratch_per_thread = 0;
  std::int64_t elements = 0;

  BackwardWorkspace(const LayerConfig& cfg, int threads, T* base) {
    const Microkernel<T>& kernel = microkernel<T>();
    const StepKernel<T> step = step_kernel<T>(cfg.batch);
    const std::int64_t T_ = cfg.steps, N = cfg.batch, H = cfg.hidden, GH = Cell::kGates * H;
    const std::int64_t S = cfg.state_width(), P = cfg.proj_size;
    const std::int64_t row_panels = (N + step.mr - 1) / step.mr;
    const std::int64_t unit_blocks = (H + step.nr - 1) / step.nr;
    const std::int64_t state_blocks = (S + step.nr - 1) / step.nr;
    WorkspaceCarver<T> carve(base);
    dgates_x = carve.take(Cell::kSavesGates ? 0 : T_ * N * GH);
    dgates_h = carve.take(Cell::kSeparateRecurrentGrad ? T_ * N * GH : 0);
    dh_direct = carve.take(Cell::kDirectStateGrad ? N * H : 0);
    dh_stash = carve.take(Cell::kTwoPhaseStep ? N * H : 0);
    dn_packed = carve.take(Cell::kTwoPhaseStep ? row_panels * H * step.mr : 0);
    masked_h = carve.take(cfg.recurrent_dropout ? (T_ + 1) * N * S : 0);
    dh_all = carve.take(T_ * N * P);
    dh_packed = carve.take(row_panels * P * step.mr);
    w_hr_packed = carve.take(unit_blocks * P * step.nr);
    w_packed = carve.take(state_blocks * GH * step.nr);
    dg_packed = carve.take(2 * row_panels * GH * step.mr);
    zeros = carve.take(N * std::max(H, S));
    bias_sums_x = carve.take(GH);
    bias_sums_h = carve.take(Cell::kSeparateRecurrentGrad ? GH : 0);
    // The tiles: one MR x NR, or up to MR of one row each with the row kernel (blocks_per_call).
    scratch_per_thread = gemm_scratch_elements(kernel) + std::int64_t{kernel.mr} * kernel.nr;
    thread_scratch = carve.take(scratch_per_thread * threads);
    elements = carve.used();
  }
};

template <class Cell, class T>
std::int64_t backward_workspace_elements(const LayerConfig& cfg, int threads) {
  return BackwardWorkspace<Cell, T>(cfg, threads, nullptr).elements;
}

// io.workspace: backward_workspace_elements(cfg, num_threads) elements, 64-byte aligned.
template <class Cell, class T>
void time_loop_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {
  const Microkernel<T>& kernel = microkernel<T>();
  const Bf16Products bf16 = cfg.bf16();  // how every packed operand holds its values
  const StepKernel<T> step = step_kernel<T>(cfg.batch, bf16);
  const int mr = step.mr, nr = step.nr, G = Cell::kGates;
  const std::int64_t T_ = cfg.steps, N = cfg.batch, C = cfg.input_size, H = cfg.hidden, GH = G * H;
  const bool acc = io.accumulate_param_grads;
  // S: the width of h (H, or P with a projection h_t = W_hr m_t, m_t = o * act(c_t)).
  const std::int64_t S = cfg.state_width(), P = cfg.proj_size;
  const bool projected = P > 0;

  if (T_ == 0 || N == 0) {  // no step: gradients flow straight through the state, parameters get none
    for (std::int64_t e = 0; e < N * S; ++e) io.dh0[e] = io.dh_n ? io.dh_n[e] : T(0);
    for (std::int64_t e = 0; Cell::kHasCellState && e < N * H; ++e) io.dc0[e] = io.dc_n ? io.dc_n[e] : T(0);
    clear_unless_accumulating(io.dw_ih, GH * C, acc);
    clear_unless_accumulating(io.dw_hh, GH * S, acc);
    clear_unless_accumulating(io.dw_hr, P * H, acc);
    clear_unless_accumulating(io.db_ih, GH, acc);
    clear_unless_accumulating(io.db_hh, GH, acc);
    return;
  }

  const std::int64_t row_panels = (N + mr - 1) / mr, unit_blocks = (H + nr - 1) / nr;
  const std::int64_t state_blocks = (S + nr - 1) / nr;
  const BackwardWorkspace<Cell, T> ws(cfg, num_threads, io.workspace);
  T* dgx_all = Cell::kSavesGates ? io.gates : ws.dgates_x;  // dG over the gates (BackwardWorkspace)
  T* dgh_all = Cell::kSeparateRecurrentGrad ? ws.dgates_h : dgx_all;
  if (Cell::kDirectStateGrad) fill(ws.dh_direct, N * H, T(0));
  // Padding rows of the last row panel are read by the microkernel and must hold numbers (zeros).
  for (int half = 0; half < 2; ++half) {
    fill(ws.dg_packed + (half * row_panels + row_panels - 1) * GH * mr, GH * mr, T(0));
  }
  if (Cell::kTwoPhaseStep) fill(ws.dn_packed + (row_panels - 1) * H * mr, H * mr, T(0));
  if (projected) fill(ws.dh_packed + (row_panels - 1) * P * mr, P * mr, T(0));
  zero_pair_padding(ws.dg_packed, 2 * row_panels, GH, mr, bf16);
  if (Cell::kTwoPhaseStep) zero_pair_padding(ws.dn_packed, row_panels, H, mr, bf16);
  if (projected) zero_pair_padding(ws.dh_packed, row_panels, P, mr, bf16);
  if (!io.c0 || !io.h0) fill(ws.zeros, N * std::max(H, S), T(0));
  const T* c0 = io.c0 ? io.c0 : ws.zeros;
  const T* h0 = io.h0 ? io.h0 : ws.zeros;
  const bool bias = io.db_ih || io.db_hh;
  if (bias) {
    fill(ws.bias_sums_x, GH, T(0));
    if (Cell::kSeparateRecurrentGrad) fill(ws.bias_sums_h, GH, T(0));
  }
  T* const w_packed = ws.w_packed;
  T* const dg_packed = ws.dg_packed;
  T* const dh_direct = ws.dh_direct;
  // Blocks of units per product call (several only with the row kernel): block q of a call has its
  // MR x NR tile at tile + q*mr*NR.
  const std::int64_t group = step.blocks_per_call(1, kernel.mr);

  parallel_region(num_threads, [&](const ThreadContext& ctx) {
    T* gemm_scratch = ws.thread_scratch + ctx.id * ws.scratch_per_thread;
    T* tile = gemm_scratch + gemm_scratch_elements(kernel);

    const Range blocks = split_range(unit_blocks, ctx);
    const std::int64_t u_begin = blocks.begin * nr, u_end = std::min(H, blocks.end * nr);
    const Range h_blocks = split_range(state_blocks, ctx);  // blocks of h's units (= blocks unprojected)
    // Under bf16 products every packed operand is rounded to bf16 or held as bf16 pairs (a block's
    // panel, once packed).
    for (std::int64_t b = h_blocks.begin; b < h_blocks.end; ++b) {
      pack_recurrent_backward(io.w_hh, S, GH, nr, b, w_packed);
      finish_packed_panels(w_packed + b * GH * nr, 1, GH, nr, bf16);
    }
    for (std::int64_t b = blocks.begin; projected && b < blocks.end; ++b) {
      pack_recurrent_backward(io.w_hr, H, P, nr, b, ws.w_hr_packed);
      finish_packed_panels(ws.w_hr_packed + b * P * nr, 1, P, nr, bf16);
    }
    if (Cell::kHasCellState) {
      for (std::int64_t n = 0; n < N; ++n) {
        for (std::int64_t j = u_begin; j < u_end; ++j)
          io.dc0[n * H + j] = io.dc_n ? io.dc_n[n * H + j] : T(0);
      }
    }
    // No barrier yet: the first processed step reads only this thread's own packed panels and state.

    // dL/dh for the tile (row panel p, block b) past the step processed just before (later in time):
    // dGh W_hh from that step's packed dGh plus the cell's direct term, or dh_n at the first step.
    // Blocks b .. b+count-1 at once (their tiles at tile + q*mr*nr).
    auto state_gradient = [&](const T* dg_read, std::int64_t p, std::int64_t b, std::int64_t count,
                              bool first) {
      const std::int64_t n0 = p * mr;
      if (!first) {
        step(GH, dg_read + p * GH * mr, w_packed + b * GH * nr, GH * nr, count, tile, mr * nr, nr,
             step.panel_rows(p, N));
      }
      for (std::int64_t q = 0; q < count; ++q) {
        const std::int64_t j0 = (b + q) * nr;
        T* bt = tile + q * mr * nr;
        if (first) {
          for (std::int64_t r = 0; r < mr; ++r) {
            for (int u = 0; u < nr; ++u) {
              const std::int64_t n = n0 + r, j = j0 + u;
              bt[r * nr + u] = io.dh_n && n < N && j < S ? io.dh_n[n * S + j] : T(0);
            }
          }
          continue;
        }
        if (io.recurrent_mask) {  // the products saw h_{t-1} * mask: so does their gradient
          for (std::int64_t r = 0; r < std::min<std::int64_t>(mr, N - n0); ++r) {
            const T* m = io.recurrent_mask + (n0 + r) * S + j0;
            for (std::int64_t u = 0; u < std::min<std::int64_t>(nr, S - j0); ++u) bt[r * nr + u] *= m[u];
          }
        }
        if (Cell::kDirectStateGrad) {
          for (std::int64_t r = 0; r < std::min<std::int64_t>(mr, N - n0); ++r) {
            for (std::int64_t u = 0; u < std::min<std::int64_t>(nr, H - j0); ++u) {
              bt[r * nr + u] += dh_direct[(n0 + r) * H + j0 + u];
            }
          }
        }
      }
    };

    // 1. Reverse-time loop over processed steps s = T-1 .. 0.
    for (std::int64_t s = T_ - 1; s >= 0; --s) {
      const std::int64_t t = cfg.time_at(s), t_prev = s > 0 ? cfg.time_at(s - 1) : -1;
      const T* dg_read = dg_packed + ((s + 1) & 1) * row_panels * GH * mr;
      T* dg_write = dg_packed + (s & 1) * row_panels * GH * mr;
      BackwardTile<T> st;
      st.hidden = H;
      st.activation = cfg.activation;
      st.recurrent_activation = cfg.recurrent_activation;
      st.dh = tile;
      st.dh_ld = nr;
      st.gates = Cell::kSavesGates ? io.gates + t * N * GH : nullptr;
      st.saved = Cell::kSavesPerUnit ? io.saved + t * N * H : nullptr;
      st.cell_prev = Cell::kHasCellState ? (s == 0 ? c0 : io.saved + t_prev * N * H) : nullptr;
      st.h = io.y + t * N * cfg.y_ld;
      st.h_ld = cfg.y_ld;
      st.h_prev = s == 0 ? h0 : io.y + t_prev * N * cfg.y_ld;
      st.h_prev_ld = s == 0 ? S : cfg.y_ld;
      st.dcell = Cell::kHasCellState ? io.dc0 : nullptr;
      st.dgates_x = dgx_all + t * N * GH;
      st.dgates_h = dgh_all + t * N * GH;
      st.dh_direct = Cell::kDirectStateGrad ? dh_direct : nullptr;
      st.recurrent_mask = io.recurrent_mask;
      const T* dy = io.dy ? io.dy + t * N * cfg.y_ld : nullptr;
      // dL/dh_t of the tile: from the step after it (or dh_n), plus dy_t.
      // Blocks b .. b+count-1 of width `width` (H, or P for h's units) at once.
      auto tile_state_gradient = [&](std::int64_t p, std::int64_t b, std::int64_t count, std::int64_t width) {
        state_gradient(dg_read, p, b, count, s == T_ - 1);
        const std::int64_t n0 = p * mr, rows = std::min<std::int64_t>(mr, N - n0);
        for (std::int64_t q = 0; dy && q < count; ++q) {
          const std::int64_t j0 = (b + q) * nr, units = std::min<std::int64_t>(nr, width - j0);
          for (std::int64_t r = 0; r < rows; ++r) {
            const T* dyr = dy + (n0 + r) * cfg.y_ld + j0;
            for (std::int64_t u = 0; u < units; ++u) tile[(q * mr + r) * nr + u] += dyr[u];
          }
        }
      };
      // After the cell has written the tile's dG: bias sums, and dGh packed for the next step's product.
      auto finish_tile = [&]() {
        if (bias) {
          add_bias_rows(st.dgates_x, GH, H, G, st.n0, st.rows, st.j0, st.units, ws.bias_sums_x);
          if (Cell::kSeparateRecurrentGrad) {
            add_bias_rows(st.dgates_h, GH, H, G, st.n0, st.rows, st.j0, st.units, ws.bias_sums_h);
          }
        }
        for (int g = 0; g < G; ++g) {
          pack_tile_to_panel(st.dgates_h, GH, st.n0, st.rows, g * H + st.j0, st.units, GH, mr, dg_write,
                             static_cast<const T*>(nullptr), 0, bf16);
        }
      };
      // Tile (p, b + q) of a call over blocks from b.
      auto set_tile = [&](std::int64_t p, std::int64_t b, std::int64_t q, std::int64_t width) {
        st.dh = tile + q * mr * nr;
        st.j0 = (b + q) * nr;
        st.units = std::min<std::int64_t>(nr, width - st.j0);
        st.n0 = p * mr;
        st.rows = std::min<std::int64_t>(mr, N - st.n0);
      };
      if constexpr (Cell::kTwoPhaseStep) {
        // Phase 1: dn_pre (and dz_pre) of every tile, dn_pre packed as the A operand of the second
        // product dL/d(r*h) = dn_pre W_hn, which reads every thread's units.
        st.dh_stash = ws.dh_stash;
        for (std::int64_t b = blocks.begin; b < blocks.end; b += group) {
          const std::int64_t m = std::min(group, blocks.end - b);
          for (std::int64_t p = 0; p < row_panels; ++p) {
            tile_state_gradient(p, b, m, H);
            for (std::int64_t q = 0; q < m; ++q) {
              set_tile(p, b, q, H);
              Cell::backward_update(st);
              pack_tile_to_panel(st.dgates_x + 2 * H, GH, st.n0, st.rows, st.j0, st.units, H, mr,
                                 ws.dn_packed, static_cast<const T*>(nullptr), 0, bf16);
            }
          }
        }
        barrier(ctx);
        for (std::int64_t b = blocks.begin; b < blocks.end; b += group) {
          const std::int64_t m = std::min(group, blocks.end - b);
          for (std::int64_t p = 0; p < row_panels; ++p) {
            // W_hn: the panel's steps from 2H (an even step, so a whole pair under bf16 pairs).
            step(H, ws.dn_packed + p * H * mr, w_packed + b * GH * nr + packed_steps_offset(2 * H, nr, bf16),
                 GH * nr, m, tile, mr * nr, nr, step.panel_rows(p, N));
            for (std::int64_t q = 0; q < m; ++q) {
              set_tile(p, b, q, H);
              Cell::backward(st);
              finish_tile();
            }
          }
        }
      } else if (projected) {
        // Phase 1: dL/dh_t for this thread's units of h, kept for dW_hr and packed as the A operand of
        // dL/dm_t = dL/dh_t W_hr, which reads every thread's units. Phase 2: the cell's derivative.
        T* dh_t = ws.dh_all + t * N * P;
        for (std::int64_t b = h_blocks.begin; b < h_blocks.end; b += group) {
          const std::int64_t m = std::min(group, h_blocks.end - b);
          for (std::int64_t p = 0; p < row_panels; ++p) {
            tile_state_gradient(p, b, m, P);
            for (std::int64_t q = 0; q < m; ++q) {
              set_tile(p, b, q, P);
              for (std::int64_t r = 0; r < st.rows; ++r) {
                for (std::int64_t u = 0; u < st.units; ++u)
                  dh_t[(st.n0 + r) * P + st.j0 + u] = st.dh[r * nr + u];
              }
              pack_tile_to_panel(dh_t, P, st.n0, st.rows, st.j0, st.units, P, mr, ws.dh_packed,
                                 static_cast<const T*>(nullptr), 0, bf16);
            }
          }
        }
        barrier(ctx);
        for (std::int64_t b = blocks.begin; b < blocks.end; b += group) {
          const std::int64_t m = std::min(group, blocks.end - b);
          for (std::int64_t p = 0; p < row_panels; ++p) {
            step(P, ws.dh_packed + p * P * mr, ws.w_hr_packed + b * P * nr, P * nr, m, tile, mr * nr, nr,
                 step.panel_rows(p, N));
            for (std::int64_t q = 0; q < m; ++q) {
              set_tile(p, b, q, H);
              Cell::backward(st);
              finish_tile();
            }
          }
        }
      } else {
        for (std::int64_t b = blocks.begin; b < blocks.end; b += group) {
          const std::int64_t m = std::min(group, blocks.end - b);
          for (std::int64_t p = 0; p < row_panels; ++p) {
            tile_state_gradient(p, b, m, H);
            for (std::int64_t q = 0; q < m; ++q) {
              set_tile(p, b, q, H);
              Cell::backward(st);
              finish_tile();
            }
          }
        }
      }
      if (step_end(ctx, io.interrupt, s)) return;  // every thread stops at the same step
    }

    // dh0: the state gradient past the first processed step (packed dGh written at s = 0).
    for (std::int64_t b = h_blocks.begin; b < h_blocks.end; b += group) {
      const std::int64_t m = std::min(group, h_blocks.end - b);
      for (std::int64_t p = 0; p < row_panels; ++p) {
        state_gradient(dg_packed, p, b, m, false);
        for (std::int64_t q = 0; q < m; ++q) {
          const std::int64_t j0 = (b + q) * nr;
          for (std::int64_t r = 0; r < std::min<std::int64_t>(mr, N - p * mr); ++r) {
            for (std::int64_t u = 0; u < std::min<std::int64_t>(nr, S - j0); ++u) {
              io.dh0[(p * mr + r) * S + j0 + u] = tile[(q * mr + r) * nr + u];
            }
          }
        }
      }
    }

    // 2. Deferred GEMMs over all steps (dG is complete after the loop's last barrier).
    deferred_products(ctx, kernel, cfg, io, h0, dgx_all, dgh_all, GH, GH, S, ws.masked_h, gemm_scratch);
    if (projected) {  // h_t = W_hr m_t: dW_hr = sum over steps of dL/dh_t^T m_t
      gemm_part(ctx, kernel, {P, H, T_ * N}, MatrixView<T>::transposed(ws.dh_all, P).with_bf16(bf16),
                MatrixView<T>::row_major(io.cell_output, H).with_bf16(bf16), io.dw_hr, H, acc, gemm_scratch);
    }
    if constexpr (Cell::kTwoPhaseStep) {
      // The n gate's recurrent product is W_hn (r * h): dW_hn = dn_pre^T (r * h_{t-1}) over all steps
      // (dn_pre is the n columns of dGx; the main product above left those rows of dW_hh untouched
      // but for + 0), and db_hn = db_in. The barrier: that product's tiles belong to other threads.
      barrier(ctx);
      gemm_part(ctx, kernel, {H, H, T_ * N}, MatrixView<T>::transposed(dgx_all + 2 * H, GH).with_bf16(bf16),
                MatrixView<T>::row_major(io.saved, H).with_bf16(bf16), io.dw_hh + 2 * H * H, H, true,
                gemm_scratch);
      if (bias) {
        for (std::int64_t j = u_begin; j < u_end; ++j) ws.bias_sums_h[2 * H + j] = ws.bias_sums_x[2 * H + j];
      }
    }
    // Bias gradients (b_ih and b_hh enter the same sum unless the cell separates them).
    const T* sums_h = Cell::kSeparateRecurrentGrad ? ws.bias_sums_h : ws.bias_sums_x;
    store_bias_grad(ws.bias_sums_x, H, G, u_begin, u_end, io.db_ih, acc);
    store_bias_grad(sums_h, H, G, u_begin, u_end, io.db_hh, acc);
  });
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
