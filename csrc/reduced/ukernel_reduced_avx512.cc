// The AVX-512 reduced kernels: vdpbf16ps (AVX512-BF16) and vpdpbusd (AVX512-VNNI), 8 x 32 tiles (16
// accumulators) and a 1-row kernel. This file alone is compiled with those extensions enabled; nothing
// here runs unless CPUID reports them (reduced/select_reduced_path.cc). Contract: reduced_microkernel.h.
// One tile loop serves both formats (templated on the dot product); the row loops differ (int8 may split
// its exact integer sums, bf16 must sum in the tile's order), and so do the epilogues (bf16: store; int8:
// dequantise). The same bf16 loops also serve the float32 GEMM's native bf16 kernels (compute_dtype=
// "bfloat16": gemm/bf16_kernels.h), which add an accumulating epilogue and a several-panel row loop.
#include <immintrin.h>

#include <cstdint>

#include "gemm/bf16_kernels.h"
#include "gemm/edge_rows.h"
#include "reduced/reduced_microkernel.h"

namespace fusedrnn::reduced_avx512 {
namespace {

constexpr int NR = kReducedNR;

// The two dot-product steps as inline assembly on a register operand. Written with the intrinsics, GCC 12
// kept the 16 accumulators of the 8 x 32 tile but copied each of them between registers at every group
// (30 register moves and 2 spills per 16 useful instructions in the loop, objdump), which made the int8
// kernel slower than the bf16 one. acc += a . b over 4 byte pairs (u8 a, s8 b) / 2 bf16 pairs.
struct Int8Dot {
  using Acc = __m512i;
  static Acc zero() { return _mm512_setzero_si512(); }
  static Acc add(Acc x, Acc y) { return _mm512_add_epi32(x, y); }
  static void dot(Acc& acc, __m512i a_u8, __m512i b_s8) {
    __asm__("vpdpbusd %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a_u8), [b] "v"(b_s8));
  }
};
struct Bf16Dot {
  using Acc = __m512;
  static Acc zero() { return _mm512_setzero_ps(); }
  static Acc add(Acc x, Acc y) { return _mm512_add_ps(x, y); }
  static void dot(Acc& acc, __m512i a, __m512i b) {
    __asm__("vdpbf16ps %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
  }
};

// The sums of an 8 x 32 tile into out[row][half] (the first kRows rows only: the others are neither
// computed nor written). The 16 accumulators are named variables (c<row>a, c<row>b) inside the loop:
// held in an array there, GCC 12 kept them in memory around the asm statements.
#define FUSEDRNN_ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

template <class D, int kRows = 8>
inline void tile_sums(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b,
                      typename D::Acc (&out)[8][2]) {
#define FUSEDRNN_ZERO(i) typename D::Acc c##i##a = D::zero(), c##i##b = D::zero();
  FUSEDRNN_ROWS8(FUSEDRNN_ZERO)
#undef FUSEDRNN_ZERO
  for (std::int64_t q = 0; q < kg; ++q) {
    const __m512i b0 = _mm512_loadu_si512(b + q * NR), b1 = _mm512_loadu_si512(b + q * NR + 16);
#define FUSEDRNN_STEP(i)                                                  \
  if constexpr (kRows > i) {                                              \
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q * 8 + i])); \
    D::dot(c##i##a, av, b0);                                              \
    D::dot(c##i##b, av, b1);                                              \
  }
    FUSEDRNN_ROWS8(FUSEDRNN_STEP)
#undef FUSEDRNN_STEP
  }
#define FUSEDRNN_OUT(i) \
  out[i][0] = c##i##a;  \
  out[i][1] = c##i##b;
  FUSEDRNN_ROWS8(FUSEDRNN_OUT)
#undef FUSEDRNN_OUT
}

// The sums of one row into out[half], int8: four independent accumulator pairs over consecutive groups
// hide the instruction's latency (a single chain would wait on it at every group), summed in a fixed
// order at the end. Integer sums are exact, so this order gives the tile kernel's values.
inline void row_sums_int8(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b,
                          __m512i (&out)[2]) {
  using D = Int8Dot;
  D::Acc s0a = D::zero(), s0b = D::zero(), s1a = D::zero(), s1b = D::zero(), s2a = D::zero(), s2b = D::zero(),
         s3a = D::zero(), s3b = D::zero();
  std::int64_t q = 0;
  for (; q + 4 <= kg; q += 4) {
#define FUSEDRNN_STEP(u)                                              \
  {                                                                   \
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q + u])); \
    D::dot(s##u##a, av, _mm512_loadu_si512(b + (q + u) * NR));        \
    D::dot(s##u##b, av, _mm512_loadu_si512(b + (q + u) * NR + 16));   \
  }
    FUSEDRNN_STEP(0) FUSEDRNN_STEP(1) FUSEDRNN_STEP(2) FUSEDRNN_STEP(3)
#undef FUSEDRNN_STEP
  }
  for (; q < kg; ++q) {
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q]));
    D::dot(s0a, av, _mm512_loadu_si512(b + q * NR));
    D::dot(s0b, av, _mm512_loadu_si512(b + q * NR + 16));
  }
  out[0] = D::add(D::add(s0a, s1a), D::add(s2a, s3a));
  out[1] = D::add(D::add(s0b, s1b), D::add(s2b, s3b));
}

