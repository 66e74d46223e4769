// Vectorised sigmoid and tanh over arrays, compiled per ISA: the gate math of every cell.
//
// float: one kernel for both. With y = -|x| (sigmoid) or y = -2|x| (tanh), y <= 0 is split as
// y = n ln2 + r (|r| <= ln2/2, ln2 in two parts for an exact product) and
//   s = 2^n (built in the exponent bits),   p = expm1(r) = r + r^2 Q(r)   (Q: degree-4 minimax)
// give e^y = s p + s and expm1(y) = s p + (s - 1), each one FMA with a single rounding, then
//   sigmoid(x) = (x < 0 ? e^y : 1) / (1 + e^y)          (no cancellation on either side)
//   tanh(x)    = sign(x) * -expm1(y) / (2 + expm1(y))   (expm1: relative accuracy down to x = 0)
// with the denominator in [1, 2]. Per element: one exp-sized polynomial and one division, where the
// previous kernels took an exp and a division for sigmoid, and an exp, a second polynomial, a division
// and a select between two results for tanh. Measured per element (Zen 4, one thread, CPU time):
// AVX-512 sigmoid 0.45 -> 0.26 ns, tanh 0.73 -> 0.28 ns; AVX2 0.67 -> 0.33 ns, 1.40 -> 0.39 ns
// (docs/gate-math.md). The division stays a division: the divider runs on its own unit beside the FMAs
// and was cheaper than a reciprocal estimate with a Newton step and a correction of the quotient.
//
// Accuracy, measured over the whole float range by tests/test_simd_math.py against float64 math
// (docs/gate-math.md has the table): sigmoid within 2.2 ulp, tanh within 2.5 ulp on every path; results
// below the smallest normal float (sigmoid(x) for x < -87.3) are 0 or subnormal. Saturation is exact
// (sigmoid(x) = 0 for x <= -87.68, 1 for x >= 16.64, tanh(x) = +-1 for |x| >= 8.49, also at +-inf),
// NaN propagates (the clamp keeps it, so no select at the end), tanh(-0) = -0 and tanh(x) = x for
// subnormal x.
//
// The vector width does not change a result: a tail shorter than the vector is computed in a padded
// vector by the same instructions, so an element's value never depends on where it lies in its array
// (the batch-invariance guarantee: a cell's arrays start at a row's position in its tile).
//
// double uses the C library (exact to ~1 ulp, not vectorised).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "dispatch/isa_namespace.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace vec_math {

// The constants of the float kernel (literals at the point of use, never static vectors).
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;  // 9 significant bits: n * kLn2Hi is exact for |n| <= 127
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23: t = y log2e + kShifter holds round(n) in its low bits
constexpr std::int32_t kShifterBits = 0x4B400000;
// Below y = -88, n = -127 and s = 2^-127 is built as the exponent field 0, i.e. s = 0: e^y = 0,
// expm1(y) = -1, the limits. The clamp (max(lo, y), which returns y when y is NaN) keeps n >= -127.
constexpr float kLowest = -88.0f;
// expm1(r) = r + r^2 Q(r) on |r| <= ln2/2 (+2e-3): minimax for the relative error of expm1, 1.7e-8
// (0.3 ulp) with these float coefficients.
constexpr float kQ0 = 4.9999997e-01f;
constexpr float kQ1 = 1.666654e-01f;
constexpr float kQ2 = 4.166721e-02f;
constexpr float kQ3 = 8.366898e-03f;
constexpr float kQ4 = 1.388243e-03f;

inline float bits_to_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline std::uint32_t float_to_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// The operations of the kernel over one "vector" per ISA. Scalar: the portable path, plain C++ the
// compiler vectorises at the baseline width (exact division; fma is a*b + c, whatever the compiler
// makes of it, the same in every lane).
struct ScalarF32 {
  using V = float;
  static constexpr int kLanes = 1;
  static V load(const float* p) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static V set1(float v) { return v; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V fma(V a, V b, V c) { return a * b + c; }
  static V fnma(V a, V b, V c) { return c - a * b; }
  static V max_lo(float lo, V y) { return lo > y ? lo : y; }  // NaN y gives y
  static V neg_abs(V x) { return bits_to_float(float_to_bits(x) | 0x80000000u); }
  static V sign_of(V x) { return bits_to_float(float_to_bits(x) & 0x80000000u); }
  static V or_bits(V a, V b) { return bits_to_float(float_to_bits(a) | float_to_bits(b)); }
  // The sign bit of m picks a.
  static V select_negative(V m, V a, V b) { return (float_to_bits(m) >> 31) != 0u ? a : b; }
  // 2^n from t = n + kShifter (n integer in [-127, 0]).
  static V pow2_from_shifted(V t) {
    return bits_to_float((float_to_bits(t) + static_cast<std::uint32_t>(127 - kShifterBits)) << 23);
  }
  static V div(V num, V den) { return num / den; }
};

#if defined(__AVX2__) && defined(__FMA__)
struct Avx2F32 {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V max_lo(float lo, V y) { return _mm256_max_ps(_mm256_set1_ps(lo), y); }  // NaN in y: y
  static V neg_abs(V x) { return _mm256_or_ps(x, _mm256_set1_ps(-0.0f)); }
  static V sign_of(V x) { return _mm256_and_ps(x, _mm256_set1_ps(-0.0f)); }
  static V or_bits(V a, V b) { return _mm256_or_ps(a, b); }
  static V select_negative(V m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
  static V pow2_from_shifted(V t) {
    const __m256i biased = _mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127 - kShifterBits));
    return _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
  }
  // The divider, not rcp_ps + Newton + correction: vdivps runs on its own unit beside the FMAs, and
  // per element the kernels took 0.40 / 0.48 ns (sigmoid / tanh) with it against 0.52 / 0.58 ns with
  // the estimate (6 more FMA-pipe instructions, the same bits) and 0.47 / 0.55 ns with the estimate and
  // Newton alone (Zen 4, docs/gate-math.md). The quotient is correctly rounded.
  static V div(V num, V den) { return _mm256_div_ps(num, den); }
};
#endif

