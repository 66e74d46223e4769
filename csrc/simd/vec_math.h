// Vectorisable exp, sigmoid and tanh over arrays, compiled per ISA.
//
// The float versions are branch-free (selects, not jumps) and bit-level, so the compiler vectorises the
// array loops at the width of the ISA the object library is built for (4 / 8 / 16 lanes); entry points
// take raw pointers, never vector types. Accuracy over every float in [-100, 100] (tests/test_simd_math.py
// measures it against float64 math): exp and sigmoid within a few ulp, tanh within a few ulp of the
// correctly rounded result; saturation is exact (sigmoid(-1e4) = 0, sigmoid(1e4) = 1, tanh(+-1e4) = +-1,
// also for +-inf) and NaN propagates. double uses the C library (exact to ~1 ulp, not vectorised).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "dispatch/isa_namespace.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

inline float bits_to_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// e^x: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for an exact product), e^r by a degree-6
// polynomial (minimax coefficients of the Cephes expf), 2^n built in the exponent bits.
inline float exp_f32(float x) {
  const float hi = 88.3762626647949f, lo = -86.5f;  // e^hi ~ FLT_MAX; below e^lo (2.7e-38) results flush to 0
  // Written so that NaN (all comparisons false) becomes hi, a finite value: converting NaN to an integer
  // below would be undefined. The NaN itself is restored at the end.
  const float xc = x < hi ? (x > lo ? x : lo) : hi;
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to integer
  const float n = (xc * 1.44269504088896341f + shifter) - shifter;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as 2^(n-1) * 2 keeps n = 128 (x near hi) inside the exponent range.
  const float scale = bits_to_float(static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 126) << 23);
  float result = p * scale * 2.0f;
  result = x > hi ? INFINITY : result;
  result = x < lo ? 0.0f : result;
  return x != x ? x : result;
}

inline float sigmoid_f32(float x) {
  // 1 / (1 + e^-x): e^-x = inf gives exactly 0, e^-x = 0 exactly 1.
  return 1.0f / (1.0f + exp_f32(-x));
}

inline float tanh_f32(float x) {
  const float a = x < 0.0f ? -x : x;
  // |x| < 0.625: odd polynomial (Cephes tanhf coefficients), no cancellation near 0.
  const float z = x * x;
  float p = -5.70498872745E-3f;
  p = p * z + 2.06390887954E-2f;
  p = p * z + -5.37397155531E-2f;
  p = p * z + 1.33314422036E-1f;
  p = p * z + -3.33332819422E-1f;
  const float small = x + x * z * p;
  // Otherwise 1 - 2 / (e^(2|x|) + 1), which is exactly 1 once e^(2|x|) is large or inf.
  const float e = exp_f32(2.0f * a);
  float large = 1.0f - 2.0f / (e + 1.0f);
  large = x < 0.0f ? -large : large;
  const float result = a < 0.625f ? small : large;
  return x != x ? x : result;
}

template <class T>
inline T sigmoid_scalar(T x) {
  if constexpr (sizeof(T) == 4) {
    return sigmoid_f32(x);
  } else {
    return T(1) / (T(1) + std::exp(-x));  // exp(1e4) = inf: 1/(1+inf) = 0, the exact limit
  }
}

template <class T>
inline T tanh_scalar(T x) {
  if constexpr (sizeof(T) == 4) {
    return tanh_f32(x);
  } else {
    return std::tanh(x);
  }
}

// In-place array versions: the loops the compiler vectorises.
template <class T>
void sigmoid_inplace(T* __restrict p, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) p[i] = sigmoid_scalar(p[i]);
}

template <class T>
void tanh_inplace(T* __restrict p, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) p[i] = tanh_scalar(p[i]);
}

template <class T>
void tanh_copy(const T* __restrict in, T* __restrict out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = tanh_scalar(in[i]);
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
