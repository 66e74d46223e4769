// The layer-normalised LSTM (Ba, Kiros and Hinton 2016; python/fusedrnn/reference.py is the oracle):
//   z   = LN_ih(W_ih x_t) + LN_hh(W_hh h_{t-1}) + b_ih + b_hh   (each over the row's 4H gates, gain only)
//   c_t = f*c_{t-1} + i*g,  h_t = o*act(LN_c(c_t))                (LN_c over H, gain and bias)
//   LN(v) = gamma * (v - mean(v)) / sqrt(var(v) + 1e-5) (+ beta), population variance.
// Its forward and backward time loops, compiled once per ISA. They reuse the shared machinery's packed
// weights, step kernels and GEMM, but not its time loops: those hand a cell one tile of NR units, while
// a layer norm needs the statistics of a whole row (all 4H gates) before any gate can be activated.
//
// Design (a per-row two-pass step). Each step runs
//   (a) the recurrent product W_hh h_{t-1} for every unit into an [N, 4H] buffer, no epilogue, threads
//       splitting the unit blocks as in the shared loop;
//   (b) per batch row: LN_ih of its input projection (one GEMM per chunk of steps, before the steps),
//       LN_hh, the gates, the cell update, LN_c and h_t, threads splitting the rows;
// so every row's statistics are computed by one thread, in one fixed order (fixed_order_sum below),
// whatever the split: results are bitwise the same for any thread count and any batch. Split by units
// this costs two barriers per step (one more than the plain LSTM). A cross-thread reduction of partial
// row sums inside the tile epilogue would keep one barrier but sums the partials in an order that depends
// on the thread count, which breaks the thread-count invariance, so it was not an option. Most layers
// split the rows instead (layer_norm_split_rows, measured there): a thread owns whole row panels,
// computes every unit of them and has every row statistic locally, with no barrier per step at all.
//
// bf16 mixed precision (LayerConfig::bf16_products) rounds the operands of every product where they are
// packed, as the shared loops do (gemm/bf16_operand.h): W_ih, W_hh, x and h_{t-1} (after the recurrent
// mask) in the forward; W_hh and dGh in the backward's step, and the deferred products' operands. The
// norms' statistics, gains and biases and every pointwise step stay float32: a norm reads its product's
// float32 sums, so only the operands carry bf16's error into it.
#pragma once

#include <algorithm>
#include <cmath>

#include "cells/cell_traits.h"
#include "cells/time_loop_backward.h"
#include "cells/time_loop_forward.h"
#include "simd/activation_passes.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

constexpr double kLayerNormEps = 1e-5;  // python/fusedrnn/reference.py LN_EPS

// Sum of v[0, n) in one fixed order: 16 running sums over consecutive elements, then a pairwise fold.
// Independent sums let the compiler keep them in vector registers (a single running sum is a chain of
// dependent adds, 4H of them per row and statistic); the order is the source's, so every call, on any
// thread, rounds the same way.
template <class T>
T fixed_order_sum(const T* __restrict v, std::int64_t n) {
  constexpr int kLanes = 16;
  T acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) acc[k] += v[i + k];
  }
  for (int k = 0; i + k < n; ++k) acc[k] += v[i + k];
  for (int w = kLanes / 2; w > 0; w /= 2) {
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  }
  return acc[0];
}

// sum_i a[i] * b[i] in the same fixed order.
template <class T>
T fixed_order_dot(const T* __restrict a, const T* __restrict b, std::int64_t n) {
  constexpr int kLanes = 16;
  T acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) acc[k] += a[i + k] * b[i + k];
  }
  for (int k = 0; i + k < n; ++k) acc[k] += a[i + k] * b[i + k];
  for (int w = kLanes / 2; w > 0; w /= 2) {
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  }
  return acc[0];
}

// out = (v - mean(v)) / sqrt(var(v) + eps) over n elements (out may be v); returns 1 / sqrt(var + eps).
template <class T>
T normalise_row(const T* v, T* out, std::int64_t n) {
  const T mean = fixed_order_sum(v, n) / static_cast<T>(n);
  for (std::int64_t j = 0; j < n; ++j) out[j] = v[j] - mean;
  const T var = fixed_order_dot(out, out, n) / static_cast<T>(n);
  const T inv_sigma = T(1) / std::sqrt(var + static_cast<T>(kLayerNormEps));
  for (std::int64_t j = 0; j < n; ++j) out[j] *= inv_sigma;
  return inv_sigma;
}

