#include "engine/call_gate.h"

#include <new>
#include <unordered_set>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

namespace fusedrnn {
namespace {

// Every live gate. Function-local statics: gates in static objects may be made before this file's
// globals.
std::mutex& registry_mutex() {
  static std::mutex* m = new std::mutex;  // never destroyed: gates may outlive static destruction
  return *m;
}
std::unordered_set<CallGate*>& registry() {
  static auto* gates = new std::unordered_set<CallGate*>;
  return *gates;
}
ForkedCalls cut_off_at_fork;

#if defined(__unix__) || defined(__APPLE__)
// Holding every gate's mutex across fork() leaves each in a known state in both processes (a mutex
// another thread held at the fork would stay locked forever in the child). Lock order: the registry,
// then the gates; gate code never takes the registry's mutex while holding its own.
void before_fork() {
  registry_mutex().lock();
  for (CallGate* gate : registry()) gate->before_fork();
}
void after_fork_in_parent() {
  for (CallGate* gate : registry()) gate->after_fork_in_parent();
  registry_mutex().unlock();
}
void after_fork_in_child() {
  ForkedCalls cut_off;
  for (CallGate* gate : registry()) gate->after_fork_in_child(cut_off);
  cut_off_at_fork = cut_off;
  registry_mutex().unlock();
}
const bool fork_handlers_installed =
    pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child) == 0;
#endif

}  // namespace

ForkedCalls calls_cut_off_by_fork() { return cut_off_at_fork; }

CallGate::CallGate() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().insert(this);
}

CallGate::~CallGate() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().erase(this);
}

void CallGate::after_fork_in_child(ForkedCalls& cut_off) {
  // The forking thread itself is never inside a call of this gate (calls do not fork), so every call
  // counted here belonged to a thread the child does not have.
  cut_off.shared += readers_;
  cut_off.exclusive += writer_ ? 1 : 0;
  if (writer_) torn_ = true;
  readers_ = 0;
  writers_waiting_ = 0;
  writer_ = false;
  // The parent's waiters are not in the child; a condition variable's internal record of them would be.
  new (&changed_) std::condition_variable;
  mutex_.unlock();
}

}  // namespace fusedrnn
