#include "engine/sequence_segments.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace fusedrnn {

void SequenceSegments::build(const std::int64_t* lengths, std::int64_t T, std::int64_t N) {
  steps = T;
  batch = N;
  for (std::int64_t n = 0; n < N; ++n) {
    if (lengths[n] < 1 || lengths[n] > T) {
      throw std::invalid_argument("lengths: lengths[" + std::to_string(n) +
                                  "] = " + std::to_string(lengths[n]) + " is outside [1, T] = [1, " +
                                  std::to_string(T) + "]");
    }
  }
  order.resize(static_cast<std::size_t>(N));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  // Stable: equal lengths keep their batch order (any order would do; this one is reproducible).
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return lengths[a] > lengths[b]; });
  segments.clear();
  rows = 0;
  // Walk the sorted lengths from the shortest: sorted rows [0, k) run until the k-th longest ends.
  std::int64_t t = 0;
  for (std::int64_t k = N; k > 0; --k) {
    const std::int64_t end = lengths[order[static_cast<std::size_t>(k - 1)]];
    if (end > t) {
      segments.push_back({t, end - t, k, rows});
      rows += (end - t) * k;
      t = end;
    }
  }
}

template <class T>
void pack_padded(const SequenceSegments& s, const T* padded, std::int64_t ld, std::int64_t width, T* packed) {
  for (const Segment& g : s.segments) {
    for (std::int64_t t = g.t0; t < g.t0 + g.steps; ++t) {
      T* dst = packed + (g.row0 + (t - g.t0) * g.batch) * width;
      for (std::int64_t k = 0; k < g.batch; ++k) {
        const T* src = padded + (t * s.batch + s.order[static_cast<std::size_t>(k)]) * ld;
        std::copy(src, src + width, dst + k * width);
      }
    }
  }
}

template <class T>
void unpack_to_padded(const SequenceSegments& s, const T* packed, std::int64_t width, T* padded,
                      std::int64_t ld) {
  for (std::int64_t t = 0; t < s.steps; ++t) {
    for (std::int64_t n = 0; n < s.batch; ++n)
      std::fill(padded + (t * s.batch + n) * ld, padded + (t * s.batch + n) * ld + width, T(0));
  }
  for (const Segment& g : s.segments) {
    for (std::int64_t t = g.t0; t < g.t0 + g.steps; ++t) {
      const T* src = packed + (g.row0 + (t - g.t0) * g.batch) * width;
      for (std::int64_t k = 0; k < g.batch; ++k) {
        T* dst = padded + (t * s.batch + s.order[static_cast<std::size_t>(k)]) * ld;
        std::copy(src + k * width, src + (k + 1) * width, dst);
      }
    }
  }
}

template <class T>
void states_to_sorted(const SequenceSegments& s, const T* states, std::int64_t H, T* sorted) {
  for (std::int64_t k = 0; k < s.batch; ++k) {
    T* dst = sorted + k * H;
    if (states) {
      const T* src = states + s.order[static_cast<std::size_t>(k)] * H;
      std::copy(src, src + H, dst);
    } else {
      std::fill(dst, dst + H, T(0));
    }
  }
}

template <class T>
void states_from_sorted(const SequenceSegments& s, const T* sorted, std::int64_t H, T* states) {
  for (std::int64_t k = 0; k < s.batch; ++k) {
    const T* src = sorted + k * H;
    std::copy(src, src + H, states + s.order[static_cast<std::size_t>(k)] * H);
  }
}

#define FUSEDRNN_SEGMENTS_INSTANTIATE(T)                                                                \
  template void pack_padded<T>(const SequenceSegments&, const T*, std::int64_t, std::int64_t, T*);      \
  template void unpack_to_padded<T>(const SequenceSegments&, const T*, std::int64_t, T*, std::int64_t); \
  template void states_to_sorted<T>(const SequenceSegments&, const T*, std::int64_t, T*);               \
  template void states_from_sorted<T>(const SequenceSegments&, const T*, std::int64_t, T*);
FUSEDRNN_SEGMENTS_INSTANTIATE(float)
FUSEDRNN_SEGMENTS_INSTANTIATE(double)
#undef FUSEDRNN_SEGMENTS_INSTANTIATE

}  // namespace fusedrnn
