// The AVX-VNNI int8 kernels (VEX-encoded vpdpbusd on 256-bit registers, for CPUs or FUSEDRNN_ISA=avx2
// runs without the AVX-512 path): 3 x 32 tiles (12 accumulators of the 16 registers) and a 1-row kernel.
// This file alone is compiled with AVX-VNNI enabled; nothing here runs unless CPUID reports it
// (reduced/select_reduced_path.cc). Contract: reduced_microkernel.h. Accumulators are named variables,
// as in ukernel_reduced_avx512.cc (an array of them was copied between registers at every group).
#include <immintrin.h>

#include <cstdint>

#include "reduced/reduced_microkernel.h"

namespace fusedrnn::reduced_avxvnni {
namespace {

constexpr int NR = kReducedNR;

inline __m256i load(const std::uint32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// acc += a . b over 4 byte pairs (u8 a, s8 b), as inline assembly: with the intrinsic GCC 12 copied every
// accumulator between registers at every group, as it does for the AVX-512 form. "x": the VEX encoding
// reaches registers 0-15 only.
inline void dpbusd(__m256i& acc, __m256i a_u8, const std::uint32_t* b_s8) {
  __asm__("%{vex%} vpdpbusd %[b], %[a], %[acc]"
          : [acc] "+x"(acc)
          : [a] "x"(a_u8), [b] "m"(*reinterpret_cast<const __m256i*>(b_s8)));
}

// Dequantises one row's 32 int32 sums (four registers of 8) into c: reduced_microkernel.h's int8 rule.
inline void store_row(const __m256i acc[4], const std::int32_t* b_comp, const float* b_scale, float a_scale,
                      float* c) {
  const __m256 as = _mm256_set1_ps(a_scale);
  for (int h = 0; h < 4; ++h) {
    const __m256i comp = load(reinterpret_cast<const std::uint32_t*>(b_comp) + 8 * h);
    const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[h], comp));
    _mm256_storeu_ps(c + 8 * h, _mm256_mul_ps(_mm256_mul_ps(v, _mm256_loadu_ps(b_scale + 8 * h)), as));
  }
}

#define FUSEDRNN_ROWS3(X) X(0) X(1) X(2)
#define FUSEDRNN_QUARTERS(X, i) X(i, 0) X(i, 1) X(i, 2) X(i, 3)

void int8_kernel3(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float* a_scale,
                  const float* b_scale, const std::int32_t* b_comp, float* c, std::int64_t ldc) {
#define FUSEDRNN_ZERO(i)                                                      \
  __m256i c##i##0 = _mm256_setzero_si256(), c##i##1 = _mm256_setzero_si256(), \
          c##i##2 = _mm256_setzero_si256(), c##i##3 = _mm256_setzero_si256();
  FUSEDRNN_ROWS3(FUSEDRNN_ZERO)
#undef FUSEDRNN_ZERO
  for (std::int64_t q = 0; q < kg; ++q) {
    const std::uint32_t* bq = b + q * NR;
#define FUSEDRNN_DOT(i, h) dpbusd(c##i##h, av, bq + 8 * h);
#define FUSEDRNN_STEP(i)                                                  \
  {                                                                       \
    const __m256i av = _mm256_set1_epi32(static_cast<int>(a[q * 3 + i])); \
    FUSEDRNN_QUARTERS(FUSEDRNN_DOT, i)                                    \
  }
    FUSEDRNN_ROWS3(FUSEDRNN_STEP)
#undef FUSEDRNN_STEP
#undef FUSEDRNN_DOT
  }
#define FUSEDRNN_STORE(i)                                        \
  {                                                              \
    const __m256i row[4] = {c##i##0, c##i##1, c##i##2, c##i##3}; \
    store_row(row, b_comp, b_scale, a_scale[i], c + i * ldc);    \
  }
  FUSEDRNN_ROWS3(FUSEDRNN_STORE)
#undef FUSEDRNN_STORE
}

// One row: two independent accumulator sets over alternate groups (8 registers), summed at the end.
void int8_row(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float* a_scale,
              const float* b_scale, const std::int32_t* b_comp, float* c, std::int64_t) {
  __m256i s00 = _mm256_setzero_si256(), s01 = _mm256_setzero_si256(), s02 = _mm256_setzero_si256(),
          s03 = _mm256_setzero_si256(), s10 = _mm256_setzero_si256(), s11 = _mm256_setzero_si256(),
          s12 = _mm256_setzero_si256(), s13 = _mm256_setzero_si256();
  std::int64_t q = 0;
  for (; q + 2 <= kg; q += 2) {
    const __m256i a0 = _mm256_set1_epi32(static_cast<int>(a[q])),
                  a1 = _mm256_set1_epi32(static_cast<int>(a[q + 1]));
    const std::uint32_t* b0 = b + q * NR;
    const std::uint32_t* b1 = b0 + NR;
    dpbusd(s00, a0, b0);
    dpbusd(s01, a0, b0 + 8);
    dpbusd(s02, a0, b0 + 16);
    dpbusd(s03, a0, b0 + 24);
    dpbusd(s10, a1, b1);
    dpbusd(s11, a1, b1 + 8);
    dpbusd(s12, a1, b1 + 16);
    dpbusd(s13, a1, b1 + 24);
  }
  if (q < kg) {
    const __m256i a0 = _mm256_set1_epi32(static_cast<int>(a[q]));
    const std::uint32_t* b0 = b + q * NR;
    dpbusd(s00, a0, b0);
    dpbusd(s01, a0, b0 + 8);
    dpbusd(s02, a0, b0 + 16);
    dpbusd(s03, a0, b0 + 24);
  }
  const __m256i sum[4] = {_mm256_add_epi32(s00, s10), _mm256_add_epi32(s01, s11), _mm256_add_epi32(s02, s12),
                          _mm256_add_epi32(s03, s13)};
  store_row(sum, b_comp, b_scale, a_scale[0], c);
}

}  // namespace

const ReducedPath& int8_path() {
  static const ReducedPath path{"avx_vnni", WeightFormat::int8, {3, &int8_kernel3}, {1, &int8_row}};
  return path;
}

}  // namespace fusedrnn::reduced_avxvnni
