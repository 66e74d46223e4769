// AVX-512 microkernels: float 8 x 32 and double 8 x 16 (8 rows x 2 vectors of 16 floats / 8 doubles).
// 16 accumulators + 2 B vectors + broadcasts stay well inside the 32 ZMM registers; per k step, 2 B loads
// and 8 broadcasts feed 16 FMAs, so the FMA pipes, not the loads, bound the loop.
#include <immintrin.h>

#include "dispatch/isa_namespace.h"
#include "gemm/microkernel.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

constexpr int kMR = 8;

void ukernel_f32(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc, bool accumulate) {
  __m512 acc[kMR][2];
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (std::int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b + p * 32), b1 = _mm512_loadu_ps(b + p * 32 + 16);
    const float* ap = a + p * kMR;
#pragma GCC unroll 8
    for (int i = 0; i < kMR; ++i) {
      const __m512 ai = _mm512_set1_ps(ap[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < kMR; ++i) {
    float* ci = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(ci));
      acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(ci + 16));
    }
    _mm512_storeu_ps(ci, acc[i][0]);
    _mm512_storeu_ps(ci + 16, acc[i][1]);
  }
}

void ukernel_f64(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc, bool accumulate) {
  __m512d acc[kMR][2];
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_pd();
  for (std::int64_t p = 0; p < k; ++p) {
    const __m512d b0 = _mm512_loadu_pd(b + p * 16), b1 = _mm512_loadu_pd(b + p * 16 + 8);
    const double* ap = a + p * kMR;
#pragma GCC unroll 8
    for (int i = 0; i < kMR; ++i) {
      const __m512d ai = _mm512_set1_pd(ap[i]);
      acc[i][0] = _mm512_fmadd_pd(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_pd(ai, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < kMR; ++i) {
    double* ci = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm512_add_pd(acc[i][0], _mm512_loadu_pd(ci));
      acc[i][1] = _mm512_add_pd(acc[i][1], _mm512_loadu_pd(ci + 8));
    }
    _mm512_storeu_pd(ci, acc[i][0]);
    _mm512_storeu_pd(ci + 8, acc[i][1]);
  }
}

}  // namespace

template <>
const Microkernel<float>& microkernel<float>() {
  static const Microkernel<float> kernel{kMR, 32, &ukernel_f32, "avx512 8x32"};
  return kernel;
}
template <>
const Microkernel<double>& microkernel<double>() {
  static const Microkernel<double> kernel{kMR, 16, &ukernel_f64, "avx512 8x16"};
  return kernel;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
