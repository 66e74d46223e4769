// The reduced-precision product contract (inference only, float32 plans with weight_format bf16 or int8).
//
// A reduced microkernel computes one full MR x NR tile of C in float32 from packed quantized panels:
//
//   k is taken in groups of kGroup consecutive values (bf16: 2, int8: 4), one 32-bit word per group:
//   a: [k_groups][MR] words, the MR rows' groups interleaved per group (like gemm/microkernel.h's A)
//   b: [k_groups][NR] words, the NR units' groups interleaved per group
//   c: [MR][ldc] written (never read), row-major with row stride ldc
//
//   bf16: word = bf16(v[2q]) | bf16(v[2q+1]) << 16 (round to nearest even); C = sum_k a_k b_k with
//         float32 accumulation. a_scale, b_scale, b_comp are unused (null).
//   int8: A bytes are q_a + 128 (unsigned; q_a = round_even(v / a_scale[i]) in [-127, 127], a_scale = the
//         row's max |v| / 127), B bytes q_w signed (per weight row, the same rule). The int32 sum
//         acc = sum_k (q_a + 128) q_w is exact, and
//           C[i][j] = float(acc - b_comp[j]) * b_scale[j] * a_scale[i]     (in that order, float32)
//         with b_comp[j] = 128 * sum_k q_w[k][j]: the unsigned offset taken back out. Deterministic, so
//         every path (VNNI or not) gives the same bits, and a NumPy model of the scheme can too.
//
// As for the float kernels, tiles are always full (callers pad) and each element depends only on its
// row and column, so results do not depend on the thread count, the tile a value lands in or the kernel
// (full or 1-row) that computes it: the batch a row is in never changes its bits. bf16 sums are float
// and every kernel of every path adds them in one order (one chain per element over the groups in
// increasing order, from zero, each group's odd product before its even one: vdpbf16ps's order, so the
// paths agree bit for bit but for denormals, which that instruction flushes to zero); int8 sums are
// exact integers, so their order is free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "reduced/weight_format.h"

namespace fusedrnn {

constexpr int kReducedNR = 32;  // every reduced kernel's NR: the packed weights do not depend on the path
constexpr int kReducedMaxMR = 8;

constexpr int group_size(WeightFormat f) { return f == WeightFormat::int8 ? 4 : 2; }
constexpr std::int64_t k_groups(WeightFormat f, std::int64_t k) {
  return (k + group_size(f) - 1) / group_size(f);
}

using ReducedKernelFn = void (*)(std::int64_t k_groups, const std::uint32_t* a, const std::uint32_t* b,
                                 const float* a_scale, const float* b_scale, const std::int32_t* b_comp,
                                 float* c, std::int64_t ldc);

struct ReducedMicrokernel {
  int mr;
  ReducedKernelFn fn;
};

// One path of one format: a full-tile kernel and a 1-row kernel for steps with one or two batch rows
// (the full one would do MR times the work there).
struct ReducedPath {
  const char* name;  // e.g. "avx512_vnni", "generic"
  WeightFormat format;
  ReducedMicrokernel full;
  ReducedMicrokernel narrow;
  const ReducedMicrokernel& for_rows(std::int64_t rows) const { return rows <= 2 ? narrow : full; }
};

// The path in use for `format` (bf16 or int8): the best one this CPU supports within the active ISA's
// reach (FUSEDRNN_ISA caps it: avx512 allows AVX512-VNNI / AVX512-BF16 and AVX-VNNI, avx2 AVX-VNNI,
// generic the portable kernels), unless a test selected another.
const ReducedPath& active_reduced_path(WeightFormat format);
// The paths usable here for `format`, best first.
std::vector<std::string> reduced_paths(WeightFormat format);
// Switches `format` to the named usable path (tests run every one); false if it is not usable.
bool select_reduced_path(WeightFormat format, const std::string& name);

// The portable kernels (reduced/ukernel_reduced_generic.cc) and, where compiled, the AVX-512 ones
// (reduced/ukernel_reduced_avx512.cc, built with AVX512-BF16 and AVX512-VNNI enabled).
namespace reduced_generic {
const ReducedPath& bf16_path();
const ReducedPath& int8_path();
}  // namespace reduced_generic
namespace reduced_avx512 {
const ReducedPath& bf16_path();
const ReducedPath& int8_path();
}  // namespace reduced_avx512
// AVX-VNNI (VEX vpdpbusd on 256-bit registers): the int8 path under the AVX2 table
// (reduced/ukernel_reduced_avxvnni.cc).
namespace reduced_avxvnni {
const ReducedPath& int8_path();
}  // namespace reduced_avxvnni

}  // namespace fusedrnn
