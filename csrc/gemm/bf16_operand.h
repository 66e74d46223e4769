// bf16 mixed precision (compute_dtype="bfloat16", LayerConfig::bf16_products): the operands of every
// product are rounded to bf16 (round to nearest even, reduced/quantize.h's rule) where they are packed,
// and the products run on the float32 kernels. A product of two bf16 values has at most 16 significant
// bits, so it is exact in float32: the float32 FMAs over rounded operands compute exactly the products a
// bf16 dot-product instruction would, only the order of the float32 sums may differ from one. This is
// the portable path (every CPU); a native AVX512-BF16 kernel would take the same rounded operands.
// Rounding is a function of the value alone, so it keeps results bitwise independent of the thread
// count and of the batch.
#pragma once

#include <cstdint>
#include <type_traits>

#include "reduced/quantize.h"

// Internal linkage for the reason given in reduced/quantize.h: each ISA's library gets its own copy.
namespace fusedrnn {
namespace {

// v rounded to the nearest bf16 value, as a float (NaN stays NaN, inf inf). float64 is never rounded:
// plans refuse bf16 products for it, and the time loops, compiled for both types, call this for both.
template <class T>
inline T bf16_rounded(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return bf16_to_float(bf16_bits(v));
  } else {
    return v;
  }
}

// values[0 .. n) rounded in place (a packed operand, after packing).
template <class T>
inline void round_to_bf16(T* values, std::int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    for (std::int64_t i = 0; i < n; ++i) values[i] = bf16_rounded(values[i]);
  }
}

}  // namespace
}  // namespace fusedrnn
