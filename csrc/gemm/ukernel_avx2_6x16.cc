// AVX2 + FMA microkernels: float 6 x 16 and double 6 x 8 (6 rows x 2 vectors of 8 floats / 4 doubles).
// 12 accumulators + 2 B vectors + 1 broadcast use 15 of the 16 YMM registers; per k step, 2 B loads and
// 6 broadcasts feed 12 FMAs, so the two FMA pipes, not the loads, bound the loop.
#include <immintrin.h>

#include <type_traits>

#include "dispatch/isa_namespace.h"
#include "gemm/edge_rows.h"
#include "gemm/microkernel.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

static_assert(16 <= kMaxNR, "cells size their stack tiles by kMaxNR");
constexpr int kMR = 6;
static_assert(kMR <= kMaxMR, "cells size their stack tiles by kMaxMR");

// kDirect: A read in place, row i at a + i*lda (the direct-A kernel of microkernel.h); otherwise a packed
// panel, row i of step p at a[p*MR + i]. The same FMAs in the same order either way.
template <bool kDirect, int kRows = kMR>
void ukernel_f32_impl(std::int64_t k, const float* a, std::int64_t lda, const float* b, float* c,
                      std::int64_t ldc, bool accumulate) {
  const std::int64_t row_offset = kDirect ? lda : 1, step = kDirect ? 1 : kMR;
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
    const float* ap = a + p * step;
    __m256 ai;
    if constexpr (kRows > 0) {
      ai = _mm256_broadcast_ss(ap + 0);
      c00 = _mm256_fmadd_ps(ai, b0, c00);
      c01 = _mm256_fmadd_ps(ai, b1, c01);
    }
    if constexpr (kRows > 1) {
      ai = _mm256_broadcast_ss(ap + 1 * row_offset);
      c10 = _mm256_fmadd_ps(ai, b0, c10);
      c11 = _mm256_fmadd_ps(ai, b1, c11);
    }
    if constexpr (kRows > 2) {
      ai = _mm256_broadcast_ss(ap + 2 * row_offset);
      c20 = _mm256_fmadd_ps(ai, b0, c20);
      c21 = _mm256_fmadd_ps(ai, b1, c21);
    }
    if constexpr (kRows > 3) {
      ai = _mm256_broadcast_ss(ap + 3 * row_offset);
      c30 = _mm256_fmadd_ps(ai, b0, c30);
      c31 = _mm256_fmadd_ps(ai, b1, c31);
    }
    if constexpr (kRows > 4) {
      ai = _mm256_broadcast_ss(ap + 4 * row_offset);
      c40 = _mm256_fmadd_ps(ai, b0, c40);
      c41 = _mm256_fmadd_ps(ai, b1, c41);
    }
    if constexpr (kRows > 5) {
      ai = _mm256_broadcast_ss(ap + 5 * row_offset);
      c50 = _mm256_fmadd_ps(ai, b0, c50);
      c51 = _mm256_fmadd_ps(ai, b1, c51);
    }
  }
  __m256* const rows[6][2] = {{&c00, &c01}, {&c10, &c11}, {&c20, &c21},
                              {&c30, &c31}, {&c40, &c41}, {&c50, &c51}};
  for (int i = 0; i < kRows; ++i) {
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

// kDirect: A read in place, row i at a + i*lda (the direct-A kernel of microkernel.h); otherwise a packed
// panel, row i of step p at a[p*MR + i]. The same FMAs in the same order either way.
template <bool kDirect, int kRows = kMR>
void ukernel_f64_impl(std::int64_t k, const double* a, std::int64_t lda, const double* b, double* c,
                      std::int64_t ldc, bool accumulate) {
  const std::int64_t row_offset = kDirect ? lda : 1, step = kDirect ? 1 : kMR;
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
    const double* ap = a + p * step;
    __m256d ai;
    if constexpr (kRows > 0) {
      ai = _mm256_broadcast_sd(ap + 0);
      c00 = _mm256_fmadd_pd(ai, b0, c00);
      c01 = _mm256_fmadd_pd(ai, b1, c01);
    }
    if constexpr (kRows > 1) {
      ai = _mm256_broadcast_sd(ap + 1 * row_offset);
      c10 = _mm256_fmadd_pd(ai, b0, c10);
      c11 = _mm256_fmadd_pd(ai, b1, c11);
    }
    if constexpr (kRows > 2) {
      ai = _mm256_broadcast_sd(ap + 2 * row_offset);
      c20 = _mm256_fmadd_pd(ai, b0, c20);
      c21 = _mm256_fmadd_pd(ai, b1, c21);
    }
    if constexpr (kRows > 3) {
      ai = _mm256_broadcast_sd(ap + 3 * row_offset);
      c30 = _mm256_fmadd_pd(ai, b0, c30);
      c31 = _mm256_fmadd_pd(ai, b1, c31);
    }
    if constexpr (kRows > 4) {
      ai = _mm256_broadcast_sd(ap + 4 * row_offset);
      c40 = _mm256_fmadd_pd(ai, b0, c40);
      c41 = _mm256_fmadd_pd(ai, b1, c41);
    }
    if constexpr (kRows > 5) {
      ai = _mm256_broadcast_sd(ap + 5 * row_offset);
      c50 = _mm256_fmadd_pd(ai, b0, c50);
      c51 = _mm256_fmadd_pd(ai, b1, c51);
    }
  }
  __m256d* const rows[6][2] = {{&c00, &c01}, {&c10, &c11}, {&c20, &c21},
                               {&c30, &c31}, {&c40, &c41}, {&c50, &c51}};
  for (int i = 0; i < kRows; ++i) {
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

void ukernel_f32(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                 bool accumulate) {
  ukernel_f32_impl<false>(k, a, 0, b, c, ldc, accumulate);
}
void ukernel_f32_direct(std::int64_t k, const float* a, std::int64_t lda, const float* b, float* c,
                        std::int64_t ldc, bool accumulate) {
  ukernel_f32_impl<true>(k, a, lda, b, c, ldc, accumulate);
}

// The edge kernels (microkernel.h): the first `rows` rows of the tile from the same packed panel. With
// 4 rows or fewer the FMA latency, not the pipes, bounds the loop (2 * rows chains), so they take 4 of
// the full kernel's 6 cycles per k; 5 rows take 5.
template <class T, int kRows>
void edge_kernel(std::int64_t k, const T* a, const T* b, T* c, std::int64_t ldc, bool accumulate) {
  if constexpr (std::is_same_v<T, float>) {
    ukernel_f32_impl<false, kRows>(k, a, 0, b, c, ldc, accumulate);
  } else {
    ukernel_f64_impl<false, kRows>(k, a, 0, b, c, ldc, accumulate);
  }
}
template <class T>
void ukernel_edge(int rows, std::int64_t k, const T* a, const T* b, T* c, std::int64_t ldc, bool accumulate) {
  call_with_rows<kMR>(rows, [&](auto r) { edge_kernel<T, decltype(r)::value>(k, a, b, c, ldc, accumulate); });
}

void ukernel_f64(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc,
                 bool accumulate) {
  ukernel_f64_impl<false>(k, a, 0, b, c, ldc, accumulate);
}
void ukernel_f64_direct(std::int64_t k, const double* a, std::int64_t lda, const double* b, double* c,
                        std::int64_t ldc, bool accumulate) {
  ukernel_f64_impl<true>(k, a, lda, b, c, ldc, accumulate);
}

// The row kernel (microkernel.h): one row of A times several B panels of 2 vectors each, one FMA chain
// per output vector over p in increasing order (the order of the 6 x 16 kernel's rows). Panels go in
// groups of four: 8 independent chains cover the FMA latency (4 cycles) of both FMA pipes.
struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V broadcast(const T* p) { return _mm256_broadcast_ss(p); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
};
struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int kLanes = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V broadcast(const T* p) { return _mm256_broadcast_sd(p); }
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
};

// Q panels (Q <= 4) of one row.
template <class D, int Q>
inline void row_group(std::int64_t k, const typename D::T* a, const typename D::T* b, std::int64_t b_stride,
                      typename D::T* c, std::int64_t c_stride, bool accumulate) {
  constexpr int nr = 2 * D::kLanes;
  typename D::V s[Q][2];
#pragma GCC unroll 4
  for (int q = 0; q < Q; ++q) s[q][0] = s[q][1] = D::zero();
  for (std::int64_t p = 0; p < k; ++p) {
    const typename D::V ap = D::broadcast(a + p);
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) {
      const typename D::T* bq = b + q * b_stride + p * nr;
      s[q][0] = D::fma(ap, D::load(bq), s[q][0]);
      s[q][1] = D::fma(ap, D::load(bq + D::kLanes), s[q][1]);
    }
  }
#pragma GCC unroll 4
  for (int q = 0; q < Q; ++q) {
    typename D::T* cq = c + q * c_stride;
    for (int h = 0; h < 2; ++h) {
      typename D::V v = s[q][h];
      if (accumulate) v = D::add(v, D::load(cq + h * D::kLanes));
      D::store(cq + h * D::kLanes, v);
    }
  }
}

