// The forward time loop shared by every cell (LSTM, GRU, RNN): one parallel region per layer-direction.
//
//   1. gx = x W_ih^T for many steps at once (one GEMM per chunk of steps, [Tc*N, C] x [C, G*H]).
//      Chunks of about input_chunk_elements() outputs keep gx in the outer cache until the steps read it and
//      bound the inference scratch (one [T*N, G*H] buffer would be 100 MB on the largest grid shape);
//      training writes straight into the gates workspace, which the steps then overwrite in place.
//   2. per step: each thread owns a slice of unit blocks (NR hidden units with all G gates). For every
//      (row panel, unit block) it runs G microkernels h_{t-1} x W_hh^T into an L1 tile and hands the
//      tile straight to Cell::forward. h_t is written to y and, packed, to the A-operand buffer of the
//      next step, so no step packs anything. One barrier per step.
//      Small layers over many rows split the rows instead (split_rows): each thread runs every unit of
//      its row panels through all the steps, with no barrier between steps (rows are independent).
//
// The weights come packed (PackedWeights, packed by the plan once per change of the weights) and the
// scratch comes from the caller (ForwardWorkspace): the loop allocates nothing.
// Threads split outputs only, so results are bitwise identical for any thread count. Compiled per ISA;
// the kernels assume a configuration validated by the plan (engine/stack_plan.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cells/cell_tiles.h"
#include "cells/layer_config.h"
#include "cells/workspace.h"
#include "gemm/bf16_operand.h"
#include "gemm/gemm_driver.h"
#include "runtime/interrupt.h"
#include "runtime/threads.h"
#include "simd/prefetch.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

// Packs w_hh [G*H, S] (and, when w_ih is given, w_ih [G*H, C] below it: K = S + C) as the B operand of
// the forward step, S the width of h (H, or P with a projection): panel (b, g) holds, for k < K, the NR
// weights of units b*NR+u (zero past H), w_hh's column k for k < S and w_ih's column k - S after:
// dst[((b*G + g)*K + k)*NR + u]. With G = 1 it also packs the projection W_hr [P, H] (units P, S = H).
template <class T>
void pack_recurrent_forward(const T* w_hh, const T* w_ih, std::int64_t H, std::int64_t S, std::int64_t C,
                            int G, int nr, std::int64_t block, T* dst) {
  // Unit by unit, so each weight row is read contiguously (the panel, K x NR, stays in L1 for the
  // strided writes); k-outer order read with stride S and was a quarter of a keras-seed call.
  const std::int64_t K = S + (w_ih ? C : 0);
  for (int g = 0; g < G; ++g) {
    T* panel = dst + (block * G + g) * K * nr;
    for (int u = 0; u < nr; ++u) {
      const std::int64_t j = block * nr + u;
      if (j >= H) {  // padding units past H
        for (std::int64_t k = 0; k < K; ++k) panel[k * nr + u] = T(0);
        continue;
      }
      const T* row = w_hh + (g * H + j) * S;
      for (std::int64_t k = 0; k < S; ++k) panel[k * nr + u] = row[k];
      if (w_ih) {
        const T* in_row = w_ih + (g * H + j) * C;
        for (std::int64_t c = 0; c < C; ++c) panel[(S + c) * nr + u] = in_row[c];
      }
    }
  }
}

// Stores v as element (column col, row i) of a packed A panel [K][MR] in the form `bf16` asks
// (gemm/bf16_operand.h): as it is, rounded to bf16, or as one half of a bf16 pair.
template <class T>
inline void store_packed(T* panel, std::int64_t col, std::int64_t i, int mr, T v, Bf16Products bf16) {
  if constexpr (std::is_same_v<T, float>) {
    if (bf16 == Bf16Products::pairs) return store_bf16_pair_half(panel, col, i, mr, v);
  }
  panel[col * mr + i] = bf16 == Bf16Products::rounded ? bf16_rounded(v) : v;
}

