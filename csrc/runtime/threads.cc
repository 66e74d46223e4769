#include "runtime/threads.h"

#include <atomic>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

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

std::atomic<bool> team_started{false};
std::atomic<bool> forked_child{false};

#if defined(__unix__) || defined(__APPLE__)
void in_forked_child() {
  if (team_started.load(std::memory_order_relaxed)) forked_child.store(true, std::memory_order_relaxed);
}
const bool fork_handler_installed = pthread_atfork(nullptr, nullptr, &in_forked_child) == 0;
#endif

}  // namespace

void note_thread_team_started() {
  if (!team_started.load(std::memory_order_relaxed)) team_started.store(true, std::memory_order_relaxed);
}

bool forked_after_thread_team() { return forked_child.load(std::memory_order_relaxed); }

int get_num_threads() {
  if (forked_after_thread_team()) return 1;
  const int ours = thread_count().load(std::memory_order_relaxed);
#ifdef _OPENMP
  // Also honour the calling thread's OpenMP limit, which is what threadpoolctl (and omp_set_num_threads)
  // lower; set_num_threads sets both.
  const int omp = omp_get_max_threads();
  return omp < ours ? omp : ours;
#else
  return ours;
#endif
}

void set_num_threads(int n) {
  n = n < 1 ? 1 : (n > kMaxThreads ? kMaxThreads : n);
  thread_count().store(n, std::memory_order_relaxed);
#ifdef _OPENMP
  // Keeps omp_get_max_threads() (what threadpoolctl reads and limits) in step with ours.
  omp_set_num_threads(n);
#endif
}

Range split_range(std::int64_t n, const ThreadContext& ctx) {
  const std::int64_t base = n / ctx.count, extra = n % ctx.count;
  const std::int64_t begin = ctx.id * base + (ctx.id < extra ? ctx.id : extra);
  return {begin, begin + base + (ctx.id < extra ? 1 : 0)};
}

void barrier(const ThreadContext& ctx) {
#ifdef _OPENMP
  if (ctx.count > 1) {
#pragma omp barrier
  }
#else
  (void)ctx;
#endif
}

namespace {
std::atomic<std::int64_t>& chunk_elements() {
  static std::atomic<std::int64_t> value{std::int64_t{1} << 21};
  return value;
}
}  // namespace

std::atomic<std::int64_t>& flops_per_thread() {
  static std::atomic<std::int64_t> value{2000000};
  return value;
}

std::int64_t min_flops_per_thread() { return flops_per_thread().load(std::memory_order_relaxed); }

void set_min_flops_per_thread(std::int64_t n) {
  flops_per_thread().store(n < 1 ? 1 : n, std::memory_order_relaxed);
}

std::int64_t input_chunk_elements() { return chunk_elements().load(std::memory_order_relaxed); }

void set_input_chunk_elements(std::int64_t n) {
  chunk_elements().store(n < 1 ? 1 : n, std::memory_order_relaxed);
}

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace fusedrnn
