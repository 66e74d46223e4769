// Array passes of the activations of cells/activation.h, compiled per ISA: the switch on the kind sits
// outside each loop, so every loop is one of the vectorised ones of vec_math.h or a select loop.
//
//   tanh, sigmoid   vec_math.h (float: one exp-type kernel, no division on AVX2 / AVX-512; double: libm)
//   relu            max(v, 0)                      (NaN stays NaN)
//   hard_sigmoid    relu6(v + 3) / 6, Keras 3's    (NaN stays NaN)
//   linear          v
//
// Every derivative is written in terms of the activation's output y = act(v), which is what the cells
// keep for the backward: 1 - y^2, y (1 - y), [y > 0], [0 < y < 1] / 6, 1.
#pragma once

#include <cstdint>

#include "cells/activation.h"
#include "simd/vec_math.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
inline T hard_sigmoid_scalar(T v) {
  T t = v + T(3);
  t = t < T(0) ? T(0) : t;  // comparisons are false for NaN: NaN passes through
  t = t > T(6) ? T(6) : t;
  return t / T(6);
}

template <class T>
void activate_copy(Activation act, const T* __restrict in, T* __restrict out, std::int64_t n) {
  switch (act) {
    case Activation::tanh:
      tanh_copy(in, out, n);
      return;
    case Activation::sigmoid:
      sigmoid_copy(in, out, n);
      return;
    case Activation::relu:
      for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] < T(0) ? T(0) : in[i];
      return;
    case Activation::hard_sigmoid:
      for (std::int64_t i = 0; i < n; ++i) out[i] = hard_sigmoid_scalar(in[i]);
      return;
    case Activation::linear:
      for (std::int64_t i = 0; i < n; ++i) out[i] = in[i];
      return;
  }
}

template <class T>
void activate_inplace(Activation act, T* __restrict v, std::int64_t n) {
  switch (act) {
    case Activation::tanh:
      tanh_inplace(v, n);
      return;
    case Activation::sigmoid:
      sigmoid_inplace(v, n);
      return;
    case Activation::relu:
      for (std::int64_t i = 0; i < n; ++i) v[i] = v[i] < T(0) ? T(0) : v[i];
      return;
    case Activation::hard_sigmoid:
      for (std::int64_t i = 0; i < n; ++i) v[i] = hard_sigmoid_scalar(v[i]);
      return;
    case Activation::linear:
      return;
  }
}

// d[i] = act'(v_i) given y[i] = act(v_i).
template <class T>
void derivative_from_output(Activation act, const T* __restrict y, T* __restrict d, std::int64_t n) {
  switch (act) {
    case Activation::tanh:
      for (std::int64_t i = 0; i < n; ++i) d[i] = T(1) - y[i] * y[i];
      return;
    case Activation::sigmoid:
      for (std::int64_t i = 0; i < n; ++i) d[i] = y[i] * (T(1) - y[i]);
      return;
    case Activation::relu:
      for (std::int64_t i = 0; i < n; ++i) d[i] = y[i] > T(0) ? T(1) : T(0);
      return;
    case Activation::hard_sigmoid:
      for (std::int64_t i = 0; i < n; ++i) d[i] = y[i] > T(0) && y[i] < T(1) ? T(1) / T(6) : T(0);
      return;
    case Activation::linear:
      for (std::int64_t i = 0; i < n; ++i) d[i] = T(1);
      return;
  }
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