template <class D>
void row_kernel_impl(std::int64_t k, const typename D::T* a, const typename D::T* b, std::int64_t b_stride,
                     std::int64_t panels, typename D::T* c, std::int64_t c_stride, bool accumulate) {
  std::int64_t q = 0;
  for (; q + 4 <= panels; q += 4)
    row_group<D, 4>(k, a, b + q * b_stride, b_stride, c + q * c_stride, c_stride, accumulate);
  const typename D::T* bq = b + q * b_stride;
  typename D::T* cq = c + q * c_stride;
  switch (panels - q) {
    case 3:
      row_group<D, 3>(k, a, bq, b_stride, cq, c_stride, accumulate);
      break;
    case 2:
      row_group<D, 2>(k, a, bq, b_stride, cq, c_stride, accumulate);
      break;
    case 1:
      row_group<D, 1>(k, a, bq, b_stride, cq, c_stride, accumulate);
      break;
    default:
      break;
  }
}

// The row kernel over one panel, in the microkernel contract (1 x 16 / 1 x 8).
template <class D>
void narrow_impl(std::int64_t k, const typename D::T* a, const typename D::T* b, typename D::T* c,
                 std::int64_t ldc, bool accumulate) {
  (void)ldc;
  row_group<D, 1>(k, a, b, 0, c, 0, accumulate);
}

