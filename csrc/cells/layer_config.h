// Sizes and tensors of one recurrent layer in one direction, computed and validated once, passed const&.
//
// Shape legend (used in every file under cells/):
//   T steps, N batch, C input features, H hidden units, G gates (LSTM 4, GRU 3, RNN 1).
//   Time-major: a [T,N,X] tensor holds row (t, n) at (t*N + n) * ld.
//   Weight rows are gate-major as in PyTorch: row g*H + j is gate g of hidden unit j.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cells/activation.h"
#include "gemm/bf16_products.h"
#include "reduced/weight_format.h"

namespace fusedrnn {

struct LayerConfig {
  std::int64_t steps = 0;       // T
  std::int64_t batch = 0;       // N
  std::int64_t input_size = 0;  // C
  std::int64_t hidden = 0;      // H
  int gates = 0;                // G
  bool reverse = false;         // process t = T-1 .. 0
  std::int64_t x_ld = 0;        // row stride of x, >= C
  std::int64_t y_ld = 0;        // row stride of y / dy (bidirectional outputs share rows), >= H
  // Forward: x_t W_ih^T inside each step's product ([h_{t-1} | x_t] x [W_hh; W_ih], K = H + C) instead of
  // one GEMM over chunks of steps (cells with kInputFusable; the engine chooses, engine/stack_config.cc).
  bool fuse_input = false;
  // The cell's activations (Keras names): LSTM candidate and cell output / GRU candidate / RNN
  // nonlinearity, and the LSTM / GRU gates. The defaults are PyTorch's cells.
  Activation activation = Activation::tanh;
  Activation recurrent_activation = Activation::sigmoid;
  // The call has a recurrent-dropout mask (ForwardTensors / BackwardTensors::recurrent_mask); the
  // backward's workspace then holds the masked states.
  bool recurrent_dropout = false;
  // LSTM projection (PyTorch's proj_size): h_t = W_hr (o * act(c_t)) is P-wide, 0 = none.
  std::int64_t proj_size = 0;
  // The weights' format in the products: fp32, or (float32 inference only) bf16 / int8, whose forward is
  // reduced/time_loop_forward_reduced.h and whose packs are reduced/reduced_pack.h's.
  WeightFormat weight_format = WeightFormat::fp32;
  // bf16 mixed precision (compute_dtype="bfloat16"; float32 plans, fp32 weight format): every product's
  // operands (weights, x, h_{t-1}, and the backward's dG, dh, x, h) are rounded to bf16 where they are
  // packed (gemm/bf16_operand.h); the sums, the pointwise steps, the states, y and every gradient stay
  // float32, and so do the arrays the cells read (only the packed copies are rounded).
  bool bf16_products = false;
  // With bf16_products: the operands packed as bf16 pairs for the native AVX512-BF16 kernels
  // (gemm/bf16_kernels.h). Set by the plan from the kernel table its call runs (engine/stack_plan.cc:
  // only with the avx512 table, whose MR and NR the pairs panels share), never from a later look-up.
  bool bf16_native = false;

  // How the products' operands are packed (gemm/bf16_operand.h).
  Bf16Products bf16() const {
    return !bf16_products ? Bf16Products::off : bf16_native ? Bf16Products::pairs : Bf16Products::rounded;
  }
  // The width of h (of h0, h_n and y's columns): P with a projection, else H.
  std::int64_t state_width() const { return proj_size > 0 ? proj_size : hidden; }
  // Time index of the s-th processed step.
  std::int64_t time_at(std::int64_t s) const { return reverse ? steps - 1 - s : s; }

