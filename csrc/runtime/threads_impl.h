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
#pragma omp parallel num_threads(num_threads)
    {
      const ThreadContext ctx{omp_get_thread_num(), omp_get_num_threads()};
      body(ctx);
    }
    return;
  }
#endif
  (void)num_threads;
  body(ThreadContext{0, 1});
}

}  // namespace fusedrnn
