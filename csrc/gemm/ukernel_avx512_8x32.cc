// AVX-512 microkernels: float 8 x 32 and double 8 x 16 (8 rows x 2 vectors of 16 floats / 8 doubles).
// 16 accumulators + 2 B vectors + broadcasts stay well inside the 32 ZMM registers; per k step, 2 B loads
// and 8 broadcasts feed 16 FMAs, so the FMA pipes, not the loads, bound the loop.
#include <immintrin.h>

#include "dispatch/isa_namespace.h"
#include "gemm/microkernel.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

static_assert(32 <= kMaxNR, "cells size their stack tiles by kMaxNR");
constexpr int kMR = 8;
static_assert(kMR <= kMaxMR, "cells size their stack tiles by kMaxMR");

void ukernel_f32(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                 bool accumulate) {
  // Named accumulators, not an array: GCC kept an array of vectors mirrored on the stack (a store per
  // FMA pair), which halved the measured throughput.
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
  __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
  __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
  __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
  __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
  for (std::int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b + p * 32), b1 = _mm512_loadu_ps(b + p * 32 + 16);
    const float* ap = a + p * 8;
    __m512 ai;
    ai = _mm512_set1_ps(ap[0]);
    c00 = _mm512_fmadd_ps(ai, b0, c00);
    c01 = _mm512_fmadd_ps(ai, b1, c01);
    ai = _mm512_set1_ps(ap[1]);
    c10 = _mm512_fmadd_ps(ai, b0, c10);
    c11 = _mm512_fmadd_ps(ai, b1, c11);
    ai = _mm512_set1_ps(ap[2]);
    c20 = _mm512_fmadd_ps(ai, b0, c20);
    c21 = _mm512_fmadd_ps(ai, b1, c21);
    ai = _mm512_set1_ps(ap[3]);
    c30 = _mm512_fmadd_ps(ai, b0, c30);
    c31 = _mm512_fmadd_ps(ai, b1, c31);
    ai = _mm512_set1_ps(ap[4]);
    c40 = _mm512_fmadd_ps(ai, b0, c40);
    c41 = _mm512_fmadd_ps(ai, b1, c41);
    ai = _mm512_set1_ps(ap[5]);
    c50 = _mm512_fmadd_ps(ai, b0, c50);
    c51 = _mm512_fmadd_ps(ai, b1, c51);
    ai = _mm512_set1_ps(ap[6]);
    c60 = _mm512_fmadd_ps(ai, b0, c60);
    c61 = _mm512_fmadd_ps(ai, b1, c61);
    ai = _mm512_set1_ps(ap[7]);
    c70 = _mm512_fmadd_ps(ai, b0, c70);
    c71 = _mm512_fmadd_ps(ai, b1, c71);
  }
  __m512* const rows[8][2] = {{&c00, &c01}, {&c10, &c11}, {&c20, &c21}, {&c30, &c31},
                              {&c40, &c41}, {&c50, &c51}, {&c60, &c61}, {&c70, &c71}};
  for (int i = 0; i < 8; ++i) {
    float* ci = c + i * ldc;
    __m512 lo = *rows[i][0], hi = *rows[i][1];
    if (accumulate) {
      lo = _mm512_add_ps(lo, _mm512_loadu_ps(ci));
      hi = _mm512_add_ps(hi, _mm512_loadu_ps(ci + 16));
    }
    _mm512_storeu_ps(ci, lo);
    _mm512_storeu_ps(ci + 16, hi);
  }
}

