// Who may use a plan at once. Inference calls share it (they read the packed weights and take their
// own scratch); a call that writes the plan's state (a training forward, a backward, packing, replacing
// or dropping the weights) has it to itself. Writers go first: once one waits, new shared calls wait
// behind it, so a weight swap in a busy server happens after the calls already running, never after
// all the calls that keep arriving (a reader-preferring lock, like the default pthread rwlock, would
// let a steady stream of inference calls postpone it forever).
#pragma once

#include <condition_variable>
#include <mutex>

namespace fusedrnn {

class CallGate {
 public:
  void enter_shared() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }
  void leave_shared() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--readers_ == 0) changed_.notify_all();
  }
  void enter_exclusive() {
    std::unique_lock<std::mutex> lock(mutex_);
    ++writers_waiting_;
    changed_.wait(lock, [&] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }
  // Without waiting: false when any call is running or waiting.
  bool try_enter_exclusive() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (writer_ || readers_ > 0 || writers_waiting_ > 0) return false;
    writer_ = true;
    return true;
  }
  void leave_exclusive() {
    std::lock_guard<std::mutex> lock(mutex_);
    writer_ = false;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
};

}  // namespace fusedrnn