// The gradient reaching v of LN(v) = gain * v_hat (+ bias), given d_out = dL/dLN(v):
//   dv = inv_sigma * (dv_hat - mean(dv_hat) - v_hat * mean(dv_hat * v_hat)),  dv_hat = d_out * gain.
template <class T>
void layer_norm_backward_row(const T* __restrict d_out, const T* __restrict gain, const T* __restrict v_hat,
                             T inv_sigma, T* __restrict dv, std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) dv[j] = d_out[j] * gain[j];
  const T mean_d = fixed_order_sum(dv, n) / static_cast<T>(n);
  const T mean_dv = fixed_order_dot(dv, v_hat, n) / static_cast<T>(n);
  for (std::int64_t j = 0; j < n; ++j) dv[j] = inv_sigma * (dv[j] - mean_d - v_hat[j] * mean_dv);
}

// Whether the threads split the batch rows (each runs every unit of its row panels: no barrier between
// steps, nothing crosses between the cores) rather than the units (two barriers per step, and every
// row's 4H recurrent products written by one core and read by the other). The rows split makes each
// thread read all of W_hh per step, from the outer cache once it outgrows L2, where the plain LSTM's rule
// (split_rows, 512 KiB) stops; here the barriers and the exchange cost more. Measured (Zen 3, 2 threads,
// 2 cores shared with two other jobs, medians of 3 alternated runs, LN-LSTM / plain LSTM time, units ->
// rows): char-lstm (W_hh 1 MiB) forward 1.05 -> 1.04, training 1.20 -> 0.87; medium (4 MiB) forward
// 1.09 -> 0.98, training 0.92 -> 0.92. So rows while W_hh takes at most a quarter of the 32 MB L3 and
// each thread has two row panels.
template <class T>
bool layer_norm_split_rows(const LayerConfig& cfg, int threads, int mr) {
  constexpr std::int64_t kMaxRowSplitWeightBytes = std::int64_t{8} << 20;
  const std::int64_t weight_bytes = 4 * cfg.hidden * cfg.hidden * std::int64_t{sizeof(T)};
  return threads > 1 && (cfg.batch + mr - 1) / mr >= 2 * std::int64_t{threads} &&
         weight_bytes <= kMaxRowSplitWeightBytes;
}

// One batch row's training workspace (kGateWorkspaceUnits * H + kGateWorkspaceExtra elements), at
// row_base + (t*N + n) * width: activated gates i, f, g, o [4H], LN_ih's v_hat [4H], LN_hh's v_hat [4H],
// LN_c's c_hat [H], then 1/sigma of ih, hh and c.
struct LayerNormRow {
  std::int64_t H;
  std::int64_t width() const {
    return LstmLayerNormTraits::kGateWorkspaceUnits * H + LstmLayerNormTraits::kGateWorkspaceExtra;
  }
  std::int64_t gates() const { return 0; }
  std::int64_t x_hat_ih() const { return 4 * H; }
  std::int64_t x_hat_hh() const { return 8 * H; }
  std::int64_t c_hat() const { return 12 * H; }
  std::int64_t inv_sigma() const { return 13 * H; }  // [ih, hh, c]
};

struct LstmLayerNormCell : LstmLayerNormTraits {
  // ln: gain ih [4H], gain hh [4H], gain c [H], bias c [H].
  // gx: [4H] this row's W_ih x_t in, normalised in place (LN_ih's v_hat) out; gh: [4H] its W_hh h_{t-1};
  // b_ih, b_hh: [4H]; c: [H] c_{t-1} in, c_t out; row: [width] workspace out (LayerNormRow; in training
  // gx is its x_hat_ih); h: [H] out.
  template <class T>
  static void forward_row(std::int64_t H, Activation act, Activation rec, const T* const ln[4], T* gx,
                          const T* gh, const T* b_ih, const T* b_hh, T* c, T* row, T* h) {
    const LayerNormRow at{H};
    const std::int64_t GH = 4 * H;
    T* gates = row + at.gates();
    T* x_hat_hh = row + at.x_hat_hh();
    T* c_hat = row + at.c_hat();
    T* inv_sigma = row + at.inv_sigma();
    // LN_ih here rather than in a pass over the chunk's input projection right after its GEMM: the row
    // is read once instead of twice (mnist-row forward, 2 threads, Zen 3 shared with other jobs: LN / plain
    // 1.63 -> 1.47).
    inv_sigma[0] = normalise_row(gx, gx, GH);
    const T* x_hat_ih = gx;
    inv_sigma[1] = normalise_row(gh, x_hat_hh, GH);
    const T* g_ih = ln[0];
    const T* g_hh = ln[1];
    for (std::int64_t j = 0; j < GH; ++j)
      gates[j] = g_ih[j] * x_hat_ih[j] + g_hh[j] * x_hat_hh[j] + (b_ih[j] + b_hh[j]);
    activate_inplace(rec, gates, 2 * H);  // i, f
    activate_inplace(act, gates + 2 * H, H);
    activate_inplace(rec, gates + 3 * H, H);
    const T* i = gates;
    const T* f = gates + H;
    const T* g = gates + 2 * H;
    const T* o = gates + 3 * H;
    for (std::int64_t u = 0; u < H; ++u) c[u] = f[u] * c[u] + i[u] * g[u];
    inv_sigma[2] = normalise_row(c, c_hat, H);
    for (std::int64_t u = 0; u < H; ++u) h[u] = ln[2][u] * c_hat[u] + ln[3][u];
    activate_inplace(act, h, H);
    for (std::int64_t u = 0; u < H; ++u) h[u] *= o[u];
  }

