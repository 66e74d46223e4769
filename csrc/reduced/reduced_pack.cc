#include "reduced/reduced_pack.h"

#include <algorithm>

#include "engine/arena.h"
#include "reduced/quantize.h"

namespace fusedrnn {
namespace {

// The pack is carved in 4-byte words (engine/arena.h's Pieces: 64-byte aligned pieces, a null base only
// measures); scales and offset sums are words too.
using WordPieces = Pieces<std::uint32_t>;

ReducedMatrix carve_matrix(WordPieces& carve, WeightFormat f, std::int64_t gates, std::int64_t units,
                           std::int64_t k) {
  ReducedMatrix m;
  const std::int64_t blocks = (units + kReducedNR - 1) / kReducedNR, lanes = blocks * gates * kReducedNR;
  m.k_groups = k_groups(f, k);
  m.gates = gates;
  m.words = carve.take(units > 0 ? lanes * m.k_groups : 0);
  if (f == WeightFormat::int8 && units > 0) {
    m.scale = reinterpret_cast<float*>(carve.take(lanes));
    m.comp = reinterpret_cast<std::int32_t*>(carve.take(lanes));
  }
  return m;
}

}  // namespace

ReducedWeights::ReducedWeights(const LayerConfig& cfg, void* base) {
  WordPieces carve(static_cast<std::uint32_t*>(base));
  const WeightFormat f = cfg.weight_format;
  w_ih = carve_matrix(carve, f, cfg.gates, cfg.hidden, cfg.input_size);
  w_hh = carve_matrix(carve, f, cfg.gates, cfg.hidden, cfg.state_width());
  w_hr = carve_matrix(carve, f, 1, cfg.proj_size, cfg.hidden);
  elements = carve.used();
}

void pack_reduced_matrix(WeightFormat f, const float* w, std::int64_t units, std::int64_t k,
                         const ReducedMatrix& m) {
  const std::int64_t blocks = (units + kReducedNR - 1) / kReducedNR;
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t real = std::min<std::int64_t>(kReducedNR, units - b * kReducedNR);
    for (std::int64_t g = 0; g < m.gates; ++g) {
      // The block's weight rows as one panel of kReducedNR "rows" (units), the A-operand rules with no
      // offset.
      std::uint32_t* panel = const_cast<std::uint32_t*>(m.panel(b, g));
      float* scale = m.scale ? m.scale + (b * m.gates + g) * kReducedNR : nullptr;
      pack_reduced_rows(f, w + (g * units + b * kReducedNR) * k, k, 0, real, k, kReducedNR, panel, scale, 0);
      for (std::int64_t u = real; u < kReducedNR; ++u) {  // padding units: zero weights, scale and offset sum
        for (std::int64_t q = 0; q < m.k_groups; ++q) panel[q * kReducedNR + u] = 0;
        if (scale) scale[u] = 0.0f;
      }
      if (f != WeightFormat::int8) continue;
      std::int32_t* comp = m.comp + (b * m.gates + g) * kReducedNR;
      for (std::int64_t u = 0; u < kReducedNR; ++u) {
        std::int32_t sum = 0;
        for (std::int64_t q = 0; q < m.k_groups; ++q) {
          const std::uint32_t word = panel[q * kReducedNR + u];
          for (int e = 0; e < 4; ++e) sum += static_cast<std::int8_t>((word >> (8 * e)) & 0xffu);
        }
        comp[u] = 128 * sum;
      }
    }
  }
}

void pack_reduced_weights(const LayerConfig& cfg, const float* w_ih, const float* w_hh, const float* w_hr,
                          void* packed) {
  const ReducedWeights layout(cfg, packed);
  pack_reduced_matrix(cfg.weight_format, w_ih, cfg.hidden, cfg.input_size, layout.w_ih);
  pack_reduced_matrix(cfg.weight_format, w_hh, cfg.hidden, cfg.state_width(), layout.w_hh);
  if (cfg.proj_size > 0) pack_reduced_matrix(cfg.weight_format, w_hr, cfg.proj_size, cfg.hidden, layout.w_hr);
}

}  // namespace fusedrnn
