// The packed weights of a reduced-precision layer-direction (weight_format bf16 or int8): W_ih, W_hh and,
// with a projection, W_hr, each quantised once (int8: per output row, symmetric) into B panels of the
// reduced kernels. The layout does not depend on the CPU path (every reduced kernel has NR = kReducedNR),
// in 4-byte words counted as float elements of the plan's pack. Compiled with baseline flags.
#pragma once

#include <cstdint>

#include "cells/layer_config.h"
#include "reduced/reduced_microkernel.h"

namespace fusedrnn {

// One matrix [gates*units, k] as panels (block b of kReducedNR units, gate g): panel(b, g) is
// [k_groups][kReducedNR] words, with the units' int8 scale and offset sum (reduced_microkernel.h).
struct ReducedMatrix {
  std::uint32_t* words = nullptr;
  float* scale = nullptr;        // [blocks*gates][kReducedNR] (int8)
  std::int32_t* comp = nullptr;  // [blocks*gates][kReducedNR] (int8)
  std::int64_t k_groups = 0;
  std::int64_t gates = 0;

  const std::uint32_t* panel(std::int64_t b, std::int64_t g) const {
    return words + (b * gates + g) * k_groups * kReducedNR;
  }
  const float* panel_scale(std::int64_t b, std::int64_t g) const {
    return scale ? scale + (b * gates + g) * kReducedNR : nullptr;
  }
  const std::int32_t* panel_comp(std::int64_t b, std::int64_t g) const {
    return comp ? comp + (b * gates + g) * kReducedNR : nullptr;
  }
};

struct ReducedWeights {
  ReducedMatrix w_ih, w_hh, w_hr;
  std::int64_t elements = 0;  // 4-byte words of the whole layout

  ReducedWeights(const LayerConfig& cfg, void* base);  // base null: measures only
};

// Quantises and packs a matrix w [gates*units, k] (row g*units + j: gate g of unit j) into m.
void pack_reduced_matrix(WeightFormat f, const float* w, std::int64_t units, std::int64_t k,
                         const ReducedMatrix& m);

// Packs the layer-direction's weights (w_hr null without a projection).
void pack_reduced_weights(const LayerConfig& cfg, const float* w_ih, const float* w_hh, const float* w_hr,
                          void* packed);

}  // namespace fusedrnn
