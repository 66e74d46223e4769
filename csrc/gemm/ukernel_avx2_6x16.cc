// AVX2 + FMA microkernels: float 6 x 16 and double 6 x 8 (6 rows x 2 vectors of 8 floats / 4 doubles).
// 12 accumulators + 2 B vectors + 1 broadcast use 15 of the 16 YMM registers; per k step, 2 B loads and
// 6 broadcasts feed 12 FMAs, so the two FMA pipes, not the loads, bound the loop.
#include <immintrin.h>

#include "dispatch/isa_namespace.h"
#include "gemm/microkernel.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

constexpr int kMR = 6;

void ukernel_f32(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc, bool accumulate) {
  __m256 acc[kMR][2];
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (std::int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b + p * 16), b1 = _mm256_loadu_ps(b + p * 16 + 8);
    const float* ap = a + p * kMR;
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(ap + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < kMR; ++i) {
    float* ci = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(ci));
      acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(ci + 8));
    }
    _mm256_storeu_ps(ci, acc[i][0]);
    _mm256_storeu_ps(ci + 8, acc[i][1]);
  }
}

void ukernel_f64(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc, bool accumulate) {
  __m256d acc[kMR][2];
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_pd();
  for (std::int64_t p = 0; p < k; ++p) {
    const __m256d b0 = _mm256_loadu_pd(b + p * 8), b1 = _mm256_loadu_pd(b + p * 8 + 4);
    const double* ap = a + p * kMR;
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const __m256d ai = _mm256_broadcast_sd(ap + i);
      acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < kMR; ++i) {
    double* ci = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm256_add_pd(acc[i][0], _mm256_loadu_pd(ci));
      acc[i][1] = _mm256_add_pd(acc[i][1], _mm256_loadu_pd(ci + 4));
    }
    _mm256_storeu_pd(ci, acc[i][0]);
    _mm256_storeu_pd(ci + 4, acc[i][1]);
  }
}

}  // namespace

template <>
const Microkernel<float>& microkernel<float>() {
  static const Microkernel<float> kernel{kMR, 16, &ukernel_f32, "avx2 6x16"};
  return kernel;
}
template <>
const Microkernel<double>& microkernel<double>() {
  static const Microkernel<double> kernel{kMR, 8, &ukernel_f64, "avx2 6x8"};
  return kernel;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
