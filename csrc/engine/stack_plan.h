// A prepared layer stack: the validated configuration, the packed weights (kept while the weights
// cannot change) and retained memory for the kernels' scratch and the training workspace. forward and
// backward run every layer and direction of the stack in one call. The plan reads the weights through
// the pointers given to set_weights; who owns them keeps them alive and unchanged while packs are kept
// (the rule is written where the layers enforce it: python/fusedrnn/layers.py).
//
// Shape legend as in cells/layer_config.h, plus L layers, D directions, k = l*D + d a layer-direction
// ("slot"). Compiled with baseline flags; the kernels it calls come from the active KernelTable.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/stack_config.h"
#include "runtime/interrupt.h"

namespace fusedrnn {

template <class T>
struct SlotWeights {
  const T* w_ih = nullptr;  // w_ih: [G*H, C_l]
  const T* w_hh = nullptr;  // w_hh: [G*H, S] (S = P with a projection, else H)
  const T* b_ih = nullptr;  // b_ih: [G*H] or null (no bias)
  const T* b_hh = nullptr;  // b_hh: [G*H] or null
  const T* w_hr = nullptr;  // w_hr: [P, H] or null (no projection)
  // The layer-normalised LSTM's gains ih [G*H], hh [G*H], c [H] and bias c [H]; null for other cells.
  const T* layer_norm[4] = {nullptr, nullptr, nullptr, nullptr};
};

template <class T>
struct SlotGrads {
  T* dw_ih = nullptr;  // like SlotWeights
  T* dw_hh = nullptr;
  T* db_ih = nullptr;
  T* db_hh = nullptr;
  T* dw_hr = nullptr;
  T* layer_norm[4] = {nullptr, nullptr, nullptr, nullptr};
};

template <class T>
struct StackForward {
  std::int64_t steps = 0, batch = 0;  // T, N
  // S: the width of h, P with a projection (proj_size), else H.
  const T* x = nullptr;     // x: [T,N,C]
  const T* h0 = nullptr;    // h0: [L*D,N,S] or null (zeros)
  const T* c0 = nullptr;    // c0: [L*D,N,H] or null (zeros); cells with a cell state
  T* y = nullptr;           // y: [T,N,D*S] out
  T* h_n = nullptr;         // h_n: [L*D,N,S] out
  T* c_n = nullptr;         // c_n: [L*D,N,H] out; cells with a cell state
  bool training = false;    // keep what backward needs (copies: later edits of x, h0, c0 are harmless)
  bool keep_packs = false;  // keep the packed weights for the next calls
  // lengths: [N] each sequence's length in [1, T], or null (all T). With lengths, y is zero past each
  // sequence's end, h_n / c_n are each sequence's state at its own last step, the reverse direction
  // starts at each sequence's end, and the backward ignores the padding (engine/sequence_segments.h).
  const std::int64_t* lengths = nullptr;
  // dropout_masks: [L-1][T,N,D*S] or null (training only): the factor (0, or 1/(1-p) for PyTorch's
  // inverted dropout) each layer's output is multiplied by before it feeds the next layer.
  const T* dropout_masks = nullptr;
  // recurrent_masks: [L*D,N,S] or null (training only): factors on h_{t-1} wherever it enters a
  // recurrent product (variational recurrent dropout: one mask per layer-direction and sequence).
  const T* recurrent_masks = nullptr;
  // Asked between steps whether to stop (Ctrl-C), or null. A stopped call throws CallInterrupted and
  // leaves the plan as before it (no pending forward; packs, if made, are valid).
  CallInterrupt* interrupt = nullptr;
};

template <class T>
struct StackBackward {
  const T* dy = nullptr;            // dy: [T,N,D*S] or null (zeros)
  const T* dh_n = nullptr;          // dh_n: [L*D,N,S] or null
  const T* dc_n = nullptr;          // dc_n: [L*D,N,H] or null; cells with a cell state
  T* dx = nullptr;                  // dx: [T,N,C] out
  T* dh0 = nullptr;                 // dh0: [L*D,N,S] out
  T* dc0 = nullptr;                 // dc0: [L*D,N,H] out; cells with a cell state
  std::vector<SlotGrads<T>> grads;  // per slot, written or (accumulate) added to
  bool accumulate = false;
  // As StackForward's. A stopped backward throws CallInterrupted; it has consumed the forward (see
  // StackPlan::backward), and the gradients of the layers above the one interrupted have been written
  // (or added to).
  CallInterrupt* interrupt = nullptr;
};

// What a backward without a pending forward says (the plan's, and the bindings' check before it).
constexpr const char* kNoPendingForward =
    "backward: no training-mode forward to differentiate; run the forward again (each backward, even an "
    "interrupted one, uses up the forward before it)";

template <class T>
class StackPlan {
 public:
  explicit StackPlan(const StackConfig& config);  // validates
  ~StackPlan();
  StackPlan(const StackPlan&) = delete;
  StackPlan& operator=(const StackPlan&) = delete;

  // Calls may run at once from several threads: eval-mode forwards share the plan (each with scratch of
  // its own from a pool, all reading one set of packs); a training forward, a backward, and every
  // change of the weights have it to themselves. Training calls refuse (std::runtime_error) while
  // another call runs; weight changes wait for the running calls, and calls that arrive meanwhile wait
  // for the change, so no call ever mixes old and new weights.

  // One entry per slot. Drops the packs and any pending training forward.
  void set_weights(const std::vector<SlotWeights<T>>& weights);
  // The weights have changed (or may change): pack them again at the next forward.
  void drop_packs();
  // Runs `change` (which writes the weights in place) with no call running, then packs again at the
  // next forward.
  void with_calls_excluded(const std::function<void()>& change);
  bool has_packs() const;

  void forward(const StackForward<T>& args);
  // Differentiates the pending training forward (std::logic_error if none; std::runtime_error if a
  // weight changed since) and consumes it: the kernels write dL/dG over the gates the forward kept
  // (cells/time_loop_backward.h), so no [T,N,G*H] buffer is needed beside them. Every check (the
  // arguments, the weights, the memory) comes before anything is written, and a backward refused by one
  // leaves the forward pending; once the kernels start it is no longer pending, whatever happens
  // (success, CallInterrupted, an exception), and another backward needs another forward.
  void backward(const StackBackward<T>& args);
  bool pending() const;
  std::int64_t pending_steps() const;
  std::int64_t pending_batch() const;
  // Bytes of memory the plan keeps between calls (packs, scratch, training workspace).
  std::int64_t retained_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Threads worth starting for one layer-direction call (measured crossover, engine/stack_plan.cc).
int threads_for(const LayerConfig& cfg);

}  // namespace fusedrnn
