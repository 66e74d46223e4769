#include "engine/stack_plan.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#include "dispatch/kernel_table.h"
#include "engine/arena.h"
#include "engine/call_gate.h"
#include "engine/sequence_segments.h"
#include "gemm/bf16_kernels.h"
#include "runtime/threads.h"

namespace fusedrnn {

namespace {
// Kernel calls running in this process right now (every plan's forward and backward).
std::atomic<int>& running_calls() {
  static std::atomic<int> count{0};
  return count;
}
#if defined(__unix__) || defined(__APPLE__)
// A forked child has none of the parent's other threads, so none of their calls (the thread that forks
// is never inside one).
void no_calls_in_forked_child() { running_calls().store(0, std::memory_order_relaxed); }
const bool running_calls_fork_handler = pthread_atfork(nullptr, nullptr, &no_calls_in_forked_child) == 0;
#endif
// Counts one call for as long as it runs.
class RunningCall {
 public:
  RunningCall() { running_calls().fetch_add(1, std::memory_order_relaxed); }
  ~RunningCall() { running_calls().fetch_sub(1, std::memory_order_relaxed); }
  RunningCall(const RunningCall&) = delete;
  RunningCall& operator=(const RunningCall&) = delete;
};
}  // namespace

int threads_for(const LayerConfig& cfg) {
  // A parallel region costs microseconds, more than a whole tiny sequence (measured on keras-seed, T=3
  // N=1 H=50: 25 us per call on 2 threads, 13 us on 1). Results do not depend on the thread count, so
  // this only changes speed.
  const double flops = 2.0 * cfg.steps * cfg.batch * cfg.gates * cfg.hidden * (cfg.input_size + cfg.hidden);
  const double useful = flops / static_cast<double>(min_flops_per_thread()) + 1.0;
  // Calls running at once (Python threads sharing a layer, or each with its own) share the thread count
  // set_num_threads gave: two threads' calls on a 2-core machine run on one thread each rather than
  // four threads fighting for two cores.
  const int sharing = std::max(1, running_calls().load(std::memory_order_relaxed));
  const int requested = machine_contended() ? 1 : std::max(1, get_num_threads() / sharing);
  return useful >= requested ? requested : std::max(1, static_cast<int>(useful));
}

namespace {

constexpr std::int64_t kMinParallelPackElements = std::int64_t{1} << 18;
constexpr double kConcurrentStepFlops = 64e6;

// Whether the two directions of each layer run side by side, one thread each, where each would get two
// threads one after the other: no barrier between the threads at each step. Measured (2-layer
// bidirectional, forward, 2 threads, Zen 5): 1.5x faster on energy, 1.13x mnist-row, 1.06x char-lstm,
// 0.98x medium (134 MFLOP per step and direction), so only below kConcurrentStepFlops of recurrent work
// per step; the backward's step does the same product (dG W_hh) and follows the same rule. A direction's
// arithmetic does not depend on its thread count, so neither do the results.
bool directions_side_by_side(const StackConfig& cfg, std::int64_t batch,
                             const std::vector<int>& slot_threads) {
  const double step_flops = 2.0 * batch * cfg.gates() * cfg.hidden * cfg.hidden;
  bool on = cfg.directions == 2 && concurrent_directions() && step_flops < kConcurrentStepFlops;
  for (int t : slot_threads) on = on && t == 2;
  return on;
}

// What a training forward keeps for its backward, carved from one arena. carve() over nullptr measures
// (elements); the vectors keep their capacity, so re-carving allocates nothing in steady state.
template <class T>
struct TrainingStore {
  T* x = nullptr;   // x: [T,N,C] copy of the input
  T* h0 = nullptr;  // h0, c0: [L*D,N,H] copies (when given)
  T* c0 = nullptr;
  std::vector<T*> outputs;       // outputs[l]: [T,N,D*H] layer outputs (h_t of both directions)
  std::vector<T*> masks;         // masks[l], l < L-1: [T,N,D*H] dropout factors on outputs[l] (dropout)
  std::vector<T*> dropped;       // dropped[l] = outputs[l] * masks[l]: the input of layer l+1 (dropout)
  T* recurrent_masks = nullptr;  // [L*D,N,S] recurrent-dropout factors, in sorted order with lengths
  std::vector<T*> cell_output;   // per slot, projection: [T,N,H] o * act(c_t), which W_hr projects
  std::vector<T*> gates, saved;  // per slot: the cell's workspace (cells/cell_traits.h)
  std::vector<T*> snapshot;      // per parameter: its values at the forward, to detect in-place edits
  std::int64_t elements = 0;