  // dh: [H] dL/dh_t; row: the forward's workspace of this row; c_prev: [H]; dc: [H] dL/dc_t in,
  // dL/dc_{t-1} out; dz: [4H] dL/dz out (z the pre-activations: the biases' gradient); d_norm: [H]
  // dL/dLN_c(c_t) out; scratch: [2H]. The products' gradients follow in input_gradients.
  template <class T>
  static void backward_row(std::int64_t H, Activation act, Activation rec, const T* const ln[4], const T* dh,
                           const T* row, const T* c_prev, T* dc, T* dz, T* d_norm, T* scratch) {
    const LayerNormRow at{H};
    const T* gates = row + at.gates();
    const T* i = gates;
    const T* f = gates + H;
    const T* g = gates + 2 * H;
    const T* o = gates + 3 * H;
    const T* c_hat = row + at.c_hat();
    const T* inv_sigma = row + at.inv_sigma();
    T* act_c = scratch;
    T* tmp = scratch + H;
    for (std::int64_t u = 0; u < H; ++u) act_c[u] = ln[2][u] * c_hat[u] + ln[3][u];
    activate_inplace(act, act_c, H);
    derivative_from_output(act, act_c, tmp, H);
    for (std::int64_t u = 0; u < H; ++u) d_norm[u] = dh[u] * o[u] * tmp[u];
    layer_norm_backward_row(d_norm, ln[2], c_hat, inv_sigma[2], tmp, H);  // tmp: dL/dc_t via LN_c
    for (std::int64_t u = 0; u < H; ++u) tmp[u] += dc[u];                 // tmp: the whole dL/dc_t
    derivative_from_output(rec, i, dz, 2 * H);
    derivative_from_output(act, g, dz + 2 * H, H);
    derivative_from_output(rec, o, dz + 3 * H, H);
    for (std::int64_t u = 0; u < H; ++u) {
      dz[u] *= tmp[u] * g[u];
      dz[H + u] *= tmp[u] * c_prev[u];
      dz[2 * H + u] *= tmp[u] * i[u];
      dz[3 * H + u] *= dh[u] * act_c[u];
      dc[u] = tmp[u] * f[u];
    }
  }

  // The products' gradients of a row whose backward_row (and parameter sums) are done, written over the
  // row's workspace, which nothing reads afterwards: dL/d(W_ih x_t) [4H] over the gates (read by
  // backward_row), then dL/d(W_hh h_{t-1}) [4H] over LN_ih's v_hat (read just before). row + gates() and
  // row + x_hat_ih() are then the row's dGx and dGh (LayerNormRow).
  template <class T>
  static void input_gradients(std::int64_t H, const T* const ln[4], const T* dz, T* row) {
    const LayerNormRow at{H};
    const std::int64_t GH = 4 * H;
    const T* inv_sigma = row + at.inv_sigma();
    layer_norm_backward_row(dz, ln[0], row + at.x_hat_ih(), inv_sigma[0], row + at.gates(), GH);
    layer_norm_backward_row(dz, ln[1], row + at.x_hat_hh(), inv_sigma[1], row + at.x_hat_ih(), GH);
  }
};

// The forward's workspace, carved from io.workspace (or measured, over nullptr).
template <class T>
struct LayerNormForwardWorkspace {
  T* gx = nullptr;              // inference: [chunk_steps*N, 4H] a chunk's W_ih x_t (normalised in its step)
  T* gh = nullptr;              // [N, 4H] the step's W_hh h_{t-1}
  T* h_packed = nullptr;        // two A operands of the step, [row_panels][H][MR] each
  T* zeros = nullptr;           // [N*H] h0 when none is given
  T* zero_bias = nullptr;       // [4H] when the layer has no bias
  T* thread_scratch = nullptr;  // per thread: GEMM scratch, one MR x 4*NR tile, one workspace row
  std::int64_t scratch_per_thread = 0;
  std::int64_t chunk_steps = 0;
  std::int64_t elements = 0;

