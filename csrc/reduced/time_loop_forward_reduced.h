// The forward time loop of the reduced-precision formats (bf16, int8; float32 inference only), for every
// cell. It follows the float loop (cells/time_loop_forward.h): one parallel region per layer-direction,
// each thread owning unit blocks of all G gates, the cell's pointwise step run on each tile while it is in
// L1, so the cells' gate math, activations and options are the same code. What differs is the operands:
//
//   - every product reads weights packed once in the reduced format (reduced/reduced_pack.h) and an A
//     operand quantised from float32 rows (reduced/quantize.h): x rows per chunk of steps, h_{t-1} per
//     step, r * h_{t-1} (GRU, reset before) and o * act(c_t) (projection) per phase. An int8 row's scale
//     needs the whole row, which several threads write, so each operand is packed after a barrier by the
//     threads in turn (split by row panels) and read after another; a small h_{t-1} (at most
//     kPrivateStateElements) is instead packed whole by every thread into its own copy, which saves the
//     second barrier of each step.
//   - the input projection is never folded into the step (x and h get their own scales); each thread
//     computes W_ih x for its own unit blocks, which are the only columns its steps read.
//   - the products write float32 tiles (reduced/reduced_microkernel.h); gates, state and outputs stay
//     float32.
// Compiled per ISA (the cells' pointwise code is); the reduced kernels come from active_reduced_path.
#pragma once

#include <algorithm>

#include "cells/cell_tiles.h"
#include "cells/layer_config.h"
#include "cells/workspace.h"
#include "reduced/quantize.h"
#include "reduced/reduced_pack.h"
#include "runtime/interrupt.h"
#include "runtime/threads.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

// A quantised A operand: row panels of `mr` rows, [k_groups][mr] words each, and one scale per row.
// h_{t-1} up to this many elements is packed by every thread for itself (no barrier between packing and
// the products): a few microseconds of repeated work at most, against a barrier per step.
constexpr std::int64_t kPrivateStateElements = 16384;

struct ReducedOperand {
  const ReducedMicrokernel* kernel = nullptr;  // the kernel for its row count; mr = kernel->mr
  std::uint32_t* words = nullptr;
  float* scales = nullptr;
  std::int64_t k = 0, k_groups = 0, panels = 0;
  int mr = 1;

  std::int64_t copy_words = 0, copy_scales = 0;  // the distance between per-thread copies (private)

  const std::uint32_t* panel(std::int64_t p) const { return words + p * k_groups * mr; }
  const float* panel_scales(std::int64_t p) const { return scales + p * mr; }
  // Thread `id`'s copy (the operand itself when it is shared).
  ReducedOperand copy(int id) const {
    ReducedOperand o = *this;
    o.words += id * copy_words;
    o.scales += id * copy_scales;
    return o;
  }
};

// The reduced forward's workspace in 4-byte words (float elements), carved from io.workspace.
template <class Cell>
struct ReducedForwardWorkspace {
  float* gx = nullptr;         // [chunk_steps*N, G*H] W_ih x of a chunk of steps
  ReducedOperand x, h;         // the chunk's x rows; h_{t-1}
  ReducedOperand reset;        // kTwoPhaseStep: r * h_{t-1}
  float* reset_h = nullptr;    // kTwoPhaseStep: [N,H]
  ReducedOperand cell;         // projection: o * act(c_t)
  float* cell_out = nullptr;   // projection: [N,H]
  float* zeros = nullptr;      // [N*S] h0 when none is given
  float* zero_bias = nullptr;  // [G*H] when the layer has no bias
  float* tiles = nullptr;      // per thread: one MR x G*NR tile
  bool private_h = false;      // h is packed by every thread into its own copy (kPrivateStateElements)
  std::int64_t tile_elements = 0, chunk_steps = 0, elements = 0;