void ukernel_f64(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc,
                 bool accumulate) {
  // Named accumulators, not an array: GCC kept an array of vectors mirrored on the stack (a store per
  // FMA pair), which halved the measured throughput.
  __m512d c00 = _mm512_setzero_pd(), c01 = _mm512_setzero_pd();
  __m512d c10 = _mm512_setzero_pd(), c11 = _mm512_setzero_pd();
  __m512d c20 = _mm512_setzero_pd(), c21 = _mm512_setzero_pd();
  __m512d c30 = _mm512_setzero_pd(), c31 = _mm512_setzero_pd();
  __m512d c40 = _mm512_setzero_pd(), c41 = _mm512_setzero_pd();
  __m512d c50 = _mm512_setzero_pd(), c51 = _mm512_setzero_pd();
  __m512d c60 = _mm512_setzero_pd(), c61 = _mm512_setzero_pd();
  __m512d c70 = _mm512_setzero_pd(), c71 = _mm512_setzero_pd();
  for (std::int64_t p = 0; p < k; ++p) {
    const __m512d b0 = _mm512_loadu_pd(b + p * 16), b1 = _mm512_loadu_pd(b + p * 16 + 8);
    const double* ap = a + p * 8;
    __m512d ai;
    ai = _mm512_set1_pd(ap[0]);
    c00 = _mm512_fmadd_pd(ai, b0, c00);
    c01 = _mm512_fmadd_pd(ai, b1, c01);
    ai = _mm512_set1_pd(ap[1]);
    c10 = _mm512_fmadd_pd(ai, b0, c10);
    c11 = _mm512_fmadd_pd(ai, b1, c11);
    ai = _mm512_set1_pd(ap[2]);
    c20 = _mm512_fmadd_pd(ai, b0, c20);
    c21 = _mm512_fmadd_pd(ai, b1, c21);
    ai = _mm512_set1_pd(ap[3]);
    c30 = _mm512_fmadd_pd(ai, b0, c30);
    c31 = _mm512_fmadd_pd(ai, b1, c31);
    ai = _mm512_set1_pd(ap[4]);
    c40 = _mm512_fmadd_pd(ai, b0, c40);
    c41 = _mm512_fmadd_pd(ai, b1, c41);
    ai = _mm512_set1_pd(ap[5]);
    c50 = _mm512_fmadd_pd(ai, b0, c50);
    c51 = _mm512_fmadd_pd(ai, b1, c51);
    ai = _mm512_set1_pd(ap[6]);
    c60 = _mm512_fmadd_pd(ai, b0, c60);
    c61 = _mm512_fmadd_pd(ai, b1, c61);
    ai = _mm512_set1_pd(ap[7]);
    c70 = _mm512_fmadd_pd(ai, b0, c70);
    c71 = _mm512_fmadd_pd(ai, b1, c71);
  }
  __m512d* const rows[8][2] = {{&c00, &c01}, {&c10, &c11}, {&c20, &c21}, {&c30, &c31},
                               {&c40, &c41}, {&c50, &c51}, {&c60, &c61}, {&c70, &c71}};
  for (int i = 0; i < 8; ++i) {
    double* ci = c + i * ldc;
    __m512d lo = *rows[i][0], hi = *rows[i][1];
    if (accumulate) {
      lo = _mm512_add_pd(lo, _mm512_loadu_pd(ci));
      hi = _mm512_add_pd(hi, _mm512_loadu_pd(ci + 8));
    }
    _mm512_storeu_pd(ci, lo);
    _mm512_storeu_pd(ci + 8, hi);
  }
}

// 1 x 32 (one row of C, for batch-1 steps): four independent accumulator pairs over k % 4 hide the FMA
// latency that a single chain per vector would expose.
void narrow_f32(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc, bool accumulate) {
  (void)ldc;
  __m512 acc[4][2];
  for (int q = 0; q < 4; ++q) acc[q][0] = acc[q][1] = _mm512_setzero_ps();
  std::int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const __m512 ap = _mm512_set1_ps(a[p + q]);
      acc[q][0] = _mm512_fmadd_ps(ap, _mm512_loadu_ps(b + (p + q) * 32), acc[q][0]);
      acc[q][1] = _mm512_fmadd_ps(ap, _mm512_loadu_ps(b + (p + q) * 32 + 16), acc[q][1]);
    }
  }
  for (; p < k; ++p) {
    const __m512 ap = _mm512_set1_ps(a[p]);
    acc[0][0] = _mm512_fmadd_ps(ap, _mm512_loadu_ps(b + p * 32), acc[0][0]);
    acc[0][1] = _mm512_fmadd_ps(ap, _mm512_loadu_ps(b + p * 32 + 16), acc[0][1]);
  }
  for (int h = 0; h < 2; ++h) {
    __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0][h], acc[1][h]), _mm512_add_ps(acc[2][h], acc[3][h]));
    if (accumulate) sum = _mm512_add_ps(sum, _mm512_loadu_ps(c + h * 16));
    _mm512_storeu_ps(c + h * 16, sum);
  }
}

// 1 x 16 (one row of C, for batch-1 steps): four independent accumulator pairs over k % 4 hide the FMA
// latency that a single chain per vector would expose.
void narrow_f64(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc,
                bool accumulate) {
  (void)ldc;
  __m512d acc[4][2];
  for (int q = 0; q < 4; ++q) acc[q][0] = acc[q][1] = _mm512_setzero_pd();
  std::int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const __m512d ap = _mm512_set1_pd(a[p + q]);
      acc[q][0] = _mm512_fmadd_pd(ap, _mm512_loadu_pd(b + (p + q) * 16), acc[q][0]);
      acc[q][1] = _mm512_fmadd_pd(ap, _mm512_loadu_pd(b + (p + q) * 16 + 8), acc[q][1]);
    }
  }
  for (; p < k; ++p) {
    const __m512d ap = _mm512_set1_pd(a[p]);
    acc[0][0] = _mm512_fmadd_pd(ap, _mm512_loadu_pd(b + p * 16), acc[0][0]);
    acc[0][1] = _mm512_fmadd_pd(ap, _mm512_loadu_pd(b + p * 16 + 8), acc[0][1]);
  }
  for (int h = 0; h < 2; ++h) {
    __m512d sum = _mm512_add_pd(_mm512_add_pd(acc[0][h], acc[1][h]), _mm512_add_pd(acc[2][h], acc[3][h]));
    if (accumulate) sum = _mm512_add_pd(sum, _mm512_loadu_pd(c + h * 8));
    _mm512_storeu_pd(c + h * 8, sum);
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

template <>
const Microkernel<float>& narrow_microkernel<float>() {
  static const Microkernel<float> kernel{1, 32, &narrow_f32, "avx512 1x32"};
  return kernel;
}
template <>
const Microkernel<double>& narrow_microkernel<double>() {
  static const Microkernel<double> kernel{1, 16, &narrow_f64, "avx512 1x16"};
  return kernel;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