// Stores the run s[0 .. cols) (times m[0 .. cols) when m is given) as columns col0.. of row i of a packed
// A panel [K][MR], in the form `bf16` asks (plain float32 runs keep a copy loop with no per-element form
// test). The one row writer of pack_input_rows and pack_rows_to_panels.
template <class T>
inline void store_packed_run(T* panel, std::int64_t col0, std::int64_t cols, std::int64_t i, int mr,
                             const T* s, const T* m, Bf16Products bf16) {
  if (bf16 == Bf16Products::off) {
    T* d = panel + col0 * mr + i;
    if (m) {
      for (std::int64_t c = 0; c < cols; ++c) d[c * mr] = s[c] * m[c];
    } else {
      for (std::int64_t c = 0; c < cols; ++c) d[c * mr] = s[c];
    }
    return;
  }
  for (std::int64_t c = 0; c < cols; ++c) store_packed(panel, col0 + c, i, mr, m ? s[c] * m[c] : s[c], bf16);
}

// Under bf16 pairs with an odd K, the high halves of each panel's last pair (step K, past the operand)
// are read by the kernels and must hold zeros; nothing else writes them. `count` panels [K][w].
template <class T>
void zero_pair_padding(T* panels, std::int64_t count, std::int64_t K, std::int64_t w, Bf16Products bf16) {
  if (bf16 != Bf16Products::pairs || K % 2 == 0) return;
  for (std::int64_t p = 0; p < count; ++p) fill(panels + p * K * w + pair_steps_offset(K - 1, w), w, T(0));
}

// Writes batch rows [n_begin, n_end) of x_t (row stride ld, C columns) into columns S.. of the packed A
// operand [row_panels][K][MR] of a fused step (S the width of h), as `bf16` asks.
template <class T>
void pack_input_rows(const T* x_t, std::int64_t ld, std::int64_t n_begin, std::int64_t n_end, std::int64_t C,
                     std::int64_t S, std::int64_t K, int mr, T* packed,
                     Bf16Products bf16 = Bf16Products::off) {
  for (std::int64_t n = n_begin; n < n_end; ++n) {
    store_packed_run(packed + (n / mr) * K * mr, S, C, n % mr, mr, x_t + n * ld,
                     static_cast<const T*>(nullptr), bf16);
  }
}

// Writes rows x units of src (row stride ld) into the packed A operand of the next step:
// packed[(p*K + col)*MR + i] for batch row p*MR + i and column col; times mask[n*mask_ld + col] when a
// mask is given (recurrent dropout); packed as `bf16` asks (after the mask).
template <class T>
void pack_rows_to_panels(const T* src, std::int64_t ld, std::int64_t n0, std::int64_t rows, std::int64_t col0,
                         std::int64_t cols, std::int64_t K, int mr, T* packed, const T* mask = nullptr,
                         std::int64_t mask_ld = 0, Bf16Products bf16 = Bf16Products::off) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t n = n0 + r, p = n / mr, i = n % mr;
    const T* m = mask ? mask + n * mask_ld + col0 : nullptr;
    store_packed_run(packed + p * K * mr, col0, cols, i, mr, src + n * ld + col0, m, bf16);
  }
}

