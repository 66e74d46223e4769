// Template part of threads.h (kept apart so threads.h reads as the interface).
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fusedrnn {

template <class Body>
void parallel_region(int num_threads, Body&& body) {
#ifdef _OPENMP
  if (num_threads > 1) {
    note_thread_team_started();
    StepBarrier step_barrier(num_threads);
#pragma omp parallel num_threads(num_threads)
    {
      // The team may be smaller than asked (OMP_THREAD_LIMIT, nested regions): every thread then does
      // the share of a team of that size, and the barrier counts that many.
      const int team = omp_get_num_threads();
      note_region_start();
      if (team == num_threads) {
        body(ThreadContext{omp_get_thread_num(), team, &step_barrier});
      } else if (omp_get_thread_num() == 0) {
        body(ThreadContext{0, 1, nullptr});
      }
      note_region_end();
    }
    return;
  }
#endif
  (void)num_threads;
  body(ThreadContext{0, 1, nullptr});
}

}  // namespace fusedrnn
