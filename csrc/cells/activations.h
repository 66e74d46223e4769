// Scalar activations and their derivatives, shared by the cells. (The SIMD engine adds vectorised
// versions per ISA; these remain the reference.)
#pragma once

#include <cmath>

namespace fusedrnn {

template <class T>
inline T sigmoid(T v) {
  // exp overflows to inf for v < -88 (float): 1/(1+inf) = 0, the exact limit, never NaN.
  return T(1) / (T(1) + std::exp(-v));
}

struct TanhActivation {
  template <class T>
  static T apply(T v) {
    return std::tanh(v);
  }
  // Derivative from the output y = tanh(v).
  template <class T>
  static T derivative_from_output(T y) {
    return T(1) - y * y;
  }
};

struct ReluActivation {
  template <class T>
  static T apply(T v) {
    return v < T(0) ? T(0) : v;  // written so that NaN propagates (NaN < 0 is false)
  }
  template <class T>
  static T derivative_from_output(T y) {
    return y > T(0) ? T(1) : T(0);
  }
};

}  // namespace fusedrnn