  LayerNormForwardWorkspace(const LayerConfig& cfg, bool training, int threads, T* base) {
    const Microkernel<T>& kernel = microkernel<T>();
    const StepKernel<T> step = step_kernel<T>(cfg.batch);
    const std::int64_t N = std::max<std::int64_t>(cfg.batch, 1), H = cfg.hidden, GH = 4 * H;
    const std::int64_t row_panels = (N + step.mr - 1) / step.mr;
    chunk_steps = std::max<std::int64_t>(1, std::min(cfg.steps, input_chunk_elements() / (N * GH)));
    WorkspaceCarver<T> carve(base);
    gx = carve.take(training ? 0 : chunk_steps * N * GH);
    gh = carve.take(N * GH);
    h_packed = carve.take(2 * row_panels * H * step.mr);
    zeros = carve.take(N * H);
    zero_bias = carve.take(GH);
    scratch_per_thread =
        gemm_scratch_elements(kernel) + std::int64_t{kernel.mr} * 4 * kernel.nr + LayerNormRow{H}.width();
    thread_scratch = carve.take(scratch_per_thread * threads);
    elements = carve.used();
  }
};

// io.workspace: LayerNormForwardWorkspace's elements; io.packed_weights: PackedWeights (never fused);
// io.gates (training): [T,N,width] LayerNormRow rows; io.saved (training): [T,N,H] c_t.
template <class T>
void layer_norm_lstm_forward(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads) {
  using Cell = LstmLayerNormCell;
  const Microkernel<T>& kernel = microkernel<T>();
  // bf16 products: the products' operands (x, h_{t-1} after the mask, the packed weights) are rounded, or
  // held as bf16 pairs, where they are packed; the norms, gates and states are float32 as in the plain
  // LSTM.
  const Bf16Products bf16 = cfg.bf16();
  const StepKernel<T> step = step_kernel<T>(cfg.batch, bf16);
  const int mr = step.mr, nr = step.nr, G = 4;
  const std::int64_t T_ = cfg.steps, N = cfg.batch, C = cfg.input_size, H = cfg.hidden, GH = G * H;
  const LayerNormRow at{H};
  const std::int64_t W = at.width();
  if (N == 0) return;
  if (T_ == 0) {
    for (std::int64_t e = 0; e < N * H; ++e) io.h_n[e] = io.h0 ? io.h0[e] : T(0);
    for (std::int64_t e = 0; e < N * H; ++e) io.c_n[e] = io.c0 ? io.c0[e] : T(0);
    return;
  }
  const std::int64_t K = H;
  const std::int64_t row_panels = (N + mr - 1) / mr, unit_blocks = (H + nr - 1) / nr;
  const LayerNormForwardWorkspace<T> ws(cfg, io.training, num_threads, io.workspace);
  const std::int64_t chunk_steps = ws.chunk_steps;
  const PackedWeights<T> packed(cfg, const_cast<T*>(io.packed_weights));
  for (int half = 0; half < 2; ++half) {
    fill(ws.h_packed + (half * row_panels + row_panels - 1) * K * mr, K * mr, T(0));
  }
  zero_pair_padding(ws.h_packed, 2 * row_panels, K, mr, bf16);
  if (!io.h0) fill(ws.zeros, N * H, T(0));
  if (!io.b_ih || !io.b_hh) fill(ws.zero_bias, GH, T(0));
  const T* h0 = io.h0 ? io.h0 : ws.zeros;
  const T* b_ih = io.b_ih ? io.b_ih : ws.zero_bias;
  const T* b_hh = io.b_hh ? io.b_hh : ws.zero_bias;
  const std::int64_t tile_ld = G * nr;
  const std::int64_t group = step.blocks_per_call(G, kernel.mr);
  const bool by_rows = layer_norm_split_rows<T>(cfg, num_threads, mr);

  parallel_region(num_threads, [&](const ThreadContext& ctx) {
    T* gemm_scratch = ws.thread_scratch + ctx.id * ws.scratch_per_thread;
    T* tile = gemm_scratch + gemm_scratch_elements(kernel);
    T* row_scratch = tile + std::int64_t{kernel.mr} * G * nr;

    // Split by units: the product phase takes unit blocks of every row panel, the row phase a range of
    // rows. Split by rows: this thread's row panels in both (nothing another thread writes is read).
    const Range panels = by_rows ? split_range(row_panels, ctx) : Range{0, row_panels};
    const Range blocks = by_rows ? Range{0, unit_blocks} : split_range(unit_blocks, ctx);
    const Range rows = by_rows ? Range{panels.begin * mr, std::min(N, panels.end * mr)} : split_range(N, ctx);
    auto exchange = [&] {
      if (!by_rows) barrier(ctx);
    };
    pack_rows_to_panels(h0, H, rows.begin, rows.end - rows.begin, 0, H, K, mr, ws.h_packed, io.recurrent_mask,
                        H, bf16);
    for (std::int64_t n = rows.begin; n < rows.end; ++n) {
      for (std::int64_t j = 0; j < H; ++j) io.c_n[n * H + j] = io.c0 ? io.c0[n * H + j] : T(0);
    }
    exchange();  // the first product reads every row of h0

    // W_ih x_t of row n (normalised in place by its step): in the training workspace rows, or in the
    // chunk scratch.
    std::int64_t chunk_t0 = 0;
    auto gx_row = [&](std::int64_t t, std::int64_t n) -> T* {
      return io.training ? io.gates + (t * N + n) * W + at.x_hat_ih() : ws.gx + ((t - chunk_t0) * N + n) * GH;
    };
    for (std::int64_t s = 0; s < T_; ++s) {
      if (s % chunk_steps == 0) {
        // The input projection of the next chunk of steps (LN_ih runs on each row in its step).
        if (by_rows && s > 0 && step_end(ctx, io.interrupt, s - 1)) break;
        const std::int64_t steps = std::min(chunk_steps, T_ - s);
        const std::int64_t t_lo = cfg.reverse ? T_ - s - steps : s;
        chunk_t0 = t_lo;
        gemm_part(ctx, kernel, {steps * N, GH, C},
                  MatrixView<T>::row_major(io.x + t_lo * N * cfg.x_ld, cfg.x_ld).with_bf16(bf16),
                  MatrixView<T>{nullptr, 0, 0}, gx_row(t_lo, 0), io.training ? W : GH, false, gemm_scratch,
                  packed.w_ih);
        barrier(ctx);
      }
      const std::int64_t t = cfg.time_at(s);
      const T* h_read = ws.h_packed + (s & 1) * row_panels * K * mr;
      T* h_write = ws.h_packed + ((s + 1) & 1) * row_panels * K * mr;
      T* const y_t = io.y + t * N * cfg.y_ld;
      // (a) gh = (h_{t-1} * mask) W_hh^T for this thread's unit blocks.
      for (std::int64_t b = blocks.begin; b < blocks.end; b += group) {
        const std::int64_t m = std::min(group, blocks.end - b);
        const T* w_block = packed.w_hh + b * G * K * nr;
        for (std::int64_t p = panels.begin; p < panels.end; ++p) {
          step(K, h_read + p * K * mr, w_block, K * nr, m * G, tile, nr, tile_ld, step.panel_rows(p, N));
          const std::int64_t n0 = p * mr, prow = std::min<std::int64_t>(mr, N - n0);
          for (std::int64_t q = 0; q < m; ++q) {
            const std::int64_t j0 = (b + q) * nr, units = std::min<std::int64_t>(nr, H - j0);
            for (std::int64_t r = 0; r < prow; ++r) {
              for (int g = 0; g < G; ++g) {
                const T* src = tile + q * G * nr + r * tile_ld + g * nr;
                T* dst = ws.gh + (n0 + r) * GH + g * H + j0;
                for (std::int64_t u = 0; u < units; ++u) dst[u] = src[u];
              }
            }
          }
        }
      }
      exchange();
      // (b) the rows: LN_hh, gates, c_t, LN_c, h_t, and h_t packed for the next step's product.
      for (std::int64_t n = rows.begin; n < rows.end; ++n) {
        T* row = io.training ? io.gates + (t * N + n) * W : row_scratch;
        T* c = io.c_n + n * H;
        T* h = y_t + n * cfg.y_ld;
        Cell::forward_row(H, cfg.activation, cfg.recurrent_activation, io.layer_norm, gx_row(t, n),
                          ws.gh + n * GH, b_ih, b_hh, c, row, h);
        if (io.training) std::copy(c, c + H, io.saved + (t * N + n) * H);
        pack_rows_to_panels(y_t, cfg.y_ld, n, 1, 0, H, K, mr, h_write, io.recurrent_mask, H, bf16);
      }
      if (by_rows) {
        const bool boundary_ahead = (s / chunk_steps + 1) * chunk_steps < T_;
        if (!boundary_ahead && io.interrupt != nullptr && io.interrupt->poll_now()) break;
      } else if (step_end(ctx, io.interrupt, s)) {
        return;
      }
    }
    if (by_rows) {
      barrier(ctx);
      if (io.interrupt != nullptr && io.interrupt->stopped()) return;
    }
    const T* h_last = io.y + cfg.time_at(T_ - 1) * N * cfg.y_ld;
    for (std::int64_t n = rows.begin; n < rows.end; ++n) {
      for (std::int64_t j = 0; j < H; ++j) io.h_n[n * H + j] = h_last[n * cfg.y_ld + j];
    }
  });
}

