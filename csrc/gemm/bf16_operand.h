// bf16 mixed precision (compute_dtype="bfloat16", LayerConfig::bf16_products): the operands of every
// product are rounded to bf16 (round to nearest even, reduced/quantize.h's rule) where they are packed.
// A product of two bf16 values has at most 16 significant bits, so it is exact in float32. Two forms:
//
//   rounded: the packed panels keep the float layout with rounded values, and the float32 kernels run
//            on them (the portable path, every CPU): one FMA chain per element over k in increasing order.
//   pairs:   the packed panels hold bf16 pairs (below), and the AVX512-BF16 kernels run on them
//            (gemm/bf16_kernels.h): one vdpbf16ps chain per element over the pairs in increasing order,
//            which adds a pair's odd product before its even one, each rounded to float32 (with
//            denormal inputs and results flushed to zero: the instruction's rule).
//
// The two sum in different orders, so their bits differ in the last places; each is a function of an
// element's row and column alone, so either keeps results bitwise independent of the thread count and
// of the batch.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "gemm/bf16_products.h"
#include "reduced/quantize.h"

namespace fusedrnn {

// Internal linkage for the reason given in reduced/quantize.h: each ISA's library gets its own copy.
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

// The pairs layout of a packed panel of k steps by w lanes (A: w = MR rows, B: w = NR columns), whose
// float layout holds element (p, j) at panel[p*w + j]: the 32-bit word (p/2)*w + j holds bf16(element
// (p, j)) in its low half and bf16(element (p + 1, j)) in its high half for even p, the high half zero
// past an odd k (vdpbf16ps's operands). It takes ceil(k/2)*w words, the first ones of the float panel's
// place, so every offset between panels stays that of the float layout; an offset of p steps into a
// panel (p even) is pair_steps_offset(p, w) words.
inline std::int64_t pair_steps_offset(std::int64_t p, std::int64_t w) { return p / 2 * w; }
// The same offset in whichever form a panel is packed.
inline std::int64_t packed_steps_offset(std::int64_t p, std::int64_t w, Bf16Products form) {
  return form == Bf16Products::pairs ? pair_steps_offset(p, w) : p * w;
}

// A pairs word as stored through float storage (the packed panels are float buffers): may_alias keeps
// the compiler from reordering these stores against float accesses of the same memory.
#if defined(__GNUC__) || defined(__clang__)
typedef std::uint32_t __attribute__((__may_alias__)) PairWord;
#else
typedef std::uint32_t PairWord;
#endif

// The word of two consecutive steps' values (lo: the even step).
inline std::uint32_t bf16_pair_word(float lo, float hi) {
  return std::uint32_t{bf16_bits(lo)} | std::uint32_t{bf16_bits(hi)} << 16;
}

// Stores v as element (p, j) of a pairs panel (one 16-bit half; the other half is left alone). Two
// threads may store the two halves of one word at once (the fused step's last column of h and first
// column of x, or gate boundaries of dG with an odd H): each is a 2-byte store of its own bytes, which
// x86 never tears or merges; padding the layout to even widths instead would change every offset.
inline void store_bf16_pair_half(float* panel, std::int64_t p, std::int64_t j, std::int64_t w, float v) {
  const std::uint16_t bits = bf16_bits(v);
  std::memcpy(reinterpret_cast<unsigned char*>(panel + p / 2 * w + j) + 2 * (p & 1), &bits, 2);
}

// A float panel [k][w] converted in place into the pairs layout. Word (q, j) is written after both
// of its source elements (2q, j) and (2q + 1, j) are read, and it lies before every element still to be
// read (q*w + j <= 2q*w + j), so one pass in increasing order needs no copy.
template <class T>
inline void panel_to_bf16_pairs(T* panel, std::int64_t k, std::int64_t w) {
  if constexpr (std::is_same_v<T, float>) {
    for (std::int64_t q = 0; q < (k + 1) / 2; ++q) {
      for (std::int64_t j = 0; j < w; ++j) {
        const std::uint32_t low = bf16_bits(panel[2 * q * w + j]);
        const std::uint32_t high = 2 * q + 1 < k ? bf16_bits(panel[(2 * q + 1) * w + j]) : 0u;
        const std::uint32_t word = low | high << 16;
        std::memcpy(panel + q * w + j, &word, 4);
      }
    }
  }
}

// `panels` consecutive float panels [k][w] (one every k*w elements) packed as `mode` asks: rounded in
// place, or converted to pairs in place (the same places: gemm_driver.cc's and the time loops' panels).
template <class T>
inline void finish_packed_panels(T* panels, std::int64_t count, std::int64_t k, std::int64_t w,
                                 Bf16Products mode) {
  if (mode == Bf16Products::rounded) round_to_bf16(panels, count * k * w);
  if (mode == Bf16Products::pairs) {
    for (std::int64_t i = 0; i < count; ++i) panel_to_bf16_pairs(panels + i * k * w, k, w);
  }
}

}  // namespace
}  // namespace fusedrnn
