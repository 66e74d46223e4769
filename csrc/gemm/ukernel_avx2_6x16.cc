// AVX2 + FMA microkernels: float 6 x 16 and double 6 x 8 (6 rows x 2 vectors of 8 floats / 4 doubles).
// 12 accumulators + 2 B vectors + 1 broadcast use 15 of the 16 YMM registers; per k step, 2 B loads and
// 6 broadcasts feed 12 FMAs, so the two FMA pipes, not the loads, bound the loop.
#include <immintrin.h>

#include "dispatch/isa_namespace.h"
#include "gemm/microkernel.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

static_assert(16 <= kMaxNR, "cells size their stack tiles by kMaxNR");
constexpr int kMR = 6;
static_assert(kMR <= kMaxMR, "cells size their stack tiles by kMaxMR");

void ukernel_f32(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                 bool accumulate) {
  // Named accumulators, not an array: GCC kept an array of vectors mirrored on the stack (a store per
  // FMA pair), which halved the measured throughput.
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (std::int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b + p * 16), b1 = _mm256_loadu_ps(b + p * 16 + 8);
    const float* ap = a + p * 6;
    __m256 ai;
    ai = _mm256_broadcast_ss(ap + 0);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
  }
  __m256* const rows[6][2] = {{&c00, &c01}, {&c10, &c11}, {&c20, &c21},
                              {&c30, &c31}, {&c40, &c41}, {&c50, &c51}};
  for (int i = 0; i < 6; ++i) {
    float* ci = c + i * ldc;
    __m256 lo = *rows[i][0], hi = *rows[i][1];
    if (accumulate) {
      lo = _mm256_add_ps(lo, _mm256_loadu_ps(ci));
      hi = _mm256_add_ps(hi, _mm256_loadu_ps(ci + 8));
    }
    _mm256_storeu_ps(ci, lo);
    _mm256_storeu_ps(ci + 8, hi);
  }
}

void ukernel_f64(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc,
                 bool accumulate) {
  // Named accumulators, not an array: GCC kept an array of vectors mirrored on the stack (a store per
  // FMA pair), which halved the measured throughput.
  __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
  __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
  __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
  __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
  __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
  __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
  for (std::int64_t p = 0; p < k; ++p) {
    const __m256d b0 = _mm256_loadu_pd(b + p * 8), b1 = _mm256_loadu_pd(b + p * 8 + 4);
    const double* ap = a + p * 6;
    __m256d ai;
    ai = _mm256_broadcast_sd(ap + 0);
    c00 = _mm256_fmadd_pd(ai, b0, c00);
    c01 = _mm256_fmadd_pd(ai, b1, c01);
    ai = _mm256_broadcast_sd(ap + 1);
    c10 = _mm256_fmadd_pd(ai, b0, c10);
    c11 = _mm256_fmadd_pd(ai, b1, c11);
    ai = _mm256_broadcast_sd(ap + 2);
    c20 = _mm256_fmadd_pd(ai, b0, c20);
    c21 = _mm256_fmadd_pd(ai, b1, c21);
    ai = _mm256_broadcast_sd(ap + 3);
    c30 = _mm256_fmadd_pd(ai, b0, c30);
    c31 = _mm256_fmadd_pd(ai, b1, c31);
    ai = _mm256_broadcast_sd(ap + 4);
    c40 = _mm256_fmadd_pd(ai, b0, c40);
    c41 = _mm256_fmadd_pd(ai, b1, c41);
    ai = _mm256_broadcast_sd(ap + 5);
    c50 = _mm256_fmadd_pd(ai, b0, c50);
    c51 = _mm256_fmadd_pd(ai, b1, c51);
  }
  __m256d* const rows[6][2] = {{&c00, &c01}, {&c10, &c11}, {&c20, &c21},
                               {&c30, &c31}, {&c40, &c41}, {&c50, &c51}};
  for (int i = 0; i < 6; ++i) {
    double* ci = c + i * ldc;
    __m256d lo = *rows[i][0], hi = *rows[i][1];
    if (accumulate) {
      lo = _mm256_add_pd(lo, _mm256_loadu_pd(ci));
      hi = _mm256_add_pd(hi, _mm256_loadu_pd(ci + 4));
    }
    _mm256_storeu_pd(ci, lo);
    _mm256_storeu_pd(ci + 4, hi);
  }
}

