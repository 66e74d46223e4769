// Compiled once per ISA (its object library), like the driver it calls.
#include "gemm/gemm_call.h"

#include <vector>

#include "gemm/gemm_driver.h"
#include "runtime/threads.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void gemm_call(const GemmArgs<T>& g) {
  const Microkernel<T>& kernel = g.narrow ? narrow_microkernel<T>() : microkernel<T>();
  const MatrixView<T> a{g.a, g.a_row_stride, g.a_col_stride};
  const MatrixView<T> b{g.b, g.b_row_stride, g.b_col_stride};
  const std::int64_t per_thread = gemm_scratch_elements(kernel);
  // Allocated before the region: an allocation failure must not happen inside it (body must not throw).
  std::vector<T> scratch(static_cast<std::size_t>(per_thread * g.num_threads));
  std::vector<T> packed(g.prepack_b ? static_cast<std::size_t>(packed_b_elements(kernel, g.n, g.k)) : 0);
  const T* prepacked = g.prepack_b && !packed.empty() ? packed.data() : nullptr;
  ensure_thread_team(g.num_threads);
  parallel_region(g.num_threads, [&](const ThreadContext& ctx) {
    if (prepacked) {
      pack_b_part(ctx, kernel, g.n, g.k, b, packed.data());
      barrier(ctx);
    }
    gemm_part(ctx, kernel, {g.m, g.n, g.k}, a, b, g.c, g.ldc, g.accumulate,
              scratch.data() + ctx.id * per_thread, prepacked);
  });
}

template void gemm_call<float>(const GemmArgs<float>&);
template void gemm_call<double>(const GemmArgs<double>&);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
