// Compiled once per ISA (its object library), like the driver it calls.
#include "gemm/gemm_call.h"

#include <memory>

#include "gemm/gemm_driver.h"
#include "runtime/threads.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
void gemm_call(const GemmArgs<T>& g) {
  // The kernel gemm_part will run (the native one for pairs operands), so the scratch fits its tile.
  const Microkernel<T>& kernel =
      product_kernel(g.narrow ? narrow_microkernel<T>() : microkernel<T>(), g.bf16);
  const MatrixView<T> a = MatrixView<T>{g.a, g.a_row_stride, g.a_col_stride}.with_bf16(g.bf16);
  const MatrixView<T> b = MatrixView<T>{g.b, g.b_row_stride, g.b_col_stride}.with_bf16(g.bf16);
  const std::int64_t per_thread = gemm_scratch_elements(kernel);
  // Allocated before the region: an allocation failure must not happen inside it (body must not throw).
  // Kept per calling thread and left uninitialised (everything is written before it is read): a fresh,
  // zero-filled 0.6 MB per call was most of a small product's time (fr.nn's Dense heads: 11 us a call).
  thread_local std::unique_ptr<T[]> scratch;
  thread_local std::size_t scratch_elements = 0;
  const auto needed = static_cast<std::size_t>(per_thread * g.num_threads);
  if (needed > scratch_elements) {
    scratch.reset();
    scratch_elements = 0;
    scratch.reset(new T[needed]);
    scratch_elements = needed;
  }
  T* const thread_scratch = scratch.get();  // the region's threads see their own thread_locals, not this
  const std::size_t packed_elements =
      g.prepack_b ? static_cast<std::size_t>(packed_b_elements(kernel, g.n, g.k)) : 0;
  const std::unique_ptr<T[]> packed(packed_elements ? new T[packed_elements] : nullptr);
  const T* prepacked = packed.get();
  ensure_thread_team(g.num_threads);
  parallel_region(g.num_threads, [&](const ThreadContext& ctx) {
    if (prepacked) {
      pack_b_part(ctx, kernel, g.n, g.k, b, packed.get());
      barrier(ctx);
    }
    gemm_part(ctx, kernel, {g.m, g.n, g.k}, a, b, g.c, g.ldc, g.accumulate,
              thread_scratch + ctx.id * per_thread, prepacked);
  });
}

template void gemm_call<float>(const GemmArgs<float>&);
template void gemm_call<double>(const GemmArgs<double>&);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
