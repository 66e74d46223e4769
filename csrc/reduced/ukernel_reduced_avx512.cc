// The AVX-512 reduced kernels: vdpbf16ps (AVX512-BF16) and vpdpbusd (AVX512-VNNI), 8 x 32 tiles (16
// accumulators) and a 1-row kernel. This file alone is compiled with those extensions enabled; nothing
// here runs unless CPUID reports them (reduced/select_reduced_path.cc). Contract: reduced_microkernel.h.
#include <immintrin.h>

#include <cstdint>

#include "reduced/reduced_microkernel.h"

namespace fusedrnn::reduced_avx512 {
namespace {

constexpr int NR = kReducedNR;

inline __m512bh as_bf16(__m512i v) { return reinterpret_cast<__m512bh&>(v); }

template <int MR>
void bf16_kernel(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float*, const float*,
                 const std::int32_t*, float* c, std::int64_t ldc) {
  __m512 acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (std::int64_t q = 0; q < kg; ++q) {
    const __m512bh b0 = as_bf16(_mm512_loadu_si512(b + q * NR)), b1 = as_bf16(_mm512_loadu_si512(b + q * NR + 16));
    for (int i = 0; i < MR; ++i) {
      const __m512bh av = as_bf16(_mm512_set1_epi32(static_cast<int>(a[q * MR + i])));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
    }
  }
  for (int i = 0; i < MR; ++i) {
    _mm512_storeu_ps(c + i * ldc, acc[i][0]);
    _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
  }
}

// One row: four independent accumulator pairs over consecutive groups hide the instruction's latency
// (a single chain would wait on it at every group); summed in a fixed order at the end.
void bf16_row(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float*, const float*,
              const std::int32_t*, float* c, std::int64_t) {
  __m512 acc[4][2];
  for (auto& pair : acc) pair[0] = pair[1] = _mm512_setzero_ps();
  std::int64_t q = 0;
  for (; q + 4 <= kg; q += 4) {
    for (int u = 0; u < 4; ++u) {
      const __m512bh av = as_bf16(_mm512_set1_epi32(static_cast<int>(a[q + u])));
      acc[u][0] = _mm512_dpbf16_ps(acc[u][0], av, as_bf16(_mm512_loadu_si512(b + (q + u) * NR)));
      acc[u][1] = _mm512_dpbf16_ps(acc[u][1], av, as_bf16(_mm512_loadu_si512(b + (q + u) * NR + 16)));
    }
  }
  for (; q < kg; ++q) {
    const __m512bh av = as_bf16(_mm512_set1_epi32(static_cast<int>(a[q])));
    acc[0][0] = _mm512_dpbf16_ps(acc[0][0], av, as_bf16(_mm512_loadu_si512(b + q * NR)));
    acc[0][1] = _mm512_dpbf16_ps(acc[0][1], av, as_bf16(_mm512_loadu_si512(b + q * NR + 16)));
  }
  for (int h = 0; h < 2; ++h) {
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0][h], acc[1][h]), _mm512_add_ps(acc[2][h], acc[3][h]));
    _mm512_storeu_ps(c + 16 * h, sum);
  }
}

inline void store_int8_row(const __m512i acc[2], const std::int32_t* b_comp, const float* b_scale, float a_scale,
                           float* c) {
  const __m512 as = _mm512_set1_ps(a_scale);
  for (int h = 0; h < 2; ++h) {
    const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[h], _mm512_loadu_si512(b_comp + 16 * h)));
    _mm512_storeu_ps(c + 16 * h, _mm512_mul_ps(_mm512_mul_ps(v, _mm512_loadu_ps(b_scale + 16 * h)), as));
  }
}

template <int MR>
void int8_kernel(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float* a_scale,
                 const float* b_scale, const std::int32_t* b_comp, float* c, std::int64_t ldc) {
  __m512i acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_si512();
  for (std::int64_t q = 0; q < kg; ++q) {
    const __m512i b0 = _mm512_loadu_si512(b + q * NR), b1 = _mm512_loadu_si512(b + q * NR + 16);
    for (int i = 0; i < MR; ++i) {
      const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q * MR + i]));
      acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], av, b0);
      acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], av, b1);
    }
  }
  for (int i = 0; i < MR; ++i) store_int8_row(acc[i], b_comp, b_scale, a_scale[i], c + i * ldc);
}

void int8_row(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float* a_scale,
              const float* b_scale, const std::int32_t* b_comp, float* c, std::int64_t) {
  __m512i acc[4][2];
  for (auto& pair : acc) pair[0] = pair[1] = _mm512_setzero_si512();
  std::int64_t q = 0;
  for (; q + 4 <= kg; q += 4) {
    for (int u = 0; u < 4; ++u) {
      const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q + u]));
      acc[u][0] = _mm512_dpbusd_epi32(acc[u][0], av, _mm512_loadu_si512(b + (q + u) * NR));
      acc[u][1] = _mm512_dpbusd_epi32(acc[u][1], av, _mm512_loadu_si512(b + (q + u) * NR + 16));
    }
  }
  for (; q < kg; ++q) {
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q]));
    acc[0][0] = _mm512_dpbusd_epi32(acc[0][0], av, _mm512_loadu_si512(b + q * NR));
    acc[0][1] = _mm512_dpbusd_epi32(acc[0][1], av, _mm512_loadu_si512(b + q * NR + 16));
  }
  __m512i sum[2];
  for (int h = 0; h < 2; ++h) {
    sum[h] = _mm512_add_epi32(_mm512_add_epi32(acc[0][h], acc[1][h]), _mm512_add_epi32(acc[2][h], acc[3][h]));
  }
  store_int8_row(sum, b_comp, b_scale, a_scale[0], c);
}

}  // namespace

const ReducedPath& bf16_path() {
  static const ReducedPath path{"avx512_bf16", WeightFormat::bf16, {8, &bf16_kernel<8>}, {1, &bf16_row}};
  return path;
}
const ReducedPath& int8_path() {
  static const ReducedPath path{"avx512_vnni", WeightFormat::int8, {8, &int8_kernel<8>}, {1, &int8_row}};
  return path;
}

}  // namespace fusedrnn::reduced_avx512
