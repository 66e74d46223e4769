// The element rules of the reduced formats (reduced/reduced_microkernel.h), shared by the weight packing,
// the per-step operand packing of the time loop and the test hook, so every user rounds the same way.
// Header-only and portable; the loops are written so the compiler can vectorise them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "reduced/reduced_microkernel.h"

// Internal linkage (an unnamed namespace): every translation unit gets its own copy, compiled with its own
// flags. The time loops include this from each per-ISA library, so an inline function with external
// linkage would be one definition merged across ISAs, possibly the baseline one (seen: a libm call per
// element in the AVX-512 loop).
namespace fusedrnn {
namespace {

// float -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN.
inline std::uint16_t bf16_bits(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  const std::uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const bool nan = (bits & 0x7fffffffu) > 0x7f800000u;
  return static_cast<std::uint16_t>(nan ? ((bits >> 16) | 0x40u) : rounded);
}

inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// The symmetric int8 scale of a row of n values: scale = max|v| / 127 and its inverse 127 / max|v| (both
// 0 for a zero row). A row with an inf or NaN gets a NaN scale, so its products come out NaN rather than
// silently finite.
struct Int8Scale {
  float scale;
  float inverse;
};

inline Int8Scale int8_scale(const float* v, std::int64_t n) {
  // The largest |v| as an integer maximum of the bit patterns with the sign cleared: for non-negative
  // floats the two orders agree, and inf (0x7f800000) and NaN (above it) come out on top. An integer
  // max reduction vectorises; a float one does not without -ffast-math (measured: the scalar float loop
  // took as long as the products on the medium shape).
  std::uint32_t largest_bits = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    std::uint32_t bits;
    std::memcpy(&bits, v + k, 4);
    bits &= 0x7fffffffu;
    largest_bits = bits > largest_bits ? bits : largest_bits;
  }
  if (largest_bits >= 0x7f800000u) return {std::numeric_limits<float>::quiet_NaN(), 0.0f};
  if (largest_bits == 0) return {0.0f, 0.0f};
  float largest;
  std::memcpy(&largest, &largest_bits, 4);
  return {largest / 127.0f, 127.0f / largest};
}

// q = round_even(v * inverse) clamped to [-127, 127]. Adding and subtracting 1.5 * 2^23 rounds a float of
// magnitude below 2^22 to the nearest integer, ties to even (the default rounding mode), with no libm call.
inline int int8_level(float v, float inverse) {
  float q = v * inverse;
  q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  return static_cast<int>((q + kRound) - kRound);
}

// The int8 levels of a row (n values) as bytes, plus `offset` (128 for the unsigned A operand).
inline void int8_row(const float* v, std::int64_t n, float inverse, int offset, std::uint8_t* out) {
  for (std::int64_t k = 0; k < n; ++k) out[k] = static_cast<std::uint8_t>(int8_level(v[k], inverse) + offset);
}

// Group word q of a row already converted to bytes (int8, 4 per word) or bf16 halves (2 per word), with
// the row's tail past n zero-filled by the caller.
inline std::uint32_t word_at(const std::uint8_t* bytes, std::int64_t q) {
  std::uint32_t w;
  std::memcpy(&w, bytes + 4 * q, 4);
  return w;
}

// Rows up to this long are converted through a stack buffer (longer ones in pieces of it).
constexpr std::int64_t kRowBufferBytes = 8192;

// Packs rows [n_begin, n_end) of src (row stride ld, k columns) as panels of `mr` rows, [k_groups][mr]
// words each, and the rows' int8 scales (scales[n]); int8 levels get `offset` added (128 for the unsigned
// A operand, 0 for weights). The A operand of a product, and (mr = kReducedNR) the weights' B panels.
inline void pack_reduced_rows(WeightFormat f, const float* src, std::int64_t ld, std::int64_t n_begin,
                              std::int64_t n_end, std::int64_t k, int mr, std::uint32_t* words, float* scales,
                              int offset = 128) {
  alignas(64) std::uint8_t buffer[kRowBufferBytes + 8];
  const std::int64_t kg = k_groups(f, k);
  const std::int64_t per_piece = f == WeightFormat::int8 ? kRowBufferBytes : kRowBufferBytes / 2;  // values
  for (std::int64_t n = n_begin; n < n_end; ++n) {
    const float* row = src + n * ld;
    std::uint32_t* d = words + (n / mr) * kg * mr + n % mr;
    float inverse = 0.0f;
    if (f == WeightFormat::int8) {
      const Int8Scale s = int8_scale(row, k);
      scales[n] = s.scale;
      inverse = s.inverse;
    }
    for (std::int64_t k0 = 0; k0 < k; k0 += per_piece) {  // pieces are whole groups (per_piece % 4 == 0)
      const std::int64_t count = std::min(per_piece, k - k0);
      if (f == WeightFormat::int8) {
        int8_row(row + k0, count, inverse, offset, buffer);
        for (int e = 0; e < 4; ++e)
          buffer[count + e] = static_cast<std::uint8_t>(offset);  // padding: level 0
      } else {
        auto* halves = reinterpret_cast<std::uint16_t*>(buffer);
        for (std::int64_t c = 0; c < count; ++c) halves[c] = bf16_bits(row[k0 + c]);
        halves[count] = 0;
      }
      const std::int64_t q0 = k0 / group_size(f);
      const std::int64_t q1 = std::min(kg, (k0 + count + group_size(f) - 1) / group_size(f));
      for (std::int64_t q = q0; q < q1; ++q) d[q * mr] = word_at(buffer, q - q0);
    }
  }
}

}  // namespace
}  // namespace fusedrnn
