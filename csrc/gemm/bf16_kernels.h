// The native bf16 product kernels (AVX512-BF16's vdpbf16ps, reduced/ukernel_reduced_avx512.cc): the
// float32 GEMM contract of gemm/microkernel.h over panels packed as bf16 pairs (gemm/bf16_operand.h),
// MR = 8 and NR = 32 like the avx512 table's float kernel, so their panels take its panels' places. Each
// element is one vdpbf16ps chain over the pairs in increasing order, from zero, then C + s when
// accumulating: a function of its row and column alone, whichever kernel (tile or row) computes it.
#pragma once

#include <type_traits>

#include "gemm/bf16_products.h"
#include "gemm/microkernel.h"

namespace fusedrnn {

// Whether a bf16 product should run natively under `table`: the kernels exist, the table is the avx512 one
// and the bf16 path chosen for the reduced formats is the AVX512-BF16 one (tests switch both forms that
// way). Without an argument: under the active table.
struct KernelTable;
bool bf16_products_native(const KernelTable& table);
bool bf16_products_native();

namespace reduced_avx512 {
const Bf16ProductKernels& bf16_product_kernels();
}  // namespace reduced_avx512

// The kernel of a product whose operands are packed as `mode` asks: the native tile kernel for pairs,
// else `kernel`.
template <class T>
const Microkernel<T>& product_kernel(const Microkernel<T>& kernel, Bf16Products mode) {
  if constexpr (std::is_same_v<T, float>) {
    if (mode == Bf16Products::pairs) return native_bf16_product_kernels()->tile;
  }
  return kernel;
}

}  // namespace fusedrnn