  // Throws std::invalid_argument (ValueError in Python) on an inconsistent configuration. Called once
  // by the bindings; the kernels assume a validated configuration.
  void validate() const {
    auto fail = [](const std::string& what) { throw std::invalid_argument("fusedrnn kernel: " + what); };
    if (steps < 0 || batch < 0 || input_size < 0) fail("negative size");
    if (hidden < 1) fail("hidden size must be >= 1");
    if (gates < 1) fail("gate count must be >= 1");
    if (x_ld < input_size) fail("x row stride smaller than input size");
    if (y_ld < state_width()) fail("y row stride smaller than the state width");
  }
};

class CallInterrupt;  // runtime/interrupt.h

// Forward tensors of one layer-direction. Pointers marked "or null" may be nullptr.
template <class T>
struct ForwardTensors {
  const T* x = nullptr;     // x: [T,N,x_ld], first C columns used
  const T* h0 = nullptr;    // h0: [N,H] or null (zeros)
  const T* c0 = nullptr;    // c0: [N,H] or null (zeros); cells with a cell state only
  const T* b_ih = nullptr;  // b_ih: [G*H] or null
  const T* b_hh = nullptr;  // b_hh: [G*H] or null
  T* y = nullptr;           // y: [T,N,y_ld] out, first H columns written
  T* h_n = nullptr;         // h_n: [N,H] out
  T* c_n = nullptr;         // c_n: [N,H] out; cells with a cell state only
  bool training = false;    // keep what backward needs (below); inference keeps nothing
  T* gates = nullptr;       // gates: [T,N,G*H] activated gates out (training, cells that save gates)
  T* saved = nullptr;       // saved: [T,N,H] per-unit workspace out (training, cells that save one)
  const T* recurrent_mask = nullptr;   // [N,S] factors on h_{t-1} in the recurrent products, or null
                                       // (recurrent dropout: the same at every step)
  T* cell_output = nullptr;            // cell_output: [T,N,H] o * act(c_t) out (training with a projection)
  const T* packed_weights = nullptr;   // w_ih [G*H,C] and w_hh [G*H,H] packed (PackedWeights)
  T* workspace = nullptr;              // the forward's scratch, sized by the kernel table's forward_workspace
  CallInterrupt* interrupt = nullptr;  // asked between steps whether to stop early, or null

  // The layer-normalised LSTM's gain ih [G*H], gain hh [G*H], gain c [H], bias c [H] (other cells: null).
  const T* layer_norm[4] = {nullptr, nullptr, nullptr, nullptr};
};

// Backward tensors of one layer-direction: the forward's inputs and workspace, upstream gradients in,
// input / state / parameter gradients out.
template <class T>
struct BackwardTensors {
  const T* x = nullptr;                 // x: [T,N,x_ld]
  const T* h0 = nullptr;                // h0: [N,H] or null (zeros)
  const T* c0 = nullptr;                // c0: [N,H] or null (zeros)
  const T* w_ih = nullptr;              // w_ih: [G*H, C]
  const T* w_hh = nullptr;              // w_hh: [G*H, S] (S: H, or P with a projection)
  const T* w_hr = nullptr;              // w_hr: [P, H] the projection, or null
  const T* cell_output = nullptr;       // cell_output: [T,N,H] the forward's o * act(c_t) (projection)
  const T* y = nullptr;                 // y: [T,N,y_ld] forward output (h_t)
  T* gates = nullptr;                   // gates: [T,N,G*H] forward workspace (cells that save gates); the
                                        // backward writes its dL/dG over it (time_loop_backward.h)
  const T* saved = nullptr;             // saved: [T,N,H] forward workspace (cells that save one)
  const T* dy = nullptr;                // dy: [T,N,y_ld] or null (zeros)
  const T* dh_n = nullptr;              // dh_n: [N,H] or null (zeros)
  const T* dc_n = nullptr;              // dc_n: [N,H] or null (zeros)
  T* dx = nullptr;                      // dx: [T,N,C] out (or accumulated, see accumulate_dx)
  T* dh0 = nullptr;                     // dh0: [N,H] out
  T* dc0 = nullptr;                     // dc0: [N,H] out; cells with a cell state only
  T* dw_ih = nullptr;                   // dw_ih: [G*H, C] out (or accumulated, see accumulate_param_grads)
  T* dw_hh = nullptr;                   // dw_hh: [G*H, S]
  T* dw_hr = nullptr;                   // dw_hr: [P, H] (projection)
  T* db_ih = nullptr;                   // db_ih: [G*H] or null (layer without bias)
  T* db_hh = nullptr;                   // db_hh: [G*H] or null
  const T* recurrent_mask = nullptr;    // recurrent_mask: [N,H] the forward's, or null
  bool accumulate_dx = false;           // dx += ... (second direction of a bidirectional layer)
  bool accumulate_param_grads = false;  // dw += ... (layers accumulating .grad like torch)
  T* workspace = nullptr;               // the backward's scratch, sized by the table's backward_workspace
  CallInterrupt* interrupt = nullptr;   // asked between steps whether to stop early, or null

  // The layer-normalised LSTM's parameters as ForwardTensors::layer_norm, and their gradients out (or
  // accumulated, see accumulate_param_grads); null for other cells.
  const T* layer_norm[4] = {nullptr, nullptr, nullptr, nullptr};
  T* d_layer_norm[4] = {nullptr, nullptr, nullptr, nullptr};
};

}  // namespace fusedrnn