// The same for one tile whose rows lie in one row panel (n0 a multiple of MR, cols <= kMaxTileUnits):
// its destination is one contiguous run of cols*MR elements. The tile goes through a small local copy:
// rows are read contiguously, then written out in order. (Row by row straight into the panel strides the
// shared buffer by MR; column by column reads the source at a stride of whole rows, 4 KB for G*H = 1024,
// which aliases in L1. Each was, measured with perf, a quarter to a third of the step loop's own time.)
// With a mask (recurrent dropout), element (n, col) is multiplied by mask[n*mask_ld + col]; under bf16
// products the element is then rounded to bf16, or stored as half of a bf16 pair.
template <class T>
void pack_tile_to_panel(const T* src, std::int64_t ld, std::int64_t n0, std::int64_t rows, std::int64_t col0,
                        std::int64_t cols, std::int64_t K, int mr, T* packed, const T* mask = nullptr,
                        std::int64_t mask_ld = 0, Bf16Products bf16 = Bf16Products::off) {
  T local[kMaxTileRows * kMaxTileUnits];
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* s = src + (n0 + r) * ld + col0;
    T* l = local + r * kMaxTileUnits;
    if (mask) {
      const T* m = mask + (n0 + r) * mask_ld + col0;
      for (std::int64_t c = 0; c < cols; ++c) l[c] = s[c] * m[c];
    } else {
      for (std::int64_t c = 0; c < cols; ++c) l[c] = s[c];
    }
    if (bf16 == Bf16Products::rounded) round_to_bf16(l, cols);
  }
  if (bf16 == Bf16Products::pairs) {
    // Whole pairs (the tile's columns from an even one) as 32-bit words, in order; a first or last
    // column that shares its pair with another tile's as a 16-bit half.
    T* panel = packed + (n0 / mr) * K * mr;
    std::int64_t c = 0;
    if (col0 % 2 != 0) {
      for (std::int64_t r = 0; r < rows; ++r)
        store_packed(panel, col0, r, mr, local[r * kMaxTileUnits], bf16);
      c = 1;
    }
    for (; c + 1 < cols; c += 2) {
      T* d = panel + pair_steps_offset(col0 + c, mr);
      for (std::int64_t r = 0; r < rows; ++r) {
        const T* l = local + r * kMaxTileUnits + c;
        const std::uint32_t word = bf16_pair_word(l[0], l[1]);
        std::memcpy(d + r, &word, 4);
      }
    }
    if (c < cols) {
      for (std::int64_t r = 0; r < rows; ++r)
        store_packed(panel, col0 + c, r, mr, local[r * kMaxTileUnits + c], bf16);
    }
    return;
  }
  T* d = packed + (n0 / mr) * K * mr + col0 * mr;
  for (std::int64_t c = 0; c < cols; ++c) {
    for (std::int64_t r = 0; r < rows; ++r) d[c * mr + r] = local[r * kMaxTileUnits + c];
  }
}

// The packed weights of one layer-direction, as the forward reads them: W_ih^T as the B operand of the
// input projection (gemm/gemm_driver.h's pre-packed layout), W_hh as the step's B panels
// (pack_recurrent_forward) and, with a projection, W_hr as the B panels of the step's second product.
// A plan packs them once and keeps them while the weights cannot change.
template <class T>
struct PackedWeights {
  T* w_ih = nullptr;
  T* w_hh = nullptr;
  T* w_hr = nullptr;
  std::int64_t elements = 0;  // of the whole layout

  PackedWeights(const LayerConfig& cfg, T* base) {
    const Microkernel<T>& kernel = microkernel<T>();  // the step kernels share its NR
    const std::int64_t GH = cfg.gates * cfg.hidden, unit_blocks = (cfg.hidden + kernel.nr - 1) / kernel.nr;
    const std::int64_t K = cfg.state_width() + (cfg.fuse_input ? cfg.input_size : 0);
    const std::int64_t P = cfg.proj_size, proj_blocks = (P + kernel.nr - 1) / kernel.nr;
    WorkspaceCarver<T> carve(base);
    w_ih = carve.take(cfg.fuse_input ? 0 : packed_b_elements(kernel, GH, cfg.input_size));
    w_hh = carve.take(unit_blocks * cfg.gates * K * kernel.nr);
    w_hr = carve.take(proj_blocks * cfg.hidden * kernel.nr);
    elements = carve.used();
  }
};