template <class T>
std::int64_t layer_norm_lstm_forward_workspace(const LayerConfig& cfg, bool training, int threads) {
  return LayerNormForwardWorkspace<T>(cfg, training, threads, nullptr).elements;
}

// The backward's workspace, carved from io.workspace (or measured, over nullptr). dL/d(W_ih x_t) and
// dL/d(W_hh h_{t-1}) have none: each row's are written over its forward workspace row
// (LstmLayerNormCell::input_gradients), rows of stride LayerNormRow::width().
template <class T>
struct LayerNormBackwardWorkspace {
  T* dh = nullptr;         // [N,H] dL/dh_t of the step
  T* masked_h = nullptr;   // [T+1,N,H] h0, h_0 .. h_{T-1} times the recurrent mask (recurrent dropout)
  T* w_packed = nullptr;   // W_hh packed as the step's B operand, [unit_blocks][4H][NR]
  T* dg_packed = nullptr;  // two A operands of the step, [row_panels][4H][MR] each
  T* zeros = nullptr;      // [N*H] h0 / c0 when none is given
  // [row_panels][3*4H + 2H] each row panel's running sums of the parameter gradients (bias [4H], gain ih
  // [4H], gain hh [4H], gain c [H], bias c [H]) over its rows and the steps
  T* panel_sums = nullptr;
  T* thread_scratch = nullptr;  // per thread: GEMM scratch, then MR x NR tiles, then [2H + 4H + H]
  std::int64_t scratch_per_thread = 0;
  std::int64_t elements = 0;