  void carve(const StackConfig& cfg, const std::vector<std::int64_t>& parameter_elements, std::int64_t steps,
             std::int64_t batch, bool dropout, bool recurrent_dropout, T* base) {
    const CellFacts& f = cfg.facts();
    const std::int64_t TN = steps * batch, H = cfg.hidden, GH = f.gate_workspace(H),
                       LDNH = cfg.slots() * batch * H;
    const std::int64_t S = cfg.state_width(), LDNS = cfg.slots() * batch * S, DS = cfg.directions * S;
    Pieces<T> pieces(base);
    x = pieces.take(TN * cfg.input_size);
    h0 = pieces.take(LDNS);
    c0 = pieces.take(f.has_cell_state ? LDNH : 0);
    recurrent_masks = pieces.take(recurrent_dropout ? LDNS : 0);
    outputs.clear();
    cell_output.clear();
    masks.clear();
    dropped.clear();
    gates.clear();
    saved.clear();
    snapshot.clear();
    for (std::int64_t l = 0; l < cfg.layers; ++l) outputs.push_back(pieces.take(TN * DS));
    for (std::int64_t l = 0; dropout && l + 1 < cfg.layers; ++l) {
      masks.push_back(pieces.take(TN * DS));
      dropped.push_back(pieces.take(TN * DS));
    }
    for (std::int64_t k = 0; k < cfg.slots(); ++k) {
      gates.push_back(pieces.take(f.saves_gates ? TN * GH : 0));
      saved.push_back(pieces.take(f.saves_per_unit ? TN * H : 0));
      cell_output.push_back(pieces.take(cfg.proj_size > 0 ? TN * H : 0));
    }
    for (std::int64_t n : parameter_elements) snapshot.push_back(pieces.take(n));
    elements = pieces.used();
  }
};

constexpr const char* kBusyMessage =
    "this layer is running calls in other threads; eval-mode calls may share a layer, but a training-mode "
    "forward or backward needs it to itself: give each training thread its own layer";

// A call that has the plan to itself. Training calls refuse rather than wait (a training layer shared
// between threads is a mistake to report, not to serialise); weight changes wait (kWait).
class ExclusiveCall {
 public:
  enum Mode { kRefuse, kWait };
  ExclusiveCall(CallGate& gate, Mode mode) : gate_(gate) {
    if (mode == kWait) {
      gate_.enter_exclusive();
    } else if (!gate_.try_enter_exclusive()) {
      throw std::runtime_error(kBusyMessage);
    }
  }
  ~ExclusiveCall() { gate_.leave_exclusive(); }
  ExclusiveCall(const ExclusiveCall&) = delete;
  ExclusiveCall& operator=(const ExclusiveCall&) = delete;

 private:
  CallGate& gate_;
};

void check_call_size(std::int64_t steps, std::int64_t batch) {
  if (steps < 0 || batch < 0) throw std::invalid_argument("x: negative size");
  if (steps > kMaxSize || batch > kMaxSize || (batch > 0 && steps > kMaxSize / batch)) {
    throw std::invalid_argument("x: T*N = " + std::to_string(steps) + "*" + std::to_string(batch) +
                                " is above the supported limit " + std::to_string(kMaxSize));
  }
}

}  // namespace

template <class T>
struct StackPlan<T>::Impl {
  StackConfig cfg;
  std::vector<SlotWeights<T>> weights;
  const KernelTable* table = nullptr;      // the kernels the packs and their offsets were made for
  std::int64_t fuse_max = -1;              // and the fusion rule (it changes the packs' layout)
  std::int64_t reduced_min = -1;           // and the reduced-format size rule (StackConfig::slot_format)
  bool bf16_native = false;                // and the bf16 products' form (LayerConfig::bf16_native)
  std::vector<std::int64_t> pack_offsets;  // per slot, into packs; then the total
  std::vector<std::int64_t> parameter_elements;  // per parameter, in PyTorch's order
  // What one call uses besides the packs: kernel scratch, its lengths sorted into segments, its thread
  // counts. Eval calls running at once each take one from the pool; exclusive calls (training forward
  // and backward) use `own`, whose segments the backward of the pending forward reads again.
  struct CallScratch {
    Arena scratch;
    SequenceSegments sequences;
    std::vector<Segment> whole;     // the one segment of a call without lengths
    std::vector<int> slot_threads;  // this call's thread count per slot: sizes and kernels must agree
    // The segments a call runs (sequence_segments.h): by length, or the whole [T, N] as one.
    const std::vector<Segment>& segments(bool with_lengths, std::int64_t T_, std::int64_t N) {
      whole.assign(1, Segment{0, T_, N, 0});
      return with_lengths ? sequences.segments : whole;
    }
  };
  Arena packs, store;
  CallScratch own;
  CallGate gate;
  std::vector<std::unique_ptr<CallScratch>> pool;  // every scratch eval calls have used (under gate's mutex)
  std::vector<CallScratch*> idle;                  // those of `pool` no call holds now
  TrainingStore<T> store_layout;                   // the pending forward's pieces of `store`
  bool packs_valid = false;
  std::atomic<bool> pending{false};  // eval calls clear it while others run beside them
  std::int64_t steps = 0, batch = 0;
  bool has_h0 = false, has_c0 = false;
  bool by_length = false;          // the pending forward had lengths: its segments are `sequences`
  bool dropout = false;            // the pending forward dropped out the outputs between layers
  bool recurrent_dropout = false;  // and had recurrent masks (in the store)

  // Threads per slot for a call over T_ x N, chosen once per call (the choice can change between
  // calls, e.g. when the machine becomes contended, never within one).
  void choose_threads(std::int64_t T_, std::int64_t N, std::vector<int>& slot_threads) const {
    slot_threads.resize(static_cast<std::size_t>(cfg.slots()));
    int most = 1;
    for (std::int64_t k = 0; k < cfg.slots(); ++k) {
      slot_threads[k] = threads_for(slot_config(k, T_, N));
      most = std::max(most, slot_threads[k]);
    }
    ensure_thread_team(most);  // a MemoryError now, rather than libgomp ending the process in a region
  }

