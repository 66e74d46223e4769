// Stopping a long call early (Ctrl-C). The kernels release the GIL for a whole call, so Python's own
// signal handling cannot run until the call returns (measured before this existed: SIGINT 1 s into a
// 43 s forward raised KeyboardInterrupt only when the call ended). A CallInterrupt lets the time loops
// ask, between steps, whether the call should stop:
//
//   - the thread that made the call (the only one that may run Python's signal handlers, and only when
//     it is Python's main thread) polls at most every kPollInterval, through a hook the bindings install
//     (it takes the GIL briefly and runs PyErr_CheckSignals: the KeyboardInterrupt is then already set
//     when the call returns);
//   - every thread of a region learns the answer at the same step: thread 0 writes it before the step's
//     barrier into a slot of that step's parity, every thread reads it after the barrier. A slot is
//     written again two steps later, when every thread has long read it, so all threads break at the
//     same step and none waits at a barrier the others have left.
//
// The poll is one clock read per step on one thread, so it costs nothing measurable; the hook itself
// runs every 50 ms at most. Taking the GIL can wait for another Python thread to let go of it (up to
// the 5 ms switch interval when that thread runs Python code), so the interval bounds that cost to 10 %
// in the worst case while keeping Ctrl-C's latency well under the 0.2 s target (benchmarks/serving.py).
// Not interruptible: a single step, and the backward's weight-gradient GEMMs after its time loop.
// Defined in interrupt.cc, compiled with baseline flags.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>

#include "runtime/threads.h"

namespace fusedrnn {

class CallInterrupt {
 public:
  // True when the call must stop. Runs on the calling thread only; may take the GIL.
  using Poll = bool (*)();
  static constexpr std::chrono::milliseconds kPollInterval{50};

  // poll: the hook, or null (nothing can interrupt this call, e.g. it does not run on the main thread).
  explicit CallInterrupt(Poll poll);
  CallInterrupt(const CallInterrupt&) = delete;
  CallInterrupt& operator=(const CallInterrupt&) = delete;

  // True once the call has been asked to stop (sticky).
  bool stopped() const;

  // The end of step `step` of a parallel region: a barrier, then whether every thread of the region
  // stops now (the same answer on every thread). Replaces the step's last barrier.
  bool step_end(const ThreadContext& ctx, std::int64_t step);

  // Polls if this is the calling thread and the interval has passed (outside parallel regions, e.g.
  // between the chunks of a large GEMM on one thread); returns stopped().
  bool poll_now();

 private:
  Poll poll_;
  std::thread::id owner_;
  std::chrono::steady_clock::time_point next_poll_;
  std::atomic<bool> stop_{false};
  alignas(64) std::atomic<bool> slots_[2] = {false, false};
};

// Thrown by the engine when a call stopped because its CallInterrupt asked it to (the bindings turn it
// into the exception the poll hook left set: KeyboardInterrupt for Ctrl-C).
struct CallInterrupted : std::runtime_error {
  CallInterrupted() : std::runtime_error("the call was interrupted") {}
};

// Step end for kernels that may run without an interrupt (null): a plain barrier then. Out of line,
// as everything here (threads.h's note: per-ISA code includes this header).
bool step_end(const ThreadContext& ctx, CallInterrupt* interrupt, std::int64_t step);

}  // namespace fusedrnn