  LayerNormBackwardWorkspace(const LayerConfig& cfg, int threads, T* base) {
    const Microkernel<T>& kernel = microkernel<T>();
    const StepKernel<T> step = step_kernel<T>(cfg.batch);
    const std::int64_t T_ = cfg.steps, N = cfg.batch, H = cfg.hidden, GH = 4 * H;
    const std::int64_t row_panels = (N + step.mr - 1) / step.mr;
    const std::int64_t unit_blocks = (H + step.nr - 1) / step.nr;
    WorkspaceCarver<T> carve(base);
    dh = carve.take(N * H);
    masked_h = carve.take(cfg.recurrent_dropout ? (T_ + 1) * N * H : 0);
    w_packed = carve.take(unit_blocks * GH * step.nr);
    dg_packed = carve.take(2 * row_panels * GH * step.mr);
    zeros = carve.take(N * H);
    panel_sums = carve.take(row_panels * (3 * GH + 2 * H));
    scratch_per_thread = gemm_scratch_elements(kernel) + std::int64_t{kernel.mr} * kernel.nr + 7 * H;
    thread_scratch = carve.take(scratch_per_thread * threads);
    elements = carve.used();
  }
};

template <class T>
std::int64_t layer_norm_lstm_backward_workspace(const LayerConfig& cfg, int threads) {
  return LayerNormBackwardWorkspace<T>(cfg, threads, nullptr).elements;
}

// Adds one row's terms of the parameter gradients to its row panel's running sums (ps: bias [4H] += dz,
// gain ih [4H] += dz * v_hat_ih, gain hh [4H] += dz * v_hat_hh, gain c [H] += d_norm * c_hat, bias c
// [H] += d_norm), while the row is in L1; row: the forward's workspace row (LayerNormRow).
template <class T>
void add_parameter_sums(std::int64_t H, const T* __restrict dz, const T* __restrict d_norm,
                        const T* __restrict row, T* __restrict ps) {
  const LayerNormRow at{H};
  const std::int64_t GH = 4 * H;
  const T* xi = row + at.x_hat_ih();
  const T* xh = row + at.x_hat_hh();
  const T* ch = row + at.c_hat();
  for (std::int64_t j = 0; j < GH; ++j) {
    ps[j] += dz[j];
    ps[GH + j] += dz[j] * xi[j];
    ps[2 * GH + j] += dz[j] * xh[j];
  }
  for (std::int64_t u = 0; u < H; ++u) {
    ps[3 * GH + u] += d_norm[u] * ch[u];
    ps[3 * GH + H + u] += d_norm[u];
  }
}

// grad[j] (+)= sums[j] for j in [begin, end) (grad may be null: no such parameter).
template <class T>
void store_sums(const T* sums, std::int64_t begin, std::int64_t end, T* grad, bool accumulate) {
  if (!grad) return;
  for (std::int64_t j = begin; j < end; ++j) grad[j] = accumulate ? grad[j] + sums[j] : sums[j];
}

