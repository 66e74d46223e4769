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

namespace fusedrnn {

// float -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN.
inline std::uint16_t bf16_bits(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// The symmetric int8 scale of a row of n values (stride apart): scale = max|v| / 127 and its inverse
// 127 / max|v| (both 0 for a zero row). A row with an inf or NaN gets a NaN scale, so its products come
// out NaN rather than silently finite.
struct Int8Scale {
  float scale;
  float inverse;
};

inline Int8Scale int8_scale(const float* v, std::int64_t n, std::int64_t stride = 1) {
  float largest = 0.0f;
  bool finite = true;
  for (std::int64_t k = 0; k < n; ++k) {
    const float a = std::fabs(v[k * stride]);
    finite = finite && a <= std::numeric_limits<float>::max();
    largest = a > largest ? a : largest;
  }
  if (!finite) return {std::numeric_limits<float>::quiet_NaN(), 0.0f};
  if (largest == 0.0f) return {0.0f, 0.0f};
  return {largest / 127.0f, 127.0f / largest};
}

// q = round_even(v * inverse) clamped to [-127, 127] (the product can round just past 127).
inline int int8_level(float v, float inverse) {
  float q = v * inverse;
  q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
  return static_cast<int>(std::nearbyint(q));  // the default rounding mode: to nearest even
}

// One group word of A from values v[0..count) (count < group: the rest are zero).
inline std::uint32_t bf16_word(const float* v, std::int64_t count) {
  const std::uint32_t lo = bf16_bits(v[0]), hi = count > 1 ? bf16_bits(v[1]) : 0u;
  return lo | (hi << 16);
}
inline std::uint32_t int8_word(const float* v, std::int64_t count, float inverse, int offset) {
  std::uint32_t word = 0;
  for (int e = 0; e < 4; ++e) {
    const int q = (e < count ? int8_level(v[e], inverse) : 0) + offset;
    word |= (static_cast<std::uint32_t>(q) & 0xffu) << (8 * e);
  }
  return word;
}

// Packs rows [n_begin, n_end) of src (row stride ld, k columns) as the A operand of a reduced product:
// the row panels of `mr` rows, [k_groups][mr] words each, and the rows' int8 scales (scales[n]).
inline void pack_reduced_rows(WeightFormat f, const float* src, std::int64_t ld, std::int64_t n_begin,
                              std::int64_t n_end, std::int64_t k, int mr, std::uint32_t* words, float* scales) {
  const int group = group_size(f);
  const std::int64_t kg = k_groups(f, k);
  for (std::int64_t n = n_begin; n < n_end; ++n) {
    const float* row = src + n * ld;
    std::uint32_t* d = words + (n / mr) * kg * mr + n % mr;
    if (f == WeightFormat::int8) {
      const Int8Scale s = int8_scale(row, k);
      scales[n] = s.scale;
      for (std::int64_t q = 0; q < kg; ++q) d[q * mr] = int8_word(row + q * group, std::min<std::int64_t>(4, k - q * group), s.inverse, 128);
    } else {
      for (std::int64_t q = 0; q < kg; ++q) d[q * mr] = bf16_word(row + q * group, std::min<std::int64_t>(2, k - q * group));
    }
  }
}

}  // namespace fusedrnn
