// The AVX-512 reduced kernels: vdpbf16ps (AVX512-BF16) and vpdpbusd (AVX512-VNNI), 8 x 32 tiles (16
// accumulators) and a 1-row kernel. This file alone is compiled with those extensions enabled; nothing
// here runs unless CPUID reports them (reduced/select_reduced_path.cc). Contract: reduced_microkernel.h.
#include <immintrin.h>

#include <cstdint>

#include "reduced/reduced_microkernel.h"

namespace fusedrnn::reduced_avx512 {
namespace {

constexpr int NR = kReducedNR;

// The two dot-product steps as inline assembly on a register operand. Written with the intrinsics, GCC 12
// kept the 16 accumulators of the 8 x 32 tile but copied each of them between registers at every group
// (30 register moves and 2 spills per 16 useful instructions in the loop, objdump), which made the int8
// kernel slower than the bf16 one. acc += a . b over 4 byte pairs (u8 a, s8 b) / 2 bf16 pairs.
inline void dpbusd(__m512i& acc, __m512i a_u8, __m512i b_s8) {
  __asm__("vpdpbusd %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a_u8), [b] "v"(b_s8));
}
inline void dpbf16(__m512& acc, __m512i a, __m512i b) {
  __asm__("vdpbf16ps %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
}

// The 8 x 32 kernels keep their 16 accumulators in named variables (c<row>a, c<row>b): held in an array,
// GCC 12 kept them in memory around the asm statements, or copied them between registers at every group
// with the intrinsics.
#define FUSEDRNN_ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

void bf16_kernel8(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float*, const float*,
                  const std::int32_t*, float* c, std::int64_t ldc) {
#define FUSEDRNN_ZERO(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
  FUSEDRNN_ROWS8(FUSEDRNN_ZERO)
#undef FUSEDRNN_ZERO
  for (std::int64_t q = 0; q < kg; ++q) {
    const __m512i b0 = _mm512_loadu_si512(b + q * NR), b1 = _mm512_loadu_si512(b + q * NR + 16);
#define FUSEDRNN_STEP(i)                                                  \
  {                                                                       \
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q * 8 + i])); \
    dpbf16(c##i##a, av, b0);                                              \
    dpbf16(c##i##b, av, b1);                                              \
  }
    FUSEDRNN_ROWS8(FUSEDRNN_STEP)
#undef FUSEDRNN_STEP
  }
#define FUSEDRNN_STORE(i)                 \
  _mm512_storeu_ps(c + i * ldc, c##i##a); \
  _mm512_storeu_ps(c + i * ldc + 16, c##i##b);
  FUSEDRNN_ROWS8(FUSEDRNN_STORE)
#undef FUSEDRNN_STORE
}

// One row: four independent accumulator pairs (named, as above) over consecutive groups hide the
// instruction's latency (a single chain would wait on it at every group); summed in a fixed order at the end.
#define FUSEDRNN_LANES4(X) X(0) X(1) X(2) X(3)

void bf16_row(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float*, const float*,
              const std::int32_t*, float* c, std::int64_t) {
#define FUSEDRNN_ZERO(u) __m512 s##u##a = _mm512_setzero_ps(), s##u##b = _mm512_setzero_ps();
  FUSEDRNN_LANES4(FUSEDRNN_ZERO)
#undef FUSEDRNN_ZERO
  std::int64_t q = 0;
  for (; q + 4 <= kg; q += 4) {
#define FUSEDRNN_STEP(u)                                              \
  {                                                                   \
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q + u])); \
    dpbf16(s##u##a, av, _mm512_loadu_si512(b + (q + u) * NR));        \
    dpbf16(s##u##b, av, _mm512_loadu_si512(b + (q + u) * NR + 16));   \
  }
    FUSEDRNN_LANES4(FUSEDRNN_STEP)
#undef FUSEDRNN_STEP
  }
  for (; q < kg; ++q) {
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q]));
    dpbf16(s0a, av, _mm512_loadu_si512(b + q * NR));
    dpbf16(s0b, av, _mm512_loadu_si512(b + q * NR + 16));
  }
  _mm512_storeu_ps(c, _mm512_add_ps(_mm512_add_ps(s0a, s1a), _mm512_add_ps(s2a, s3a)));
  _mm512_storeu_ps(c + 16, _mm512_add_ps(_mm512_add_ps(s0b, s1b), _mm512_add_ps(s2b, s3b)));
}

inline void store_int8_row(const __m512i acc[2], const std::int32_t* b_comp, const float* b_scale,
                           float a_scale, float* c) {
  const __m512 as = _mm512_set1_ps(a_scale);
  for (int h = 0; h < 2; ++h) {
    const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[h], _mm512_loadu_si512(b_comp + 16 * h)));
    _mm512_storeu_ps(c + 16 * h, _mm512_mul_ps(_mm512_mul_ps(v, _mm512_loadu_ps(b_scale + 16 * h)), as));
  }
}