// BPTT. Per step: (a) dL/dh_t = dy_t + (dGh_{t+1} W_hh) * mask for this thread's units and rows, (b) the
// rows' derivative (backward_row), threads splitting the rows, dGh packed for the next step's product.
// The biases' and the norms' parameter gradients are summed per row panel during the loop (each panel by
// one thread, in step then row order) and the panels added in order after it; dx, dW_ih and dW_hh are
// large GEMMs after the loop.
template <class T>
void layer_norm_lstm_backward(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads) {
  using Cell = LstmLayerNormCell;
  const Microkernel<T>& kernel = microkernel<T>();
  // bf16 products: the step's operands (packed W_hh and dGh) are rounded, or held as bf16 pairs, as they
  // are packed, and deferred_products packs its own so; dz, the norms' derivatives and the parameter
  // sums stay float32.
  const Bf16Products bf16 = cfg.bf16();
  const StepKernel<T> step = step_kernel<T>(cfg.batch, bf16);
  const int mr = step.mr, nr = step.nr;
  const std::int64_t T_ = cfg.steps, N = cfg.batch, C = cfg.input_size, H = cfg.hidden, GH = 4 * H;
  const LayerNormRow at{H};
  const std::int64_t W = at.width();
  const bool acc = io.accumulate_param_grads;
  if (T_ == 0 || N == 0) {
    for (std::int64_t e = 0; e < N * H; ++e) io.dh0[e] = io.dh_n ? io.dh_n[e] : T(0);
    for (std::int64_t e = 0; e < N * H; ++e) io.dc0[e] = io.dc_n ? io.dc_n[e] : T(0);
    clear_unless_accumulating(io.dw_ih, GH * C, acc);
    clear_unless_accumulating(io.dw_hh, GH * H, acc);
    clear_unless_accumulating(io.db_ih, GH, acc);
    clear_unless_accumulating(io.db_hh, GH, acc);
    for (int k = 0; k < 4; ++k) clear_unless_accumulating(io.d_layer_norm[k], k < 2 ? GH : H, acc);
    return;
  }
  const std::int64_t row_panels = (N + mr - 1) / mr, unit_blocks = (H + nr - 1) / nr;
  const LayerNormBackwardWorkspace<T> ws(cfg, num_threads, io.workspace);
  // dGx and dGh of all steps: [T,N,4H] each, rows of stride W over the training workspace rows.
  const T* const dgx_all = io.gates + at.gates();
  const T* const dgh_all = io.gates + at.x_hat_ih();
  for (int half = 0; half < 2; ++half) {
    fill(ws.dg_packed + (half * row_panels + row_panels - 1) * GH * mr, GH * mr, T(0));
  }
  if (!io.c0 || !io.h0) fill(ws.zeros, N * H, T(0));
  const T* c0 = io.c0 ? io.c0 : ws.zeros;
  const T* h0 = io.h0 ? io.h0 : ws.zeros;
  const std::int64_t group = step.blocks_per_call(1, kernel.mr);
  const bool by_rows = layer_norm_split_rows<T>(cfg, num_threads, mr);

  parallel_region(num_threads, [&](const ThreadContext& ctx) {
    T* gemm_scratch = ws.thread_scratch + ctx.id * ws.scratch_per_thread;
    T* tile = gemm_scratch + gemm_scratch_elements(kernel);
    T* row_scratch = tile + std::int64_t{kernel.mr} * nr;
    // As in the forward: split by units, the product phase takes unit blocks of every row panel and the
    // row phase a range of rows; split by rows, this thread's row panels in both.
    const Range panels = by_rows ? split_range(row_panels, ctx) : Range{0, row_panels};
    const Range blocks = by_rows ? Range{0, unit_blocks} : split_range(unit_blocks, ctx);
    // The row phase takes whole row panels in both splits: each panel's running parameter sums are then
    // added to by one thread, in one order (steps, then rows), whatever the thread count.
    const Range row_panels_here = by_rows ? panels : split_range(row_panels, ctx);
    const Range rows{row_panels_here.begin * mr, std::min(N, row_panels_here.end * mr)};
    const std::int64_t sums_width = 3 * GH + 2 * H;
    fill(ws.panel_sums + row_panels_here.begin * sums_width,
         (row_panels_here.end - row_panels_here.begin) * sums_width, T(0));
    T* const dz = row_scratch + 2 * H;      // [4H] dL/dz of the row
    T* const d_norm = row_scratch + 6 * H;  // [H] dL/dLN_c(c_t) of the row
    const Range pack_blocks = split_range(unit_blocks, ctx);
    for (std::int64_t b = pack_blocks.begin; b < pack_blocks.end; ++b) {
      pack_recurrent_backward(io.w_hh, H, GH, nr, b, ws.w_packed);
      finish_packed_panels(ws.w_packed + b * GH * nr, 1, GH, nr, bf16);  // a block's panel
    }
    for (std::int64_t n = rows.begin; n < rows.end; ++n) {
      for (std::int64_t j = 0; j < H; ++j) io.dc0[n * H + j] = io.dc_n ? io.dc_n[n * H + j] : T(0);
    }
    // Split by units the first product reads only this thread's packed panels; split by rows, all.
    if (by_rows) barrier(ctx);

    // dL/dh past the step processed just before (dGh W_hh times the mask; dh_n at the first), plus dy,
    // for this thread's unit blocks and row panels, into `out` [N,H].
    auto state_gradient = [&](const T* dg_read, bool first, const T* dy, T* out) {
      for (std::int64_t b = blocks.begin; b < blocks.end; b += group) {
        const std::int64_t m = std::min(group, blocks.end - b);
        for (std::int64_t p = panels.begin; p < panels.end; ++p) {
          if (!first)
            step(GH, dg_read + p * GH * mr, ws.w_packed + b * GH * nr, GH * nr, m, tile, mr * nr, nr,
                 step.panel_rows(p, N));
          const std::int64_t n0 = p * mr, prow = std::min<std::int64_t>(mr, N - n0);
          for (std::int64_t q = 0; q < m; ++q) {
            const std::int64_t j0 = (b + q) * nr, units = std::min<std::int64_t>(nr, H - j0);
            for (std::int64_t r = 0; r < prow; ++r) {
              const std::int64_t n = n0 + r;
              const T* bt = tile + (q * mr + r) * nr;
              T* o = out + n * H + j0;
              for (std::int64_t u = 0; u < units; ++u) {
                T v = first ? (io.dh_n ? io.dh_n[n * H + j0 + u] : T(0)) : bt[u];
                if (!first && io.recurrent_mask) v *= io.recurrent_mask[n * H + j0 + u];
                if (dy) v += dy[n * cfg.y_ld + j0 + u];
                o[u] = v;
              }
            }
          }
        }
      }
    };

    for (std::int64_t s = T_ - 1; s >= 0; --s) {
      const std::int64_t t = cfg.time_at(s), t_prev = s > 0 ? cfg.time_at(s - 1) : -1;
      const T* dg_read = ws.dg_packed + ((s + 1) & 1) * row_panels * GH * mr;
      T* dg_write = ws.dg_packed + (s & 1) * row_panels * GH * mr;
      state_gradient(dg_read, s == T_ - 1, io.dy ? io.dy + t * N * cfg.y_ld : nullptr, ws.dh);
      if (!by_rows) barrier(ctx);  // the rows read every thread's units of dh
      for (std::int64_t n = rows.begin; n < rows.end; ++n) {
        const std::int64_t e = t * N + n;
        const T* c_prev = s == 0 ? c0 + n * H : io.saved + (t_prev * N + n) * H;
        T* row = io.gates + e * W;
        Cell::backward_row(H, cfg.activation, cfg.recurrent_activation, io.layer_norm, ws.dh + n * H, row,
                           c_prev, io.dc0 + n * H, dz, d_norm, row_scratch);
        add_parameter_sums(H, dz, d_norm, row, ws.panel_sums + (n / mr) * sums_width);
        Cell::input_gradients(H, io.layer_norm, dz, row);
        pack_rows_to_panels(dgh_all + t * N * W, W, n, 1, 0, GH, GH, mr, dg_write,
                            static_cast<const T*>(nullptr), 0, bf16);
      }
      if (by_rows) {
        if (io.interrupt != nullptr && io.interrupt->poll_now()) break;
      } else if (step_end(ctx, io.interrupt, s)) {
        return;
      }
    }
    if (by_rows) {  // the GEMMs below read every thread's dG
      barrier(ctx);
      if (io.interrupt != nullptr && io.interrupt->stopped()) return;
    }

    // dh0: the state gradient past the first processed step (no dy).
    state_gradient(ws.dg_packed, false, nullptr, io.dh0);

    deferred_products(ctx, kernel, cfg, io, h0, dgx_all, dgh_all, GH, W, H, ws.masked_h, gemm_scratch);

    // Parameter gradients of the biases and norms: the row panels' sums, added in panel order.
    T* const sums = ws.panel_sums;  // panel 0's row receives the totals
    const Range cols = split_range(sums_width, ctx);
    for (std::int64_t p = 1; p < row_panels; ++p) {
      const T* ps = ws.panel_sums + p * sums_width;
      for (std::int64_t j = cols.begin; j < cols.end; ++j) sums[j] += ps[j];
    }
    barrier(ctx);  // each gradient below takes columns other threads summed
    const T* sum_b = sums;
    const T* sum_ih = sums + GH;
    const T* sum_hh = sums + 2 * GH;
    const T* sum_gc = sums + 3 * GH;
    const T* sum_bc = sums + 3 * GH + H;
    const Range gcols = split_range(GH, ctx);
    const Range ucols = split_range(H, ctx);
    store_sums(sum_b, gcols.begin, gcols.end, io.db_ih, acc);
    store_sums(sum_b, gcols.begin, gcols.end, io.db_hh, acc);
    store_sums(sum_ih, gcols.begin, gcols.end, io.d_layer_norm[0], acc);
    store_sums(sum_hh, gcols.begin, gcols.end, io.d_layer_norm[1], acc);
    store_sums(sum_gc, ucols.begin, ucols.end, io.d_layer_norm[2], acc);
    store_sums(sum_bc, ucols.begin, ucols.end, io.d_layer_norm[3], acc);
  });
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