// The sums of one row into out[half], bf16: one chain per output vector over the groups in increasing
// order, exactly as each row of tile_sums, so a row's values do not depend on which kernel ran it (float
// sums split over several accumulators would round differently: batch invariance, microkernel.h).
inline void row_sums_bf16(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, __m512 (&out)[2]) {
  using D = Bf16Dot;
  D::Acc sa = D::zero(), sb = D::zero();
  for (std::int64_t q = 0; q < kg; ++q) {
    const __m512i av = _mm512_set1_epi32(static_cast<int>(a[q]));
    D::dot(sa, av, _mm512_loadu_si512(b + q * NR));
    D::dot(sb, av, _mm512_loadu_si512(b + q * NR + 16));
  }
  out[0] = sa;
  out[1] = sb;
}

// int8's epilogue: float(sum - comp) * b_scale * a_scale for one row of 32.
inline void store_int8_row(const __m512i (&acc)[2], const std::int32_t* b_comp, const float* b_scale,
                           float a_scale, float* c) {
  const __m512 as = _mm512_set1_ps(a_scale);
  for (int h = 0; h < 2; ++h) {
    const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[h], _mm512_loadu_si512(b_comp + 16 * h)));
    _mm512_storeu_ps(c + 16 * h, _mm512_mul_ps(_mm512_mul_ps(v, _mm512_loadu_ps(b_scale + 16 * h)), as));
  }
}

void bf16_kernel8(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float*, const float*,
                  const std::int32_t*, float* c, std::int64_t ldc) {
  __m512 sums[8][2];
  tile_sums<Bf16Dot>(kg, a, b, sums);
  for (int i = 0; i < 8; ++i) {
    _mm512_storeu_ps(c + i * ldc, sums[i][0]);
    _mm512_storeu_ps(c + i * ldc + 16, sums[i][1]);
  }
}

void bf16_row(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float*, const float*,
              const std::int32_t*, float* c, std::int64_t) {
  __m512 sums[2];
  row_sums_bf16(kg, a, b, sums);
  _mm512_storeu_ps(c, sums[0]);
  _mm512_storeu_ps(c + 16, sums[1]);
}

void int8_kernel8(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float* a_scale,
                  const float* b_scale, const std::int32_t* b_comp, float* c, std::int64_t ldc) {
  __m512i sums[8][2];
  tile_sums<Int8Dot>(kg, a, b, sums);
  for (int i = 0; i < 8; ++i) store_int8_row(sums[i], b_comp, b_scale, a_scale[i], c + i * ldc);
}

void int8_row(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float* a_scale,
              const float* b_scale, const std::int32_t* b_comp, float* c, std::int64_t) {
  __m512i sums[2];
  row_sums_int8(kg, a, b, sums);
  store_int8_row(sums, b_comp, b_scale, a_scale[0], c);
}

