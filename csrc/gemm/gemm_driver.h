// Blocked, packed GEMM driver (BLIS-style: driver + packing -> macro-kernel -> microkernel).
//
//   C[m,n] = (accumulate ? C : 0) + A[m,k] * B[k,n]
//
// A and B are strided views, so transposes are free (they only change how panels are packed).
// gemm_part computes this thread's share of C inside an existing parallel region: the share is a
// rectangle of whole tiles, and each element's arithmetic is the same whichever thread computes it,
// so the result does not depend on the thread count. No synchronisation happens inside.
#pragma once

#include <cstdint>

#include "dispatch/isa_namespace.h"
#include "gemm/bf16_kernels.h"
#include "gemm/microkernel.h"
#include "runtime/threads.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

// Element (i, j) of the matrix is data[i * row_stride + j * col_stride]. With bf16 set, the driver
// packs the values as bf16 (rounded, or as pairs: gemm/bf16_operand.h), and so always packs such an A.
// A product with pairs operands (both A and B) runs the native bf16 kernel in place of the one given.
template <class T>
struct MatrixView {
  const T* data;
  std::int64_t row_stride;
  std::int64_t col_stride;
  Bf16Products bf16 = Bf16Products::off;
  const T& operator()(std::int64_t i, std::int64_t j) const { return data[i * row_stride + j * col_stride]; }
  static MatrixView row_major(const T* data, std::int64_t ld) { return {data, ld, 1}; }
  // The transpose of a row-major matrix with leading dimension ld.
  static MatrixView transposed(const T* data, std::int64_t ld) { return {data, 1, ld}; }
  // This view, packed as `mode` asks (a product under bf16 mixed precision).
  MatrixView with_bf16(Bf16Products mode) const { return {data, row_stride, col_stride, mode}; }
};

struct GemmShape {
  std::int64_t m, n, k;
};

// Scratch elements one thread needs for gemm_part (packed panels and one edge tile).
template <class T>
std::int64_t gemm_scratch_elements(const Microkernel<T>& kernel);

// This thread's share of C = (accumulate ? C : 0) + A*B. scratch: gemm_scratch_elements() elements
// owned by this thread. b_prepacked: B packed
// by pack_b_part for the same (n, k) (then b is not read), or nullptr to pack B panels on the fly.
template <class T>
void gemm_part(const ThreadContext& ctx, const Microkernel<T>& kernel, GemmShape shape, MatrixView<T> a,
               MatrixView<T> b, T* c, std::int64_t ldc, bool accumulate, T* scratch,
               const T* b_prepacked = nullptr);

// One output of a product that shares its A operand with others: C [m, n] (+)= A [m, k] * B [k, n].
template <class T>
struct SharedAOutput {
  MatrixView<T> b;
  T* c;
  std::int64_t ldc;
  std::int64_t n;
};

// This thread's share of several products with one A (the backward's dW_ih = dG^T x and dW_hh =
// dG^T h_prev over the same dG): each block of A is packed once for all of them. The outputs' columns
// are split between the threads as one row of tiles (each output starting on a tile), so each
// element's arithmetic is that of gemm_part with the same A and k, whatever the thread count.
// A is always packed. count <= kMaxSharedAOutputs. scratch: gemm_scratch_elements() elements owned by
// this thread.
constexpr int kMaxSharedAOutputs = 4;
template <class T>
void gemm_part_shared_a(const ThreadContext& ctx, const Microkernel<T>& kernel, std::int64_t m,
                        std::int64_t k, MatrixView<T> a, const SharedAOutput<T>* outputs, int count,
                        bool accumulate, T* scratch);

// B [k, n] packed once for several GEMMs that share it (the input projection of every chunk of steps):
// packed_b_elements() elements; each thread packs its share of the blocks, then a barrier is needed.
template <class T>
std::int64_t packed_b_elements(const Microkernel<T>& kernel, std::int64_t n, std::int64_t k);
template <class T>
void pack_b_part(const ThreadContext& ctx, const Microkernel<T>& kernel, std::int64_t n, std::int64_t k,
                 MatrixView<T> b, T* packed);

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