void int8_kernel8(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float* a_scale,
                  const float* b_scale, const std::int32_t* b_comp, float* c, std::int64_t ldc) {
#define FUSEDRNN_ZERO(i) __m512i c##i##a = _mm512_setzero_si512(), c##i##b = _mm512_setzero_si512();
  FUSEDRNN_ROWS8(FUSEDRNN_ZERO)
#undef FUSEDRNN_ZERO
  for (std::int64_t q = 0; q < kg; ++q) {
    const __m512i b0 = _mm512_loadu_si512(b + q * NR), b1 = _mm512_loadu_si512(b + q * NR + 16);
#define FUSEDRNN_STEP(i)                                                  \
  {                                                                       \
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q * 8 + i])); \
    dpbusd(c##i##a, av, b0);                                              \
    dpbusd(c##i##b, av, b1);                                              \
  }
    FUSEDRNN_ROWS8(FUSEDRNN_STEP)
#undef FUSEDRNN_STEP
  }
#define FUSEDRNN_STORE(i)                                          \
  {                                                                \
    const __m512i row[2] = {c##i##a, c##i##b};                     \
    store_int8_row(row, b_comp, b_scale, a_scale[i], c + i * ldc); \
  }
  FUSEDRNN_ROWS8(FUSEDRNN_STORE)
#undef FUSEDRNN_STORE
}

void int8_row(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float* a_scale,
              const float* b_scale, const std::int32_t* b_comp, float* c, std::int64_t) {
#define FUSEDRNN_ZERO(u) __m512i s##u##a = _mm512_setzero_si512(), s##u##b = _mm512_setzero_si512();
  FUSEDRNN_LANES4(FUSEDRNN_ZERO)
#undef FUSEDRNN_ZERO
  std::int64_t q = 0;
  for (; q + 4 <= kg; q += 4) {
#define FUSEDRNN_STEP(u)                                              \
  {                                                                   \
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q + u])); \
    dpbusd(s##u##a, av, _mm512_loadu_si512(b + (q + u) * NR));        \
    dpbusd(s##u##b, av, _mm512_loadu_si512(b + (q + u) * NR + 16));   \
  }
    FUSEDRNN_LANES4(FUSEDRNN_STEP)
#undef FUSEDRNN_STEP
  }
  for (; q < kg; ++q) {
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q]));
    dpbusd(s0a, av, _mm512_loadu_si512(b + q * NR));
    dpbusd(s0b, av, _mm512_loadu_si512(b + q * NR + 16));
  }
  const __m512i sum[2] = {_mm512_add_epi32(_mm512_add_epi32(s0a, s1a), _mm512_add_epi32(s2a, s3a)),
                          _mm512_add_epi32(_mm512_add_epi32(s0b, s1b), _mm512_add_epi32(s2b, s3b))};
  store_int8_row(sum, b_comp, b_scale, a_scale[0], c);
}

}  // namespace

const ReducedPath& bf16_path() {
  static const ReducedPath path{"avx512_bf16", WeightFormat::bf16, {8, &bf16_kernel8}, {1, &bf16_row}};
  return path;
}
const ReducedPath& int8_path() {
  static const ReducedPath path{"avx512_vnni", WeightFormat::int8, {8, &int8_kernel8}, {1, &int8_row}};
  return path;
}

}  // namespace fusedrnn::reduced_avx512