  ReducedForwardWorkspace(const LayerConfig& cfg, int threads, float* base) {
    const WeightFormat f = cfg.weight_format;
    const ReducedPath& path = active_reduced_path(f);
    const std::int64_t N = std::max<std::int64_t>(cfg.batch, 1), H = cfg.hidden, GH = Cell::kGates * H;
    const std::int64_t S = cfg.state_width();
    chunk_steps = std::max<std::int64_t>(1, std::min(cfg.steps, input_chunk_elements() / (N * GH)));
    WorkspaceCarver<float> carve(base);
    auto operand = [&](std::int64_t rows, std::int64_t k, bool needed, int copies = 1) {
      ReducedOperand o;
      if (!needed) return o;
      o.kernel = &path.for_rows(rows);
      o.mr = o.kernel->mr;
      o.k = k;
      o.k_groups = k_groups(f, k);
      o.panels = (rows + o.mr - 1) / o.mr;
      // Per-thread copies are whole cache lines apart (carved in one piece, each rounded up).
      o.copy_words = (o.panels * o.k_groups * o.mr + 15) / 16 * 16;
      o.copy_scales = (o.panels * o.mr + 15) / 16 * 16;
      o.words = reinterpret_cast<std::uint32_t*>(carve.take(copies * o.copy_words));
      o.scales = carve.take(copies * o.copy_scales);
      return o;
    };
    gx = carve.take(chunk_steps * N * GH);
    x = operand(chunk_steps * N, cfg.input_size, true);
    private_h = N * S <= kPrivateStateElements;
    h = operand(N, S, true, private_h ? threads : 1);
    reset = operand(N, H, Cell::kTwoPhaseStep);
    reset_h = carve.take(Cell::kTwoPhaseStep ? N * H : 0);
    cell = operand(N, H, cfg.proj_size > 0);
    cell_out = carve.take(cfg.proj_size > 0 ? N * H : 0);
    zeros = carve.take(N * S);
    zero_bias = carve.take(GH);
    tile_elements = std::int64_t{kReducedMaxMR} * Cell::kGates * kReducedNR;
    tiles = carve.take(tile_elements * threads);
    elements = carve.used();
  }
};

template <class Cell>
std::int64_t reduced_forward_workspace_elements(const LayerConfig& cfg, int threads) {
  return ReducedForwardWorkspace<Cell>(cfg, threads, nullptr).elements;
}

// Zeroes the padding rows past `rows` in the last panel of o (their products are computed and dropped:
// they must hold numbers).
inline void zero_padding_rows(const ReducedOperand& o, std::int64_t rows) {
  const std::int64_t padded = (rows + o.mr - 1) / o.mr * o.mr;
  for (std::int64_t n = rows; n < padded; ++n) {
    std::uint32_t* d = o.words + (n / o.mr) * o.k_groups * o.mr + n % o.mr;
    for (std::int64_t q = 0; q < o.k_groups; ++q) d[q * o.mr] = 0;
    o.scales[n] = 0.0f;
  }
}

// This thread's share (by row panels) of quantising rows [0, rows) of src into operand o.
inline void pack_operand_part(const ThreadContext& ctx, WeightFormat f, const float* src, std::int64_t ld,
                              std::int64_t rows, const ReducedOperand& o) {
  const Range panels = split_range((rows + o.mr - 1) / o.mr, ctx);
  const std::int64_t n_begin = panels.begin * o.mr, n_end = std::min(rows, panels.end * o.mr);
  pack_reduced_rows(f, src, ld, n_begin, n_end, o.k, o.mr, o.words, o.scales);
  if (n_end == rows && panels.end > panels.begin) zero_padding_rows(o, rows);
}

