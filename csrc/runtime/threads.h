// Thread-count control and the one OpenMP parallel region per layer-direction.
//
// Kernels never call OpenMP directly: they call parallel_region(fn) once per layer and direction and
// split their work with the (thread_id, num_threads) it hands them. Work is always split over outputs,
// so results are bitwise identical for any thread count. Without OpenMP everything runs on one thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace fusedrnn {

// Number of threads the next kernel call will use: set_num_threads' value (initially
// omp_get_max_threads(), which honours OMP_NUM_THREADS), lowered to the calling thread's OpenMP limit
// when something (threadpoolctl, omp_set_num_threads) has set that lower.
int get_num_threads();
// n >= 1. Takes effect for the next kernel call.
void set_num_threads(int n);
// Largest accepted thread count: beyond it, every call would start more OS threads than useful.
constexpr int kMaxThreads = 1024;

// Fork safety. GNU OpenMP's thread team does not survive fork(): a child's first parallel region waits
// forever for the parent's threads (a multiprocessing "fork" pool hung). So a process forked after a
// team has started runs every kernel on its own thread (get_num_threads() is 1 there).
void note_thread_team_started();
bool forked_after_thread_team();
// Makes sure a team of n threads can start before a parallel region asks for one. GNU OpenMP ends the
// process ("libgomp: Thread creation failed") when it cannot create a thread (address-space limit,
// thread limit, memory exhausted); this starts and joins n-1 threads with the stack size OpenMP will
// use, once per team size beyond the largest that started (OpenMP keeps a started team's threads), and
// throws OutOfMemory (a MemoryError in Python) when one cannot start. Call it outside any region.
void ensure_thread_team(int n);
// True when the module was compiled with OpenMP.
bool openmp_enabled();

// Outputs of the input projection computed per chunk of steps in the forward (default 2^21 elements).
// Settable so that tests reach the multi-chunk path with small shapes.
std::int64_t input_chunk_elements();
void set_input_chunk_elements(std::int64_t n);

// GEMM flops a kernel call needs per thread before it starts another one (default 2e6: a parallel
// region costs microseconds). Settable so that tests run tiny shapes on several threads.
std::int64_t min_flops_per_thread();
void set_min_flops_per_thread(std::int64_t n);

// Largest input size C whose input projection the forward folds into each step (cells that allow it).
// Settable so that tests and benchmarks reach both paths on any shape.
std::int64_t fuse_input_max_features();
void set_fuse_input_max_features(std::int64_t n);

class StepBarrier;

// Whether the forward runs the two directions of a bidirectional layer side by side on one thread each
// when each would otherwise get two threads (default on; settable for tests and measurements).
bool concurrent_directions();
void set_concurrent_directions(bool on);

struct ThreadContext {
  int id;                // 0 .. count-1
  int count;             // threads in this region
  StepBarrier* barrier;  // the region's barrier (null on one thread)
};

// The barrier of one parallel region: spins briefly (a step's threads normally arrive within a few
// microseconds of each other), then sleeps in the kernel, so that a waiting thread frees its core for a
// partner the OS has descheduled instead of spinning against it. A wait that outlasts the waiter's own
// work many times over means a partner was descheduled (another busy process): it marks the machine as
// contended, and threads_for() then runs the next calls on one thread for a while (20 ms, doubling up to
// 1.28 s while contention persists; results do not depend on the thread count). Measured on `energy` LSTM
// training with one busy process on the 2 cores: OpenMP's own barrier made 2 threads 2.8x slower than 1.
class StepBarrier {
 public:
  explicit StepBarrier(int count) : count_(count) {}
  void wait();

 private:
  const int count_;
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<std::uint32_t> generation_{0};
  std::atomic<int> sleepers_{0};
};

// Whether a barrier recently saw a descheduled partner (see StepBarrier).
bool machine_contended();
// Whether that fallback to one thread is on (the default). Off, every requested thread runs on a busy
// machine too: tests of thread-count invariance must not pass by running one thread.
void set_contention_fallback(bool on);
bool contention_fallback();
// Called by each thread of a region as it starts: a barrier measures the waiter's own work from its
// previous barrier or from here (not from a barrier of an earlier call, however long ago), and the
// region's end its run-queue wait from here.
void note_region_start();
// Called by each thread of a region as its work ends: a thread that waited on the OS's run queue for
// over 1 ms and a fifth of the region, twice within 50 ms (or two such regions' length), marks the
// machine as contended, as a barrier's long waits do.
void note_region_end();
// That test on one region: its wall time and the thread's run-queue wait over it, in ns (for tests).
bool region_descheduled(std::int64_t wall_ns, std::int64_t run_queue_ns);
// How often a barrier or a region's run-queue wait has found the machine contended since the module was
// loaded (diagnostics).
std::int64_t contention_event_count();

// Runs body(ctx) on num_threads threads (one team). body must not throw.
template <class Body>
void parallel_region(int num_threads, Body&& body);

// Synchronises all threads of the current region (no-op on one thread).
void barrier(const ThreadContext& ctx);

// Splits [0, n) into ctx.count contiguous, nearly equal ranges; returns this thread's [begin, end).
struct Range {
  std::int64_t begin;
  std::int64_t end;
};
Range split_range(std::int64_t n, const ThreadContext& ctx);

// Note: everything here but the parallel_region template is defined out of line in threads.cc (compiled
// with baseline flags). Per-ISA translation units include this header, and an inline function compiled
// there with AVX-512 flags could be the copy the linker keeps for every caller.

}  // namespace fusedrnn

#include "runtime/threads_impl.h"
