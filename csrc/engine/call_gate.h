// Who may use a plan at once. Inference calls share it (they read the packed weights and take their
// own scratch); a call that writes the plan's state (a training forward, a backward, packing, replacing
// or dropping the weights) has it to itself. Writers go first: once one waits, new shared calls wait
// behind it, so a weight swap in a busy server happens after the calls already running, never after
// all the calls that keep arriving (a reader-preferring lock, like the default pthread rwlock, would
// let a steady stream of inference calls postpone it forever).
//
// fork(): a child has only the forking thread, so calls that other threads of the parent were running
// never end there. Every gate is known to a registry whose fork handlers (call_gate.cc) hold the gates'
// mutexes across fork() and, in the child, forget the parent's shared calls (they only read the plan,
// which stays consistent). A gate whose exclusive call was cut off mid-change (weights half-written, a
// training forward half-stored) is marked torn: every later call in the child refuses (kForkTornMessage)
// instead of computing with a state nobody can vouch for.
#pragma once

#include <condition_variable>
#include <mutex>
#include <stdexcept>

namespace fusedrnn {

constexpr const char* kForkTornMessage =
    "this layer was changing its weights or running a training call in another thread when the process "
    "forked; its state in this child process is unknown: make or load the layer again in the child";

// Shared and exclusive calls that were running in other threads at the last fork() of this process's
// parent (0, 0 when it was not forked, or forked with every gate idle): for tests.
struct ForkedCalls {
  int shared = 0;
  int exclusive = 0;
};
ForkedCalls calls_cut_off_by_fork();

class CallGate {
 public:
  CallGate();
  ~CallGate();
  CallGate(const CallGate&) = delete;
  CallGate& operator=(const CallGate&) = delete;

  void enter_shared() {
    std::unique_lock<std::mutex> lock(mutex_);
    check_not_torn();
    changed_.wait(lock, [&] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }
  void leave_shared() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--readers_ == 0) changed_.notify_all();
  }
  void enter_exclusive() {
    std::unique_lock<std::mutex> lock(mutex_);
    check_not_torn();
    ++writers_waiting_;
    changed_.wait(lock, [&] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }
  // Without waiting: false when any call is running or waiting.
  bool try_enter_exclusive() {
    std::lock_guard<std::mutex> lock(mutex_);
    check_not_torn();
    if (writer_ || readers_ > 0 || writers_waiting_ > 0) return false;
    writer_ = true;
    return true;
  }
  void leave_exclusive() {
    std::lock_guard<std::mutex> lock(mutex_);
    writer_ = false;
    changed_.notify_all();
  }
  // Runs `f` under the gate's mutex (for small bookkeeping that must also survive fork(), such as a
  // pool of per-call scratch).
  template <class F>
  auto locked(F&& f) {
    std::lock_guard<std::mutex> lock(mutex_);
    return f();
  }

  // The fork handlers (call_gate.cc).
  void before_fork() { mutex_.lock(); }
  void after_fork_in_parent() { mutex_.unlock(); }
  void after_fork_in_child(ForkedCalls& cut_off);

 private:
  void check_not_torn() const {
    if (torn_) throw std::runtime_error(kForkTornMessage);
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
  bool torn_ = false;  // forked while an exclusive call ran in another thread
};

}  // namespace fusedrnn