// This thread's share of packing w_ih and w_hh into `packed` (a barrier must follow), rounded to bf16 or
// converted to bf16 pairs under bf16 products (a block's G panels, once packed).
template <class T>
void pack_weights_part(const ThreadContext& ctx, const LayerConfig& cfg, const T* w_ih, const T* w_hh,
                       const T* w_hr, const PackedWeights<T>& packed) {
  const Microkernel<T>& kernel = microkernel<T>();
  const std::int64_t H = cfg.hidden, unit_blocks = (H + kernel.nr - 1) / kernel.nr, S = cfg.state_width();
  const std::int64_t K = S + (cfg.fuse_input ? cfg.input_size : 0);
  const Range blocks = split_range(unit_blocks, ctx);
  for (std::int64_t b = blocks.begin; b < blocks.end; ++b) {
    pack_recurrent_forward(w_hh, cfg.fuse_input ? w_ih : nullptr, H, S, cfg.input_size, cfg.gates, kernel.nr,
                           b, packed.w_hh);
    finish_packed_panels(packed.w_hh + b * cfg.gates * K * kernel.nr, cfg.gates, K, kernel.nr, cfg.bf16());
  }
  if (cfg.proj_size > 0) {
    const Range proj_blocks = split_range((cfg.proj_size + kernel.nr - 1) / kernel.nr, ctx);
    for (std::int64_t b = proj_blocks.begin; b < proj_blocks.end; ++b) {
      pack_recurrent_forward(w_hr, static_cast<const T*>(nullptr), cfg.proj_size, H, 0, 1, kernel.nr, b,
                             packed.w_hr);
      finish_packed_panels(packed.w_hr + b * H * kernel.nr, 1, H, kernel.nr, cfg.bf16());
    }
  }
  if (!cfg.fuse_input) {
    pack_b_part(ctx, kernel, cfg.gates * H, cfg.input_size,
                MatrixView<T>::transposed(w_ih, cfg.input_size).with_bf16(cfg.bf16()), packed.w_ih);
  }
}

// The forward's workspace, carved from io.workspace (or measured, over nullptr).
template <class Cell, class T>
struct ForwardWorkspace {
  T* gx = nullptr;            // gx: [chunk_steps*N, G*H] input projection of a chunk (inference, unfused)
  T* h_packed = nullptr;      // two A operands of the step, [row_panels][K][MR] each (K = H, or H + C fused)
  T* reset_packed = nullptr;  // kTwoPhaseStep: the second product's A operand, [row_panels][H][MR]
  T* reset_h = nullptr;       // kTwoPhaseStep, inference: [N,H] the first phase's r * h_{t-1}
  T* cell_packed = nullptr;   // projection: the second product's A operand o * act(c_t), [row_panels][H][MR]
  T* cell_out = nullptr;      // projection, inference: [N,H] o * act(c_t) of the step
  T* zeros = nullptr;         // zeros: [N*H] h0 when none is given
  T* zero_bias = nullptr;     // zero_bias: [G*H] when the layer has no bias
  T* thread_scratch = nullptr;  // per thread: GEMM scratch, then one MR x G*NR tile
  std::int64_t scratch_per_thread = 0;
  std::int64_t chunk_steps = 0;
  std::int64_t elements = 0;

  ForwardWorkspace(const LayerConfig& cfg, bool training, int threads, T* base) {
    const Microkernel<T>& kernel = microkernel<T>();
    const StepKernel<T> step = step_kernel<T>(cfg.batch);
    const std::int64_t N = std::max<std::int64_t>(cfg.batch, 1), H = cfg.hidden, GH = Cell::kGates * H;
    const std::int64_t row_panels = (N + step.mr - 1) / step.mr;
    chunk_steps = std::max<std::int64_t>(1, std::min(cfg.steps, input_chunk_elements() / (N * GH)));
    WorkspaceCarver<T> carve(base);
    const std::int64_t S = cfg.state_width(), K = S + (cfg.fuse_input ? cfg.input_size : 0);
    const bool projected = cfg.proj_size > 0;
    gx = carve.take((training && Cell::kSavesGates) || cfg.fuse_input ? 0 : chunk_steps * N * GH);
    h_packed = carve.take(2 * row_panels * K * step.mr);
    reset_packed = carve.take(Cell::kTwoPhaseStep ? row_panels * H * step.mr : 0);
    reset_h = carve.take(Cell::kTwoPhaseStep && !training ? N * H : 0);
    cell_packed = carve.take(projected ? row_panels * H * step.mr : 0);
    cell_out = carve.take(projected && !training ? N * H : 0);
    zeros = carve.take(N * S);
    zero_bias = carve.take(GH);
    scratch_per_thread = gemm_scratch_elements(kernel) + std::int64_t{kernel.mr} * Cell::kGates * kernel.nr;
    thread_scratch = carve.take(scratch_per_thread * threads);
    elements = carve.used();
  }
};

template <class Cell, class T>
std::int64_t forward_workspace_elements(const LayerConfig& cfg, bool training, int threads) {
  return ForwardWorkspace<Cell, T>(cfg, training, threads, nullptr).elements;
}

