#include "runtime/interrupt.h"

namespace fusedrnn {

CallInterrupt::CallInterrupt(Poll poll)
    : poll_(poll),
      owner_(std::this_thread::get_id()),
      next_poll_(std::chrono::steady_clock::now() + kPollInterval) {}

bool CallInterrupt::stopped() const { return stop_.load(std::memory_order_relaxed); }

bool step_end(const ThreadContext& ctx, CallInterrupt* interrupt, std::int64_t step) {
  if (interrupt == nullptr) {
    barrier(ctx);
    return false;
  }
  return interrupt->step_end(ctx, step);
}

bool CallInterrupt::poll_now() {
  if (poll_ == nullptr || stopped() || std::this_thread::get_id() != owner_) return stopped();
  const auto now = std::chrono::steady_clock::now();
  if (now < next_poll_) return false;
  next_poll_ = now + kPollInterval;
  if (poll_()) stop_.store(true, std::memory_order_relaxed);
  return stopped();
}

bool CallInterrupt::step_end(const ThreadContext& ctx, std::int64_t step) {
  // One thread (also each direction of a bidirectional layer run side by side): nobody to agree with.
  if (ctx.count == 1) return poll_now();
  std::atomic<bool>& slot = slots_[step & 1];
  if (ctx.id == 0) slot.store(poll_now(), std::memory_order_relaxed);
  barrier(ctx);  // orders the store before every thread's load
  return slot.load(std::memory_order_relaxed);
}

}  // namespace fusedrnn
