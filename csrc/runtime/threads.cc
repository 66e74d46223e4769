#include "runtime/threads.h"

#include <atomic>

namespace fusedrnn {
namespace {

int initial_thread_count() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

std::atomic<int>& thread_count() {
  static std::atomic<int> count{initial_thread_count()};
  return count;
}

}  // namespace

int get_num_threads() { return thread_count().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  thread_count().store(n < 1 ? 1 : n, std::memory_order_relaxed);
#ifdef _OPENMP
  // Keeps omp_get_max_threads() (what threadpoolctl reads and limits) in step with ours.
  omp_set_num_threads(n < 1 ? 1 : n);
#endif
}

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace fusedrnn