// io.workspace: reduced_forward_workspace_elements(cfg, num_threads) words, 64-byte aligned;
// io.packed_weights: the ReducedWeights layout (pack_reduced_weights).
template <class Cell>
void time_loop_forward_reduced(const LayerConfig& cfg, const ForwardTensors<float>& io, int num_threads) {
  const WeightFormat f = cfg.weight_format;
  const int nr = kReducedNR, G = Cell::kGates;
  const std::int64_t T_ = cfg.steps, N = cfg.batch, H = cfg.hidden, GH = G * H;
  const std::int64_t S = cfg.state_width(), P = cfg.proj_size;
  const bool projected = P > 0;
  if (N == 0) return;
  if (T_ == 0) {  // no step: the final state is the initial state
    for (std::int64_t e = 0; e < N * S; ++e) io.h_n[e] = io.h0 ? io.h0[e] : 0.0f;
    for (std::int64_t e = 0; Cell::kHasCellState && e < N * H; ++e) io.c_n[e] = io.c0 ? io.c0[e] : 0.0f;
    return;
  }
  const ReducedForwardWorkspace<Cell> ws(cfg, num_threads, io.workspace);
  const ReducedWeights w(cfg, const_cast<float*>(io.packed_weights));
  const std::int64_t unit_blocks = (H + nr - 1) / nr, state_blocks = (S + nr - 1) / nr;
  if (!io.h0) fill(ws.zeros, N * S, 0.0f);
  if (!io.b_ih || !io.b_hh) fill(ws.zero_bias, GH, 0.0f);
  const float* h0 = io.h0 ? io.h0 : ws.zeros;
  const std::int64_t tile_ld = G * nr;

  parallel_region(num_threads, [&](const ThreadContext& ctx) {
    float* tile = ws.tiles + ctx.id * ws.tile_elements;
    const Range blocks = split_range(unit_blocks, ctx);
    const std::int64_t u_begin = blocks.begin * nr, u_end = std::min(H, blocks.end * nr);
    const Range h_blocks = split_range(state_blocks, ctx);
    const std::int64_t s_begin = h_blocks.begin * nr, s_end = std::min(S, h_blocks.end * nr);
    if (Cell::kHasCellState) {
      for (std::int64_t n = 0; n < N; ++n) {
        for (std::int64_t j = u_begin; j < u_end; ++j) io.c_n[n * H + j] = io.c0 ? io.c0[n * H + j] : 0.0f;
      }
    }
    // Row panel p of operand a times panel (b, g) of m, into out (row stride ld).
    auto product = [](const ReducedOperand& a, std::int64_t p, const ReducedMatrix& m, std::int64_t b,
                      std::int64_t g, float* out, std::int64_t ld) {
      a.kernel->fn(a.k_groups, a.panel(p), m.panel(b, g), a.panel_scales(p), m.panel_scale(b, g),
                   m.panel_comp(b, g), out, ld);
    };
    // h_{t-1} as the products read it: this thread's copy, or the shared one.
    const ReducedOperand h_operand = ws.private_h ? ws.h.copy(ctx.id) : ws.h;
    if (ws.private_h) zero_padding_rows(h_operand, N);  // once: the steps write the real rows only
    std::int64_t chunk_t0 = 0, chunk_rows = 0;
    for (std::int64_t s = 0; s < T_; ++s) {
      const std::int64_t t = cfg.time_at(s);
      const bool new_chunk = s % ws.chunk_steps == 0;
      if (new_chunk) {
        const std::int64_t steps = std::min(ws.chunk_steps, T_ - s);
        chunk_t0 = cfg.reverse ? T_ - s - steps : s;
        chunk_rows = steps * N;
        pack_operand_part(ctx, f, io.x + chunk_t0 * N * cfg.x_ld, cfg.x_ld, chunk_rows, ws.x);
      }
      const float* h_prev = s == 0 ? h0 : io.y + cfg.time_at(s - 1) * N * cfg.y_ld;
      const std::int64_t h_prev_ld = s == 0 ? S : cfg.y_ld;
      if (ws.private_h) {
        pack_reduced_rows(f, h_prev, h_prev_ld, 0, N, S, h_operand.mr, h_operand.words, h_operand.scales);
        if (new_chunk) barrier(ctx);  // every thread's rows of x are packed
      } else {
        pack_operand_part(ctx, f, h_prev, h_prev_ld, N, ws.h);
        barrier(ctx);  // every thread's rows of x and h_{t-1} are packed
      }
      if (new_chunk) {
        // 1. W_ih x for this thread's unit blocks over the chunk's rows.
        const std::int64_t x_panels = (chunk_rows + ws.x.mr - 1) / ws.x.mr;
        for (std::int64_t b = blocks.begin; b < blocks.end; ++b) {
          const std::int64_t j0 = b * nr, units = std::min<std::int64_t>(nr, H - j0);
          for (std::int64_t p = 0; p < x_panels; ++p) {
            const std::int64_t n0 = p * ws.x.mr, rows = std::min<std::int64_t>(ws.x.mr, chunk_rows - n0);
            for (int g = 0; g < G; ++g) {
              product(ws.x, p, w.w_ih, b, g, tile, nr);
              for (std::int64_t r = 0; r < rows; ++r) {
                float* d = ws.gx + (n0 + r) * GH + g * H + j0;
                for (std::int64_t u = 0; u < units; ++u) d[u] = tile[r * nr + u];
              }
            }
          }
        }
      }
      // 2. One step of the recurrence.
      ForwardTile<float> st;
      st.hidden = H;
      st.activation = cfg.activation;
      st.recurrent_activation = cfg.recurrent_activation;
      st.gh = tile;
      st.gh_ld = tile_ld;
      st.gate_stride = nr;
      st.gx = ws.gx + (t - chunk_t0) * N * GH;
      st.b_ih = io.b_ih ? io.b_ih : ws.zero_bias;
      st.b_hh = io.b_hh ? io.b_hh : ws.zero_bias;
      st.h_prev = h_prev;
      st.h_prev_ld = h_prev_ld;
      st.cell_state = Cell::kHasCellState ? io.c_n : nullptr;
      float* const y_t = io.y + t * N * cfg.y_ld;
      st.h = projected ? ws.cell_out : y_t;
      st.h_ld = projected ? H : cfg.y_ld;
      const std::int64_t mr = ws.h.mr, row_panels = ws.h.panels;
      if constexpr (Cell::kTwoPhaseStep) {
        // Phase 1: r, z from h_{t-1}; r * h_{t-1} into reset_h, packed by all threads, then phase 2.
        st.gates = const_cast<float*>(st.gx);
        st.saved = ws.reset_h;
        for (std::int64_t b = blocks.begin; b < blocks.end; ++b) {
          st.j0 = b * nr;
          st.units = std::min<std::int64_t>(nr, H - st.j0);
          for (std::int64_t p = 0; p < row_panels; ++p) {
            for (int g = 0; g < 2; ++g) product(h_operand, p, w.w_hh, b, g, tile + g * nr, tile_ld);
            st.n0 = p * mr;
            st.rows = std::min<std::int64_t>(mr, N - st.n0);
            Cell::forward_reset(st);
          }
        }
        barrier(ctx);
        pack_operand_part(ctx, f, ws.reset_h, H, N, ws.reset);
        barrier(ctx);
      }
      for (std::int64_t b = blocks.begin; b < blocks.end; ++b) {
        st.j0 = b * nr;
        st.units = std::min<std::int64_t>(nr, H - st.j0);
        for (std::int64_t p = 0; p < row_panels; ++p) {
          if constexpr (Cell::kTwoPhaseStep) {
            product(ws.reset, p, w.w_hh, b, 2, tile + 2 * nr, tile_ld);
          } else {
            for (int g = 0; g < G; ++g) product(h_operand, p, w.w_hh, b, g, tile + g * nr, tile_ld);
          }
          st.n0 = p * mr;
          st.rows = std::min<std::int64_t>(mr, N - st.n0);
          Cell::forward(st);
        }
      }
      if (projected) {  // h_t = (o * act(c_t)) W_hr^T: every thread's cell outputs, this thread's units of h
        barrier(ctx);
        pack_operand_part(ctx, f, ws.cell_out, H, N, ws.cell);
        barrier(ctx);
        for (std::int64_t b = h_blocks.begin; b < h_blocks.end; ++b) {
          const std::int64_t j0 = b * nr, units = std::min<std::int64_t>(nr, P - j0);
          for (std::int64_t p = 0; p < row_panels; ++p) {
            const std::int64_t n0 = p * mr, rows = std::min<std::int64_t>(mr, N - n0);
            product(ws.cell, p, w.w_hr, b, 0, tile, nr);
            for (std::int64_t r = 0; r < rows; ++r) {
              float* h = y_t + (n0 + r) * cfg.y_ld + j0;
              for (std::int64_t u = 0; u < units; ++u) h[u] = tile[r * nr + u];
            }
          }
        }
      }
      // h_t complete before the next step packs it; every thread stops at the same step
      if (step_end(ctx, io.interrupt, s)) return;
    }
    const float* h_last = io.y + cfg.time_at(T_ - 1) * N * cfg.y_ld;
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t j = s_begin; j < s_end; ++j) io.h_n[n * S + j] = h_last[n * cfg.y_ld + j];
    }
  });
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