// Its direct-A form: one row of A is contiguous either way.
template <class D>
void narrow_direct(std::int64_t k, const typename D::T* a, std::int64_t lda, const typename D::T* b,
                   typename D::T* c, std::int64_t ldc, bool accumulate) {
  (void)lda;
  narrow_impl<D>(k, a, b, c, ldc, accumulate);
}

}  // namespace

template <>
const Microkernel<float>& microkernel<float>() {
  static const Microkernel<float> kernel{
      kMR, 16, &ukernel_f32, &ukernel_f32_direct, "avx2 6x16", &ukernel_edge<float>};
  return kernel;
}
template <>
const Microkernel<double>& microkernel<double>() {
  static const Microkernel<double> kernel{
      kMR, 8, &ukernel_f64, &ukernel_f64_direct, "avx2 6x8", &ukernel_edge<double>};
  return kernel;
}

template <>
const Microkernel<float>& narrow_microkernel<float>() {
  static const Microkernel<float> kernel{1, 16, &narrow_impl<F32>, &narrow_direct<F32>, "avx2 1x16"};
  return kernel;
}
template <>
const Microkernel<double>& narrow_microkernel<double>() {
  static const Microkernel<double> kernel{1, 8, &narrow_impl<F64>, &narrow_direct<F64>, "avx2 1x8"};
  return kernel;
}

template <>
RowKernelFn<float> row_kernel<float>() {
  return &row_kernel_impl<F32>;
}
template <>
RowKernelFn<double> row_kernel<double>() {
  return &row_kernel_impl<F64>;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