// The float32 GEMM's native bf16 kernels (gemm/bf16_kernels.h). k counts float steps; the pairs panels
// hold ceil(k/2) words per lane (gemm/bf16_operand.h). C + s when accumulating, as the float kernels do.
inline const std::uint32_t* words(const float* p) { return reinterpret_cast<const std::uint32_t*>(p); }

inline void store_row(const __m512 (&s)[2], float* c, bool accumulate) {
  if (accumulate) {
    _mm512_storeu_ps(c, _mm512_add_ps(_mm512_loadu_ps(c), s[0]));
    _mm512_storeu_ps(c + 16, _mm512_add_ps(_mm512_loadu_ps(c + 16), s[1]));
  } else {
    _mm512_storeu_ps(c, s[0]);
    _mm512_storeu_ps(c + 16, s[1]);
  }
}

// The first kRows rows of the tile (8: all of it; fewer: a step's bottom panel, microkernel.h's edge
// kernel), the same chain per element.
template <int kRows = 8>
void bf16_product_tile(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                       bool accumulate) {
  __m512 sums[8][2];
  tile_sums<Bf16Dot, kRows>((k + 1) / 2, words(a), words(b), sums);
  for (int i = 0; i < kRows; ++i) store_row(sums[i], c + i * ldc, accumulate);
}

void bf16_product_edge(int rows, std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                       bool accumulate) {
  call_with_rows<8>(rows,
                    [&](auto r) { bf16_product_tile<decltype(r)::value>(k, a, b, c, ldc, accumulate); });
}

// One row times `panels` panels: four panels at a time give eight independent chains to cover the
// instruction's latency (one panel alone has two), each chain still the tile's order for its element.
void bf16_product_rows(std::int64_t k, const float* a, const float* b, std::int64_t b_stride,
                       std::int64_t panels, float* c, std::int64_t c_stride, bool accumulate) {
  using D = Bf16Dot;
  const std::int64_t kg = (k + 1) / 2;
  const std::uint32_t* aw = words(a);
  std::int64_t q = 0;
  for (; q + 4 <= panels; q += 4) {
    const std::uint32_t* b0 = words(b + q * b_stride);
    const std::uint32_t *b1 = b0 + b_stride, *b2 = b1 + b_stride, *b3 = b2 + b_stride;
    D::Acc s0a = D::zero(), s0b = D::zero(), s1a = D::zero(), s1b = D::zero(), s2a = D::zero(),
           s2b = D::zero(), s3a = D::zero(), s3b = D::zero();
    for (std::int64_t g = 0; g < kg; ++g) {
      const __m512i av = _mm512_set1_epi32(static_cast<int>(aw[g]));
#define FUSEDRNN_STEP(u)                                  \
  D::dot(s##u##a, av, _mm512_loadu_si512(b##u + g * NR)); \
  D::dot(s##u##b, av, _mm512_loadu_si512(b##u + g * NR + 16));
      FUSEDRNN_STEP(0) FUSEDRNN_STEP(1) FUSEDRNN_STEP(2) FUSEDRNN_STEP(3)
#undef FUSEDRNN_STEP
    }
    const __m512 out[4][2] = {{s0a, s0b}, {s1a, s1b}, {s2a, s2b}, {s3a, s3b}};
    for (int u = 0; u < 4; ++u) store_row(out[u], c + (q + u) * c_stride, accumulate);
  }
  for (; q < panels; ++q) {
    __m512 sums[2];
    row_sums_bf16(kg, aw, words(b + q * b_stride), sums);
    store_row(sums, c + q * c_stride, accumulate);
  }
}

}  // namespace

const Bf16ProductKernels& bf16_product_kernels() {
  static const Bf16ProductKernels kernels{
      {8, NR, &bf16_product_tile<8>, nullptr, "avx512_bf16 8x32", &bf16_product_edge}, &bf16_product_rows};
  return kernels;
}

const ReducedPath& bf16_path() {
  static const ReducedPath path{"avx512_bf16", WeightFormat::bf16, {8, &bf16_kernel8}, {1, &bf16_row}};
  return path;
}
const ReducedPath& int8_path() {
  static const ReducedPath path{"avx512_vnni", WeightFormat::int8, {8, &int8_kernel8}, {1, &int8_row}};
  return path;
}

}  // namespace fusedrnn::reduced_avx512