#if defined(__AVX512F__)
// The operations of Avx2F32, 16 lanes.
struct Avx512F32 {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V max_lo(float lo, V y) { return _mm512_max_ps(_mm512_set1_ps(lo), y); }  // NaN in y: y
  static V neg_abs(V x) {
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)));
  }
  static V sign_of(V x) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)));
  }
  static V or_bits(V a, V b) {
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
  }
  static V select_negative(V m, V a, V b) {
    const __mmask16 negative = _mm512_movepi32_mask(_mm512_castps_si512(m));
    return _mm512_mask_blend_ps(negative, b, a);
  }
  static V pow2_from_shifted(V t) {
    const __m512i biased = _mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127 - kShifterBits));
    return _mm512_castsi512_ps(_mm512_slli_epi32(biased, 23));
  }
  // The divider, as on AVX2: 0.31-0.35 / 0.32-0.36 ns per element against 0.37-0.39 / 0.37-0.41 ns
  // with rcp14_ps + Newton + correction (Zen 4). The same instructions as AVX2 at twice the width, so its
  // results are the AVX2 path's bit for bit.
  static V div(V num, V den) { return _mm512_div_ps(num, den); }
};
#endif

#if defined(__AVX512F__)
using F32Ops = Avx512F32;
#elif defined(__AVX2__) && defined(__FMA__)
using F32Ops = Avx2F32;
#else
using F32Ops = ScalarF32;
#endif

// s = 2^n and p = expm1(r) for y = n ln2 + r, y <= 0 (or NaN: then p is NaN).
template <class D>
inline void exp_parts(typename D::V y, typename D::V& s, typename D::V& p) {
  using V = typename D::V;
  y = D::max_lo(kLowest, y);
  const V t = D::fma(y, D::set1(kLog2e), D::set1(kShifter));
  const V n = D::sub(t, D::set1(kShifter));
  V r = D::fnma(n, D::set1(kLn2Hi), y);
  r = D::fnma(n, D::set1(kLn2Lo), r);
  V q = D::fma(D::set1(kQ4), r, D::set1(kQ3));
  q = D::fma(q, r, D::set1(kQ2));
  q = D::fma(q, r, D::set1(kQ1));
  q = D::fma(q, r, D::set1(kQ0));
  p = D::fma(D::mul(r, r), q, r);
  s = D::pow2_from_shifted(t);
}

template <class D>
inline typename D::V sigmoid(typename D::V x) {
  using V = typename D::V;
  V s, p;
  exp_parts<D>(D::neg_abs(x), s, p);
  const V e = D::fma(s, p, s);  // e^-|x|
  return D::div(D::select_negative(x, e, D::set1(1.0f)), D::add(D::set1(1.0f), e));
}

template <class D>
inline typename D::V tanh(typename D::V x) {
  using V = typename D::V;
  V s, p;
  const V y = D::neg_abs(x);
  exp_parts<D>(D::add(y, y), s, p);
  const V m = D::fma(s, p, D::sub(s, D::set1(1.0f)));  // expm1(-2|x|) in (-1, 0]
  const V t = D::div(D::sub(D::set1(0.0f), m), D::add(D::set1(2.0f), m));
  return D::or_bits(t, D::sign_of(x));
}

// out[i] = f(in[i]) vector by vector; the tail goes through a padded vector (see above). in may be out.
template <class D, class F>
inline void map_f32(const float* in, float* out, std::int64_t n, F f) {
  std::int64_t i = 0;
  for (; i + D::kLanes <= n; i += D::kLanes) D::store(out + i, f(D::load(in + i)));
  const int rest = static_cast<int>(n - i);  // < kLanes
  if (rest > 0) {
    float pad[D::kLanes] = {};
    for (int j = 0; j < rest && j < D::kLanes; ++j) pad[j] = in[i + j];
    D::store(pad, f(D::load(pad)));
    for (int j = 0; j < rest && j < D::kLanes; ++j) out[i + j] = pad[j];
  }
}

}  // namespace vec_math

inline void sigmoid_f32(const float* in, float* out, std::int64_t n) {
  using D = vec_math::F32Ops;
  vec_math::map_f32<D>(in, out, n, [](D::V v) { return vec_math::sigmoid<D>(v); });
}

inline void tanh_f32(const float* in, float* out, std::int64_t n) {
  using D = vec_math::F32Ops;
  vec_math::map_f32<D>(in, out, n, [](D::V v) { return vec_math::tanh<D>(v); });
}

// In place and copying array versions, float (the kernels above) and double (the C library).
template <class T>
void sigmoid_copy(const T* in, T* out, std::int64_t n) {
  if constexpr (sizeof(T) == 4) {
    sigmoid_f32(in, out, n);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = T(1) / (T(1) + std::exp(-in[i]));  // 1/(1+inf) = 0
  }
}

template <class T>
void tanh_copy(const T* in, T* out, std::int64_t n) {
  if constexpr (sizeof(T) == 4) {
    tanh_f32(in, out, n);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
  }
}

template <class T>
void sigmoid_inplace(T* p, std::int64_t n) {
  sigmoid_copy(p, p, n);
}

template <class T>
void tanh_inplace(T* p, std::int64_t n) {
  tanh_copy(p, p, n);
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