  // A scratch for one eval call, from the pool (made when every one is in use).
  // The pool is kept under the gate's mutex, which fork() leaves unlocked in the child (call_gate.h);
  // a scratch leased by a call the fork cut off stays out of `idle` there, unused.
  CallScratch* lease_scratch() {
    return gate.locked([&] {
      if (idle.empty()) {
        pool.push_back(std::make_unique<CallScratch>());
        return pool.back().get();
      }
      CallScratch* s = idle.back();
      idle.pop_back();
      return s;
    });
  }
  void return_scratch(CallScratch* s) {
    gate.locked([&] { idle.push_back(s); });
  }

  // Whether the packs were made for the kernels and rules in use now (an exclusive call makes them so).
  bool packs_current() const {
    return packs_valid && table == &active_kernels() && fuse_max == fuse_input_max_features() &&
           reduced_min == reduced_min_weights() && bf16_native == bf16_native_under(*table);
  }

  // Whether this plan's products would be packed as bf16 pairs under `t` (asked only of bf16 plans: the
  // answer looks up the CPU's paths, and every call checks it). Taken with the table it is for, so a call
  // never pairs one table's kernels with the other form's packs.
  bool bf16_native_under(const KernelTable& t) const { return cfg.bf16_products && bf16_products_native(t); }

  // Packs every slot's weights (exclusive calls only).
  void pack_all(const TypedKernels<T>& kernels, std::int64_t T_, std::int64_t N,
                const std::vector<int>& slot_threads) {
    T* base = packs.template reserve<T>(pack_offsets.back());
    for (std::int64_t k = 0; k < cfg.slots(); ++k) {
      const LayerConfig lc = slot_config(k, T_, N);
      // Packing small weights is cheaper than starting the threads for it (a region start is itself
      // several microseconds, and far more when an idle vCPU has to be woken).
      const std::int64_t elements = pack_offsets[k + 1] - pack_offsets[k];
      const int pack_threads = elements < kMinParallelPackElements ? 1 : slot_threads[k];
      kernels.pack_weights(lc, weights[k].w_ih, weights[k].w_hh, weights[k].w_hr, base + pack_offsets[k],
                           pack_threads);
    }
  }

  // The forward of one call, with the plan to itself (exclusive: it may pack and keep a training
  // store) or shared with other eval calls (the packs are current and stay so while it runs).
  void forward_call(const StackForward<T>& a, CallScratch& cs, bool exclusive);

  // Pack layouts differ between ISAs (tests switch the active one) and with the fusion rule (a tuning
  // knob): follow the ones in use. Exclusive calls only (it may reset the layout).
  const TypedKernels<T>& kernels() {
    const KernelTable& active = active_kernels();
    if (table != &active || fuse_max != fuse_input_max_features() || reduced_min != reduced_min_weights() ||
        bf16_native != bf16_native_under(active)) {
      table = &active;
      fuse_max = fuse_input_max_features();
      reduced_min = reduced_min_weights();
      bf16_native = bf16_native_under(active);
      packs_valid = false;
      pack_offsets.clear();
      Pieces<T> layout(nullptr);
      for (std::int64_t k = 0; k < cfg.slots(); ++k) {
        pack_offsets.push_back(layout.used());
        layout.take(active.typed<T>().packed_weights_elements(slot_config(k, 0, 0)));
      }
      pack_offsets.push_back(layout.used());
    }
    return active.typed<T>();
  }