// Whether the threads of a forward split the batch rows rather than the units. Split by units, every
// step ends at a barrier and every thread reads every other thread's h columns; with few units the
// step's work per thread is small next to that (LSTM H=64, 2 threads: no faster than 1). Split by rows,
// each thread reads all the packed weights, so only while they take at most half of a 1 MB L2, and only
// with at least two row panels per thread. Measured on Zen 4 (1 MB L2), eval forward on 2 threads, rows
// against units: LSTM H=96 C=32 N=64 1.47x faster, mnist-row (H=128) 1.04x; training H=96 1.11x. A row's
// arithmetic is the same either way (the same panels, kernels and blocks), so results do not depend on the
// choice.
template <class T>
bool split_rows(const LayerConfig& cfg, int threads, int mr) {
  constexpr std::int64_t kMaxSharedWeightBytes = std::int64_t{512} << 10;
  const std::int64_t row_panels = (cfg.batch + mr - 1) / mr;
  const std::int64_t K = cfg.state_width() + (cfg.fuse_input ? cfg.input_size : 0);
  const std::int64_t weight_bytes =
      (std::int64_t{cfg.gates} * cfg.hidden * K + cfg.proj_size * cfg.hidden) * std::int64_t{sizeof(T)};
  return threads > 1 && row_panels >= 2 * std::int64_t{threads} && weight_bytes <= kMaxSharedWeightBytes;
}

