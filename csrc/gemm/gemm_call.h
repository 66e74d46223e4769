// The GEMM as one self-contained call: C = (accumulate ? C : 0) + A*B on its own threads, scratch
// included. The cells run gemm_part inside their own parallel regions; this entry point lets the tests
// reach the driver directly (_core._gemm) on every compiled ISA: edge tiles, strided and transposed
// views, a pre-packed B and the 1-row kernel, against NumPy.
#pragma once

#include <cstdint>

#include "gemm/bf16_products.h"

namespace fusedrnn {

template <class T>
struct GemmArgs {
  std::int64_t m, n, k;
  const T* a;  // A: [m,k], element (i,p) at a[i * a_row_stride + p * a_col_stride]
  std::int64_t a_row_stride, a_col_stride;
  const T* b;  // B: [k,n], element (p,j) at b[p * b_row_stride + j * b_col_stride]
  std::int64_t b_row_stride, b_col_stride;
  T* c;  // C: [m,n] row-major with row stride ldc; must not overlap A or B
  std::int64_t ldc;
  bool accumulate;  // false: C is written, never read
  bool prepack_b;   // B packed once by all threads first (pack_b_part), as the forward's input projection
  bool narrow;      // the 1-row microkernel (a recurrent step's kernel for one or two batch rows)
  int num_threads;  // exactly this many (no minimum work per thread: the tests choose the split)
  Bf16Products bf16 = Bf16Products::off;  // both operands packed so (pairs: the native bf16 kernel)
};

}  // namespace fusedrnn

#ifdef FUSEDRNN_ISA_NS
namespace fusedrnn::FUSEDRNN_ISA_NS {
// Throws std::bad_alloc when the scratch cannot be allocated; nothing else throws.
template <class T>
void gemm_call(const GemmArgs<T>& args);
}  // namespace fusedrnn::FUSEDRNN_ISA_NS
#endif
