// Portable reference microkernel: plain C++ over a register-sized accumulator block, for the generic
// object library (any x86-64 / aarch64 compiler). MR x NR = 4 x 16 (float) / 4 x 8 (double): the
// accumulators fit the 16 vector registers of the baseline ISAs once the compiler vectorises the j loop.
#include "dispatch/isa_namespace.h"
#include "gemm/microkernel.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

// kDirect: A read in place, row i at a + i*lda (the direct-A kernel of microkernel.h); otherwise a packed
// panel, row i of step p at a[p*MR + i].
template <class T, int MR, int NR, bool kDirect>
void ukernel_impl(std::int64_t k, const T* a, std::int64_t lda, const T* b, T* c, std::int64_t ldc,
                  bool accumulate) {
  const std::int64_t row_offset = kDirect ? lda : 1, step = kDirect ? 1 : MR;
  T acc[MR][NR] = {};
  for (std::int64_t p = 0; p < k; ++p) {
    const T* ap = a + p * step;
    const T* bp = b + p * NR;
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < NR; ++j) acc[i][j] += ap[i * row_offset] * bp[j];
    }
  }
  for (int i = 0; i < MR; ++i) {
    T* ci = c + i * ldc;
    if (accumulate) {
      for (int j = 0; j < NR; ++j) ci[j] += acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) ci[j] = acc[i][j];
    }
  }
}

template <class T, int MR, int NR>
void ukernel_generic(std::int64_t k, const T* a, const T* b, T* c, std::int64_t ldc, bool accumulate) {
  ukernel_impl<T, MR, NR, false>(k, a, 0, b, c, ldc, accumulate);
}

template <class T, int MR, int NR>
void ukernel_direct(std::int64_t k, const T* a, std::int64_t lda, const T* b, T* c, std::int64_t ldc,
                    bool accumulate) {
  ukernel_impl<T, MR, NR, true>(k, a, lda, b, c, ldc, accumulate);
}

// The row kernel (microkernel.h): the MR = 1 microkernel per panel, so every element is the same
// expression as in the 4-row kernel (one chain, p increasing). It is the scalar reference the tests
// compare the SIMD row kernels with.
template <class T, int NR>
void row_generic(std::int64_t k, const T* a, const T* b, std::int64_t b_stride, std::int64_t panels, T* c,
                 std::int64_t c_stride, bool accumulate) {
  for (std::int64_t q = 0; q < panels; ++q) {
    ukernel_generic<T, 1, NR>(k, a, b + q * b_stride, c + q * c_stride, NR, accumulate);
  }
}

}  // namespace

template <>
const Microkernel<float>& microkernel<float>() {
  static const Microkernel<float> kernel{4, 16, &ukernel_generic<float, 4, 16>, &ukernel_direct<float, 4, 16>,
                                         "generic 4x16"};
  return kernel;
}
template <>
const Microkernel<double>& microkernel<double>() {
  static const Microkernel<double> kernel{4, 8, &ukernel_generic<double, 4, 8>, &ukernel_direct<double, 4, 8>,
                                          "generic 4x8"};
  return kernel;
}
template <>
const Microkernel<float>& narrow_microkernel<float>() {
  static const Microkernel<float> kernel{1, 16, &ukernel_generic<float, 1, 16>, &ukernel_direct<float, 1, 16>,
                                         "generic 1x16"};
  return kernel;
}
template <>
const Microkernel<double>& narrow_microkernel<double>() {
  static const Microkernel<double> kernel{1, 8, &ukernel_generic<double, 1, 8>, &ukernel_direct<double, 1, 8>,
                                          "generic 1x8"};
  return kernel;
}
template <>
RowKernelFn<float> row_kernel<float>() {
  return &row_generic<float, 16>;
}
template <>
RowKernelFn<double> row_kernel<double>() {
  return &row_generic<double, 8>;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