// io.workspace: forward_workspace_elements(cfg, io.training, num_threads) elements, 64-byte aligned;
// io.packed_weights: w_ih and w_hh in the PackedWeights layout (pack_weights_part).
template <class Cell, class T>
void time_loop_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {
  const Microkernel<T>& kernel = microkernel<T>();
  const Bf16Products bf16 = cfg.bf16();  // how every packed operand holds its values
  const StepKernel<T> step = step_kernel<T>(cfg.batch, bf16);
  const int mr = step.mr, nr = step.nr, G = Cell::kGates;
  const std::int64_t T_ = cfg.steps, N = cfg.batch, C = cfg.input_size, H = cfg.hidden, GH = G * H;
  const bool keep_gates = io.training && Cell::kSavesGates;

  // S: the width of h (and y's columns, h0, h_n): H, or P with a projection (h_t = W_hr (o * act(c_t))).
  const std::int64_t S = cfg.state_width(), P = cfg.proj_size;
  const bool projected = P > 0;
  if (N == 0) return;
  if (T_ == 0) {  // no step: the final state is the initial state
    for (std::int64_t e = 0; e < N * S; ++e) io.h_n[e] = io.h0 ? io.h0[e] : T(0);
    for (std::int64_t e = 0; Cell::kHasCellState && e < N * H; ++e) io.c_n[e] = io.c0 ? io.c0[e] : T(0);
    return;
  }

  const bool fused = cfg.fuse_input && Cell::kInputFusable;
  const std::int64_t K = S + (fused ? C : 0);  // the step's inner dimension
  const std::int64_t row_panels = (N + mr - 1) / mr, unit_blocks = (H + nr - 1) / nr;
  const std::int64_t state_blocks =
      (S + nr - 1) / nr;  // blocks of h's units (unit_blocks without projection)
  const ForwardWorkspace<Cell, T> ws(cfg, io.training, num_threads, io.workspace);
  const std::int64_t chunk_steps = ws.chunk_steps;
  const PackedWeights<T> packed(cfg, const_cast<T*>(io.packed_weights));
  // Padding rows of the last row panel are read by the microkernel and must hold numbers (zeros).
  for (int half = 0; half < 2; ++half) {
    fill(ws.h_packed + (half * row_panels + row_panels - 1) * K * mr, K * mr, T(0));
  }
  if (Cell::kTwoPhaseStep) fill(ws.reset_packed + (row_panels - 1) * H * mr, H * mr, T(0));
  if (projected) fill(ws.cell_packed + (row_panels - 1) * H * mr, H * mr, T(0));
  zero_pair_padding(ws.h_packed, 2 * row_panels, K, mr, bf16);
  if (Cell::kTwoPhaseStep) zero_pair_padding(ws.reset_packed, row_panels, H, mr, bf16);
  if (projected) zero_pair_padding(ws.cell_packed, row_panels, H, mr, bf16);
  if (!io.h0) fill(ws.zeros, N * S, T(0));
  if (!io.b_ih || !io.b_hh) fill(ws.zero_bias, GH, T(0));
  const T* h0 = io.h0 ? io.h0 : ws.zeros;
  // The cells add b_ih and b_hh to the tile (zeros without bias) rather than the GEMM starting from a
  // bias-filled C: with small C (K = 1 on `energy`, 28 on `mnist-row`) that fill and re-read of C
  // cost more than the products.
  const std::int64_t tile_ld = G * nr;
  // Unit blocks per product call (several only with the row kernel: its tiles have one row, so the
  // thread's MR x G*NR tile holds MR of them): block q of a call has its tile at tile + q*mr*G*NR.
  const std::int64_t group = step.blocks_per_call(Cell::kTwoPhaseStep ? 1 : G, kernel.mr);
  const std::int64_t proj_group = step.blocks_per_call(1, kernel.mr * G);

  const bool by_rows = split_rows<T>(cfg, num_threads, mr);

  parallel_region(num_threads, [&](const ThreadContext& ctx) {
    T* gemm_scratch = ws.thread_scratch + ctx.id * ws.scratch_per_thread;
    T* tile = gemm_scratch + gemm_scratch_elements(kernel);

    // This thread's unit blocks: it packs their weights, owns their state and computes their outputs
    // (all of them for its row panels, split by rows).
    const Range all_panels{0, row_panels};
    const Range panels = by_rows ? split_range(row_panels, ctx) : all_panels;
    const std::int64_t n_begin = panels.begin * mr, n_end = std::min(N, panels.end * mr);
    const Range blocks = by_rows ? Range{0, unit_blocks} : split_range(unit_blocks, ctx);
    const std::int64_t u_begin = blocks.begin * nr, u_end = std::min(H, blocks.end * nr);
    // And its blocks of h's units (the same as `blocks` without a projection).
    const Range h_blocks = by_rows ? Range{0, state_blocks} : split_range(state_blocks, ctx);
    const std::int64_t s_begin = h_blocks.begin * nr, s_end = std::min(S, h_blocks.end * nr);
    pack_rows_to_panels(h0, S, n_begin, n_end - n_begin, s_begin, s_end - s_begin, K, mr, ws.h_packed,
                        io.recurrent_mask, S, bf16);
    // Fused: this thread's batch rows of each step's x_t go into the A operand (x of the first step now,
    // of step s+1 during step s).
    const Range x_rows = by_rows ? Range{n_begin, n_end} : split_range(N, ctx);
    // Split by units, a step reads what every thread wrote; split by rows, only what this one did.
    auto exchange = [&] {
      if (!by_rows) barrier(ctx);
    };
    if (fused) {
      pack_input_rows(io.x + cfg.time_at(0) * N * cfg.x_ld, cfg.x_ld, x_rows.begin, x_rows.end, C, S, K, mr,
                      ws.h_packed, bf16);
      exchange();  // step 0 reads every thread's columns of h0 and rows of x
    }
    if (Cell::kHasCellState) {
      for (std::int64_t n = n_begin; n < n_end; ++n) {
        for (std::int64_t j = u_begin; j < u_end; ++j) io.c_n[n * H + j] = io.c0 ? io.c0[n * H + j] : T(0);
      }
    }

    // gx rows of time t: in the gates workspace (training) or in the chunk scratch (inference).
    std::int64_t chunk_t0 = 0;
    auto gx_at = [&](std::int64_t t) {
      return keep_gates ? io.gates + t * N * GH : ws.gx + (t - chunk_t0) * N * GH;
    };
    for (std::int64_t s = 0; s < T_; ++s) {
      if (!fused && s % chunk_steps == 0) {
        // 1. Input projection of the next chunk of processed steps: times [t_lo, t_hi) in either direction.
        // Split by rows, threads are not in step: none may overwrite the chunk another still reads. They
        // also agree here whether the call stops (the GEMM below is shared: all run it or none).
        if (by_rows && s > 0 && step_end(ctx, io.interrupt, s - 1)) break;
        const std::int64_t steps = std::min(chunk_steps, T_ - s);
        const std::int64_t t_lo = cfg.reverse ? T_ - s - steps : s;
        chunk_t0 = t_lo;
        gemm_part(ctx, kernel, {steps * N, GH, C},
                  MatrixView<T>::row_major(io.x + t_lo * N * cfg.x_ld, cfg.x_ld).with_bf16(bf16),
                  MatrixView<T>{nullptr, 0, 0}, gx_at(t_lo), GH, false, gemm_scratch, packed.w_ih);
        barrier(ctx);  // every thread's steps read every thread's gx columns
      }
      // 2. One step of the recurrence.
      const std::int64_t t = cfg.time_at(s);
      const T* h_read = ws.h_packed + (s & 1) * row_panels * K * mr;
      T* h_write = ws.h_packed + ((s + 1) & 1) * row_panels * K * mr;
      ForwardTile<T> st;
      st.hidden = H;
      st.activation = cfg.activation;
      st.recurrent_activation = cfg.recurrent_activation;
      st.gh = tile;
      st.gh_ld = tile_ld;
      st.gate_stride = nr;
      st.gx = fused ? nullptr : gx_at(t);
      st.b_ih = io.b_ih ? io.b_ih : ws.zero_bias;
      st.b_hh = io.b_hh ? io.b_hh : ws.zero_bias;
      st.h_prev = s == 0 ? h0 : io.y + cfg.time_at(s - 1) * N * cfg.y_ld;
      st.h_prev_ld = s == 0 ? S : cfg.y_ld;
      st.cell_state = Cell::kHasCellState ? io.c_n : nullptr;
      st.saved = io.training && Cell::kSavesPerUnit ? io.saved + t * N * H : nullptr;
      T* const y_t = io.y + t * N * cfg.y_ld;
      st.h = y_t;
      st.h_ld = cfg.y_ld;
      if (projected) {  // the cell writes o * act(c_t); the second product below makes h_t of it
        st.h = io.training ? io.cell_output + t * N * H : ws.cell_out;
        st.h_ld = H;
      }
      st.gates = keep_gates ? io.gates + t * N * GH : nullptr;
      st.recurrent_mask = io.recurrent_mask;
      if constexpr (Cell::kTwoPhaseStep) {
        // Phase 1 (gates 0, 1 from h_{t-1}) writes its gates over gx (both modes) and r * h_{t-1}, then
        // packs that as the A operand of phase 2 (gate 2), which every thread's units read.
        st.gates = const_cast<T*>(gx_at(t));
        if (!io.training) st.saved = ws.reset_h;
        for (std::int64_t b = blocks.begin; b < blocks.end; ++b) {
          st.j0 = b * nr;
          st.units = std::min<std::int64_t>(nr, H - st.j0);
          const T* w_block = packed.w_hh + b * G * K * nr;
          for (std::int64_t p = panels.begin; p < panels.end; ++p) {
            step(K, h_read + p * K * mr, w_block, K * nr, 2, tile, nr, tile_ld, step.panel_rows(p, N));
            st.n0 = p * mr;
            st.rows = std::min<std::int64_t>(mr, N - st.n0);
            Cell::forward_reset(st);
            pack_tile_to_panel(st.saved, H, st.n0, st.rows, st.j0, st.units, H, mr, ws.reset_packed,
                               static_cast<const T*>(nullptr), 0, bf16);
          }
        }
        exchange();
      }
      for (std::int64_t b = blocks.begin; b < blocks.end; b += group) {
        const std::int64_t m = std::min(group, blocks.end - b);  // unit blocks of this call
        const T* w_block = packed.w_hh + b * G * K * nr;
        for (std::int64_t p = panels.begin; p < panels.end; ++p) {
          // The tile's gx rows lie in the outer cache (a chunk of steps, or the gates workspace); fetched
          // only when the cell reads them, their misses were two thirds of LstmCell::forward's samples on
          // char-lstm (perf, Zen 3). Asked for now, they arrive while the products run.
          if (st.gx) {
            const std::int64_t n0 = p * mr, j0 = b * nr, width = std::min(H, (b + m) * nr) - j0;
            for (int g = 0; g < G; ++g) {
              prefetch_rows(st.gx + n0 * GH + g * H + j0, GH, std::min<std::int64_t>(mr, N - n0), width);
            }
          }
          if constexpr (Cell::kTwoPhaseStep) {
            step(H, ws.reset_packed + p * H * mr, w_block + 2 * K * nr, G * K * nr, m, tile + 2 * nr, G * nr,
                 tile_ld, step.panel_rows(p, N));
          } else {
            step(K, h_read + p * K * mr, w_block, K * nr, m * G, tile, nr, tile_ld, step.panel_rows(p, N));
          }
          for (std::int64_t q = 0; q < m; ++q) {
            st.j0 = (b + q) * nr;
            st.units = std::min<std::int64_t>(nr, H - st.j0);
            st.gh = tile + q * G * nr;
            st.n0 = p * mr;
            st.rows = std::min<std::int64_t>(mr, N - st.n0);
            Cell::forward(st);
            if (projected) {
              pack_tile_to_panel(st.h, H, st.n0, st.rows, st.j0, st.units, H, mr, ws.cell_packed,
                                 static_cast<const T*>(nullptr), 0, bf16);
            } else {
              pack_tile_to_panel(st.h, st.h_ld, st.n0, st.rows, st.j0, st.units, K, mr, h_write,
                                 io.recurrent_mask, S, bf16);
            }
          }
        }
      }
      if (projected) {
        // h_t = (o * act(c_t)) W_hr^T: every thread's cell outputs, this thread's units of h.
        exchange();
        for (std::int64_t b = h_blocks.begin; b < h_blocks.end; b += proj_group) {
          const std::int64_t m = std::min(proj_group, h_blocks.end - b);
          for (std::int64_t p = panels.begin; p < panels.end; ++p) {
            const std::int64_t n0 = p * mr, rows = std::min<std::int64_t>(mr, N - n0);
            step(H, ws.cell_packed + p * H * mr, packed.w_hr + b * H * nr, H * nr, m, tile, mr * nr, nr,
                 rows);
            for (std::int64_t q = 0; q < m; ++q) {
              const std::int64_t j0 = (b + q) * nr, units = std::min<std::int64_t>(nr, P - j0);
              for (std::int64_t r = 0; r < rows; ++r) {
                T* h = y_t + (n0 + r) * cfg.y_ld + j0;
                for (std::int64_t u = 0; u < units; ++u) h[u] = tile[(q * mr + r) * nr + u];
              }
              pack_tile_to_panel(y_t, cfg.y_ld, n0, rows, j0, units, K, mr, h_write, io.recurrent_mask, S,
                                 bf16);
            }
          }
        }
      }
      if (fused && s + 1 < T_) {
        pack_input_rows(io.x + cfg.time_at(s + 1) * N * cfg.x_ld, cfg.x_ld, x_rows.begin, x_rows.end, C, S, K,
                        mr, h_write, bf16);
      }
      if (by_rows) {
        // Each thread stops at its next step once the call is stopped, unless a chunk boundary lies ahead:
        // the threads decide together there (a thread gone ahead would leave the other alone in the
        // boundary's barriers).
        const bool boundary_ahead = !fused && (s / chunk_steps + 1) * chunk_steps < T_;
        if (!boundary_ahead && io.interrupt != nullptr && io.interrupt->poll_now()) break;
      } else if (step_end(ctx, io.interrupt, s)) {
        return;  // every thread stops at the same step
      }
    }
    if (by_rows) {
      // The one barrier of a split by rows: a partner descheduled by another busy process shows here as a
      // long wait, and the next calls run on one thread for a while (runtime/threads.h, StepBarrier).
      barrier(ctx);
      if (io.interrupt != nullptr && io.interrupt->stopped()) return;
    }

    const T* h_last = io.y + cfg.time_at(T_ - 1) * N * cfg.y_ld;
    for (std::int64_t n = n_begin; n < n_end; ++n) {
      for (std::int64_t j = s_begin; j < s_end; ++j) io.h_n[n * S + j] = h_last[n * cfg.y_ld + j];
    }
  });
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