// 1 x 16 (one row of C, for batch-1 steps): four independent accumulator pairs over k % 4 hide the FMA
// latency that a single chain per vector would expose.
void narrow_f32(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc, bool accumulate) {
  (void)ldc;
  __m256 acc[4][2];
  for (int q = 0; q < 4; ++q) acc[q][0] = acc[q][1] = _mm256_setzero_ps();
  std::int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const __m256 ap = _mm256_set1_ps(a[p + q]);
      acc[q][0] = _mm256_fmadd_ps(ap, _mm256_loadu_ps(b + (p + q) * 16), acc[q][0]);
      acc[q][1] = _mm256_fmadd_ps(ap, _mm256_loadu_ps(b + (p + q) * 16 + 8), acc[q][1]);
    }
  }
  for (; p < k; ++p) {
    const __m256 ap = _mm256_set1_ps(a[p]);
    acc[0][0] = _mm256_fmadd_ps(ap, _mm256_loadu_ps(b + p * 16), acc[0][0]);
    acc[0][1] = _mm256_fmadd_ps(ap, _mm256_loadu_ps(b + p * 16 + 8), acc[0][1]);
  }
  for (int h = 0; h < 2; ++h) {
    __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0][h], acc[1][h]), _mm256_add_ps(acc[2][h], acc[3][h]));
    if (accumulate) sum = _mm256_add_ps(sum, _mm256_loadu_ps(c + h * 8));
    _mm256_storeu_ps(c + h * 8, sum);
  }
}

// 1 x 8 (one row of C, for batch-1 steps): four independent accumulator pairs over k % 4 hide the FMA
// latency that a single chain per vector would expose.
void narrow_f64(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc,
                bool accumulate) {
  (void)ldc;
  __m256d acc[4][2];
  for (int q = 0; q < 4; ++q) acc[q][0] = acc[q][1] = _mm256_setzero_pd();
  std::int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const __m256d ap = _mm256_set1_pd(a[p + q]);
      acc[q][0] = _mm256_fmadd_pd(ap, _mm256_loadu_pd(b + (p + q) * 8), acc[q][0]);
      acc[q][1] = _mm256_fmadd_pd(ap, _mm256_loadu_pd(b + (p + q) * 8 + 4), acc[q][1]);
    }
  }
  for (; p < k; ++p) {
    const __m256d ap = _mm256_set1_pd(a[p]);
    acc[0][0] = _mm256_fmadd_pd(ap, _mm256_loadu_pd(b + p * 8), acc[0][0]);
    acc[0][1] = _mm256_fmadd_pd(ap, _mm256_loadu_pd(b + p * 8 + 4), acc[0][1]);
  }
  for (int h = 0; h < 2; ++h) {
    __m256d sum = _mm256_add_pd(_mm256_add_pd(acc[0][h], acc[1][h]), _mm256_add_pd(acc[2][h], acc[3][h]));
    if (accumulate) sum = _mm256_add_pd(sum, _mm256_loadu_pd(c + h * 4));
    _mm256_storeu_pd(c + h * 4, sum);
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

template <>
const Microkernel<float>& narrow_microkernel<float>() {
  static const Microkernel<float> kernel{1, 16, &narrow_f32, "avx2 1x16"};
  return kernel;
}
template <>
const Microkernel<double>& narrow_microkernel<double>() {
  static const Microkernel<double> kernel{1, 8, &narrow_f64, "avx2 1x8"};
  return kernel;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