  LayerConfig slot_config(std::int64_t k, std::int64_t T_, std::int64_t N) const {
    return layer_config(k / cfg.directions, static_cast<int>(k % cfg.directions), T_, N);
  }
  // Layer l, direction d, in the bf16 form of this plan's packs (bf16_native, taken with `table`).
  LayerConfig layer_config(std::int64_t l, int d, std::int64_t T_, std::int64_t N) const {
    LayerConfig lc = cfg.layer(l, d, T_, N);
    lc.bf16_native = lc.bf16_products && bf16_native;
    return lc;
  }
  // fn(index, pointer, elements) for every parameter, in PyTorch's order.
  template <class Fn>
  void for_each_parameter(Fn&& fn) const {
    std::size_t i = 0;
    for (const SlotWeights<T>& w : weights) {
      // PyTorch's order: w_ih, w_hh, (b_ih, b_hh,) (w_hr)
      // (, the layer norm's four)
      const T* in_order[9] = {w.w_ih,          w.w_hh,          w.b_ih,          w.b_hh,         w.w_hr,
                              w.layer_norm[0], w.layer_norm[1], w.layer_norm[2], w.layer_norm[3]};
      for (int j = 0; j < 9; ++j) {
        if (in_order[j] == nullptr) continue;
        fn(i, in_order[j], parameter_elements[i]);
        ++i;
      }
    }
  }
};

template <class T>
StackPlan<T>::StackPlan(const StackConfig& config) : impl_(std::make_unique<Impl>()) {
  config.validate();
  if (config.weight_format != WeightFormat::fp32 && !std::is_same_v<T, float>) {
    throw std::invalid_argument(std::string("weight_format: ") + weight_format_name(config.weight_format) +
                                " needs dtype float32");
  }
  if (config.bf16_products && !std::is_same_v<T, float>) {
    throw std::invalid_argument(
        "compute_dtype: 'bfloat16' needs dtype float32 (float64 layers compute in float64)");
  }
  impl_->cfg = config;
  for (const ParameterSpec& p : config.parameters()) {
    std::int64_t n = 1;
    for (std::int64_t d : p.shape) n *= d;
    impl_->parameter_elements.push_back(n);
  }
}

template <class T>
StackPlan<T>::~StackPlan() = default;

template <class T>
void StackPlan<T>::set_weights(const std::vector<SlotWeights<T>>& weights) {
  if (static_cast<std::int64_t>(weights.size()) != impl_->cfg.slots()) {
    throw std::invalid_argument("weights: expected one entry per layer and direction");
  }
  ExclusiveCall guard(impl_->gate, ExclusiveCall::kWait);  // after the calls reading the old weights
  impl_->weights = weights;
  impl_->packs_valid = false;
  impl_->pending = false;
}

template <class T>
void StackPlan<T>::drop_packs() {
  ExclusiveCall guard(impl_->gate, ExclusiveCall::kWait);
  impl_->packs_valid = false;
}

template <class T>
void StackPlan<T>::with_calls_excluded(const std::function<void()>& change) {
  ExclusiveCall guard(impl_->gate, ExclusiveCall::kWait);
  impl_->packs_valid = false;  // whatever `change` does to the weights, the packs follow at the next call
  change();
}

template <class T>
bool StackPlan<T>::has_packs() const {
  return impl_->packs_valid;
}

template <class T>
bool StackPlan<T>::pending() const {
  return impl_->pending;
}
template <class T>
std::int64_t StackPlan<T>::pending_steps() const {
  return impl_->steps;
}
template <class T>
std::int64_t StackPlan<T>::pending_batch() const {
  return impl_->batch;
}

template <class T>
std::int64_t StackPlan<T>::retained_bytes() const {
  Impl& m = *impl_;
  std::size_t bytes = m.packs.bytes() + m.own.scratch.bytes() + m.store.bytes();
  m.gate.locked([&] {
    for (const auto& s : m.pool) bytes += s->scratch.bytes();
  });
  return static_cast<std::int64_t>(bytes);
}

template <class T>
void StackPlan<T>::forward(const StackForward<T>& a) {
  Impl& m = *impl_;
  const StackConfig& cfg = m.cfg;
  check_call_size(a.steps, a.batch);
  if (a.training && cfg.weight_format != WeightFormat::fp32) {
    throw std::invalid_argument(std::string("training: a ") + weight_format_name(cfg.weight_format) +
                                " layer is inference-only (train the float32 layer, then quantise it)");
  }
  const RunningCall running;
  if (a.training || !a.keep_packs) {
    const ExclusiveCall guard(m.gate, ExclusiveCall::kRefuse);
    m.forward_call(a, m.own, true);
    return;
  }
  // Eval: shared with the other eval calls once the packs are current. Packing needs the plan to itself;
  // a weight change may come between packing and entering again, hence the loop.
  m.gate.enter_shared();
  while (!m.packs_current()) {
    m.gate.leave_shared();
    {
      const ExclusiveCall guard(m.gate, ExclusiveCall::kWait);
      if (!m.packs_current()) {
        if (static_cast<std::int64_t>(m.weights.size()) != cfg.slots())
          throw std::logic_error("forward: no weights set");
        const TypedKernels<T>& kernels = m.kernels();
        m.choose_threads(a.steps, a.batch, m.own.slot_threads);
        m.pack_all(kernels, a.steps, a.batch, m.own.slot_threads);
        m.packs_valid = true;
      }
    }
    m.gate.enter_shared();
  }
  struct Leave {
    Impl& m;
    typename Impl::CallScratch* scratch;
    ~Leave() {
      m.return_scratch(scratch);
      m.gate.leave_shared();
    }
  } leave{m, m.lease_scratch()};
  m.forward_call(a, *leave.scratch, false);
}

template <class T>
void StackPlan<T>::Impl::forward_call(const StackForward<T>& a, CallScratch& cs, bool exclusive) {
  Impl& m = *this;
  const StackConfig& cfg = m.cfg;
  if (static_cast<std::int64_t>(m.weights.size()) != cfg.slots())
    throw std::logic_error("forward: no weights set");
  m.pending = false;  // a new forward replaces the pending one, even if it fails
  // Shared calls use the kernels the packs were made for (packs_current: the active ones).
  const TypedKernels<T>& kernels = exclusive ? m.kernels() : m.table->template typed<T>();
  const CellFacts& f = cfg.facts();
  const int kind = static_cast<int>(cfg.kind);
  const std::int64_t T_ = a.steps, N = a.batch, C = cfg.input_size, H = cfg.hidden;
  const std::int64_t L = cfg.layers, NH = N * H;
  const std::int64_t GW = f.gate_workspace(H);  // a row of the saved-gates workspace
  // S: the width of h (P with a projection); DS: y's row (both directions).
  const std::int64_t S = cfg.state_width(), NS = N * S, DS = cfg.directions * S, NX = N * std::max(H, S);
  const bool by_length = a.lengths != nullptr && N > 0;
  if (by_length) cs.sequences.build(a.lengths, T_, N);  // throws on a bad length, before any work
  const bool dropout = a.dropout_masks != nullptr && L > 1;
  if (a.dropout_masks && !a.training) throw std::invalid_argument("dropout_masks: training mode only");
  const bool recurrent_dropout = a.recurrent_masks != nullptr;
  if (recurrent_dropout && !a.training) throw std::invalid_argument("recurrent_masks: training mode only");
  const SequenceSegments& seq = cs.sequences;
  const std::vector<Segment>& segments = cs.segments(by_length, T_, N);
  const std::int64_t rows = by_length ? seq.rows : T_ * N;  // rows of the (packed) [., C] / [., D*H] tensors

  // Memory first (growing may throw), then the packs, then the layers.
  const std::vector<int>& slot_threads = cs.slot_threads;
  m.choose_threads(T_, N, cs.slot_threads);
  const bool concurrent = directions_side_by_side(cfg, N, slot_threads);
  std::int64_t kernel_ws = 0;
  for (std::int64_t k = 0; k < cfg.slots(); ++k) {
    const int threads = concurrent ? 1 : slot_threads[k];
    for (const Segment& g : segments) {
      LayerConfig lc = m.slot_config(k, g.steps, g.batch);
      lc.recurrent_dropout = recurrent_dropout;
      kernel_ws = std::max(kernel_ws, kernels.forward_workspace[kind](lc, a.training, threads));
    }
  }
  const std::int64_t between = !a.training && L > 1 ? rows * DS : 0;  // inference: outputs below the top
  const std::int64_t state_sets = by_length ? cfg.directions : 0;     // running states per direction
  Pieces<T> scratch_layout(nullptr);
  scratch_layout.take(kernel_ws);
  scratch_layout.take(concurrent ? kernel_ws : 0);
  scratch_layout.take(between);
  scratch_layout.take(between);
  scratch_layout.take(by_length && !a.training ? rows * C : 0);
  scratch_layout.take(by_length && !a.training ? rows * DS : 0);
  scratch_layout.take(state_sets * 4 * NX);
  Pieces<T> scratch(cs.scratch.template reserve<T>(scratch_layout.used()));
  T* const workspaces[2] = {scratch.take(kernel_ws), scratch.take(concurrent ? kernel_ws : 0)};
  T* const between_buffers[2] = {scratch.take(between), scratch.take(between)};
  T* const x_packed = scratch.take(by_length && !a.training ? rows * C : 0);
  T* const y_packed = scratch.take(by_length && !a.training ? rows * DS : 0);
  T* const states = scratch.take(state_sets * 4 * NX);
  if (exclusive && !m.packs_valid) m.pack_all(kernels, T_, N, slot_threads);
  const T* packs = m.packs.template data<T>();

  const T* x = a.x;
  const T* h0 = a.h0;
  const T* c0 = f.has_cell_state ? a.c0 : nullptr;
  TrainingStore<T>* store = nullptr;
  if (a.training) {
    store = &m.store_layout;
    store->carve(cfg, m.parameter_elements, T_, N, dropout, recurrent_dropout, nullptr);
    store->carve(cfg, m.parameter_elements, T_, N, dropout, recurrent_dropout,
                 m.store.template reserve<T>(store->elements));
    for (std::int64_t k = 0; recurrent_dropout && k < cfg.slots(); ++k) {
      const T* mask = a.recurrent_masks + k * NS;
      if (by_length) {
        states_to_sorted(seq, mask, S, store->recurrent_masks + k * NS);
      } else {
        std::copy(mask, mask + NS, store->recurrent_masks + k * NS);
      }
    }
    if (by_length) {
      pack_padded(seq, a.x, C, C, store->x);
    } else {
      std::copy(a.x, a.x + T_ * N * C, store->x);
    }
    if (h0) h0 = std::copy(h0, h0 + cfg.slots() * NS, store->h0) - cfg.slots() * NS;
    if (c0) c0 = std::copy(c0, c0 + cfg.slots() * NH, store->c0) - cfg.slots() * NH;
    x = store->x;
    for (std::int64_t l = 0; dropout && l + 1 < L; ++l) {
      const T* mask = a.dropout_masks + l * T_ * N * DS;
      if (by_length) {
        pack_padded(seq, mask, DS, DS, store->masks[l]);
      } else {
        std::copy(mask, mask + T_ * N * DS, store->masks[l]);
      }
    }
    m.for_each_parameter(
        [&](std::size_t i, const T* p, std::int64_t n) { std::copy(p, p + n, store->snapshot[i]); });
  } else if (by_length) {
    pack_padded(seq, a.x, C, C, x_packed);
    x = x_packed;
  }

  // One layer-direction: its segments in the direction's order, each one kernel call. With lengths the
  // states run in `state` ([4][N,H]: h, c, and the kernel's h_n / c_n of the last segment), in sorted order.
  auto run_direction = [&](std::int64_t l, int d, const T* layer_input, T* out, T* workspace, int threads,
                           T* state) {
    const std::int64_t k = l * cfg.directions + d, C_l = cfg.layer_input(l);
    const T* slot_h0 = h0 ? h0 + k * NS : nullptr;
    const T* slot_c0 = c0 ? c0 + k * NH : nullptr;
    T* slot_h_n = a.h_n + k * NS;
    T* slot_c_n = f.has_cell_state ? a.c_n + k * NH : nullptr;
    T* const hs = state;
    T* const cs = state + NX;
    T* const h_out = state + 2 * NX;
    T* const c_out = state + 3 * NX;
    if (by_length) {
      states_to_sorted(seq, slot_h0, S, hs);
      if (f.has_cell_state) states_to_sorted(seq, slot_c0, H, cs);
    }
    const std::size_t segment_count = segments.size();
    for (std::size_t j = 0; j < segment_count; ++j) {
      // The reverse direction visits the segments last to first.
      const Segment& g = segments[d == 0 ? j : segment_count - 1 - j];
      LayerConfig lc = m.layer_config(l, d, g.steps, g.batch);
      lc.recurrent_dropout = recurrent_dropout;
      ForwardTensors<T> io;
      io.recurrent_mask = recurrent_dropout ? store->recurrent_masks + k * NS : nullptr;
      io.x = layer_input + g.row0 * C_l;
      io.h0 = by_length ? hs : slot_h0;
      io.c0 = f.has_cell_state ? (by_length ? cs : slot_c0) : nullptr;
      io.b_ih = m.weights[k].b_ih;
      io.b_hh = m.weights[k].b_hh;
      io.y = out + g.row0 * DS + d * S;
      io.h_n = by_length ? h_out : slot_h_n;
      io.c_n = f.has_cell_state ? (by_length ? c_out : slot_c_n) : nullptr;
      io.training = a.training;
      io.gates = a.training && f.saves_gates ? store->gates[k] + g.row0 * GW : nullptr;
      std::copy(m.weights[k].layer_norm, m.weights[k].layer_norm + 4, io.layer_norm);
      io.saved = a.training && f.saves_per_unit ? store->saved[k] + g.row0 * H : nullptr;
      io.cell_output = a.training && cfg.proj_size > 0 ? store->cell_output[k] + g.row0 * H : nullptr;
      io.packed_weights = packs + m.pack_offsets[k];
      io.workspace = workspace;
      io.interrupt = a.interrupt;
      kernels.forward[kind](lc, io, threads);
      if (a.interrupt && a.interrupt->stopped()) return;  // may run inside a region: the caller throws
      if (by_length) {  // the segment's rows carry on (or, having ended, keep their final state)
        std::copy(h_out, h_out + g.batch * S, hs);
        if (f.has_cell_state) std::copy(c_out, c_out + g.batch * H, cs);
      }
    }
    if (by_length) {
      states_from_sorted(seq, hs, S, slot_h_n);
      if (f.has_cell_state) states_from_sorted(seq, cs, H, slot_c_n);
    }
  };

  const T* layer_input = x;
  for (std::int64_t l = 0; l < L; ++l) {
    T* out =
        a.training ? store->outputs[l] : (l < L - 1 ? between_buffers[l % 2] : (by_length ? y_packed : a.y));
    if (concurrent) {
      // Each direction writes its own columns of y, its own slots of h_n / c_n and of the store.
      parallel_region(2, [&](const ThreadContext& ctx) {
        run_direction(l, ctx.id, layer_input, out, workspaces[ctx.id], 1, states + ctx.id * 4 * NX);
      });
    } else {
      for (int d = 0; d < cfg.directions; ++d)
        run_direction(l, d, layer_input, out, workspaces[0], slot_threads[l * cfg.directions + d], states);
    }
    if (a.interrupt && a.interrupt->stopped()) throw CallInterrupted();
    layer_input = out;
    if (dropout && l + 1 < L) {  // the next layer reads the dropped-out copy; out stays for this backward
      const T* mask = store->masks[l];
      T* dropped = store->dropped[l];
      for (std::int64_t e = 0; e < rows * DS; ++e) dropped[e] = out[e] * mask[e];
      layer_input = dropped;
    }
  }
  if (by_length) {
    unpack_to_padded(seq, layer_input, DS, a.y, DS);
  } else if (a.training) {
    std::copy(layer_input, layer_input + T_ * N * DS, a.y);
  }
  if (exclusive) m.packs_valid = a.keep_packs;
  if (a.training) {
    m.pending = true;
    m.steps = T_;
    m.batch = N;
    m.has_h0 = a.h0 != nullptr;
    m.has_c0 = c0 != nullptr;
    m.by_length = by_length;
    m.dropout = dropout;
    m.recurrent_dropout = recurrent_dropout;
  }
}

template <class T>
void StackPlan<T>::backward(const StackBackward<T>& a) {
  const RunningCall running;
  const ExclusiveCall guard(impl_->gate, ExclusiveCall::kRefuse);
  Impl& m = *impl_;
  const StackConfig& cfg = m.cfg;
  if (!m.pending) throw std::logic_error(kNoPendingForward);
  if (static_cast<std::int64_t>(a.grads.size()) != cfg.slots()) {
    throw std::invalid_argument("grads: expected one entry per layer and direction");
  }
  const TypedKernels<T>& kernels = m.kernels();
  const CellFacts& f = cfg.facts();
  const int kind = static_cast<int>(cfg.kind);
  const std::int64_t T_ = m.steps, N = m.batch, C = cfg.input_size, H = cfg.hidden;
  const std::int64_t L = cfg.layers, NH = N * H;
  const std::int64_t S = cfg.state_width(), NS = N * S, DS = cfg.directions * S, NX = N * std::max(H, S);
  const TrainingStore<T>& store = m.store_layout;
  const bool by_length = m.by_length;
  const SequenceSegments& seq = m.own.sequences;  // the pending forward's (exclusive, as this call)
  const std::vector<Segment>& segments = m.own.segments(by_length, T_, N);
  const std::vector<int>& slot_threads = m.own.slot_threads;
  const std::int64_t rows = by_length ? seq.rows : T_ * N;

  // The gradients belong to the weights the forward used: refuse if any changed in place since.
  std::int64_t changed = -1;
  m.for_each_parameter([&](std::size_t i, const T* p, std::int64_t n) {
    if (changed < 0 && std::memcmp(p, store.snapshot[i], static_cast<std::size_t>(n) * sizeof(T)) != 0) {
      changed = static_cast<std::int64_t>(i);
    }
  });
  if (changed >= 0) {
    throw std::runtime_error("backward: " + cfg.parameters()[changed].name +
                             " was modified after the training-mode forward, so the gradients would not "
                             "belong to the function computed; update parameters after backward, then run "
                             "forward again");
  }

  m.choose_threads(T_, N, m.own.slot_threads);
  const bool concurrent = directions_side_by_side(cfg, N, slot_threads);
  std::int64_t kernel_ws = 0;
  for (std::int64_t k = 0; k < cfg.slots(); ++k) {
    for (const Segment& g : segments) {
      LayerConfig lc = m.slot_config(k, g.steps, g.batch);
      lc.recurrent_dropout = m.recurrent_dropout;
      kernel_ws = std::max(kernel_ws, kernels.backward_workspace[kind](lc, concurrent ? 1 : slot_threads[k]));
    }
  }
  const std::int64_t between = L > 1 ? rows * DS : 0;  // gradients reaching the outputs of lower layers
  // The reverse direction's input gradient, added to the forward direction's once both are done, in both
  // schedules (side by side they are computed at once).
  const std::int64_t reverse_dx = cfg.directions == 2 ? rows * std::max(C, DS) : 0;
  const std::int64_t state_sets = by_length ? (concurrent ? 2 : 1) : 0;
  Pieces<T> scratch_layout(nullptr);
  scratch_layout.take(kernel_ws);
  scratch_layout.take(concurrent ? kernel_ws : 0);
  scratch_layout.take(between);
  scratch_layout.take(between);
  scratch_layout.take(reverse_dx);
  scratch_layout.take(by_length && a.dy ? rows * DS : 0);
  scratch_layout.take(by_length ? rows * C : 0);
  scratch_layout.take(state_sets * 8 * NX);
  Pieces<T> scratch(m.own.scratch.template reserve<T>(scratch_layout.used()));
  T* const workspaces[2] = {scratch.take(kernel_ws), scratch.take(concurrent ? kernel_ws : 0)};
  T* const between_buffers[2] = {scratch.take(between), scratch.take(between)};
  T* const dx_reverse = scratch.take(reverse_dx);
  T* const dy_packed = scratch.take(by_length && a.dy ? rows * DS : 0);
  T* const dx_packed = scratch.take(by_length ? rows * C : 0);
  // With lengths, per slot in sorted order (one set per direction running at once): the running dh, dc,
  // the kernel's dh0 / dc0 of the last segment, the initial h, c, and the h, c before the segment's first
  // processed step.
  T* const state_sets_base = scratch.take(state_sets * 8 * NX);

  // From here on the kernels write dG over the store's gates: the forward is consumed whatever happens
  // (stack_plan.h); everything above may refuse and leave it pending.
  m.pending = false;
  const T* dy = a.dy;
  if (by_length && a.dy) {
    pack_padded(seq, a.dy, DS, DS, dy_packed);
    dy = dy_packed;
  }
  const std::int64_t segment_count = static_cast<std::int64_t>(segments.size());
  // One layer-direction's backward: its segments in the opposite of the forward's order, each one kernel
  // call, its input gradient written to dx (not added).
  auto run_direction = [&](std::int64_t l, int d, const T* layer_input, T* dx, T* workspace, int threads,
                           T* states) {
    T *dhs = states, *dcs = states + NX, *dh_out = states + 2 * NX, *dc_out = states + 3 * NX;
    T *h_init = states + 4 * NX, *c_init = states + 5 * NX, *h_before = states + 6 * NX,
      *c_before = states + 7 * NX;
    const std::int64_t C_l = cfg.layer_input(l);
    const std::int64_t k = l * cfg.directions + d;
    const T* slot_h0 = m.has_h0 ? store.h0 + k * NS : nullptr;
    const T* slot_c0 = m.has_c0 ? store.c0 + k * NH : nullptr;
    const T* slot_dh_n = a.dh_n ? a.dh_n + k * NS : nullptr;
    const T* slot_dc_n = f.has_cell_state && a.dc_n ? a.dc_n + k * NH : nullptr;
    if (by_length) {
      states_to_sorted(seq, slot_dh_n, S, dhs);
      states_to_sorted(seq, slot_h0, S, h_init);
      if (f.has_cell_state) {
        states_to_sorted(seq, slot_dc_n, H, dcs);
        states_to_sorted(seq, slot_c0, H, c_init);
      }
    }
    for (std::int64_t j = 0; j < segment_count; ++j) {
      // The opposite of the forward's order: the forward direction's segments last to first.
      const std::int64_t i = d == 0 ? segment_count - 1 - j : j;
      const Segment& g = segments[i];
      LayerConfig lc = m.layer_config(l, d, g.steps, g.batch);
      lc.recurrent_dropout = m.recurrent_dropout;
      BackwardTensors<T> io;
      io.recurrent_mask = m.recurrent_dropout ? store.recurrent_masks + k * NS : nullptr;
      io.x = layer_input + g.row0 * C_l;
      if (by_length) {
        // h and c before the segment's first processed step: the forward's outputs at the adjacent
        // time for the rows the adjacent segment ran, the initial states for the rows starting here.
        const Segment* adjacent = d == 0 ? (i > 0 ? &segments[i - 1] : nullptr)
                                         : (i + 1 < segment_count ? &segments[i + 1] : nullptr);
        const std::int64_t from = adjacent ? std::min(g.batch, adjacent->batch) : 0;
        const std::int64_t adjacent_row =
            adjacent ? adjacent->row0 + (d == 0 ? (adjacent->steps - 1) * adjacent->batch : 0) : 0;
        for (std::int64_t r = 0; r < g.batch; ++r) {
          const T* h_src = r < from ? store.outputs[l] + (adjacent_row + r) * DS + d * S : h_init + r * S;
          std::copy(h_src, h_src + S, h_before + r * S);
          if (f.has_cell_state) {
            const T* c_src = r < from ? store.saved[k] + (adjacent_row + r) * H : c_init + r * H;
            std::copy(c_src, c_src + H, c_before + r * H);
          }
        }
      }
      io.h0 = by_length ? h_before : slot_h0;
      io.c0 = f.has_cell_state ? (by_length ? c_before : slot_c0) : nullptr;
      io.w_ih = m.weights[k].w_ih;
      io.w_hh = m.weights[k].w_hh;
      io.w_hr = m.weights[k].w_hr;
      io.cell_output = cfg.proj_size > 0 ? store.cell_output[k] + g.row0 * H : nullptr;
      io.y = store.outputs[l] + g.row0 * DS + d * S;
      io.gates = f.saves_gates ? store.gates[k] + g.row0 * f.gate_workspace(H) : nullptr;
      std::copy(m.weights[k].layer_norm, m.weights[k].layer_norm + 4, io.layer_norm);
      std::copy(a.grads[k].layer_norm, a.grads[k].layer_norm + 4, io.d_layer_norm);
      io.saved = f.saves_per_unit ? store.saved[k] + g.row0 * H : nullptr;
      io.dy = dy ? dy + g.row0 * DS + d * S : nullptr;
      io.dh_n = by_length ? dhs : slot_dh_n;
      io.dc_n = f.has_cell_state ? (by_length ? dcs : slot_dc_n) : nullptr;
      io.dx = dx + g.row0 * C_l;
      io.dh0 = by_length ? dh_out : a.dh0 + k * NS;
      io.dc0 = f.has_cell_state ? (by_length ? dc_out : a.dc0 + k * NH) : nullptr;
      io.dw_ih = a.grads[k].dw_ih;
      io.dw_hh = a.grads[k].dw_hh;
      io.db_ih = a.grads[k].db_ih;
      io.db_hh = a.grads[k].db_hh;
      io.dw_hr = a.grads[k].dw_hr;
      // Segments after the first add their parameter gradients.
      io.accumulate_dx = false;
      io.accumulate_param_grads = a.accumulate || j > 0;
      io.workspace = workspace;
      io.interrupt = a.interrupt;
      kernels.backward[kind](lc, io, threads);
      if (a.interrupt && a.interrupt->stopped()) return;
      if (by_length) {
        std::copy(dh_out, dh_out + g.batch * S, dhs);
        if (f.has_cell_state) std::copy(dc_out, dc_out + g.batch * H, dcs);
      }
    }
    if (by_length) {
      states_from_sorted(seq, dhs, S, a.dh0 + k * NS);
      if (f.has_cell_state) states_from_sorted(seq, dcs, H, a.dc0 + k * NH);
    }
  };

  for (std::int64_t l = L - 1; l >= 0; --l) {
    T* dx = l > 0 ? between_buffers[l % 2] : (by_length ? dx_packed : a.dx);
    const T* layer_input = l == 0 ? store.x : (m.dropout ? store.dropped[l - 1] : store.outputs[l - 1]);
    const std::int64_t C_l = cfg.layer_input(l);
    // Both directions read the same layer input: the reverse one's input gradient goes apart first.
    T* const dx_of[2] = {dx, dx_reverse};
    if (concurrent) {
      parallel_region(2, [&](const ThreadContext& ctx) {
        run_direction(l, ctx.id, layer_input, dx_of[ctx.id], workspaces[ctx.id], 1,
                      state_sets_base + ctx.id * 8 * NX);
      });
    } else {
      for (int d = 0; d < cfg.directions; ++d) {
        run_direction(l, d, layer_input, dx_of[d], workspaces[0], slot_threads[l * cfg.directions + d],
                      state_sets_base);
        if (a.interrupt && a.interrupt->stopped()) break;
      }
    }
    if (a.interrupt && a.interrupt->stopped()) throw CallInterrupted();
    if (cfg.directions == 2) {
      for (std::int64_t e = 0; e < rows * C_l; ++e) dx[e] += dx_reverse[e];
    }
    if (m.dropout && l > 0) {  // through the dropout between layer l-1's output and this layer's input
      const T* mask = store.masks[l - 1];
      for (std::int64_t e = 0; e < rows * DS; ++e) dx[e] *= mask[e];
    }
    dy = dx;  // the gradient reaching the layer below through its output
  }
  if (by_length) unpack_to_padded(seq, dx_packed, C, a.dx, C);
}

template class StackPlan<float>;
template class StackPlan<double>;

}  // namespace fusedrnn
